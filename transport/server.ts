import { randomBytes } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Logger } from 'pino'
import { AuthError, GatewayError, ValidationError } from '../shared/errors.js'
import { bigintReplacer } from '../store/codec.js'
import { toHttpError } from './http-errors.js'
import type { Metrics, RouteRecord } from './metrics.js'
import type { AuthContext } from '../auth/auth-context.js'
import type { HttpMethod, RequestContext, ResponseSink, Route, RouteResult, StreamResult } from './route.js'
import { checkJsonComplexity, type JsonLimits } from './json-limits.js'
import { RateLimitedError, TokenBuckets, type TokenBucketLimits } from './rate-limit.js'
import { Router } from './router.js'
import { loadNativeUws, type HttpResponse, type TemplatedApp, type us_listen_socket } from './uws.js'
import type { WebSocketEndpoint } from './ws-endpoint.js'

export interface HttpServerParameters {
  routes: readonly Route[]
  logger: Logger
  metrics: Metrics
  /** Default JSON body limit in bytes (413 beyond it). */
  bodyLimit: number
  /** Allowed CORS origins; '*' allows any. */
  corsOrigins: readonly string[]
  /** Verifies a bearer token; throws AuthError. */
  authenticate(token: string): Promise<AuthContext>
  websocket?: WebSocketEndpoint
  /** Deepest nesting and most keys/items a JSON body may have (400 `json_too_complex` beyond). */
  jsonLimits?: JsonLimits
  /** Anonymous requests per client address (token bucket; perSecond 0 = off). */
  clientRateLimit?: TokenBucketLimits
  /** Authenticated writes (POST/PUT/DELETE/PATCH) per wallet; shared with the WebSocket's commands. */
  walletBuckets?: TokenBuckets
}

export interface HttpServer {
  listen(host: string, port: number): Promise<number>
  /** Stops accepting, lets in-flight requests finish (up to graceMs), then closes everything. */
  close(graceMs: number): Promise<void>
}

/** Request ids when the client sent none: unique per process start, then a counter (randomUUID cost shows at load). */
const REQUEST_ID_PREFIX = randomBytes(9).toString('base64url')
let requestSeq = 0
const nextRequestId = (): string => `${REQUEST_ID_PREFIX}-${(++requestSeq).toString(36)}`

const PREFLIGHT_HEADERS: Record<string, string> = {
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, PATCH, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, idempotency-key, last-event-id, x-request-id, x-runtime-scope-id',
  'access-control-max-age': '600',
}

const STATUS_LINES = new Map<number, string>()
const statusLine = (status: number): string => {
  let line = STATUS_LINES.get(status)
  if (line === undefined) {
    line = `${status} ${STATUS_CODES[status] ?? ''}`
    STATUS_LINES.set(status, line)
  }
  return line
}

/** Expected refusals (404/405) are answered from the error's code and message: a stack trace is wasted work. */
function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

const METHODS = new Set<HttpMethod>(['GET', 'POST', 'PUT', 'DELETE', 'PATCH'])
/** uWS gives the method in lower case; the common ones are looked up, not upper-cased per request. */
const UPPER_METHODS: Record<string, string> = { get: 'GET', post: 'POST', put: 'PUT', delete: 'DELETE', patch: 'PATCH', options: 'OPTIONS', head: 'HEAD' }
/** How much of an unmatched path a 404 message repeats (the client sent it; no need to echo megabytes). */
const ECHOED_PATH_CHARS = 128
/** Expected unavailability (no TEE, store or vault down) is logged as a warning at most this often per code. */
const UNAVAILABLE_LOG_INTERVAL_MS = 60_000
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

interface Incoming {
  method: string
  path: string
  query: string
  headers: Record<string, string>
}

/** Reasons a request was refused before it reached a handler. */
class PayloadTooLarge extends GatewayError {
  constructor(limit: number) {
    super('payload_too_large', `Request body exceeds ${limit} bytes`, { details: { limit } })
  }
}

