import type { AuthContext } from '../../auth/auth-context.js'
import type { RequestContext, Route, RouteResult } from '../../transport/route.js'

/** Calls a route's handler directly (no server), validating body and query with its schemas. */
export async function call(
  routes: Route[],
  method: string,
  path: string,
  opts: { auth?: AuthContext; body?: unknown; query?: Record<string, string>; params?: Record<string, string> } = {},
): Promise<{ status: number; body: any; text?: string }> {
  const route = routes.find((r) => r.method === method && r.path === path)
  if (route === undefined) throw new Error(`no route ${method} ${path}`)
  const ac = new AbortController()
  const ctx: RequestContext = {
    method: method as never,
    path,
    params: opts.params ?? {},
    query: route.query === undefined ? (opts.query ?? {}) : route.query.parse(opts.query ?? {}),
    headers: {},
    body: route.body === undefined ? opts.body : route.body.parse(opts.body),
    requestId: 'test',
    remoteAddress: '127.0.0.1',
    auth: opts.auth,
    signal: ac.signal,
  }
  const result: RouteResult = await route.handler(ctx as never)
  if (result.kind === 'stream') {
    let text = ''
    await result.run({
      write: async (chunk) => {
        text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
      },
      end: () => {},
      aborted: false,
      signal: ac.signal,
    })
    return { status: result.status ?? 200, body: undefined, text }
  }
  return { status: result.status ?? 200, body: result.body }
}

/** An AuthContext for a checksummed address. */
export function authFor(address: `0x${string}`): AuthContext {
  return { address, sub: address.toLowerCase(), jti: 'j', exp: 0, token: 't' }
}
