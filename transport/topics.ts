import type { EventStore, Position, RecordedEvent } from '../store/types.js'
import type { LiveFeed } from './live.js'
import type { AuthContext } from './route.js'

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
 * Replays the topic's events after `after` from the store, then goes live, with no gap
 * and no duplicate: live events are buffered from before the head is read; the replay
 * covers (after, head] and the live part only positions > head. Positions are assigned
 * at commit, so every event ≤ head is already readable when the head is read.
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
  let buffer: RecordedEvent[] | undefined = []
  let head: Position = 0n
  const onLive = (e: RecordedEvent): void => {
    if (buffer !== undefined) buffer.push(e)
    else if (e.position > head && e.position > after) for (const event of project(e)) void deliver({ position: e.position, event }, 'live')
  }
  // Replayed events wait for the consumer (deliver may return a promise: backpressure),
  // while live ones arriving meanwhile are buffered and flushed after them.
  const replay = async (e: RecordedEvent): Promise<void> => {
    for (const event of project(e)) {
      if (signal.aborted) return
      await deliver({ position: e.position, event }, 'replay')
    }
  }
  const offs = streams.map((s) => live.onStream(s, onLive))
  const stop = (): void => {
    for (const off of offs) off()
  }
  signal.addEventListener('abort', stop, { once: true })
  try {
    head = await store.headPosition()
    const stored: RecordedEvent[] = []
    // Nothing stored is after `after` when it is the head (a live subscribe): no read at all,
    // so subscribing costs nothing that grows with the topic's history.
    if (after < head) {
      for (const s of streams) {
        for (const e of await store.readStream(s)) if (e.position > after && e.position <= head) stored.push(e)
      }
    }
    stored.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0))
    for (const e of stored) await replay(e)
    // Flush what went live during the replay; more may arrive while we wait, so loop
    // until the buffer is empty, then switch to live with no await in between.
    while (buffer.length > 0) {
      const pending = buffer
      buffer = []
      for (const e of pending) if (e.position > head && e.position > after) await replay(e)
    }
    buffer = undefined
  } catch (error) {
    stop()
    throw error
  }
  return stop
}
