/**
 * What one chat turn costs the store, and whether that grows with the session's history.
 * The same turns (HTTP + SSE through sessionRoutes, session and wallet actors on SQLite
 * with the worker writer, SDK model call to the local stand-in) run in the same process
 * two ways, each on its own store file:
 *
 *   - joint: the reservation and the turn's start in one multi-stream append, the final
 *     response, settlement and completion in another (the gateway's wiring);
 *   - sequential: the same ledger without `together` (reserve, start, respond, settle,
 *     complete as separate appends), the baseline in the same run.
 *
 *   npx tsx bench/turn.bench.ts     (BENCH_TURN_HISTORY=300 turns in one session)
 *
 * Rounds of ten turns alternate between the two. Printed per turn: group-commit
 * transactions, appends, stream reads and rows read, and
 * the turn's wall time (p50) in a fresh session vs in the same session's last ten turns.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { ActorHost } from '../actors/runtime/host.js'
import { walletSessionLedger, type SessionLedger } from '../actors/session/ledger-port.js'
import { SessionService } from '../actors/session/service.js'
import { walletDefinition } from '../actors/wallet/definition.js'
import { availableBalance } from '../actors/wallet/ledger.js'
import { loadAgents } from '../agents/load-agents.js'
import { createModelCaller } from '../connectors/anthropic/call-model.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import type { EventStore } from '../store/types.js'
import { startAnthropicFixture, textTurn } from '../test/anthropic/server.js'
import { LiveFeed } from '../transport/live.js'
import { createMetrics } from '../transport/metrics.js'
import type { AuthContext } from '../transport/route.js'
import { agentRoutes } from '../transport/routes/agents.js'
import { sessionRoutes } from '../transport/routes/sessions.js'
import { createHttpServer } from '../transport/server.js'
import { fmt, table } from './lib.js'

const HISTORY = Number(process.env.BENCH_TURN_HISTORY ?? 300)
const LAST = Math.max(2, Math.ceil(HISTORY / 10)) * 10
const KEY = 'sk-ant-bench-key'
const WALLET = `0x${'1'.padStart(40, '0')}` as const

/** Counts what the store is asked to read. */
function counting(store: SqliteEventStore): { store: EventStore; reads: { calls: number; rows: number } } {
  const reads = { calls: 0, rows: 0 }
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'readStream' || property === 'readAll') {
        return async (...args: unknown[]) => {
          const rows = (await (target[property] as (...a: unknown[]) => Promise<unknown[]>).apply(target, args)) as unknown[]
          reads.calls++
          reads.rows += rows.length
          return rows
        }
      }
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
  return { store: proxy, reads }
}

