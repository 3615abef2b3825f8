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
  deliver: (e: TopicEvent) => void,
  signal: AbortSignal,
): Promise<() => void> {
  let buffer: RecordedEvent[] | undefined = []
  let head: Position = 0n
  const onLive = (e: RecordedEvent): void => {
    if (buffer !== undefined) buffer.push(e)
    else if (e.position > head && e.position > after) emit(e)
  }
  const emit = (e: RecordedEvent): void => {
    for (const event of project(e)) deliver({ position: e.position, event })
  }
  const offs = streams.map((s) => live.onStream(s, onLive))
  const stop = (): void => {
    for (const off of offs) off()
  }
  signal.addEventListener('abort', stop, { once: true })
  try {
    head = await store.headPosition()
    const stored: RecordedEvent[] = []
    for (const s of streams) {
      for (const e of await store.readStream(s)) if (e.position > after && e.position <= head) stored.push(e)
    }
    stored.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0))
    for (const e of stored) emit(e)
    const pending = buffer
    buffer = undefined
    for (const e of pending) if (e.position > head && e.position > after) emit(e)
  } catch (error) {
    stop()
    throw error
  }
  return stop
}
