import type { TopicSpec } from '../topics.js'

/**
 * The `wallet` WebSocket topic: the caller's own wallet stream (settings, ledger) and its
 * vault stream (status facts only — the vault never stores material in events).
 */
export const walletTopic: TopicSpec = {
  matches: (topic) => topic === 'wallet',
  authorize: async () => undefined,
  streams: (_topic, auth) => [`wallet-${auth.sub}`, `vault-${auth.sub}`],
  project: (event) => [{ type: event.type, data: event.data }],
}
