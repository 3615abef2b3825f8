import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Logger } from 'pino'
import { AuthError, GatewayError, ValidationError } from '../shared/errors.js'
import { toHttpError } from './http-errors.js'
import type { Metrics } from './metrics.js'
import type { AuthContext, HttpMethod, RequestContext, ResponseSink, Route, RouteResult } from './route.js'
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
}

export interface HttpServer {
  listen(host: string, port: number): Promise<number>
  /** Stops accepting, lets in-flight requests finish (up to graceMs), then closes everything. */
  close(graceMs: number): Promise<void>
}

const METHODS = new Set<HttpMethod>(['GET', 'POST', 'PUT', 'DELETE', 'PATCH'])
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/
const ALLOWED_HEADERS = 'authorization, content-type, idempotency-key, last-event-id, x-request-id, x-runtime-scope-id'

interface Incoming {
  method: string
  path: string
  query: string
  headers: Record<string, string>
  remoteAddress: string
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
  for (const route of p.routes) router.add(route)

  let listenSocket: us_listen_socket | undefined
  let closing = false
  let inFlight = 0
  const openStreams = new Set<AbortController>()
  let idle: (() => void) | undefined

  const cors = (origin: string | undefined): Record<string, string> => {
    if (origin === undefined || p.corsOrigins.length === 0) return {}
    if (p.corsOrigins.includes('*')) return { 'access-control-allow-origin': '*' }
    if (p.corsOrigins.includes(origin)) return { 'access-control-allow-origin': origin, vary: 'Origin' }
    return {}
  }

  app.any('/*', (res, req) => {
    const incoming: Incoming = {
      method: req.getMethod().toUpperCase(),
      path: req.getUrl(),
      query: req.getQuery() ?? '',
      headers: {},
      remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
    }
    req.forEach((k, v) => {
      incoming.headers[k] = v
    })
    handle(res, incoming)
  })

  if (p.websocket !== undefined) p.websocket.bind(app)

