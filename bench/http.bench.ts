/**
 * HTTP throughput, same process and run, three servers per request:
 *  - the gateway (uWS transport, routing, auth, handlers, metrics, logging);
 *  - a bare uWS app answering the very same body bytes (captured from the gateway once):
 *    the ceiling, what the native server costs with no work at all;
 *  - node:http in front of the same route handlers and token check.
 * Besides req/s (wrk), each row reports the process CPU per request (user + system, all
 * threads) and the ratio it gives (requests per CPU-second against bare uWS): wrk shares
 * the 2 cores with the server, and on a loaded machine req/s mostly measures wrk's share.
 *
 *   npx tsx bench/http.bench.ts        (BENCH_SECONDS=5 per row; default 3)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyToAccount } from 'viem/accounts'
import { loadNativeUws } from '../transport/uws.js'
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
import { fmt, load, table, type LoadResult } from './lib.js'

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

// The ceiling: a bare uWS app answering each path with the bytes the gateway answered it with.
const uWS = loadNativeUws()
const bare = uWS.App()
const bareBodies = new Map<string, string>()
bare.get('/*', (res, req) => {
  const body = bareBodies.get(req.getUrl()) ?? ''
  res.cork(() => {
    res.writeStatus('200 OK')
    res.writeHeader('content-type', 'application/json; charset=utf-8')
    res.end(body)
  })
})
let bareSocket: unknown
const barePort = await new Promise<number>((resolve, reject) =>
  bare.listen('127.0.0.1', 0, (socket) => {
    if (socket === false) return reject(new Error('bare uWS cannot listen'))
    bareSocket = socket
    resolve(uWS.us_socket_local_port(socket as never))
  }),
)
const bareUrl = `http://127.0.0.1:${barePort}`

/** wrk against `url`, with this process's CPU time per request while it ran. */
async function measure(url: string, headers: Record<string, string>): Promise<LoadResult & { cpuUsPerRequest: number }> {
  const before = process.cpuUsage()
  const r = await load(url, { seconds, headers })
  const used = process.cpuUsage(before)
  return { ...r, cpuUsPerRequest: (used.user + used.system) / (r.requestsPerSec * seconds) }
}

const seconds = Number(process.env.BENCH_SECONDS ?? 3)
const rows: (string | number)[][] = []
for (const [name, path, headers, ourBase, nodeBase] of [
  ['GET /ping/:id (trivial route: transport only)', '/ping/42', {}, trivialUrl, trivialBaseUrl],
  ['GET /health', '/health', {}, gateway.url, baseUrl],
  ['GET /wallet/settings (JWT)', '/wallet/settings', { authorization: `Bearer ${token}` }, gateway.url, baseUrl],
] as const) {
  const sample = await fetch(`${ourBase}${path}`, { headers })
  if (sample.status !== 200) throw new Error(`${path}: ${sample.status}`)
  bareBodies.set(path, await sample.text())
  const ours = await measure(`${ourBase}${path}`, headers)
  const ceiling = await measure(`${bareUrl}${path}`, headers)
  const node = await measure(`${nodeBase}${path}`, headers)
  rows.push([
    name,
    fmt(ours.requestsPerSec),
    fmt(ceiling.requestsPerSec),
    `${fmt((100 * ours.requestsPerSec) / ceiling.requestsPerSec, 0)} %`,
    fmt(node.requestsPerSec),
    `${fmt(ours.requestsPerSec / node.requestsPerSec, 2)}×`,
    `${fmt(ours.cpuUsPerRequest, 1)} / ${fmt(ceiling.cpuUsPerRequest, 1)} / ${fmt(node.cpuUsPerRequest, 1)}`,
    `${fmt((100 * ceiling.cpuUsPerRequest) / ours.cpuUsPerRequest, 0)} %`,
    `${fmt(ours.latencyP99Ms ?? NaN, 2)} / ${fmt(ceiling.latencyP99Ms ?? NaN, 2)} / ${fmt(node.latencyP99Ms ?? NaN, 2)}`,
  ])
}
console.log(`\nHTTP, wrk 50 connections, ${seconds} s each, same process and run\n`)
console.log(
  table(
    [
      'request',
      'gateway req/s',
      'bare uWS, same body, req/s',
      'gateway / bare uWS',
      'node:http, same handlers, req/s',
      'gateway / node:http',
      'CPU µs per request (gateway / bare / node:http)',
      'gateway / bare uWS by CPU (requests per CPU-second)',
      'p99 ms (gateway / bare / node:http)',
    ],
    rows,
  ),
)
await new Promise((r) => baseline.close(r))
await new Promise((r) => trivialBaseline.close(r))
await trivial.close(0)
uWS.us_listen_socket_close(bareSocket as never)
await gateway.close()
rmSync(dir, { recursive: true, force: true })
process.exit(0)
