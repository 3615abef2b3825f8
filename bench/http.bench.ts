/**
 * HTTP throughput: the gateway (uWS) against a node:http server doing the same work —
 * the same route handlers and token check, with the same store — in the same run.
 * `npx tsx bench/http.bench.ts`
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyToAccount } from 'viem/accounts'
import { loadConfig } from '../config.js'
import { startGateway } from '../gateway.js'
import { toHttpError } from '../transport/http-errors.js'
import { createLogger } from '../transport/logger.js'
import { createMetrics } from '../transport/metrics.js'
import { json, type Route } from '../transport/route.js'
import { Router } from '../transport/router.js'
import { bigintReplacer } from '../store/codec.js'
import { createHttpServer } from '../transport/server.js'
import { signIn } from '../test/gateway.js'
import { fmt, load, table } from './lib.js'

const dir = mkdtempSync(join(tmpdir(), 'agw-bench-http-'))
const gateway = await startGateway(loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: dir, LOG_LEVEL: 'warn', WORKER_THREADS: '1' }), {
  logger: createLogger('warn'),
})
const token = await signIn(gateway.url, privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'))
await fetch(`${gateway.url}/wallet/settings`, {
  method: 'PUT',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: JSON.stringify({ defaultModel: 'sonnet' }),
})

// Baseline: node:http in front of the very same handlers (GET routes only: no body).
const router = new Router()
for (const r of gateway.routes as Route[]) router.add(r)
const baseline = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x')
  const match = router.match((req.method ?? 'GET') as Route['method'], url.pathname)
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
    res.end(JSON.stringify(body, bigintReplacer))
  }
  if (match.kind !== 'found') return reply(404, { error: 'route_not_found' })
  void (async () => {
    const header = req.headers.authorization
    const auth = match.route.auth === 'none' || header === undefined ? undefined : await gateway.authenticate(header.slice(7))
    const result = await match.route.handler({
      method: 'GET',
      path: url.pathname,
      params: match.params,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers as Record<string, string>,
      body: undefined,
      requestId: 'bench',
      remoteAddress: req.socket.remoteAddress ?? '',
      auth,
      signal: new AbortController().signal,
    })
    if (result.kind === 'stream') throw new Error('not benchmarked')
    reply(result.status ?? 200, result.body)
  })().catch((e: unknown) => {
    const m = toHttpError(e)
    reply(m.status, m.body)
  })
})
await new Promise<void>((r) => baseline.listen(0, '127.0.0.1', r))
const baseUrl = `http://127.0.0.1:${(baseline.address() as { port: number }).port}`

// Transport alone: createHttpServer with one trivial route against node:http answering the same constant.
const trivial = createHttpServer({
  routes: [{ method: 'GET', path: '/ping/:id', auth: 'none', handler: (ctx) => json({ ok: true, id: ctx.params.id }) }],
  logger: createLogger('warn'),
  metrics: createMetrics(),
  bodyLimit: 1 << 20,
  corsOrigins: [],
  authenticate: () => Promise.reject(new Error('no auth here')),
})
const trivialUrl = `http://127.0.0.1:${await trivial.listen('127.0.0.1', 0)}`
const trivialBaseline = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify({ ok: true, id: (req.url ?? '').split('/')[2] }))
})
await new Promise<void>((r) => trivialBaseline.listen(0, '127.0.0.1', r))
const trivialBaseUrl = `http://127.0.0.1:${(trivialBaseline.address() as { port: number }).port}`

const seconds = Number(process.env.BENCH_SECONDS ?? 5)
const rows: (string | number)[][] = []
for (const [name, path, headers, ourBase, theirBase] of [
  ['GET /ping/:id (trivial route: transport only)', '/ping/42', {}, trivialUrl, trivialBaseUrl],
  ['GET /health', '/health', {}, gateway.url, baseUrl],
  ['GET /wallet/settings (JWT)', '/wallet/settings', { authorization: `Bearer ${token}` }, gateway.url, baseUrl],
] as const) {
  const ours = await load(`${ourBase}${path}`, { seconds, headers })
  const theirs = await load(`${theirBase}${path}`, { seconds, headers })
  rows.push([
    name,
    fmt(ours.requestsPerSec),
    fmt(theirs.requestsPerSec),
    `${fmt(ours.requestsPerSec / theirs.requestsPerSec, 2)}×`,
    `${fmt(ours.latencyP99Ms ?? NaN, 2)} / ${fmt(theirs.latencyP99Ms ?? NaN, 2)}`,
    ours.tool,
  ])
}
console.log(`\nHTTP, 50 connections, ${seconds} s each, same process and run\n`)
console.log(table(['request', 'gateway (uWS) req/s', 'node:http baseline req/s', 'ratio', 'p99 ms (gateway / baseline)', 'load tool'], rows))
await new Promise((r) => baseline.close(r))
await new Promise((r) => trivialBaseline.close(r))
await trivial.close(0)
await gateway.close()
rmSync(dir, { recursive: true, force: true })
process.exit(0)