/** Binds transport-neutral routes to a native uWS app. */
export function createHttpServer(p: HttpServerParameters): HttpServer {
  const uWS = loadNativeUws()
  const app: TemplatedApp = uWS.App()
  const router = new Router()
  // Each route's metrics record, resolved once (the request path only bumps numbers).
  const records = new Map<Route, RouteRecord>()
  // Routes whose answers held a bigint: serialised with the replacer from then on (see toJson).
  const routesAnsweringBigints = new WeakSet<Route>()
  for (const route of p.routes) {
    router.add(route)
    records.set(route, p.metrics.http.record(route.method, route.path))
  }
  const clientBuckets = new TokenBuckets(p.clientRateLimit ?? { perSecond: 0, burst: 0 })
  const walletBuckets = p.walletBuckets ?? new TokenBuckets({ perSecond: 0, burst: 0 })

  let listenSocket: us_listen_socket | undefined
  let closing = false
  let inFlight = 0
  const openStreams = new Set<AbortController>()
  let idle: (() => void) | undefined

  /** The CORS allow-origin value for a request's Origin, or undefined (no CORS headers). */
  const corsFor = (origin: string | undefined): string | undefined => {
    if (origin === undefined || p.corsOrigins.length === 0) return undefined
    if (p.corsOrigins.includes('*')) return '*'
    if (p.corsOrigins.includes(origin)) return origin
    return undefined
  }

  /**
   * One request/response. A class rather than per-request closures: the hot path of a
   * GET without a body runs synchronously inside the uWS callback.
   */
  class Exchange {
    done = false
    /** Counted out of inFlight already (on answer, or when the client went away first). */
    finished = false
    /** The client went away (res.onAborted); kept so a signal created later starts aborted. */
    aborted = false
    routeLabel = 'unmatched'
    route: Route | undefined
    record: RouteRecord | undefined
    readonly started = performance.now()
    readonly requestId: string
    readonly allowOrigin: string | undefined
    // Created only when a handler reads ctx.signal: most never do.
    #abort: AbortController | undefined
    #streamAbort: AbortController | undefined
    #remoteAddress: string | undefined

    constructor(
      readonly res: HttpResponse,
      readonly incoming: Incoming,
    ) {
      const headerId = incoming.headers['x-request-id']
      this.requestId = headerId !== undefined && REQUEST_ID.test(headerId) ? headerId : nextRequestId()
      this.allowOrigin = corsFor(incoming.headers.origin)
    }

    /** Read from uWS on first use (few handlers look); the response is unusable once it ended or aborted. */
    get remoteAddress(): string {
      if (this.#remoteAddress === undefined) {
        if (this.done) return ''
        this.#remoteAddress = Buffer.from(this.res.getRemoteAddressAsText()).toString()
      }
      return this.#remoteAddress
    }

    get signal(): AbortSignal {
      if (this.#abort === undefined) {
        this.#abort = new AbortController()
        if (this.aborted) this.#abort.abort()
      }
      return this.#abort.signal
    }

    onAborted(): void {
      this.done = true
      this.aborted = true
      this.#abort?.abort()
      this.#streamAbort?.abort()
      // Nobody is waiting for an answer any more (e.g. the client left mid-body): a shutdown
      // must not wait for this request. A handler still running answers into the void.
      if (this.#streamAbort === undefined) this.finish(499)
    }

    finish(status: number): void {
      if (this.finished) return
      this.finished = true
      inFlight--
      ;(this.record ?? p.metrics.http.record(this.incoming.method, this.routeLabel)).observe(status, (performance.now() - this.started) / 1000)
      if (inFlight === 0) idle?.()
    }

    /** x-request-id and CORS, unless `extra` overrides them, then `extra`. */
    writeHeaders(extra: Record<string, string> | undefined): void {
      const res = this.res
      if (extra === undefined || !('x-request-id' in extra)) res.writeHeader('x-request-id', this.requestId)
      const origin = this.allowOrigin
      if (origin !== undefined) {
        if (extra === undefined || !('access-control-allow-origin' in extra)) res.writeHeader('access-control-allow-origin', origin)
        if (origin !== '*' && (extra === undefined || !('vary' in extra))) res.writeHeader('vary', 'Origin')
      }
      if (extra !== undefined) for (const k in extra) res.writeHeader(k, extra[k] as string)
    }

    sendJson(status: number, body: unknown, headers?: Record<string, string>, closeConnection = closing): void {
      if (this.done) return this.finish(status)
      // Serialise first: a body that cannot be serialised must still get a 500, not silence.
      const text = body === undefined ? '' : toJson(body, this.route, routesAnsweringBigints)
      this.done = true
      const res = this.res
      res.cork(() => {
        res.writeStatus(statusLine(status))
        this.writeHeaders(headers)
        if (text.length > 0) res.writeHeader('content-type', 'application/json; charset=utf-8')
        // HEAD: the GET's status and headers, its length, no body.
        if (this.incoming.method === 'HEAD') res.endWithoutBody(Buffer.byteLength(text), closeConnection)
        else res.end(text, closeConnection)
      })
      this.finish(status)
    }

    fail(error: unknown): void {
      const mapped = toHttpError(error)
      const incoming = this.incoming
      const log = { reqId: this.requestId, method: incoming.method, route: this.routeLabel, status: mapped.status, code: mapped.body.error }
      if (mapped.internal) p.logger.error({ ...log, err: error }, 'request failed')
      else if (mapped.status >= 500) warnUnavailable(mapped.body.error, log, mapped.body.message)
      else p.logger.debug(log, mapped.body.message)
      const headers: Record<string, string> = {}
      if (mapped.status === 405 && typeof mapped.body.allow === 'string') headers.allow = mapped.body.allow
      if (mapped.status === 429 && typeof mapped.body.retryAfterS === 'number') headers['retry-after'] = String(mapped.body.retryAfterS)
      // After a 413 the unread body is still on the wire: close rather than parse it as a request.
      this.sendJson(mapped.status, mapped.body, headers, closing || error instanceof PayloadTooLarge)
    }

    /** Builds the context, runs the handler and answers; sync throws and rejections both end in fail(). */
    run(route: Route, params: Record<string, string>, raw: Buffer | undefined): void {
      try {
        const ctx = buildContext(route, this, params, raw)
        if (isPromise(ctx)) ctx.then((c) => this.invoke(route, c), (e: unknown) => this.fail(e))
        else this.invoke(route, ctx)
      } catch (error) {
        this.fail(error)
      }
    }

    invoke(route: Route, ctx: RequestContext<unknown, unknown>): void {
      try {
        const result = route.handler(ctx)
        if (isPromise(result)) result.then((r) => this.respond(r), (e: unknown) => this.fail(e))
        else this.respond(result)
      } catch (error) {
        this.fail(error)
      }
    }

    respond(result: RouteResult): void {
      try {
        if (result.kind === 'stream') this.stream(result).catch((e: unknown) => this.fail(e))
        else this.sendJson(result.status ?? 200, result.body, result.headers)
      } catch (error) {
        this.fail(error)
      }
    }

    async stream(result: StreamResult): Promise<void> {
      if (this.done) return this.finish(499)
      if (this.incoming.method === 'HEAD') {
        this.done = true
        this.res.cork(() => {
          this.res.writeStatus(statusLine(result.status ?? 200))
          this.writeHeaders(result.headers)
          this.res.endWithoutBody(undefined, closing)
        })
        return this.finish(result.status ?? 200)
      }
      const res = this.res
      const controller = new AbortController()
      this.#streamAbort = controller
      openStreams.add(controller)
      let drained: (() => void) | undefined
      res.onWritable(() => {
        drained?.()
        drained = undefined
        return true
      })
      const status = result.status ?? 200
      res.cork(() => {
        res.writeStatus(statusLine(status))
        this.writeHeaders(result.headers)
      })
      const sink: ResponseSink = {
        get aborted() {
          return controller.signal.aborted
        },
        signal: controller.signal,
        write: (chunk) => {
          if (this.done) return Promise.resolve()
          let ok = true
          res.cork(() => {
            ok = res.write(chunk)
          })
          if (ok) return Promise.resolve()
          return new Promise<void>((resolve) => {
            const onAbort = (): void => resolve()
            controller.signal.addEventListener('abort', onAbort, { once: true })
            drained = () => {
              controller.signal.removeEventListener('abort', onAbort)
              resolve()
            }
          })
        },
        end: (lastChunk) => {
          if (this.done) return
          this.done = true
          res.cork(() => res.end(lastChunk))
        },
      }
      try {
        await result.run(sink)
      } catch (error) {
        p.logger.error({ reqId: this.requestId, route: this.routeLabel, err: error }, 'stream failed')
      } finally {
        sink.end()
        openStreams.delete(controller)
        this.finish(status)
      }
    }
  }

  // req.forEach's callback, shared by all requests (uWS calls it synchronously).
  let headerTarget: Record<string, string> = {}
  const collectHeader = (k: string, v: string): void => {
    headerTarget[k] = v
  }

  app.any('/*', (res, req) => {
    const headers: Record<string, string> = {}
    headerTarget = headers
    req.forEach(collectHeader)
    const method = req.getMethod()
    const incoming: Incoming = {
      method: UPPER_METHODS[method] ?? method.toUpperCase(),
      path: req.getUrl(),
      query: req.getQuery() ?? '',
      headers,
    }
    handle(res, incoming)
  })

  if (p.websocket !== undefined) p.websocket.bind(app)

  function handle(res: HttpResponse, incoming: Incoming): void {
    const ex = new Exchange(res, incoming)
    res.onAborted(() => ex.onAborted())
    inFlight++

    if (incoming.method === 'OPTIONS') return ex.sendJson(204, undefined, PREFLIGHT_HEADERS)
    if (closing) return ex.fail(new GatewayError('shutting_down', 'The gateway is shutting down; retry shortly'))
    // HEAD is answered by the GET route, without the body (load balancers probe with it).
    const method = (incoming.method === 'HEAD' ? 'GET' : incoming.method) as HttpMethod
    if (!METHODS.has(method)) {
      return ex.fail(withoutStack(() => new GatewayError('method_not_allowed', `Method ${incoming.method.slice(0, 16)} is not supported`)))
    }
    const match = router.match(method, incoming.path)
    if (match.kind === 'not_found') {
      const shown = incoming.path.length > ECHOED_PATH_CHARS ? `${incoming.path.slice(0, ECHOED_PATH_CHARS)}…` : incoming.path
      return ex.fail(withoutStack(() => new GatewayError('route_not_found', `No route for ${incoming.method} ${shown}`)))
    }
    if (match.kind === 'method_not_allowed') {
      const allowed = match.allowed.includes('GET') ? [...match.allowed, 'HEAD'] : match.allowed
      return ex.fail(
        withoutStack(
          () =>
            new GatewayError('method_not_allowed', `Method ${incoming.method} is not allowed here`, {
              details: { allow: allowed.join(', ') },
            }),
        ),
      )
    }
    const { route, params } = match
    ex.routeLabel = route.path
    ex.route = route
    ex.record = records.get(route)

    // No body to wait for (GET, or no length and not chunked): go straight on, no promise.
    if (!hasBody(incoming)) return ex.run(route, params, undefined)
    // The body must be read synchronously from here (uWS hands chunks only to a handler
    // attached in this tick).
    readBody(res, incoming, route.bodyLimit ?? p.bodyLimit, ex).then(
      (raw) => ex.run(route, params, raw),
      (e: unknown) => ex.fail(e),
    )
  }

  /** The handler's context; a promise only when a token has to be verified. */
  function buildContext(route: Route, ex: Exchange, params: Record<string, string>, raw: Buffer | undefined): RequestContext<unknown, unknown> | Promise<RequestContext<unknown, unknown>> {
    const header = ex.incoming.headers.authorization
    const token = header !== undefined && /^bearer /i.test(header) ? header.slice(7).trim() : undefined
    const mode = route.auth ?? 'required'
    if (mode === 'required') {
      if (token === undefined || token.length === 0)
        throw new AuthError('auth_required', 'Send Authorization: Bearer <token> (sign in with /auth/challenge and /auth/verify)')
      return p.authenticate(token).then((auth) => {
        // Writes cost the store: each wallet gets its own bucket (reads answer from memory).
        if ((route.method !== 'GET' || route.rateLimit === 'wallet') && route.rateLimit !== 'exempt') {
          const wait = walletBuckets.take(auth.sub)
          if (wait > 0) throw new RateLimitedError('wallet', wait)
        }
        return completeContext(route, ex, params, raw, auth)
      })
    }
    // Anonymous work (sign-in, attestation…) is paid for per client address.
    if (route.rateLimit !== 'exempt') {
      const wait = clientBuckets.take(ex.remoteAddress)
      if (wait > 0) throw new RateLimitedError('client', wait)
    }
    if (mode === 'optional' && token !== undefined && token.length > 0) {
      return p.authenticate(token).then(
        (auth) => completeContext(route, ex, params, raw, auth),
        () => completeContext(route, ex, params, raw, undefined),
      )
    }
    return completeContext(route, ex, params, raw, undefined)
  }

  function completeContext(
    route: Route,
    ex: Exchange,
    params: Record<string, string>,
    raw: Buffer | undefined,
    auth: AuthContext | undefined,
  ): RequestContext<unknown, unknown> {
    const incoming = ex.incoming
    let body: unknown
    if (route.body !== undefined) {
      let parsed: unknown
      if (raw !== undefined && raw.length > 0) {
        const type = incoming.headers['content-type'] ?? ''
        if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type))
          throw new GatewayError('unsupported_media_type', 'Send the body as Content-Type: application/json')
        try {
          parsed = JSON.parse(raw.toString('utf8'))
        } catch {
          throw new ValidationError('The body is not valid JSON', {}, 'invalid_json')
        }
        // Before validation: the schema walkers recurse, and a deep enough body overflows them.
        checkJsonComplexity(parsed, p.jsonLimits)
      }
      body = route.body.parse(parsed)
    }

    const queryObject: Record<string, string> = incoming.query === '' ? {} : Object.fromEntries(new URLSearchParams(incoming.query))
    const query = route.query === undefined ? queryObject : route.query.parse(queryObject)
    return new Context(ex, params, query, body, auth)
  }

  /** A class, not an object literal with getters: no closures per request. */
  class Context implements RequestContext<unknown, unknown> {
    readonly method: HttpMethod
    readonly path: string
    readonly headers: Record<string, string>
    readonly requestId: string
    readonly #ex: Exchange

    constructor(
      ex: Exchange,
      readonly params: Record<string, string>,
      readonly query: unknown,
      readonly body: unknown,
      readonly auth: AuthContext | undefined,
    ) {
      this.#ex = ex
      // HEAD runs the GET route (the body is dropped when answering).
      this.method = (ex.incoming.method === 'HEAD' ? 'GET' : ex.incoming.method) as HttpMethod
      this.path = ex.incoming.path
      this.headers = ex.incoming.headers
      this.requestId = ex.requestId
    }

    get remoteAddress(): string {
      return this.#ex.remoteAddress
    }

    // The AbortController is made on first read (most handlers never look).
    get signal(): AbortSignal {
      return this.#ex.signal
    }
  }

  const lastUnavailableLog = new Map<string, number>()
  /** Expected unavailability (no TEE here, store down): a warning without stack, once a minute per code. */
  function warnUnavailable(code: string, log: Record<string, unknown>, message: string): void {
    const now = Date.now()
    if (now - (lastUnavailableLog.get(code) ?? -Infinity) < UNAVAILABLE_LOG_INTERVAL_MS) return
    lastUnavailableLog.set(code, now)
    p.logger.warn(log, message)
  }

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        // Exclusive: without it uWS sets SO_REUSEPORT and a second gateway on the same port
        // starts silently, the kernel then splitting connections (and sign-ins) between them.
        // The native listen takes (host, port, options, cb); the bundled typings lack that overload.
        const listen = app.listen.bind(app) as unknown as (h: string, p: number, o: number, cb: (s: us_listen_socket | false) => void) => void
        listen(host, port, LISTEN_EXCLUSIVE_PORT, (socket) => {
          if (socket === false) return reject(new PortInUseError(host, port))
          listenSocket = socket
          resolve(uWS.us_socket_local_port(socket as never))
        })
      })
    },
    async close(graceMs) {
      closing = true
      if (listenSocket !== undefined) uWS.us_listen_socket_close(listenSocket)
      listenSocket = undefined
      // Long-lived streams end now; ordinary requests get the grace period to finish.
      for (const c of openStreams) c.abort()
      await p.websocket?.closeAll()
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs)
          idle = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
    },
  }
}

