import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local Anthropic-compatible Messages API (POST /v1/messages) for tests and benches.
 * It streams the exact SSE sequence of the real API (message_start with usage incl.
 * cache tokens, content_block_start/delta/stop with text_delta and input_json_delta
 * split in chunks, ping, message_delta with stop_reason and cumulative usage,
 * message_stop) or answers non-streaming JSON. Turns are scripted by the test.
 */

export interface FixtureUsage {
  input_tokens: number
  output_tokens: number
  cache_creation_input_tokens?: number
  cache_read_input_tokens?: number
}

export type FixtureBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id?: string; name: string; input: Record<string, unknown> }

/** One scripted answer to one request. */
export type FixtureTurn =
  | {
      kind: 'message'
      content: FixtureBlock[]
      usage?: FixtureUsage
      stopReason?: 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence'
      /** Characters per text/JSON delta (default 4). */
      chunkSize?: number
      /** Wait before the headers (ms). */
      delayMs?: number
      /** Wait between streamed events (ms). */
      interEventDelayMs?: number
      /** Stop after this many text characters with an `event: error` overloaded_error. */
      errorAfterChars?: number
    }
  | { kind: 'http_error'; status: 401 | 429 | 500 | 529 | 400; retryAfterS?: number; message?: string }

/** Text-only turn helper. */
export function textTurn(text: string, usage?: FixtureUsage): FixtureTurn {
  return usage === undefined ? { kind: 'message', content: [{ type: 'text', text }] } : { kind: 'message', content: [{ type: 'text', text }], usage }
}

/** A turn that asks for one tool (after an optional sentence). */
export function toolTurn(name: string, input: Record<string, unknown>, opts: { text?: string; id?: string; usage?: FixtureUsage } = {}): FixtureTurn {
  const content: FixtureBlock[] = []
  if (opts.text !== undefined) content.push({ type: 'text', text: opts.text })
  content.push(opts.id === undefined ? { type: 'tool_use', name, input } : { type: 'tool_use', id: opts.id, name, input })
  const turn: FixtureTurn = { kind: 'message', content, stopReason: 'tool_use' }
  if (opts.usage !== undefined) turn.usage = opts.usage
  return turn
}

export interface RecordedRequest {
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  /** The key the client presented (x-api-key or Bearer), for assertions only. */
  apiKey: string | undefined
  body: any
  at: number
}

export interface AnthropicFixture {
  url: string
  /** Requests received, in order. */
  requests: RecordedRequest[]
  /** Queue turns answered in order. */
  enqueue(...turns: FixtureTurn[]): void
  /** Turns still queued. */
  readonly pending: number
  close(): Promise<void>
}

export interface AnthropicFixtureOptions {
  /** Accepted keys; a request with another key gets 401 authentication_error. Default: any key starting with "sk-ant-". */
  validKeys?: string[]
  /** Answer when the queue is empty (bench); default: 500 api_error "no scripted turn". */
  respond?: (request: RecordedRequest) => FixtureTurn
  /** Keep request bodies (default true; benches turn it off). */
  record?: boolean
}

const DEFAULT_USAGE: FixtureUsage = { input_tokens: 25, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }

