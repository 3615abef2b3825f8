import { describe, expect, it } from 'vitest'
import { messagesRequestBody } from './request-body.js'

/** A message that counts how often it is serialised. */
function counted(m: object): { message: object; times: () => number } {
  let n = 0
  return { message: { toJSON: () => (n++, m) }, times: () => n }
}

describe('messagesRequestBody', () => {
  const history = [
    { role: 'user', content: 'héllo "there" \n ✓ \u2028' },
    { role: 'assistant', content: [{ type: 'text', text: 'hi' }, { type: 'tool_use', id: 't1', name: 'search', input: { q: 'x', skip: undefined } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'found', is_error: false }] },
  ]

  it('is the JSON of the whole body, whatever the head holds', () => {
    for (const body of [
      { stream: true, model: 'claude-haiku-4-5', max_tokens: 1024, messages: history, system: 'be brief', tools: [{ name: 'search', input_schema: { type: 'object' } }] },
      { messages: history },
      { messages: [] },
      { model: 'm', messages: history, tool_choice: { type: 'any' }, system: undefined },
    ]) {
      const bytes = messagesRequestBody(body)
      expect(JSON.parse(bytes.toString('utf8'))).toEqual(JSON.parse(JSON.stringify(body)))
      expect(bytes.length).toBe(Buffer.byteLength(JSON.stringify(body)))
    }
  })

  it('a growing conversation encodes each message once; its bodies are still exact', () => {
    const plain = Array.from({ length: 40 }, (_, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: `m${i}` }))
    const sent = plain.map(counted)
    for (let turn = 0; turn < 20; turn++) {
      // The call of a turn: everything so far and the new user message (the reply follows it).
      const n = 2 * turn + 1
      const ours = messagesRequestBody({ model: 'm', system: `turn ${turn}`, messages: sent.slice(0, n).map((m) => m.message) })
      expect(ours.toString()).toBe(JSON.stringify({ model: 'm', system: `turn ${turn}`, messages: plain.slice(0, n) }))
    }
    expect(sent.slice(0, 39).map((m) => m.times())).toEqual(Array(39).fill(1))
  })

  it('a conversation cut back and continued differently is encoded from what it now holds', () => {
    const a = { role: 'user', content: 'a' }
    const b = { role: 'assistant', content: 'b' }
    const c = { role: 'user', content: 'c' }
    const d = { role: 'user', content: 'd' }
    const long = [a, b, c]
    expect(messagesRequestBody({ messages: long }).toString()).toBe(JSON.stringify({ messages: long }))
    // Rolled back to [a] (a failed turn), then a different message: not [a, b, c]'s bytes.
    const other = [a, d]
    expect(messagesRequestBody({ messages: other }).toString()).toBe(JSON.stringify({ messages: other }))
    // A different array that ends in the same object but holds other messages before it.
    const mixed = [d, b, c]
    expect(messagesRequestBody({ messages: mixed }).toString()).toBe(JSON.stringify({ messages: mixed }))
  })
})
