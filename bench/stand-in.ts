/**
 * The local Anthropic stand-in (test/anthropic/server.ts) as its own process, so every
 * contender of bench/chat.bench.ts calls the same server and none of its CPU lands on the
 * gateway's main thread. Prints `listening <url>` and answers every request with the same
 * reply until SIGTERM.
 */
import { startAnthropicFixture, textTurn } from '../test/anthropic/server.js'

export const STAND_IN_REPLY = 'The quick brown fox jumps over the lazy dog. '.repeat(4)

if (import.meta.url === `file://${process.argv[1]}`) {
  const fx = await startAnthropicFixture({
    record: false,
    respond: () => textTurn(STAND_IN_REPLY, { input_tokens: 900, output_tokens: 60, cache_read_input_tokens: 2000 }),
  })
  process.stdout.write(`listening ${fx.url}\n`)
  process.once('SIGTERM', () => void fx.close().then(() => process.exit(0)))
}