/** uSockets' LIBUS_LISTEN_EXCLUSIVE_PORT (no SO_REUSEPORT). */
const LISTEN_EXCLUSIVE_PORT = 1

/** The listen address is taken (another gateway, or any other program). */
export class PortInUseError extends Error {
  override name = 'PortInUseError'
  constructor(host: string, port: number) {
    super(`cannot listen on ${host}:${port}: the port is already in use (is another gateway running?); stop it or choose another PORT`)
  }
}

/** Whether the request carries a body to read (never for GET or HEAD). */
function hasBody(incoming: Incoming): boolean {
  if (incoming.method === 'GET' || incoming.method === 'HEAD') return false
  const length = incoming.headers['content-length']
  const chunked = /chunked/i.test(incoming.headers['transfer-encoding'] ?? '')
  return chunked || (length !== undefined && length !== '0')
}

/** Reads the request body (hasBody() was true) up to `limit` bytes. */
function readBody(res: HttpResponse, incoming: Incoming, limit: number, state: { done: boolean }): Promise<Buffer> {
  const length = incoming.headers['content-length']
  if (length !== undefined && Number(length) > limit) {
    // Drain nothing: answer at once and close the connection so the client stops sending.
    return Promise.reject(new PayloadTooLarge(limit))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    res.onData((chunk, isLast) => {
      if (failed || state.done) return
      size += chunk.byteLength
      if (size > limit) {
        failed = true
        return reject(new PayloadTooLarge(limit))
      }
      // uWS reuses the ArrayBuffer after this callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk).slice()))
      if (isLast) resolve(Buffer.concat(chunks))
    })
  })
}

/**
 * A response body as JSON, bigints as decimal strings. Without a replacer V8 takes its
 * fast path (measured ~1.6× faster on the /health body); only a body that holds a bigint
 * pays for the replacer, on a second pass.
 */
function toJson(body: unknown, route: Route | undefined, routesAnsweringBigints: WeakSet<Route>): string {
  if (route !== undefined && routesAnsweringBigints.has(route)) return JSON.stringify(body, bigintReplacer)
  try {
    return JSON.stringify(body)
  } catch (error) {
    if (!(error instanceof TypeError)) throw error
    // A route that answered a bigint once will again: go straight to the replacer next time.
    if (route !== undefined) routesAnsweringBigints.add(route)
    return JSON.stringify(body, bigintReplacer)
  }
}
