/**
 * Chat turns through the gateway (uWS HTTP + SSE, session actor, wallet reservations and
 * settlement on SQLite, SDK model call) against the same turns sent straight to the local
 * Anthropic-compatible server, in the same run, at 1, 64 and 512 concurrent sessions.
 * Each session is its own wallet; each turn is a fresh message (no dedupe).
 *
 *   npx tsx bench/chat.bench.ts            (BENCH_CHAT_LEVELS=1,64,512 BENCH_CHAT_TURNS=…)
 *
 * Everything runs in this one process on a shared 2-core machine: the fixture and the
 * client's own cost are in both columns, so the difference is the gateway's.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { ActorHost } from '../actors/runtime/host.js'
import { SessionService } from '../actors/session/service.js'
import { walletSessionLedger } from '../actors/session/ledger-port.js'
import { walletDefinition } from '../actors/wallet/definition.js'
import { availableBalance } from '../actors/wallet/ledger.js'
import { loadAgents } from '../agents/load-agents.js'
import { createModelCaller } from '../connectors/anthropic/call-model.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import { startAnthropicFixture, textTurn } from '../test/anthropic/server.js'
import { LiveFeed } from '../transport/live.js'
import { createMetrics } from '../transport/metrics.js'
import type { AuthContext } from '../auth/auth-context.js'
import { agentRoutes } from '../transport/routes/agents.js'
import { sessionRoutes } from '../transport/routes/sessions.js'
import { createHttpServer } from '../transport/server.js'
import { fmt, table } from './lib.js'

const LEVELS = (process.env.BENCH_CHAT_LEVELS ?? '1,64,512').split(',').map(Number)
const TURNS = Number(process.env.BENCH_CHAT_TURNS ?? 0)
const REPLY = 'The quick brown fox jumps over the lazy dog. '.repeat(4)
const KEY = 'sk-ant-bench-key'
const wallet = (i: number) => `0x${(i + 1).toString(16).padStart(40, '0')}` as `0x${string}`

interface Sample {
  ttfbMs: number
  totalMs: number
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}

/** Reads an SSE body; returns when it ends, with the time the first text arrived. */
async function readStream(res: Response, isText: (frame: string) => boolean, t0: number): Promise<Sample> {
  let ttfb = NaN
  let buf = ''
  const decoder = new TextDecoder()
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true })
    if (Number.isNaN(ttfb)) {
      for (const frame of buf.split('\n\n')) {
        if (isText(frame)) {
          ttfb = performance.now() - t0
          break
        }
      }
    }
    const last = buf.lastIndexOf('\n\n')
    if (last >= 0 && !Number.isNaN(ttfb)) buf = buf.slice(last + 2)
  }
  return { ttfbMs: ttfb, totalMs: performance.now() - t0 }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-bench-'))
  const fx = await startAnthropicFixture({ record: false, respond: () => textTurn(REPLY, { input_tokens: 900, output_tokens: 60, cache_read_input_tokens: 2000 }) })
  const store = await SqliteEventStore.open({ file: join(dir, 'events.db'), writer: 'worker' }) // as the gateway (SQLITE_WRITER=worker)
  const logger = pino({ level: 'silent' })
  const live = new LiveFeed(store, logger)
  await live.start()
  const wallets = new ActorHost({ definition: walletDefinition, store, snapshots: store.snapshots })
  const agents = await loadAgents()
  const sessions = new SessionService({
    store,
    snapshots: store.snapshots,
    agents,
    callModel: createModelCaller({ baseURL: fx.url }),
    ledger: walletSessionLedger(wallets as never, availableBalance),
    getProviderKey: async () => KEY,
    onError: (e, where) => console.error(where, e),
  })
  const getProviderKey = async () => KEY
  const routes = [...agentRoutes({ agents }), ...sessionRoutes({ sessions, agents, store, live, getProviderKey })]
  // Bench auth: the bearer token is the wallet address (the real verifier is benchmarked in http.bench.ts).
  const authenticate = async (token: string): Promise<AuthContext> => ({ address: token as `0x${string}`, sub: token.toLowerCase(), jti: token, exp: 2e9, token })
  const server = createHttpServer({ routes, logger, metrics: createMetrics(), bodyLimit: 1 << 20, corsOrigins: [], authenticate })
  const port = await server.listen('127.0.0.1', 0)
  const base = `http://127.0.0.1:${port}`

  const maxLevel = Math.max(...LEVELS)
  const sids: string[] = []
  for (let i = 0; i < maxLevel; i += 64) {
    await Promise.all(
      Array.from({ length: Math.min(64, maxLevel - i) }, async (_, k) => {
        const w = wallet(i + k)
        await wallets.send(w.toLowerCase(), { type: 'RegisterWallet', address: w })
        await wallets.send(w.toLowerCase(), { type: 'AssignDepositAddress', index: i + k, address: w })
        await wallets.send(w.toLowerCase(), { type: 'ObserveDeposit', txHash: `0x${(i + k).toString(16)}`, logIndex: 0, amount: 10n ** 12n, blockNumber: 1n })
        const r = await fetch(`${base}/agents/assistant/sessions`, { method: 'POST', headers: { authorization: `Bearer ${w}`, 'content-type': 'application/json' }, body: '{"model":"haiku"}' })
        sids[i + k] = ((await r.json()) as { id: string }).id
      }),
    )
  }

  let counter = 0
  const viaGateway = async (i: number): Promise<Sample> => {
    const t0 = performance.now()
    const res = await fetch(`${base}/agents/assistant/sessions/${sids[i]}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${wallet(i)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: `hello ${counter++}` }),
    })
    if (res.status !== 200) throw new Error(`chat ${res.status}: ${await res.text()}`)
    return readStream(res, (f) => f.includes('"type":"text"'), t0)
  }
  const direct = async (): Promise<Sample> => {
    const t0 = performance.now()
    const res = await fetch(`${fx.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 4096, stream: true, messages: [{ role: 'user', content: `hello ${counter++}` }] }),
    })
    return readStream(res, (f) => f.includes('text_delta'), t0)
  }

  const run = async (level: number, one: (i: number) => Promise<Sample>): Promise<{ samples: Sample[]; perS: number }> => {
    const turns = TURNS > 0 ? TURNS : level === 1 ? 50 : level <= 64 ? 5 : 2
    const samples: Sample[] = []
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: level }, async (_, i) => {
        for (let k = 0; k < turns; k++) samples.push(await one(i))
      }),
    )
    return { samples, perS: (samples.length / (performance.now() - t0)) * 1000 }
  }

  // Warm-up (JIT, connection pools, SQLite pages).
  await run(1, direct)
  await run(1, viaGateway)

  const rows: (string | number)[][] = []
  for (const level of LEVELS) {
    const d = await run(level, () => direct())
    const g = await run(level, viaGateway)
    const dt = d.samples.map((s) => s.totalMs)
    const gt = g.samples.map((s) => s.totalMs)
    const df = d.samples.map((s) => s.ttfbMs)
    const gf = g.samples.map((s) => s.ttfbMs)
    rows.push([
      level,
      g.samples.length,
      `${fmt(pct(dt, 50), 1)} / ${fmt(pct(dt, 99), 1)}`,
      `${fmt(pct(gt, 50), 1)} / ${fmt(pct(gt, 99), 1)}`,
      `+${fmt(pct(gt, 50) - pct(dt, 50), 1)} / +${fmt(pct(gt, 99) - pct(dt, 99), 1)}`,
      `${fmt(pct(df, 50), 1)} → ${fmt(pct(gf, 50), 1)} (+${fmt(pct(gf, 50) - pct(df, 50), 1)})`,
      fmt(d.perS, 0),
      fmt(g.perS, 0),
      `${fmt(g.perS / d.perS, 2)}×`,
    ])
  }
  console.log(
    table(
      ['sessions', 'turns', 'direct p50/p99 ms', 'gateway p50/p99 ms', 'added p50/p99 ms', 'TTFB p50 ms direct → gateway', 'direct turns/s', 'gateway turns/s', 'gateway/direct'],
      rows,
    ),
  )
  console.log(`\nReply: ${REPLY.length} chars streamed in ${Math.ceil(REPLY.length / 4)} deltas; each gateway turn = reserve + 2 session appends + model call + ModelResponded + settle + TurnCompleted on SQLite.`)

  sessions.close()
  await server.close(1000)
  await live.stop()
  await store.close()
  await fx.close()
  rmSync(dir, { recursive: true, force: true })
}

await main()
