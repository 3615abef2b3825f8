/**
 * Start-up against store size: time from spawning the gateway process (main.ts, as
 * deployed) to its first answered GET /health, and to a first chat turn (real sign-in,
 * the vault key, a chain-funded wallet), with a store of about 10k and 1M events.
 * Flat is the goal: start-up must not scan the history.
 *
 * Each size is started twice: first on the generated store (its read models are built
 * once, which is linear by nature), then again, the restart a user sees (read models
 * current) — that one must be flat.
 *
 * The store file is generated directly, fast: a real gateway first records a small
 * history (wallets, deposits, sessions, billed chat turns); the generator then copies its
 * wallet and session streams under new stream ids, with fresh event ids and a valid hash
 * chain (store/hash.ts), in large transactions, until the target size. The baseline is
 * the same start with only that recorded history (a few hundred events), same run.
 *
 *   npx tsx bench/startup.bench.ts      (BENCH_STARTUP_SIZES=10000,1000000 BENCH_STARTUP_TIMEOUT_S=120)
 *
 * A start that takes longer than the timeout is reported as such (and the process killed),
 * so a linear start-up on a million events does not hold the run for minutes.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { loadConfig } from '../config.js'
import { startGateway } from '../gateway.js'
import { decode } from '../store/codec.js'
import { hashEvent } from '../store/hash.js'
import { startAnthropicFixture, textTurn } from '../test/anthropic/server.js'
import { chainGatewayEnv, startChainTestEnv } from '../test/chain/env.js'
import { REPO_ROOT, signIn } from '../test/gateway.js'
import { createLogger } from '../transport/logger.js'
import { fmt, table } from './lib.js'

const SIZES = (process.env.BENCH_STARTUP_SIZES ?? '10000,1000000').split(',').map(Number)
const TEMPLATE_WALLETS = 4
const TEMPLATE_TURNS = 5
const KEY = 'sk-ant-startup-bench'
const TIMEOUT_MS = Number(process.env.BENCH_STARTUP_TIMEOUT_S ?? 120) * 1000

const chain = await startChainTestEnv()
const fx = await startAnthropicFixture({ record: false, respond: () => textTurn('Started.', { input_tokens: 900, output_tokens: 20 }) })
const env: Record<string, string> = {
  ANTHROPIC_BASE_URL: fx.url,
  ...chainGatewayEnv(chain),
  JWT_SECRET: 'startup-bench-secret-0123456789abcdef0123456789',
  LOG_LEVEL: 'warn',
  // The bench signs in many wallets from one address: rate limits off.
  RATE_LIMIT_CLIENT_PER_S: '0',
  RATE_LIMIT_WALLET_PER_S: '0',
}

// 1. A real history: wallets signed in, keys stored, funded on chain, sessions with billed turns.
const templateDir = mkdtempSync(join(tmpdir(), 'startup-template-'))
const accounts = Array.from({ length: TEMPLATE_WALLETS }, () => privateKeyToAccount(generatePrivateKey()))
{
  const gw = await startGateway(loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: templateDir, WORKER_THREADS: '1', ...env }), { logger: createLogger('warn') })
  for (const account of accounts) {
    const headers = { authorization: `Bearer ${await signIn(gw.url, account)}`, 'content-type': 'application/json' }
    await fetch(`${gw.url}/wallet/apikey`, { method: 'PUT', headers, body: JSON.stringify({ anthropicApiKey: KEY }) })
    const { unifiedDepositAddress } = (await (await fetch(`${gw.url}/wallet/balance`, { headers })).json()) as { unifiedDepositAddress: `0x${string}` }
    await chain.mint(unifiedDepositAddress, 100_000_000n)
    for (let i = 0; ; i++) {
      const b = (await (await fetch(`${gw.url}/wallet/balance`, { headers })).json()) as { availableBalance: string }
      if (BigInt(b.availableBalance) > 0n) break
      if (i > 300) throw new Error('deposit not credited')
      await new Promise((r) => setTimeout(r, 100))
    }
    const { id } = (await (await fetch(`${gw.url}/agents/assistant/sessions`, { method: 'POST', headers, body: '{"model":"haiku"}' })).json()) as { id: string }
    for (let t = 0; t < TEMPLATE_TURNS; t++) {
      const res = await fetch(`${gw.url}/agents/assistant/sessions/${id}/chat`, { method: 'POST', headers, body: JSON.stringify({ message: `turn ${t}` }) })
      await res.text()
    }
  }
  await gw.close()
}

interface Row {
  stream_id: string
  type: string
  data: Buffer
  metadata: Buffer | null
  recorded_at: string
}
const templateDb = new Database(join(templateDir, 'events.sqlite'), { readonly: true })
const templateRows = templateDb.prepare('SELECT stream_id, type, data, metadata, recorded_at FROM events ORDER BY position').all() as Row[]
templateDb.close()
// Only per-wallet and per-session histories are copied (global streams such as revocations or nonces stay as recorded).
const templateStreams = new Map<string, Row[]>()
for (const r of templateRows) {
  if (!r.stream_id.startsWith('wallet-') && !r.stream_id.startsWith('session-')) continue
  let rows = templateStreams.get(r.stream_id)
  if (rows === undefined) templateStreams.set(r.stream_id, (rows = []))
  rows.push(r)
}
const decoded = new Map([...templateStreams].map(([id, rows]) => [id, rows.map((r) => decode(r.data))]))

/** Copies the template's streams under new ids until the store holds `target` events. */
function fill(file: string, target: number): number {
  const db = new Database(file)
  db.defaultSafeIntegers(true)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = OFF') // generation only; the gateway opens it with its own pragmas
  const insert = db.prepare('INSERT INTO events (id, stream_id, revision, type, data, metadata, recorded_at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
  let count = Number((db.prepare('SELECT count(*) AS n FROM events').get() as { n: bigint }).n)
  let walletCopies = 0
  const batch = db.transaction((limit: number) => {
    while (count < limit) {
      for (const [streamId, rows] of templateStreams) {
        const newId = streamId.startsWith('wallet-') ? `wallet-0xb0${(++walletCopies).toString(16).padStart(38, '0')}` : `session-${randomUUID()}`
        let prevHash = ''
        rows.forEach((r, i) => {
          const revision = BigInt(i)
          const hash = hashEvent({ streamId: newId, revision, type: r.type, data: decoded.get(streamId)![i], recordedAt: r.recorded_at, prevHash })
          insert.run(randomUUID(), newId, revision, r.type, r.data, r.metadata, r.recorded_at, prevHash, hash)
          prevHash = hash
          count++
        })
      }
    }
  })
  while (count < target) batch(Math.min(target, count + 50_000))
  db.close()
  return count
}

/** Waits until every read-model file in `dataDir` is within one stored-checkpoint step (1,000 skipped events) of the store's head. */
async function readModelsCaughtUp(dataDir: string): Promise<void> {
  const events = new Database(join(dataDir, 'events.sqlite'), { readonly: true })
  const head = Number((events.prepare('SELECT max(position) AS p FROM events').get() as { p: number }).p)
  events.close()
  const files = ['projections.sqlite', 'reflect-projections.sqlite', 'canvas-projections.sqlite'].map((f) => join(dataDir, f))
  for (const deadline = performance.now() + TIMEOUT_MS; performance.now() < deadline; ) {
    const behind = files.some((file) => {
      const db = new Database(file, { readonly: true })
      try {
        const rows = db.prepare('SELECT position FROM checkpoints').all() as { position: number }[]
        return rows.length === 0 || rows.some((r) => Number(r.position) < head - 1_000)
      } finally {
        db.close()
      }
    })
    if (!behind) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error('read models did not catch up')
}

/** Spawns main.ts on `dataDir`; times listening, the first /health, and a first chat turn (undefined: timed out). */
async function timeStart(dataDir: string, settle = false): Promise<{ listenMs: number; healthMs: number; turnMs: number } | undefined> {
  const t0 = performance.now()
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', WORKER_THREADS: '1', ...env, DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let out = ''
  const url = await new Promise<string | undefined>((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), TIMEOUT_MS)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out)
      if (m?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(m[1])
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`gateway exited with ${code}:\n${out}`))
    })
  })
  if (url === undefined) {
    child.kill('SIGKILL')
    await exited
    return undefined
  }
  const gw = {
    url,
    stop: async () => {
      child.kill('SIGTERM')
      await exited
    },
  }
  const listenMs = performance.now() - t0
  for (;;) {
    const r = await fetch(`${gw.url}/health`).catch(() => undefined)
    if (r?.status === 200) break
  }
  const healthMs = performance.now() - t0
  const account = accounts[0]!
  const headers = { authorization: `Bearer ${await signIn(gw.url, account)}`, 'content-type': 'application/json' }
  const { id } = (await (await fetch(`${gw.url}/agents/assistant/sessions`, { method: 'POST', headers, body: '{"model":"haiku"}' })).json()) as { id: string }
  const res = await fetch(`${gw.url}/agents/assistant/sessions/${id}/chat`, { method: 'POST', headers, body: JSON.stringify({ message: 'first after start' }) })
  const text = await res.text()
  if (res.status !== 200 || !text.includes('"type":"done"')) throw new Error(`first turn failed ${res.status}: ${text.slice(0, 300)}`)
  const turnMs = performance.now() - t0
  // A first start keeps running until its read models have caught up with the store, as a
  // gateway in service would; stopped earlier, the restart would find them behind.
  if (settle) await readModelsCaughtUp(dataDir)
  await gw.stop()
  return { listenMs, healthMs, turnMs }
}

