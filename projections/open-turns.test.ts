import { describe, expect, it } from 'vitest'
import type { RecordedEvent } from '../store/types.js'
import { recordedEvents } from '../test/recorded-events.js'
import { openTurnsProjection, type OpenTurnRow } from './open-turns.js'

const ev = recordedEvents()

function fold(events: RecordedEvent[]): Map<string, OpenTurnRow> {
  const rows = new Map<string, OpenTurnRow>()
  for (const e of events) {
    if (!openTurnsProjection.canHandle(e)) continue
    const { key } = openTurnsProjection.keyOf(e)
    const next = openTurnsProjection.evolve(rows.get(key), e)
    if (next === undefined) rows.delete(key)
    else rows.set(key, next)
  }
  return rows
}

describe('open-turns projection', () => {
  it('keeps the turn a session started until it completes, fails, is interrupted or the session is deleted', () => {
    const rows = fold([
      ev('session-a', 'UserMessageReceived', { turnId: 'a1' }),
      ev('session-b', 'UserMessageReceived', { turnId: 'b1' }),
      ev('session-c', 'UserMessageReceived', { turnId: 'c1' }),
      ev('session-d', 'UserMessageReceived', { turnId: 'd1' }),
      ev('session-e', 'UserMessageReceived', { turnId: 'e1' }),
      ev('session-a', 'TurnCompleted', { turnId: 'a1' }),
      ev('session-b', 'TurnFailed', { turnId: 'b1' }),
      ev('session-c', 'TurnInterrupted', { turnId: 'c1' }),
      ev('session-d', 'SessionDeleted'),
      ev('session-a', 'UserMessageReceived', { turnId: 'a2' }),
      ev('wallet-0xabc', 'UserMessageReceived', { turnId: 'not-a-session' }),
    ])
    expect([...rows.values()]).toEqual([
      { sessionId: 'e', turnId: 'e1' },
      { sessionId: 'a', turnId: 'a2' },
    ])
  })
})