  function handle(res: HttpResponse, incoming: Incoming): void {
    const started = process.hrtime.bigint()
    const abort = new AbortController()
    const state = { done: false }
    res.onAborted(() => {
      state.done = true
      abort.abort()
    })
    const headerId = incoming.headers['x-request-id']
    const requestId = headerId !== undefined && REQUEST_ID.test(headerId) ? headerId : randomUUID()
    const baseHeaders: Record<string, string> = { 'x-request-id': requestId, ...cors(incoming.headers.origin) }
    inFlight++
    let routeLabel = 'unmatched'

    const finish = (status: number): void => {
      inFlight--
      p.metrics.httpRequests.inc({ method: incoming.method, route: routeLabel, status: String(status) })
      p.metrics.httpDuration.observe(
        { method: incoming.method, route: routeLabel },
        Number(process.hrtime.bigint() - started) / 1e9,
      )
      if (inFlight === 0) idle?.()
    }

    const sendJson = (status: number, body: unknown, headers: Record<string, string> = {}, closeConnection = closing): void => {
      if (state.done) return finish(status)
      state.done = true
      const text = body === undefined ? '' : JSON.stringify(body, bigintReplacer)
      res.cork(() => {
        res.writeStatus(`${status} ${STATUS_CODES[status] ?? ''}`)
        for (const [k, v] of Object.entries({ ...baseHeaders, ...headers })) res.writeHeader(k, v)
        if (text.length > 0) res.writeHeader('content-type', 'application/json; charset=utf-8')
        res.end(text, closeConnection)
      })
      finish(status)
    }

    const fail = (error: unknown): void => {
      const mapped = toHttpError(error)
      const log = { reqId: requestId, method: incoming.method, route: routeLabel, status: mapped.status, code: mapped.body.error }
      if (mapped.internal) p.logger.error({ ...log, err: error }, 'request failed')
      else if (mapped.status >= 500) p.logger.warn(log, mapped.body.message)
      else p.logger.debug(log, mapped.body.message)
      const headers: Record<string, string> = {}
      if (mapped.status === 405 && typeof mapped.body.allow === 'string') headers.allow = mapped.body.allow
      // After a 413 the unread body is still on the wire: close rather than parse it as a request.
      sendJson(mapped.status, mapped.body, headers, closing || error instanceof PayloadTooLarge)
    }

    if (incoming.method === 'OPTIONS') {
      return sendJson(204, undefined, {
        'access-control-allow-methods': 'GET, POST, PUT, DELETE, PATCH, OPTIONS',
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': '600',
      })
    }
    if (closing) return fail(new GatewayError('shutting_down', 'The gateway is shutting down; retry shortly'))
    if (!METHODS.has(incoming.method as HttpMethod)) {
      return fail(new GatewayError('method_not_allowed', `Method ${incoming.method} is not supported`))
    }
    const match = router.match(incoming.method as HttpMethod, incoming.path)
    if (match.kind === 'not_found') {
      return fail(new GatewayError('route_not_found', `No route for ${incoming.method} ${incoming.path}`))
    }
    if (match.kind === 'method_not_allowed') {
      return fail(
        new GatewayError('method_not_allowed', `Method ${incoming.method} is not allowed here`, {
          details: { allow: match.allowed.join(', ') },
        }),
      )
    }
    const { route, params } = match
    routeLabel = route.path
    const limit = route.bodyLimit ?? p.bodyLimit

    // The body must be read synchronously from here (uWS hands chunks only to a handler
    // attached in this tick).
    const bodyPromise = readBody(res, incoming, limit, state)
    bodyPromise
      .then(async (raw) => {
        const ctx = await buildContext(route, incoming, params, raw, requestId, abort.signal)
        const result = await route.handler(ctx)
        if (result.kind === 'stream') await stream(result)
        else sendJson(result.status ?? 200, result.body, result.headers)
      })
      .catch(fail)

    async function stream(result: Extract<RouteResult, { kind: 'stream' }>): Promise<void> {
      if (state.done) return finish(499)
      const controller = new AbortController()
      openStreams.add(controller)
      abort.signal.addEventListener('abort', () => controller.abort(), { once: true })
      let drained: (() => void) | undefined
      res.onWritable(() => {
        drained?.()
        drained = undefined
        return true
      })
      const status = result.status ?? 200
      res.cork(() => {
        res.writeStatus(`${status} ${STATUS_CODES[status] ?? ''}`)
        for (const [k, v] of Object.entries({ ...baseHeaders, ...result.headers })) res.writeHeader(k, v)
      })
      const sink: ResponseSink = {
        get aborted() {
          return controller.signal.aborted
        },
        signal: controller.signal,
        write(chunk) {
          if (state.done) return Promise.resolve()
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
        end() {
          if (state.done) return
          state.done = true
          res.cork(() => res.end())
        },
      }
      try {
        await result.run(sink)
      } catch (error) {
        p.logger.error({ reqId: requestId, route: routeLabel, err: error }, 'stream failed')
      } finally {
        sink.end()
        openStreams.delete(controller)
        finish(status)
      }
    }
  }

  async function buildContext(
    route: Route,
    incoming: Incoming,
    params: Record<string, string>,
    raw: Buffer | undefined,
    requestId: string,
    signal: AbortSignal,
  ): Promise<RequestContext> {
    let auth: AuthContext | undefined
    const header = incoming.headers.authorization
    const token = header !== undefined && /^bearer /i.test(header) ? header.slice(7).trim() : undefined
    const mode = route.auth ?? 'required'
    if (mode === 'required') {
      if (token === undefined || token.length === 0)
        throw new AuthError('auth_required', 'Send Authorization: Bearer <token> (sign in with /auth/challenge and /auth/verify)')
      auth = await p.authenticate(token)
    } else if (mode === 'optional' && token !== undefined && token.length > 0) {
      auth = await p.authenticate(token).catch(() => undefined)
    }

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
      }
      body = route.body.parse(parsed)
    }

    const queryObject = Object.fromEntries(new URLSearchParams(incoming.query))
    const query = route.query === undefined ? queryObject : route.query.parse(queryObject)
    return {
      method: incoming.method as HttpMethod,
      path: incoming.path,
      params,
      query,
      headers: incoming.headers,
      body,
      requestId,
      remoteAddress: incoming.remoteAddress,
      auth,
      signal,
    }
  }

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        app.listen(host, port, (socket) => {
          if (socket === false) return reject(new Error(`cannot listen on ${host}:${port}`))
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

/** Reads the request body up to `limit` bytes; undefined when the method carries none. */
function readBody(res: HttpResponse, incoming: Incoming, limit: number, state: { done: boolean }): Promise<Buffer | undefined> {
  const length = incoming.headers['content-length']
  const chunked = /chunked/i.test(incoming.headers['transfer-encoding'] ?? '')
  if (incoming.method === 'GET' || (!chunked && (length === undefined || length === '0'))) return Promise.resolve(undefined)
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

/** JSON.stringify replacer: bigint → decimal string (money is always atomic units). */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value
}
