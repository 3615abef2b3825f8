import type { ZodType } from 'zod'
import type { AuthContext } from '../auth/auth-context.js'

/**
 * Transport-neutral route definitions. Route files (transport/routes/*.ts, or a
 * module's own `routes.ts`) export functions returning Route[]; transport/server.ts binds
 * them to uWS. Handlers never see uWS objects.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'

// Route files take the signed-in wallet's type with the other route types; auth/ owns it.
export type { AuthContext }

export interface RequestContext<Body = unknown, Query = Record<string, string>> {
  method: HttpMethod
  path: string
  params: Record<string, string>
  query: Query
  /** Lower-case header names. */
  headers: Record<string, string>
  body: Body
  requestId: string
  remoteAddress: string
  /** Present when the route's auth is 'required' (always) or 'optional' (when a valid token came). */
  auth: AuthContext | undefined
  /** Aborted when the client goes away. */
  signal: AbortSignal
}

export interface JsonResult {
  kind?: 'json'
  status?: number
  body: unknown
  headers?: Record<string, string>
}

/** A writable response body with backpressure: `write` resolves once the socket drained. */
export interface ResponseSink {
  write(chunk: string | Uint8Array): Promise<void>
  /** Ends the response; a last chunk given here goes out with the end in one write. */
  end(lastChunk?: string): void
  readonly aborted: boolean
  readonly signal: AbortSignal
}

export interface StreamResult {
  kind: 'stream'
  status?: number
  headers: Record<string, string>
  /** Runs after the headers are flushed; the response ends when it resolves. */
  run(sink: ResponseSink): Promise<void>
}

export type RouteResult = JsonResult | StreamResult

export interface Route<Body = any, Query = any> {
  method: HttpMethod
  /** Path pattern with `:param` segments, e.g. `/agents/:id/sessions/:sid`. */
  path: string
  /** 'required' answers 401 without a valid session token. Default 'required'. */
  auth?: 'required' | 'optional' | 'none'
  /** zod schema for the JSON body (a body is then required, as JSON). */
  body?: ZodType<Body>
  /** zod schema for the query-string object. */
  query?: ZodType<Query>
  /** Override of the server's body limit, in bytes. */
  bodyLimit?: number
  /**
   * Rate limiting. Default: anonymous requests take from the client address's bucket,
   * authenticated writes (non-GET) from the wallet's. 'exempt': neither (routes that cost
   * nothing and that monitors poll: health, metrics). 'wallet': also a GET takes from the
   * wallet's bucket (a read that writes, e.g. issuing a durable challenge).
   */
  rateLimit?: 'exempt' | 'wallet'
  handler(ctx: RequestContext<Body, Query>): Promise<RouteResult> | RouteResult
}

/** A JSON response. */
export function json(body: unknown, status = 200, headers?: Record<string, string>): JsonResult {
  return headers === undefined ? { body, status } : { body, status, headers }
}
