/**
 * The model as the chat session sees it: its own types, so the session's stored events do
 * not take their shape from a connector. connectors/anthropic/call-model.ts adapts the SDK
 * to this port (its types are structurally the same; gateway-chat.ts passes it in).
 */

/** Token counts of one model call, as the provider reported them in its final usage. */
export interface ModelUsage {
  inputTokens: number
  outputTokens: number
  cacheWriteTokens: number
  cacheReadTokens: number
}

/** A block of the model's answer that the session records. */
export type ModelContentBlock = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: unknown }

/** One message of the conversation the session keeps and sends. */
export type ModelMessage = {
  role: 'user' | 'assistant'
  content:
    | string
    | Array<
        | { type: 'text'; text: string }
        | { type: 'image'; source: { type: 'base64'; media_type: 'image/jpeg' | 'image/png' | 'image/webp'; data: string } }
        | { type: 'tool_use'; id: string; name: string; input: unknown }
        | { type: 'tool_result'; tool_use_id: string; content: string; is_error?: boolean }
      >
}

/** A tool offered to the model. */
export interface ModelTool {
  name: string
  description?: string
  input_schema: { type: 'object'; [k: string]: unknown }
}

export interface SessionModelCallParameters {
  /** The wallet's BYOK key, fetched from the vault for this call only. */
  apiKey: string
  model: string
  system?: string
  messages: ModelMessage[]
  tools?: ModelTool[]
  maxTokens: number
  /** Each text delta as it streams. */
  onText?: (delta: string) => void
}

export interface SessionModelCallResult {
  /** The model id the provider answered with. */
  model: string
  content: ModelContentBlock[]
  stopReason: string | null
  usage: ModelUsage
}

/** One model call, streamed; provider failures are thrown as GatewayErrors with stable codes. */
export type SessionModelCall = (p: SessionModelCallParameters) => Promise<SessionModelCallResult>
