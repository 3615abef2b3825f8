import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startAnthropicFixture, textTurn, toolTurn, type AnthropicFixture } from '../../test/anthropic/server.js'
import { createModelCaller } from './call-model.js'
import { RETRY_WORDS } from './errors.js'

describe('callModel against the local Anthropic server', () => {
  let fx: AnthropicFixture
  const sleeps: number[] = []
  beforeEach(async () => {
    fx = await startAnthropicFixture()
    sleeps.length = 0
  })
  afterEach(async () => {
    await fx.close()
  })
  const caller = () => createModelCaller({ baseURL: fx.url, sleep: async (ms) => void sleeps.push(ms), backoffMs: 100 })
  const base = { apiKey: 'sk-ant-good', model: 'claude-haiku-4-5', maxTokens: 256, messages: [{ role: 'user' as const, content: 'hi' }] }

  it('streams text deltas and returns content with all four usage counts', async () => {
    fx.enqueue(textTurn('Hello there, friend.', { input_tokens: 120, output_tokens: 9, cache_creation_input_tokens: 30, cache_read_input_tokens: 50 }))
    const deltas: string[] = []
    const r = await caller()({ ...base, system: 'be nice', onText: (d) => deltas.push(d) })
    expect(deltas.length).toBeGreaterThan(1)
    expect(deltas.join('')).toBe('Hello there, friend.')
    expect(r.content).toEqual([{ type: 'text', text: 'Hello there, friend.' }])
    expect(r.usage).toEqual({ inputTokens: 120, outputTokens: 9, cacheWriteTokens: 30, cacheReadTokens: 50 })
    expect(r.stopReason).toBe('end_turn')
    expect(fx.requests[0]!.apiKey).toBe('sk-ant-good')
    expect(fx.requests[0]!.body).toMatchObject({ stream: true, system: 'be nice', model: 'claude-haiku-4-5' })
  })

  it('reuses one client per key: each call still carries its own key, also after the cache evicted it', async () => {
    const call = createModelCaller({ baseURL: fx.url, clientCacheSize: 1 })
    for (const apiKey of ['sk-ant-a', 'sk-ant-a', 'sk-ant-b', 'sk-ant-a']) {
      fx.enqueue(textTurn(`for ${apiKey}`))
      const r = await call({ ...base, apiKey })
      expect(r.content).toEqual([{ type: 'text', text: `for ${apiKey}` }])
    }
    expect(fx.requests.map((r) => r.apiKey)).toEqual(['sk-ant-a', 'sk-ant-a', 'sk-ant-b', 'sk-ant-a'])
  })

  it('returns tool_use blocks with the parsed input', async () => {
    fx.enqueue(toolTurn('add', { a: 2, b: 3 }, { id: 'toolu_1' }))
    const r = await caller()({ ...base, tools: [{ name: 'add', input_schema: { type: 'object' } }] })
    expect(r.stopReason).toBe('tool_use')
    expect(r.content).toEqual([{ type: 'tool_use', id: 'toolu_1', name: 'add', input: { a: 2, b: 3 } }])
    expect(fx.requests[0]!.body.tools).toHaveLength(1)
  })

  it('maps a bad key to provider_auth_failed without retrying or the retry words', async () => {
    const err = await caller()({ ...base, apiKey: 'not-a-key' }).catch((e) => e)
    expect(err.code).toBe('provider_auth_failed')
    expect(err.message).toMatch(/rejected the API key/)
    expect(err.message).not.toMatch(RETRY_WORDS)
    expect(err.message).not.toContain('not-a-key')
    expect(fx.requests).toHaveLength(1)
  })

  it('retries 429 (honouring retry-after) and 529, then succeeds', async () => {
    fx.enqueue({ kind: 'http_error', status: 429, retryAfterS: 1 }, { kind: 'http_error', status: 529 }, textTurn('ok'))
    const r = await caller()(base)
    expect(r.content).toEqual([{ type: 'text', text: 'ok' }])
    expect(r.attempts).toBe(3)
    expect(sleeps).toEqual([1000, 200])
  })

  it('reports provider_overloaded after bounded attempts', async () => {
    fx.enqueue({ kind: 'http_error', status: 529 }, { kind: 'http_error', status: 529 }, { kind: 'http_error', status: 529 }, textTurn('never'))
    const err = await caller()(base).catch((e) => e)
    expect(err.code).toBe('provider_overloaded')
    expect(fx.requests).toHaveLength(3)
    expect(fx.pending).toBe(1)
  })

  it('retries a mid-stream overload before any text, but not after text was streamed', async () => {
    fx.enqueue({ kind: 'message', content: [{ type: 'text', text: 'abcdef' }], errorAfterChars: 0 }, textTurn('second'))
    const deltas: string[] = []
    const r = await caller()({ ...base, onText: (d) => deltas.push(d) })
    expect(deltas.join('')).toBe('second')
    expect(r.attempts).toBe(2)

    fx.enqueue({ kind: 'message', content: [{ type: 'text', text: 'abcdefgh' }], errorAfterChars: 4 }, textTurn('never'))
    const seen: string[] = []
    const err = await caller()({ ...base, onText: (d) => seen.push(d) }).catch((e) => e)
    expect(err.code).toBe('provider_overloaded')
    expect(seen.join('')).toBe('abcd')
    expect(fx.pending).toBe(1)
  })

  it('maps other 4xx to provider_error with the provider message', async () => {
    fx.enqueue({ kind: 'http_error', status: 400, message: 'model: not found (request timeout)' })
    const err = await caller()(base).catch((e) => e)
    expect(err.code).toBe('provider_error')
    expect(err.message).toMatch(/model: not found/)
    expect(err.message).not.toMatch(RETRY_WORDS)
  })

  it('does not take a stream cut before message_stop for a whole reply', async () => {
    // The provider sends the start of a reply and closes the connection cleanly.
    const cut = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end(
        'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}\n\n' +
          'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
          'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Half a"}}\n\n',
      )
    })
    await new Promise<void>((r) => cut.listen(0, '127.0.0.1', r))
    try {
      const seen: string[] = []
      const err = await createModelCaller({ baseURL: `http://127.0.0.1:${(cut.address() as AddressInfo).port}`, sleep: async () => undefined })({ ...base, onText: (d) => seen.push(d) }).catch((e) => e)
      expect(seen).toEqual(['Half a'])
      // Text reached the user, so it is not retried (that would repeat it): reported as unavailable.
      expect(err.code).toBe('provider_unavailable')
    } finally {
      await new Promise((r) => cut.close(r))
    }
  })
})