/** Starts the fixture on 127.0.0.1 with an ephemeral port. */
export async function startAnthropicFixture(options: AnthropicFixtureOptions = {}): Promise<AnthropicFixture> {
  const queue: FixtureTurn[] = []
  const requests: RecordedRequest[] = []
  const record = options.record ?? true
  const sockets = new Set<import('node:net').Socket>()

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'api_error', String(err))
      else res.destroy()
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    const url = new URL(req.url ?? '/', 'http://x')
    if (req.method !== 'POST' || url.pathname !== '/v1/messages') {
      sendError(res, 404, 'not_found_error', `Not found: ${req.method} ${url.pathname}`)
      return
    }
    const auth = req.headers.authorization
    const apiKey = (req.headers['x-api-key'] as string | undefined) ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : undefined)
    let body: any
    try {
      body = JSON.parse(raw)
    } catch {
      sendError(res, 400, 'invalid_request_error', 'Request body is not valid JSON')
      return
    }
    const recorded: RecordedRequest = { method: req.method, path: url.pathname, headers: req.headers, apiKey, body: record ? body : undefined, at: Date.now() }
    if (record) requests.push(recorded)
    else recorded.body = body

    const keyOk = apiKey !== undefined && (options.validKeys === undefined ? apiKey.startsWith('sk-ant-') : options.validKeys.includes(apiKey))
    if (!keyOk) {
      sendError(res, 401, 'authentication_error', 'invalid x-api-key')
      return
    }
    if (typeof body?.model !== 'string' || !Array.isArray(body?.messages) || typeof body?.max_tokens !== 'number') {
      sendError(res, 400, 'invalid_request_error', 'model, messages and max_tokens are required')
      return
    }
    const turn = queue.shift() ?? options.respond?.(recorded)
    if (turn === undefined) {
      sendError(res, 500, 'api_error', 'no scripted turn')
      return
    }
    if (turn.kind === 'http_error') {
      const type = turn.status === 401 ? 'authentication_error' : turn.status === 429 ? 'rate_limit_error' : turn.status === 529 ? 'overloaded_error' : turn.status === 400 ? 'invalid_request_error' : 'api_error'
      const headers: Record<string, string> = {}
      if (turn.retryAfterS !== undefined) headers['retry-after'] = String(turn.retryAfterS)
      sendError(res, turn.status, type, turn.message ?? defaultMessage(type), headers)
      return
    }
    if (turn.delayMs !== undefined) await sleep(turn.delayMs)
    const message = buildMessage(body.model, turn)
    if (body.stream === true) await stream(res, message, turn)
    else {
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': reqId() })
      res.end(JSON.stringify(message))
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (...turns) => void queue.push(...turns),
    get pending() {
      return queue.length
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

function defaultMessage(type: string): string {
  switch (type) {
    case 'authentication_error':
      return 'invalid x-api-key'
    case 'rate_limit_error':
      return 'Number of request tokens has exceeded your per-minute rate limit'
    case 'overloaded_error':
      return 'Overloaded'
    default:
      return 'Internal server error'
  }
}

function reqId(): string {
  return `req_${randomBytes(12).toString('hex')}`
}

function sendError(res: ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': reqId(), ...headers })
  res.end(JSON.stringify({ type: 'error', error: { type, message } }))
}

function buildMessage(model: string, turn: Extract<FixtureTurn, { kind: 'message' }>) {
  const usage = { ...DEFAULT_USAGE, ...turn.usage }
  const content = turn.content.map((b) =>
    b.type === 'text' ? { type: 'text' as const, text: b.text } : { type: 'tool_use' as const, id: b.id ?? `toolu_${randomBytes(12).toString('hex')}`, name: b.name, input: b.input },
  )
  const stopReason = turn.stopReason ?? (content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn')
  return {
    id: `msg_${randomBytes(12).toString('hex')}`,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: {
      input_tokens: usage.input_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
      cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
      output_tokens: usage.output_tokens,
    },
  }
}

function chunk(s: string, size: number): string[] {
  if (s.length === 0) return ['']
  const out: string[] = []
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size))
  return out
}

async function stream(res: ServerResponse, message: ReturnType<typeof buildMessage>, turn: Extract<FixtureTurn, { kind: 'message' }>): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'request-id': reqId() })
  const size = turn.chunkSize ?? 4
  const gap = turn.interEventDelayMs ?? 0
  let closed = false
  res.on('close', () => (closed = true))
  const send = async (event: string, data: unknown): Promise<void> => {
    if (closed) return
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    if (gap > 0) await sleep(gap)
  }
  // message_start carries the input side of usage; output_tokens starts at 1 as in the real API.
  await send('message_start', {
    type: 'message_start',
    message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...message.usage, output_tokens: 1 } },
  })
  let textSent = 0
  for (const [index, block] of message.content.entries()) {
    if (block.type === 'text') {
      await send('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } })
      if (index === 0) await send('ping', { type: 'ping' })
      for (const piece of chunk(block.text, size)) {
        if (turn.errorAfterChars !== undefined && textSent >= turn.errorAfterChars) {
          await send('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })
          res.end()
          return
        }
        await send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } })
        textSent += piece.length
      }
    } else {
      await send('content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } })
      if (index === 0) await send('ping', { type: 'ping' })
      const json = JSON.stringify(block.input)
      // The real API opens with an empty partial_json, then splits the JSON arbitrarily.
      await send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } })
      for (const piece of chunk(json, Math.max(1, size))) {
        await send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } })
      }
    }
    await send('content_block_stop', { type: 'content_block_stop', index })
  }
  if (turn.errorAfterChars !== undefined && textSent <= turn.errorAfterChars) {
    await send('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })
    res.end()
    return
  }
  await send('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: message.stop_reason, stop_sequence: null },
    usage: message.usage,
  })
  await send('message_stop', { type: 'message_stop' })
  res.end()
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
