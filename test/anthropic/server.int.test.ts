import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startAnthropicFixture, textTurn, toolTurn, type AnthropicFixture } from './server.js'

/** Parses an SSE body into [event, data] pairs, checking the framing. */
function parseSse(raw: string): { event: string; data: any }[] {
  expect(raw.includes('\r')).toBe(false)
  return raw
    .split('\n\n')
    .filter((f) => f.length > 0)
    .map((frame) => {
      const lines = frame.split('\n')
      expect(lines[0]).toMatch(/^event: /)
      expect(lines[1]).toMatch(/^data: /)
      return { event: lines[0]!.slice(7), data: JSON.parse(lines[1]!.slice(6)) }
    })
}

describe('Anthropic fixture server', () => {
  let fx: AnthropicFixture
  beforeEach(async () => {
    fx = await startAnthropicFixture()
  })
  afterEach(async () => {
    await fx.close()
  })

  const post = (body: unknown, headers: Record<string, string> = { 'x-api-key': 'sk-ant-test' }) =>
    fetch(`${fx.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const req = { model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], stream: true }

  it('streams the Messages API event sequence with text and chunked input_json_delta', async () => {
    fx.enqueue(toolTurn('echo', { text: 'hello world', n: 42 }, { text: 'Let me check.', usage: { input_tokens: 100, output_tokens: 30, cache_creation_input_tokens: 7, cache_read_input_tokens: 5 } }))
    const res = await post(req)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const events = parseSse(await res.text())
    const names = events.map((e) => e.event)
    expect(names[0]).toBe('message_start')
    expect(names).toContain('ping')
    expect(names.slice(-2)).toEqual(['message_delta', 'message_stop'])
    for (const e of events) expect(e.data.type).toBe(e.event)
    expect(events[0]!.data.message.usage).toMatchObject({ input_tokens: 100, cache_creation_input_tokens: 7, cache_read_input_tokens: 5 })
    const json = events.filter((e) => e.data.delta?.type === 'input_json_delta').map((e) => e.data.delta.partial_json)
    expect(json.length).toBeGreaterThan(3)
    expect(JSON.parse(json.join(''))).toEqual({ text: 'hello world', n: 42 })
    const text = events.filter((e) => e.data.delta?.type === 'text_delta').map((e) => e.data.delta.text)
    expect(text.join('')).toBe('Let me check.')
    const delta = events.find((e) => e.event === 'message_delta')!.data
    expect(delta.delta.stop_reason).toBe('tool_use')
    expect(delta.usage.output_tokens).toBe(30)
    expect(fx.requests).toHaveLength(1)
    expect(fx.requests[0]!.apiKey).toBe('sk-ant-test')
  })

  it('answers non-streaming JSON and accepts a Bearer key', async () => {
    fx.enqueue(textTurn('hi there'))
    const res = await post({ ...req, stream: false }, { authorization: 'Bearer sk-ant-bearer' })
    const body = await res.json()
    expect(body).toMatchObject({ type: 'message', role: 'assistant', content: [{ type: 'text', text: 'hi there' }], stop_reason: 'end_turn' })
    expect(fx.requests[0]!.apiKey).toBe('sk-ant-bearer')
  })

  it('answers 401, 429 with retry-after and 529 in the API error shape', async () => {
    const bad = await post(req, { 'x-api-key': 'nope' })
    expect(bad.status).toBe(401)
    expect(await bad.json()).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } })
    fx.enqueue({ kind: 'http_error', status: 429, retryAfterS: 2 }, { kind: 'http_error', status: 529 })
    const limited = await post(req)
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('2')
    expect(((await limited.json()) as any).error.type).toBe('rate_limit_error')
    const over = await post(req)
    expect(over.status).toBe(529)
    expect(((await over.json()) as any).error.type).toBe('overloaded_error')
  })

  it('breaks a stream with an error event on cue', async () => {
    fx.enqueue({ kind: 'message', content: [{ type: 'text', text: 'abcdefghijkl' }], errorAfterChars: 4 })
    const events = parseSse(await (await post(req)).text())
    expect(events.at(-1)).toEqual({ event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } })
    expect(events.some((e) => e.event === 'message_stop')).toBe(false)
  })
})