async function variant(name: 'joint' | 'sequential', fixtureUrl: string, dir: string) {
  const raw = await SqliteEventStore.open({ file: join(dir, `${name}.db`), writer: 'worker' })
  const { store, reads } = counting(raw)
  const logger = pino({ level: 'silent' })
  const live = new LiveFeed(store, logger)
  await live.start()
  const wallets = new ActorHost({ definition: walletDefinition, store, snapshots: raw.snapshots })
  const full = walletSessionLedger(wallets, availableBalance)
  const { together: _joint, ...sequential } = full
  const ledger: SessionLedger = name === 'joint' ? full : sequential
  const agents = await loadAgents()
  const sessions = new SessionService({
    store,
    snapshots: raw.snapshots,
    agents,
    callModel: createModelCaller({ baseURL: fixtureUrl }),
    ledger,
    getProviderKey: async () => KEY,
    onError: (e, where) => console.error(where, e),
  })
  const routes = [...agentRoutes({ agents }), ...sessionRoutes({ sessions, agents, store, live, getProviderKey: async () => KEY })]
  const authenticate = async (token: string): Promise<AuthContext> => ({ address: token as `0x${string}`, sub: token.toLowerCase(), jti: token, exp: 2e9, token })
  const server = createHttpServer({ routes, logger, metrics: createMetrics(), bodyLimit: 1 << 20, corsOrigins: [], authenticate })
  const port = await server.listen('127.0.0.1', 0)
  const base = `http://127.0.0.1:${port}`
  const w = WALLET.toLowerCase()
  await wallets.send(w, { type: 'RegisterWallet', address: WALLET })
  await wallets.send(w, { type: 'AssignDepositAddress', index: 0, address: WALLET })
  await wallets.send(w, { type: 'ObserveDeposit', txHash: '0x1', logIndex: 0, amount: 10n ** 12n, blockNumber: 1n })
  const newSession = async (): Promise<string> => {
    const r = await fetch(`${base}/agents/assistant/sessions`, { method: 'POST', headers: { authorization: `Bearer ${WALLET}`, 'content-type': 'application/json' }, body: '{"model":"haiku"}' })
    return ((await r.json()) as { id: string }).id
  }
  let counter = 0
  const turn = async (sid: string): Promise<number> => {
    const t0 = performance.now()
    const res = await fetch(`${base}/agents/assistant/sessions/${sid}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${WALLET}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: `hello ${counter++}` }),
    })
    if (res.status !== 200) throw new Error(`chat ${res.status}: ${await res.text()}`)
    const body = await res.text()
    if (!body.includes('"type":"done"')) throw new Error(`turn did not complete: ${body.slice(-300)}`)
    return performance.now() - t0
  }
  const close = async (): Promise<void> => {
    sessions.close()
    await server.close(1000)
    await live.stop()
    await raw.close()
  }
  return { raw, reads, newSession, turn, close }
}

type Variant = Awaited<ReturnType<typeof variant>>

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

/** Per-turn store work over `n` turns of one fresh session, and their times. */
async function measure(v: Variant, sid: string, n: number) {
  const tx0 = v.raw.stats.transactions
  const ap0 = v.raw.stats.appends
  const rc0 = v.reads.calls
  const rr0 = v.reads.rows
  const times: number[] = []
  for (let i = 0; i < n; i++) times.push(await v.turn(sid))
  return {
    transactions: (v.raw.stats.transactions - tx0) / n,
    appends: (v.raw.stats.appends - ap0) / n,
    readCalls: (v.reads.calls - rc0) / n,
    rowsRead: (v.reads.rows - rr0) / n,
    p50: median(times),
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'turn-bench-'))
  const fx = await startAnthropicFixture({ record: false, respond: () => textTurn('The quick brown fox. '.repeat(8), { input_tokens: 900, output_tokens: 60 }) })
  try {
    const rows: (string | number)[][] = []
    const variants = { sequential: await variant('sequential', fx.url, dir), joint: await variant('joint', fx.url, dir) }
    const names = ['sequential', 'joint'] as const
    // Warm-up sessions (JIT, pools), then one long session each; rounds of 10 turns alternate
    // between the two so the machine's drift hits both alike.
    for (const name of names) await measure(variants[name], await variants[name].newSession(), 10)
    const sids = { sequential: await variants.sequential.newSession(), joint: await variants.joint.newSession() }
    const rounds = Math.max(2, Math.ceil(HISTORY / 10))
    const early = {} as Record<(typeof names)[number], Awaited<ReturnType<typeof measure>>>
    const late = {} as Record<(typeof names)[number], Awaited<ReturnType<typeof measure>>>
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? names : ([...names].reverse() as typeof names[number][])) {
        const m = await measure(variants[name], sids[name], 10)
        if (r === 0) early[name] = m
        if (r === rounds - 1) late[name] = m
      }
    }
    for (const name of names) {
      const first = early[name]
      const last = late[name]
      rows.push([
        name,
        fmt(first.transactions, 1),
        fmt(first.appends, 1),
        `${fmt(first.readCalls, 1)} / ${fmt(first.rowsRead, 1)}`,
        `${fmt(last.readCalls, 1)} / ${fmt(last.rowsRead, 1)}`,
        fmt(first.p50, 2),
        fmt(last.p50, 2),
        `${fmt(last.p50 / first.p50, 2)}×`,
      ])
    }
    rows.push(['joint / sequential', '', '', '', '', `${fmt(early.joint.p50 / early.sequential.p50, 2)}×`, `${fmt(late.joint.p50 / late.sequential.p50, 2)}×`, ''])
    for (const name of names) await variants[name].close()
    console.log(
      table(
        ['commits', 'transactions/turn', 'appends/turn', `reads/turn, rows (turns 1–10)`, `reads/turn, rows (turns ${LAST - 9}–${LAST})`, 'p50 ms turns 1–10', `p50 ms turns ${LAST - 9}–${LAST}`, 'late/early'],
        rows,
      ),
    )
    console.log('\nOne wallet, one session, sequential turns; `sequential` is the same code with the ledger\'s joint commit switched off (the baseline in this run).')
  } finally {
    await fx.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
