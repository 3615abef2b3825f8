import type { SpendBreakdown } from '../../actors/wallet/events.js'

/** A BYOK spend breakdown whose whole cost is tool calls (`total`), for ledger tests and simulations. */
export const toolOnlyBreakdown = (total: bigint): SpendBreakdown => ({
  model: 'claude-haiku-4-5',
  inputTokens: 0,
  outputTokens: 0,
  cacheCreationInputTokens: 0,
  cacheReadInputTokens: 0,
  baseLlmCost: '0',
  toolCalls: 0,
  toolCosts: total,
  platformCost: 0n,
  byok: true,
})
