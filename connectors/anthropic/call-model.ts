import Anthropic from '@anthropic-ai/sdk'
import { GatewayError } from '../../shared/errors.js'
import type {
  CallModel,
  CallModelParameters,
  CallModelReturnType,
  ModelContentBlock,
  ModelMessage,
  ModelTool,
  ModelUsage,
} from '../../actors/billing/model-port.js'
import { LruMap } from '../../shared/lru.js'
import { contentOf, emptyMessage, foldMessageEvent } from './message-fold.js'
import { messageEvents } from './message-events.js'
import { messagesRequestBody } from './request-body.js'
import { undiciFetch } from './undici-fetch.js'
import { ProviderAuthError, ProviderOverloadedError, ProviderRequestError, ProviderUnavailableError } from './errors.js'

// The port is the domain's (actors/billing/model-port.ts); this connector implements it.
// Re-exported for the modules that still take the types from here.
export type { CallModel, CallModelParameters, CallModelReturnType, ModelContentBlock, ModelMessage, ModelTool, ModelUsage }

export interface ModelCallerOptions {
  /** ANTHROPIC_BASE_URL; undefined = the SDK default (api.anthropic.com). */
  baseURL?: string
  /** Attempts for overloaded/rate-limited answers (default 3). */
  maxAttempts?: number
  /** First backoff in ms, doubled each attempt (default 500). */
  backoffMs?: number
  /** Ceiling of one wait, also applied to retry-after (default 8000). */
  maxBackoffMs?: number
  /** Injectable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  /** Per-request SDK timeout in ms (default 10 min, as the SDK). */
  timeoutMs?: number
  /** SDK clients kept, one per provider key, least recently used dropped first (default 256). */
  clientCacheSize?: number
  /**
   * ANTHROPIC_OPEN_TELEMETRY: the SDK's OpenTelemetry spans (default off: the gateway
   * registers no tracer, so they would only cost 0.07–0.25 ms of CPU per call (bench/model-call); one who
   * runs an OpenTelemetry SDK in the process turns them on).
   */
  openTelemetry?: boolean
}

const PROVIDER = 'Anthropic'

/** The options the gateway's configuration gives (ANTHROPIC_BASE_URL, ANTHROPIC_OPEN_TELEMETRY). */
export function modelCallerOptions(config: { ANTHROPIC_BASE_URL?: string | undefined; ANTHROPIC_OPEN_TELEMETRY?: boolean | undefined }): ModelCallerOptions {
  return { ...(config.ANTHROPIC_BASE_URL === undefined ? {} : { baseURL: config.ANTHROPIC_BASE_URL }), openTelemetry: config.ANTHROPIC_OPEN_TELEMETRY === true }
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
  })
}

/**
 * Builds the model-call function: the official SDK, streaming, the key passed per call.
 * The SDK's own retries are off so that ours are bounded, observable and never replay
 * text already streamed to the user: a call is retried only before its first delta.
 */
