import type Anthropic from '@anthropic-ai/sdk'
import type { ModelContentBlock, ModelUsage } from '../../actors/billing/model-port.js'

/** A streamed message as its events have built it so far. */
export interface MessageSoFar {
  started: boolean
  /** message_stop arrived: the message is whole. */
  stopped: boolean
  model: string
  /** Text blocks with their text; tool_use blocks with their input's JSON text so far. */
  blocks: ({ type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; json: string; input: unknown } | { type: 'other' })[]
  stopReason: string | null
  usage: ModelUsage
}

export function emptyMessage(): MessageSoFar {
  return { started: false, stopped: false, model: '', blocks: [], stopReason: null, usage: { inputTokens: 0, outputTokens: 0, cacheWriteTokens: 0, cacheReadTokens: 0 } }
}

/**
 * Folds one event of the Messages API's stream (`stream: true`) into the message, in place;
 * returns the text delta it carried, if any. Usage follows the API's rule: message_start
 * gives the counts so far, message_delta's counts are cumulative totals that replace them
 * when present. A tool's input arrives as JSON text in pieces and is parsed once, at its
 * block's end. What the gateway does not use (thinking, citations) is left out.
 */
export function foldMessageEvent(m: MessageSoFar, event: Anthropic.RawMessageStreamEvent): string | undefined {
  switch (event.type) {
    case 'message_start': {
      const u = event.message.usage
      m.started = true
      m.model = event.message.model
      m.usage = { inputTokens: u.input_tokens, outputTokens: u.output_tokens, cacheWriteTokens: u.cache_creation_input_tokens ?? 0, cacheReadTokens: u.cache_read_input_tokens ?? 0 }
      return undefined
    }
    case 'content_block_start': {
      const b = event.content_block
      m.blocks[event.index] = b.type === 'text' ? { type: 'text', text: b.text } : b.type === 'tool_use' ? { type: 'tool_use', id: b.id, name: b.name, json: '', input: b.input } : { type: 'other' }
      return undefined
    }
    case 'content_block_delta': {
      const b = m.blocks[event.index]
      if (event.delta.type === 'text_delta' && b?.type === 'text') {
        b.text += event.delta.text
        return event.delta.text
      }
      if (event.delta.type === 'input_json_delta' && b?.type === 'tool_use') b.json += event.delta.partial_json
      return undefined
    }
    case 'content_block_stop': {
      const b = m.blocks[event.index]
      if (b?.type === 'tool_use' && b.json.length > 0) b.input = JSON.parse(b.json)
      return undefined
    }
    case 'message_delta': {
      const u = event.usage
      m.stopReason = event.delta.stop_reason
      m.usage.outputTokens = u.output_tokens
      if (u.input_tokens != null) m.usage.inputTokens = u.input_tokens
      if (u.cache_creation_input_tokens != null) m.usage.cacheWriteTokens = u.cache_creation_input_tokens
      if (u.cache_read_input_tokens != null) m.usage.cacheReadTokens = u.cache_read_input_tokens
      return undefined
    }
    case 'message_stop':
      m.stopped = true
      return undefined
    default:
      return undefined
  }
}

/** The message's content in the model port's shape. */
export function contentOf(m: MessageSoFar): ModelContentBlock[] {
  return m.blocks.flatMap((b): ModelContentBlock[] => (b.type === 'text' ? [{ type: 'text', text: b.text }] : b.type === 'tool_use' ? [{ type: 'tool_use', id: b.id, name: b.name, input: b.input }] : []))
}
