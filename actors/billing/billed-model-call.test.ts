import { describe, expect, it } from 'vitest'
import { estimatePromptTokens } from './billed-model-call.js'

const byStringify = (parts: unknown[]) => Math.ceil(JSON.stringify(parts).length / 3) + 64

describe('estimatePromptTokens', () => {
  it('is exactly the stringified length of the parts, measured without stringifying the whole conversation', () => {
    const conversation: unknown[] = []
    const tools = [{ name: 'search', description: 'Finds "things"\n', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }]
    for (let i = 0; i < 40; i++) {
      conversation.push({ role: 'user', content: `message ${i} with "quotes", a tab\t and ünïcödé ✓` })
      conversation.push({ role: 'assistant', content: [{ type: 'text', text: 'ok '.repeat(i) }, { type: 'tool_use', id: `t${i}`, name: 'search', input: { q: i } }] })
      // Each turn sees a new array holding the same message objects (as the session's fold builds it).
      const snapshot = [...conversation]
      const parts = ['You are helpful.\n', snapshot, `next ${i}`, i % 2 === 0 ? [] : [{ data: 'aGk=', mediaType: 'image/png' }], tools]
      expect(estimatePromptTokens(parts)).toBe(byStringify(parts))
    }
    expect(estimatePromptTokens([])).toBe(byStringify([]))
    expect(estimatePromptTokens(['', [undefined, null, 3, true], {}])).toBe(byStringify(['', [undefined, null, 3, true], {}]))
  })
})