export function createModelCaller(options: ModelCallerOptions = {}): CallModel {
  const maxAttempts = options.maxAttempts ?? 3
  const backoff = options.backoffMs ?? 500
  const maxBackoff = options.maxBackoffMs ?? 8000
  const sleep = options.sleep ?? defaultSleep
  // A client per key, not per call: building one costs ~0.1 ms and its connection pool is
  // what lets the next turn skip the TCP handshake. Keyed by the key itself, in memory only
  // (the client holds the key anyway); bounded so keys of idle wallets are let go.
  const clients = new LruMap<string, Anthropic>(options.clientCacheSize ?? 256)
  // One connection pool for every key's client.
  const fetch = undiciFetch()
  const clientFor = (apiKey: string): Anthropic => {
    let client = clients.get(apiKey)
    if (client === undefined) {
      client = new Anthropic({
        apiKey,
        maxRetries: 0,
        fetch,
        ...(options.openTelemetry === true ? {} : { openTelemetry: false }),
        ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }),
        ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
      })
      clients.set(apiKey, client)
    }
    return client
  }

  return async function callModel(p: CallModelParameters): Promise<CallModelReturnType> {
    const client = clientFor(p.apiKey)
    for (let attempt = 1; ; attempt++) {
      let emitted = false
      try {
        const body: Anthropic.MessageCreateParamsStreaming = {
          stream: true,
          model: p.model,
          max_tokens: p.maxTokens,
          messages: p.messages as Anthropic.MessageParam[],
          ...(p.system === undefined ? {} : { system: p.system }),
          ...(p.tools === undefined || p.tools.length === 0 ? {} : { tools: p.tools as Anthropic.Tool[] }),
          ...(p.toolChoice === undefined ? {} : { tool_choice: p.toolChoice }),
        }
        // The raw event stream, read and folded here: the SDK's MessageStream helper re-copies
        // its message snapshot and emits several events per delta, and its SSE reader copies
        // every chunk through web streams (bench/model-call.bench.ts).
        const abortable = p.signal === undefined ? {} : { signal: p.signal }
        const response = await (options.openTelemetry === true
          ? // messages.create records the SDK's spans.
            client.messages.create(body, abortable)
          : // The same request through the SDK's generic post, its body encoded by us: its history's
            // bytes are reused from earlier turns (request-body.ts), and create's walk of every
            // message for SDK-helper markers (a telemetry header) is skipped.
            client.post('/v1/messages', { body: messagesRequestBody(body), headers: { 'content-type': 'application/json' }, stream: true, ...abortable })
        ).asResponse()
        const message = emptyMessage()
        for await (const event of messageEvents(response)) {
          const delta = foldMessageEvent(message, event)
          if (delta === undefined || delta.length === 0) continue
          emitted = true
          p.onText?.(delta)
        }
        // A stream may end quietly when aborted (by the caller or by the SDK's timeout).
        if (p.signal?.aborted === true) throw new Anthropic.APIUserAbortError()
        if (!message.stopped) throw new Anthropic.APIConnectionError({ message: 'The stream ended before its message_stop' })
        return { model: message.model, stopReason: message.stopReason, content: contentOf(message), usage: message.usage, attempts: attempt }
      } catch (error) {
        const mapped = classify(error)
        if (mapped.kind === 'permanent') throw mapped.error
        if (p.signal?.aborted === true) throw new GatewayError('client_gone', 'The client went away', { cause: error })
        // Retrying after text reached the user would repeat it: report instead.
        if (emitted || attempt >= maxAttempts) {
          throw mapped.kind === 'overloaded' ? new ProviderOverloadedError(PROVIDER, attempt, mapped.reason, error) : new ProviderUnavailableError(PROVIDER, error)
        }
        const wait = Math.min(maxBackoff, (mapped.kind === 'overloaded' ? mapped.retryAfterMs : undefined) ?? backoff * 2 ** (attempt - 1))
        await sleep(wait, p.signal)
      }
    }
  }
}

type Classified =
  | { kind: 'permanent'; error: GatewayError }
  | { kind: 'overloaded'; reason: string; retryAfterMs?: number }
  | { kind: 'unreachable' }

function classify(error: unknown): Classified {
  if (error instanceof GatewayError) return { kind: 'permanent', error }
  if (error instanceof Anthropic.APIUserAbortError) return { kind: 'permanent', error: new GatewayError('client_gone', 'The client went away') }
  if (error instanceof Anthropic.APIConnectionError) return { kind: 'unreachable' }
  if (error instanceof Anthropic.APIError) {
    const status = error.status
    const type = error.type ?? (error.error as { error?: { type?: string } } | undefined)?.error?.type ?? null
    if (status === 401 || status === 403 || type === 'authentication_error' || type === 'permission_error') {
      return { kind: 'permanent', error: new ProviderAuthError(PROVIDER, status ?? 401) }
    }
    if (status === 429 || type === 'rate_limit_error') return withRetryAfter({ kind: 'overloaded', reason: 'rate limiting requests' }, error)
    if (status === 529 || type === 'overloaded_error') return withRetryAfter({ kind: 'overloaded', reason: 'overloaded' }, error)
    if (status !== undefined && status >= 500) return { kind: 'overloaded', reason: `failing (HTTP ${status})` }
    if (type === 'api_error') return { kind: 'overloaded', reason: 'failing' }
    return { kind: 'permanent', error: new ProviderRequestError(PROVIDER, status, error.apiMessage ?? type ?? 'unknown error') }
  }
  return { kind: 'unreachable' }
}

function withRetryAfter(c: { kind: 'overloaded'; reason: string }, error: InstanceType<typeof Anthropic.APIError>): Classified {
  const h = error.headers?.get('retry-after')
  const s = h === null || h === undefined ? NaN : Number(h)
  return Number.isFinite(s) && s >= 0 ? { ...c, retryAfterMs: s * 1000 } : c
}
