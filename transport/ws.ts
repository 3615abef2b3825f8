import type { Logger } from 'pino'
import { z } from 'zod'
import { AuthError, GatewayError } from '../shared/errors.js'
import { own } from '../shared/own.js'
import { RateLimitedError, type TokenBuckets } from './rate-limit.js'
import { bigintReplacer, decode, encode } from '../store/codec.js'
import type { EventStore } from '../store/types.js'
import { toHttpError } from './http-errors.js'
import type { LiveFeed } from './live.js'
import type { Metrics } from './metrics.js'
import type { AuthContext } from '../auth/auth-context.js'
import { followTopic, type TopicSpec } from './topics.js'
import type { TemplatedApp, WebSocket } from './uws.js'
import type { WebSocketEndpoint } from './ws-endpoint.js'

export const WS_PROTOCOL_MSGPACK = 'agent-gateway.v1.msgpack'
export const WS_PROTOCOL_JSON = 'agent-gateway.v1.json'

/** A connection as command handlers see it. */
export interface WsClient {
  readonly auth: AuthContext
  send(frame: Record<string, unknown>): void
  /** Subscribes the connection to a topic, with the same checks as a `subscribe` frame. */
  subscribe(topic: string, after?: bigint, options?: { ifNotSubscribed?: boolean }): Promise<void>
}

/** Handlers for client frames beyond subscribe/unsubscribe/ping (e.g. `chat`, `approve`). */
export type WsCommandHandler = (client: WsClient, frame: Record<string, unknown>) => Promise<void>

export interface WebSocketHubParameters {
  store: EventStore
  live: LiveFeed
  logger: Logger
  metrics: Metrics
  topics: readonly TopicSpec[]
  authenticate(token: string): Promise<AuthContext>
  commands?: Record<string, WsCommandHandler>
  /** Bytes buffered for a client before it is closed with 1013. Default 1 MiB. */
  maxBuffered?: number
  /** Time allowed for the `auth` frame. Default 5 s. */
  authTimeoutMs?: number
  now?: () => number
  /** Per-wallet write budget (the HTTP server's): each command frame (`chat`, `approve`) takes a token. */
  walletBuckets?: TokenBuckets
}

/** Close code for a socket whose token is missing, invalid, expired or revoked. */
export const WS_CLOSE_UNAUTHORIZED = 4401
/** setTimeout's ceiling (~24.8 days); a longer-lived token is re-checked then. */
const MAX_TIMER_MS = 2 ** 31 - 1

interface Conn {
  protocol: 'msgpack' | 'json'
  auth: AuthContext | undefined
  /** Token from the upgrade request, verified in `open`. */
  pendingToken: string | undefined
  topics: Map<string, AbortController>
  authTimer: NodeJS.Timeout | undefined
  /** Closes the socket when its token expires (a fresh `auth` frame moves it). */
  expiryTimer: NodeJS.Timeout | undefined
  closed: boolean
  ws: WebSocket<Conn> | undefined
  /** Frames are handled one after another, so `auth` then `subscribe` sent back to back work. */
  queue: Promise<void>
  /** Replays waiting for the socket to drain. */
  drainWaiters: (() => void)[]
}

/** A store position as a client may send it (decimal string, number or msgpack bigint). */
export const wsPosition = z
  .union([z.string().regex(/^\d{1,30}$/), z.number().int().nonnegative(), z.bigint().nonnegative()])
  .transform((v) => BigInt(v))
const clientFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auth'), token: z.string().min(1).max(8192) }),
  z.object({ type: z.literal('subscribe'), topic: z.string().min(1).max(200), after: wsPosition.optional(), id: z.unknown().optional() }),
  z.object({ type: z.literal('unsubscribe'), topic: z.string().min(1).max(200), id: z.unknown().optional() }),
  z.object({ type: z.literal('ping'), id: z.unknown().optional() }),
])

/**
 * `GET /ws` (API.md §13): authenticated topics over msgpack or JSON frames, resumable by
 * store position, with slow consumers closed (1013) instead of buffered without bound.
 */
export class WebSocketHub implements WebSocketEndpoint {
  readonly #p: WebSocketHubParameters
  readonly #conns = new Set<Conn>()

  constructor(parameters: WebSocketHubParameters) {
    this.#p = parameters
  }

