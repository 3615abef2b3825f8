/**
 * The model as the actors see it: one streamed call with the wallet's key. Declared by
 * the domain (sessions, billing, canvas and reflect runs call it); the Anthropic connector
 * (connectors/anthropic/call-model.ts) implements it.
 */

/** Token counts of one model call, as the provider reported them in its final usage. */
export interface ModelUsage {
  inputTokens: number
  outputTokens: number
  cacheWriteTokens: number
  cacheReadTokens: number
}

export type ModelContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }

/** One message of the conversation we send (Anthropic's shape, kept to the blocks we use). */
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

export interface ModelTool {
  name: string
  description?: string
  input_schema: { type: 'object'; [k: string]: unknown }
}

export interface CallModelParameters {
  /** The wallet's BYOK key, fetched from the vault for this call only. */
  apiKey: string
  model: string
  system?: string
  messages: ModelMessage[]
  tools?: ModelTool[]
  /** Forces a tool (structured output: the tool's input_schema is the answer's JSON schema). */
  toolChoice?: { type: 'tool'; name: string }
  maxTokens: number
  /** Each text delta as it streams. */
  onText?: (delta: string) => void
  signal?: AbortSignal
}

export interface CallModelReturnType {
  /** The model id the provider answered with. */
  model: string
  content: ModelContentBlock[]
  stopReason: string | null
  usage: ModelUsage
  /** Attempts made (1 when the first one succeeded). */
  attempts: number
}

/** One model call; retries, streaming and the provider's errors are the implementation's. */
export type CallModel = (parameters: CallModelParameters) => Promise<CallModelReturnType>
