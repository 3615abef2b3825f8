import type { RecordedEvent } from '../store/types.js'
import type { Projection } from './types.js'

/** A chat turn that started and has not ended (completed, failed, interrupted or its session deleted). */
export interface OpenTurnRow {
  sessionId: string
  turnId: string
}

const SESSION_PREFIX = 'session-'
const ENDS = new Set(['TurnCompleted', 'TurnFailed', 'TurnInterrupted', 'SessionDeleted'])

/**
 * Turns left running, by session: start-up recovery reads these rows instead of scanning
 * every stored event, so it costs what is open, not what was ever written.
 */
export const openTurnsProjection: Projection<OpenTurnRow> = {
  name: 'open-turns',
  canHandle: (e) => e.streamId.startsWith(SESSION_PREFIX) && (e.type === 'UserMessageReceived' || ENDS.has(e.type)),
  keyOf: (e) => ({ key: e.streamId.slice(SESSION_PREFIX.length), owner: '' }),
  evolve: (_current: OpenTurnRow | undefined, e: RecordedEvent) =>
    e.type === 'UserMessageReceived' ? { sessionId: e.streamId.slice(SESSION_PREFIX.length), turnId: (e.data as { turnId: string }).turnId } : undefined,
}