const rows: (string | number)[][] = []
const cases = [{ label: 'recorded history only (baseline)', target: 0 }, ...SIZES.map((n) => ({ label: fmt(n), target: n }))]
let baseline: { first: number; restart: number; restartTurn: number } | undefined
const timedOut = `> ${fmt(TIMEOUT_MS / 1000)} s (timed out)`
for (const c of cases) {
  const dir = mkdtempSync(join(tmpdir(), 'startup-case-'))
  cpSync(templateDir, dir, { recursive: true })
  const g0 = performance.now()
  const events = fill(join(dir, 'events.sqlite'), c.target)
  const generateS = (performance.now() - g0) / 1000
  // First start on a store its read models have not seen (an upgrade, a copied store):
  // they are built once. Then the restart a user sees every day: read models current.
  const first = await timeStart(dir, true)
  const restart = first === undefined ? undefined : await timeStart(dir)
  if (first !== undefined && restart !== undefined) baseline ??= { first: first.healthMs, restart: restart.healthMs, restartTurn: restart.turnMs }
  const ratio = (v: number | undefined, b: number | undefined) => (v === undefined || b === undefined ? '—' : `${fmt(v / b, 2)}×`)
  rows.push([
    c.label,
    fmt(events),
    fmt(generateS, 1),
    first === undefined ? timedOut : fmt(first.healthMs),
    ratio(first?.healthMs, baseline?.first),
    restart === undefined ? '—' : fmt(restart.healthMs),
    ratio(restart?.healthMs, baseline?.restart),
    restart === undefined ? '—' : fmt(restart.turnMs),
    ratio(restart?.turnMs, baseline?.restartTurn),
  ])
  rmSync(dir, { recursive: true, force: true })
}
console.log(`\nStart-up of main.ts (node --import tsx) against store size; template: ${templateRows.length} recorded events, ${templateStreams.size} wallet/session streams copied\n`)
console.log(
  table(['stored events', 'events', 'generated in s', 'first start: /health ms', 'vs baseline', 'restart: /health ms', 'vs baseline', 'restart: first chat turn ms', 'vs baseline'], rows),
)

rmSync(templateDir, { recursive: true, force: true })
await fx.close()
await chain.stop()
process.exit(0)
