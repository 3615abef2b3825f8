import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { toHttpError } from '../../transport/http-errors.js'
import type { Route } from '../../transport/route.js'

/**
 * Serves exact-path GET routes on 127.0.0.1 with node:http (tests only): enough to point
 * the trust evaluator at a "gateway" without the whole server. `override` can replace a
 * path's body (to play a tampered host).
 */
export async function serveRoutes(routes: Route[], override: (path: string) => unknown = () => undefined): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    const replaced = override(url.pathname)
    if (replaced !== undefined) return send(200, replaced)
    const route = routes.find((r) => r.method === req.method && r.path === url.pathname)
    if (route === undefined) return send(404, { error: 'route_not_found', message: 'no route' })
    void (async () => {
      try {
        const query = route.query === undefined ? Object.fromEntries(url.searchParams) : route.query.parse(Object.fromEntries(url.searchParams))
        const result = await route.handler({
          method: 'GET',
          path: url.pathname,
          params: {},
          query,
          headers: {},
          body: undefined,
          requestId: 'test',
          remoteAddress: '127.0.0.1',
          auth: undefined,
          signal: new AbortController().signal,
        })
        if (result.kind === 'stream') throw new Error('stream routes are not served here')
        send(result.status ?? 200, result.body)
      } catch (err) {
        const e = toHttpError(err)
        send(e.status, e.body)
      }
    })()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