  bind(app: TemplatedApp): void {
    app.ws<Conn>('/ws', {
      maxPayloadLength: 256 * 1024,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      maxBackpressure: 16 * 1024 * 1024,
      upgrade: (res, req, context) => {
        const offered = req
          .getHeader('sec-websocket-protocol')
          .split(',')
          .map((s) => s.trim())
        const protocol = offered.includes(WS_PROTOCOL_MSGPACK) ? WS_PROTOCOL_MSGPACK : offered.includes(WS_PROTOCOL_JSON) ? WS_PROTOCOL_JSON : ''
        const header = req.getHeader('authorization')
        const conn: Conn = {
          protocol: protocol === WS_PROTOCOL_MSGPACK ? 'msgpack' : 'json',
          auth: undefined,
          pendingToken: /^bearer /i.test(header) ? header.slice(7).trim() : undefined,
          topics: new Map(),
          authTimer: undefined,
          expiryTimer: undefined,
          closed: false,
          ws: undefined,
          queue: Promise.resolve(),
          drainWaiters: [],
        }
        res.upgrade(conn, req.getHeader('sec-websocket-key'), protocol, req.getHeader('sec-websocket-extensions'), context)
      },
      open: (ws) => {
        const conn = ws.getUserData()
        conn.ws = ws
        this.#conns.add(conn)
        this.#p.metrics.wsConnections.inc()
        if (conn.pendingToken !== undefined) {
          const token = conn.pendingToken
          conn.pendingToken = undefined
          conn.queue = conn.queue.then(() => this.#authenticate(conn, token))
        } else {
          conn.authTimer = setTimeout(() => this.#end(conn, WS_CLOSE_UNAUTHORIZED, 'authentication required'), this.#p.authTimeoutMs ?? 5000)
        }
      },
      message: (ws, message, isBinary) => {
        const conn = ws.getUserData()
        let frame: unknown
        try {
          // The ArrayBuffer is only valid during this callback: decode now.
          frame = isBinary ? decode(new Uint8Array(message.slice(0))) : JSON.parse(Buffer.from(message).toString('utf8'))
        } catch {
          return this.#send(conn, { type: 'error', error: 'invalid_frame', message: 'Frame is not valid JSON or msgpack' })
        }
        conn.queue = conn.queue.then(() => this.#onFrame(conn, frame))
      },
      drain: (ws) => {
        const conn = ws.getUserData()
        if (ws.getBufferedAmount() > this.#replayHighWater()) return
        const waiters = conn.drainWaiters
        conn.drainWaiters = []
        for (const w of waiters) w()
      },
      close: (ws) => {
        const conn = ws.getUserData()
        conn.closed = true
        for (const w of conn.drainWaiters) w()
        conn.drainWaiters = []
        if (conn.authTimer !== undefined) clearTimeout(conn.authTimer)
        if (conn.expiryTimer !== undefined) clearTimeout(conn.expiryTimer)
        for (const c of conn.topics.values()) c.abort()
        conn.topics.clear()
        this.#conns.delete(conn)
        this.#p.metrics.wsConnections.dec()
      },
    })
  }

  async closeAll(): Promise<void> {
    for (const conn of [...this.#conns]) this.#end(conn, 1001, 'server shutting down')
  }

  /**
   * A session token was revoked (logout, here or on another process: the revocation feed
   * reaches every process): sockets authenticated with it are closed with 4401.
   */
  revoked(jti: string): void {
    for (const conn of this.#conns) if (conn.auth?.jti === jti) this.#end(conn, WS_CLOSE_UNAUTHORIZED, 'token revoked')
  }

  async #authenticate(conn: Conn, token: string): Promise<void> {
    try {
      const auth = await this.#p.authenticate(token)
      if (conn.auth !== undefined && conn.auth.sub !== auth.sub) {
        // Topics were authorised for the first wallet: a socket never changes hands.
        this.#send(conn, { type: 'error', error: 'forbidden', message: 'A fresh token must be for the same wallet' })
        return
      }
      conn.auth = auth
      if (conn.authTimer !== undefined) clearTimeout(conn.authTimer)
      this.#expireAt(conn, auth.exp * 1000)
      this.#send(conn, { type: 'ack', of: 'auth', walletAddress: auth.address, expiresAt: auth.exp * 1000 })
    } catch {
      // A failed refresh leaves the current token (and its expiry) in force; a failed first auth closes.
      if (conn.auth === undefined) this.#end(conn, WS_CLOSE_UNAUTHORIZED, 'invalid token')
      else this.#send(conn, { type: 'error', error: 'token_invalid', message: 'The fresh token was refused; the current one stays until it expires' })
    }
  }

  /** The socket lives no longer than its token: closed with 4401 at `expiresAtMs`. */
  #expireAt(conn: Conn, expiresAtMs: number): void {
    if (conn.expiryTimer !== undefined) clearTimeout(conn.expiryTimer)
    const left = expiresAtMs - (this.#p.now?.() ?? Date.now())
    conn.expiryTimer = setTimeout(
      () => (left > MAX_TIMER_MS ? this.#expireAt(conn, expiresAtMs) : this.#end(conn, WS_CLOSE_UNAUTHORIZED, 'token expired')),
      Math.max(0, Math.min(left, MAX_TIMER_MS)),
    )
    conn.expiryTimer.unref()
  }

  async #onFrame(conn: Conn, raw: unknown): Promise<void> {
    const id = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined
    try {
      const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined
      const command = typeof type === 'string' && this.#p.commands !== undefined ? own(this.#p.commands, type) : undefined
      if (command !== undefined) {
        if (conn.auth === undefined) throw new AuthError('auth_required', 'Authenticate first')
        const wait = this.#p.walletBuckets?.take(conn.auth.sub) ?? 0
        if (wait > 0) throw new RateLimitedError('wallet', wait)
        await command(this.#client(conn), raw as Record<string, unknown>)
        return
      }
      const frame = clientFrame.parse(raw)
      if (frame.type === 'auth') {
        // Also when authenticated: a fresh token for the same wallet extends the socket's life.
        await this.#authenticate(conn, frame.token)
        return
      }
      if (conn.auth === undefined) throw new AuthError('auth_required', 'Authenticate first')
      if (frame.type === 'ping') return this.#send(conn, { type: 'pong', ...(id === undefined ? {} : { id }) })
      if (frame.type === 'unsubscribe') {
        conn.topics.get(frame.topic)?.abort()
        conn.topics.delete(frame.topic)
        return this.#send(conn, { type: 'ack', of: 'unsubscribe', topic: frame.topic, ...(id === undefined ? {} : { id }) })
      }
      await this.#subscribe(conn, frame.topic, frame.after, id)
    } catch (error) {
      const mapped = toHttpError(error)
      this.#send(conn, { type: 'error', ...mapped.body, ...(id === undefined ? {} : { id }) })
    }
  }

  #client(conn: Conn): WsClient {
    const auth = conn.auth
    if (auth === undefined) throw new AuthError('auth_required', 'Authenticate first')
    return {
      auth,
      send: (frame) => this.#send(conn, frame),
      subscribe: async (topic, after, options) => {
        if (options?.ifNotSubscribed === true && conn.topics.has(topic)) return
        await this.#subscribe(conn, topic, after, undefined)
      },
    }
  }

  async #subscribe(conn: Conn, topic: string, after: bigint | undefined, id: unknown): Promise<void> {
    const auth = conn.auth as AuthContext
    const spec = this.#p.topics.find((t) => t.matches(topic))
    if (spec === undefined) throw new GatewayError('unknown_topic', `Unknown topic ${topic}`)
    await spec.authorize(topic, auth)
    if (conn.topics.has(topic)) throw new GatewayError('already_subscribed', `Already subscribed to ${topic}`)
    const controller = new AbortController()
    conn.topics.set(topic, controller)
    // Live events from now on; stored ones after `after` only when the client asked to resume.
    const from = after ?? this.#p.live.position
    try {
      await followTopic(
        this.#p.store,
        this.#p.live,
        spec.streams(topic, auth),
        (e) => spec.project(e),
        after === undefined ? from : after,
        (e, phase) => {
          const frame = { type: 'event', topic, position: e.position, event: e.event }
          return phase === 'live' ? this.#send(conn, frame) : this.#sendPaced(conn, frame)
        },
        controller.signal,
      )
    } catch (error) {
      conn.topics.delete(topic)
      controller.abort()
      throw error
    }
    this.#send(conn, { type: 'ack', of: 'subscribe', topic, ...(id === undefined ? {} : { id }) })
  }

  #send(conn: Conn, frame: Record<string, unknown>): void {
    const ws = conn.ws
    if (conn.closed || ws === undefined) return
    const status =
      conn.protocol === 'msgpack' ? ws.send(encode(frame), true) : ws.send(JSON.stringify(frame, bigintReplacer), false)
    // 2 = dropped by uWS's backpressure limit; or too much already queued: close, client resumes with `after`.
    if (status === 2 || ws.getBufferedAmount() > (this.#p.maxBuffered ?? 1024 * 1024)) this.#end(conn, 1013, 'slow consumer: resume with after')
  }

  /**
   * Replay of stored events: the client asked for them, so it is paced by the socket's
   * drain instead of being closed as a slow consumer (a long history may be megabytes).
   */
  #sendPaced(conn: Conn, frame: Record<string, unknown>): Promise<void> | undefined {
    const ws = conn.ws
    if (conn.closed || ws === undefined) return undefined
    if (conn.protocol === 'msgpack') ws.send(encode(frame), true)
    else ws.send(JSON.stringify(frame, bigintReplacer), false)
    if (ws.getBufferedAmount() <= this.#replayHighWater()) return undefined
    return new Promise((resolve) => conn.drainWaiters.push(resolve))
  }

  #replayHighWater(): number {
    return (this.#p.maxBuffered ?? 1024 * 1024) / 4
  }

  #end(conn: Conn, code: number, reason: string): void {
    if (conn.closed || conn.ws === undefined) return
    conn.closed = true
    try {
      conn.ws.end(code, reason)
    } catch {
      // Already closed by the peer.
    }
  }
}

