import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from './logger.js'
import { createMetrics } from './metrics.js'
import { json, type Route } from './route.js'
import { createHttpServer, type HttpServer } from './server.js'

describe('createHttpServer: the per-request fast paths answer as before', () => {
  let server: HttpServer
  let base: string
  const metrics = createMetrics()
  const seen: string[] = []
  const routes: Route[] = [
    { method: 'GET', path: '/plain', auth: 'none', handler: () => json({ ok: true }) },
    { method: 'GET', path: '/money/:n', auth: 'none', handler: (ctx) => json({ amount: BigInt(ctx.params.n!) * 10n ** 18n, n: ctx.params.n }) },
    {
      method: 'GET',
      path: '/who',
      auth: 'none',
      handler: (ctx) => {
        seen.push(ctx.remoteAddress)
        return json({ remote: ctx.remoteAddress, aborted: ctx.signal.aborted, method: ctx.method, path: ctx.path, query: ctx.query })
      },
    },
  ]
  beforeAll(async () => {
    server = createHttpServer({ routes, logger: createLogger('silent'), metrics, bodyLimit: 1024, corsOrigins: [], authenticate: () => Promise.reject(new Error('none')) })
    base = `http://127.0.0.1:${await server.listen('127.0.0.1', 0)}`
  })
  afterAll(() => server.close(0))

  it('serialises bigints as decimal strings, on the first answer and on later ones (no precision lost)', async () => {
    for (const n of ['1', '7', '123456789']) {
      const text = await (await fetch(`${base}/money/${n}`)).text()
      expect(text).toBe(`{"amount":"${n}${'0'.repeat(18)}","n":"${n}"}`)
    }
    expect(await (await fetch(`${base}/plain`)).json()).toEqual({ ok: true })
  })

  it('gives handlers the peer address, method, path, query and an unaborted signal', async () => {
    const body = (await (await fetch(`${base}/who?x=1&y=two`)).json()) as Record<string, unknown>
    expect(body).toEqual({ remote: expect.stringMatching(/127\.0\.0\.1$/), aborted: false, method: 'GET', path: '/who', query: { x: '1', y: 'two' } })
    expect(seen.at(-1)).toMatch(/127\.0\.0\.1$/)
  })

  it('counts requests per route pattern, unmatched ones too', async () => {
    await fetch(`${base}/plain`)
    await fetch(`${base}/nowhere`)
    const text = await metrics.registry.metrics()
    expect(text).toMatch(/gateway_http_requests_total\{method="GET",route="\/plain",status="200"\} [2-9]/)
    expect(text).toContain('gateway_http_requests_total{method="GET",route="/money/:n",status="200"} 3')
    expect(text).toContain('gateway_http_requests_total{method="GET",route="unmatched",status="404"} 1')
  })
})
