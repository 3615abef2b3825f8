import { indexStream } from '../../actors/session/service.js'
import type { SessionEvent } from '../../actors/session/events.js'
import type { EventStore } from '../../store/types.js'

/**
 * Writes a finished chat session as the session actor records it (SessionCreated, then per
 * message UserMessageReceived → ModelResponded → TurnCompleted) plus its index entry, so
 * reflect tests and benches can build a long history without running chat turns.
 */
export async function storeSession(store: EventStore, p: { wallet: string; sessionId: string; agentId: string; messages: string[]; reply?: string; at?: string }): Promise<void> {
  const at = p.at ?? '2026-12-01T10:00:00.000Z'
  const usage = { inputTokens: 10, outputTokens: 5, cacheWriteTokens: 0, cacheReadTokens: 0 }
  const cost = { model: 'claude-haiku-4-5', usage, toolCalls: 0, baseLlmCost: '35', platformCost: 4n, toolCosts: 0n, total: 4n, charged: 4n, byok: true }
  const events: SessionEvent[] = [{ type: 'SessionCreated', data: { sessionId: p.sessionId, agentId: p.agentId, wallet: p.wallet, model: 'claude-haiku-4-5', at } }]
  p.messages.forEach((text, i) => {
    const turnId = `${p.sessionId}-t${i}`
    events.push(
      { type: 'UserMessageReceived', data: { turnId, text, idempotencyKey: `k${i}`, model: 'claude-haiku-4-5', at } },
      { type: 'TurnStarted', data: { turnId, reservationId: `${turnId}:1`, reserved: 10n, at } },
      { type: 'ModelResponded', data: { turnId, call: 1, afterPosition: 0n, model: 'claude-haiku-4-5', content: [{ type: 'text', text: p.reply ?? 'Done.' }], stopReason: 'end_turn', usage, final: true, at } },
      { type: 'TurnCompleted', data: { turnId, reservationId: `${turnId}:1`, cost, balanceRemaining: null, text: p.reply ?? 'Done.', at } },
    )
  })
  await store.append(`session-${p.sessionId}`, events, { expectedRevision: 'no_stream' })
  await store.append(indexStream(p.wallet), [{ type: 'SessionIndexed', data: { sessionId: p.sessionId, agentId: p.agentId, at } }], { expectedRevision: 'any' })
}
