import type Anthropic from '@anthropic-ai/sdk'
import { describe, expect, it } from 'vitest'
import { contentOf, emptyMessage, foldMessageEvent } from './message-fold.js'

const start = (usage: Partial<Anthropic.Usage>): Anthropic.RawMessageStreamEvent =>
  ({
    type: 'message_start',
    message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-haiku-4-5', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1, ...usage } },
  }) as unknown as Anthropic.RawMessageStreamEvent

describe('foldMessageEvent', () => {
  it('builds text and tool_use blocks, returns each text delta, parses a tool input once at its end', () => {
    const m = emptyMessage()
    const events = [
      start({ cache_read_input_tokens: 5 }),
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '', citations: null } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'lo' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'thinking', thinking: '', signature: '' } },
      { type: 'content_block_stop', index: 1 },
      { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_1', name: 'search', input: {} } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"q":"a' } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: 'b","n":2}' } },
      { type: 'content_block_stop', index: 2 },
      { type: 'content_block_start', index: 3, content_block: { type: 'tool_use', id: 'toolu_2', name: 'now', input: {} } },
      { type: 'content_block_stop', index: 3 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 42, input_tokens: 12 } },
    ] as Anthropic.RawMessageStreamEvent[]
    const deltas = events.map((e) => foldMessageEvent(m, e)).filter((d) => d !== undefined)
    expect(deltas).toEqual(['Hel', 'lo'])
    expect(m.stopped).toBe(false)
    foldMessageEvent(m, { type: 'message_stop' })
    expect(m.stopped).toBe(true)
    expect(contentOf(m)).toEqual([
      { type: 'text', text: 'Hello' },
      { type: 'tool_use', id: 'toolu_1', name: 'search', input: { q: 'ab', n: 2 } },
      { type: 'tool_use', id: 'toolu_2', name: 'now', input: {} },
    ])
    expect(m.stopReason).toBe('tool_use')
    expect(m.model).toBe('claude-haiku-4-5')
    // message_delta's totals replace what message_start said; counts it leaves out stay.
    expect(m.usage).toEqual({ inputTokens: 12, outputTokens: 42, cacheWriteTokens: 0, cacheReadTokens: 5 })
  })

  it('refuses a tool input whose JSON is broken instead of guessing', () => {
    const m = emptyMessage()
    foldMessageEvent(m, start({}))
    foldMessageEvent(m, { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 't', name: 'x', input: {} } } as Anthropic.RawMessageStreamEvent)
    foldMessageEvent(m, { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"q":' } })
    expect(() => foldMessageEvent(m, { type: 'content_block_stop', index: 0 })).toThrow(SyntaxError)
  })
})
