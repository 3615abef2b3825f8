import type { EventStore, Position, RecordedEvent } from '../store/types.js'
import type { LiveFeed } from './live.js'
import type { AuthContext } from '../auth/auth-context.js'

/** One event as clients see it on SSE and WebSocket: `{type, data}` plus its store position. */
export interface TopicEvent {
  position: Position
  event: { type: string; data: unknown }
}

/**
 * A family of topics (`wallet`, `session:<id>`, `canvas:<runId>`): who may subscribe,
 * which streams feed it, and how a stored event looks on the wire.
 */
export interface TopicSpec {
  matches(topic: string): boolean
  /** Throws ForbiddenError / NotFoundError unless `auth` owns the topic. */
  authorize(topic: string, auth: AuthContext): Promise<void>
  streams(topic: string, auth: AuthContext): readonly string[]
  /** Wire payloads for a stored event (none to hide it). */
  project(event: RecordedEvent): { type: string; data: unknown }[]
}

/**
 * Replay, then live, with no gap: live events are buffered from before the replay reads
 * the store, replayed events are delivered (awaiting the consumer: backpressure), the
 * buffer is flushed until empty, and only then do live events flow straight to `deliver`.
 * Duplicates between the two (an event both read and buffered) are the consumer's to drop
 * (by position or revision). Returns the function that stops listening.
 */
export async function replayThenLive(p: {
  /** Registers the live listener(s); returns their unsubscribe. */
  listen(onEvent: (e: RecordedEvent) => void): () => void
  /** The stored events to replay, in order. */
  replay(): Promise<readonly RecordedEvent[]>
  deliver(e: RecordedEvent, phase: 'replay' | 'live'): void | Promise<void>
  signal?: AbortSignal
}): Promise<() => void> {
  let buffer: RecordedEvent[] | undefined = []
  const stop = p.listen((e) => {
    if (buffer !== undefined) buffer.push(e)
    else void p.deliver(e, 'live')
  })
  p.signal?.addEventListener('abort', stop, { once: true })
  try {
    for (const e of await p.replay()) {
      if (p.signal?.aborted === true) break
      await p.deliver(e, 'replay')
    }
    // More may go live while we wait on the consumer: loop until the buffer is empty, then
    // switch to live with no await in between.
    while (buffer.length > 0) {
      const pending = buffer
      buffer = []
      for (const e of pending) await p.deliver(e, 'replay')
    }
    buffer = undefined
  } catch (error) {
    stop()
    throw error
  }
  return stop
}

/**
 * Replays the topic's events after `after` from the store, then goes live, with no gap
 * and no duplicate: the replay covers (after, head] and the live part only positions >
 * head. Positions are assigned at commit, so every event ≤ head is already readable when
 * the head is read.
 */
export async function followTopic(
  store: EventStore,
  live: LiveFeed,
  streams: readonly string[],
  project: TopicSpec['project'],
  after: Position,
  deliver: (e: TopicEvent, phase: 'replay' | 'live') => void | Promise<void>,
  signal: AbortSignal,
): Promise<() => void> {
  // Everything up to here was delivered (or lies at/before `after`): positions only grow.
  let last = after
  return replayThenLive({
    listen: (onEvent) => {
      const offs = streams.map((s) => live.onStream(s, onEvent))
      return () => {
        for (const off of offs) off()
      }
    },
    replay: async () => {
      const head = await store.headPosition()
      const stored: RecordedEvent[] = []
      // Nothing stored is after `after` when it is the head (a live subscribe): no read at all.
      if (after < head) for (const s of streams) stored.push(...(await eventsAfter(store, s, after, head)))
      return stored.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0))
    },
    deliver: async (e, phase) => {
      if (e.position <= last) return
      last = e.position
      for (const event of project(e)) {
        if (signal.aborted) return
        if (phase === 'live') void deliver({ position: e.position, event }, 'live')
        else await deliver({ position: e.position, event }, 'replay')
      }
    },
    signal,
  })
}

/** Events read per page when a resume looks back for what it missed. */
const RESUME_PAGE = 256

/**
 * A stream's events with after < position ≤ head, oldest first, read from the end back
 * (positions grow with revisions): a client resuming a long-lived topic reads what it
 * missed, not the topic's whole history.
 */
export async function eventsAfter(store: EventStore, streamId: string, after: Position, head: Position): Promise<RecordedEvent[]> {
  const found: RecordedEvent[] = []
  let fromRevision: bigint | undefined
  for (;;) {
    const page = await store.readStream(streamId, { direction: 'backwards', maxCount: RESUME_PAGE, ...(fromRevision === undefined ? {} : { fromRevision }) })
    for (const e of page) {
      if (e.position <= after) return found.reverse()
      if (e.position <= head) found.push(e)
    }
    const oldest = page.at(-1)
    if (page.length < RESUME_PAGE || oldest === undefined || oldest.revision === 0n) return found.reverse()
    fromRevision = oldest.revision - 1n
  }
}
