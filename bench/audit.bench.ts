/**
 * The ledger as a transparency log, measured in one run:
 *
 * 1. Audit verify (events/s) of one synthetic export file (BENCH_AUDIT_EVENTS, default
 *    1,000,000; written once to the temp folder and reused): `npm run audit -- verify`'s
 *    engine (every chain, every balance and charge replayed, the Merkle root recomputed) on
 *    every core and on one thread, against hashing alone (JSON.parse + canonical JSON +
 *    SHA-256 of each event on one thread: no replay, no Merkle).
 * 2. Append-path cost of the log: wallet-event appends/s on a SQLite store (writer in a
 *    worker thread, as the gateway runs it) with and without a LedgerLog following it, the
 *    clock stopping only once the log covers the last append.
 *
 *   npm run bench -- audit        (BENCH_AUDIT_EVENTS=200000 for a quicker look)
 */
import { createHash, generateKeyPairSync } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { holdFor } from '../actors/wallet/ledger.js'
import { verifyExport } from '../cli/verify-export.js'
import { LedgerLog } from '../ledger-log/ledger-log.js'
import { priceTurn } from '../pricing/price-turn.js'
import { toTaggedJson } from '../store/codec.js'
import { canonicalEventJson, hashEvent } from '../store/hash.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import { fmt, table } from './lib.js'

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 1_000_000)
const WALLETS = 64
const AT = '2026-11-25T12:00:00.000Z'
const cores = availableParallelism()

/** A realistic export: per wallet, registration, deposit address, a deposit, then reserve/settle pairs. */
async function exportFile(): Promise<string> {
  const file = join(tmpdir(), `agw-audit-bench-v1-${EVENTS}.ndjson`)
  if (existsSync(file)) return file
  const out = createWriteStream(`${file}.tmp`)
  const turn = priceTurn({ model: 'sonnet', usage: { inputTokens: 900, outputTokens: 300, cacheCreationInputTokens: 0, cacheReadInputTokens: 2000 }, toolCalls: 1, toolCosts: 0n, byok: false })
  const streams = Array.from({ length: WALLETS }, (_, w) => ({ id: `wallet-0x${w.toString(16).padStart(40, '0')}`, rev: 0n, prev: '' }))
  let position = 0
  let buffer = ''
  const emit = async (s: (typeof streams)[number], type: string, data: unknown) => {
    const hash = hashEvent({ streamId: s.id, revision: s.rev, type, data, recordedAt: AT, prevHash: s.prev })
    buffer += `${JSON.stringify({ streamId: s.id, revision: Number(s.rev), position: ++position, type, data: toTaggedJson(data), recordedAt: AT, prevHash: s.prev, hash })}\n`
    s.prev = hash
    s.rev++
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await new Promise<void>((r) => out.once('drain', () => r()))
      buffer = ''
    }
  }
  for (const s of streams) {
    await emit(s, 'WalletRegistered', { address: s.id.slice(7), at: AT })
    await emit(s, 'DepositAddressAssigned', { index: 0, address: s.id.slice(7), at: AT })
    await emit(s, 'DepositDetected', { txHash: `0x${s.id}`, logIndex: 0, amount: 10n ** 12n, blockNumber: 1n, at: AT })
  }
  for (let k = 0; position < EVENTS; k++) {
    for (const s of streams) {
      if (position >= EVENTS) break
      const id = `r-${k}`
      await emit(s, 'SpendReserved', { reservationId: id, agentId: 'a', amount: 50_000n, hold: holdFor(50_000n), expiresAt: AT, at: AT })
      if (position >= EVENTS) break
      await emit(s, 'SpendSettled', {
        reservationId: id,
        agentId: 'a',
        amount: turn.total,
        requested: turn.total,
        writtenOff: 0n,
        breakdown: { model: turn.model, inputTokens: 900, outputTokens: 300, cacheCreationInputTokens: 0, cacheReadInputTokens: 2000, baseLlmCost: turn.baseLlmCost, toolCalls: 1, toolCosts: 0n, platformCost: turn.platformCost, byok: false, prices: turn.prices },
        at: AT,
      })
    }
  }
  out.end(buffer)
  await new Promise<void>((r) => out.once('finish', () => r()))
  renameSync(`${file}.tmp`, file)
  return file
}

const lines = (file: string) => createInterface({ input: createReadStream(file), crlfDelay: Infinity })

interface Rate {
  /** events per wall-clock second */
  rate: number
  /** events per CPU-second of this process (all its threads): what the work costs, whatever else runs on the machine */
  perCpuSecond: number
}

async function timed(run: () => Promise<number>): Promise<Rate> {
  const c0 = process.cpuUsage()
  const t = performance.now()
  const n = await run()
  const c = process.cpuUsage(c0)
  return { rate: (n / (performance.now() - t)) * 1000, perCpuSecond: n / ((c.user + c.system) / 1e6) }
}

/** The least an auditor must do: parse each line, rebuild its canonical JSON (the tagged data as is) and SHA-256 it. */
function hashingAlone(file: string): Promise<Rate> {
  return timed(async () => {
    let n = 0
    for await (const line of lines(file)) {
      const r = JSON.parse(line) as { streamId: string; revision: number; type: string; data: unknown; recordedAt: string; prevHash: string; hash: string }
      const canonical = canonicalEventJson({ ...r, revision: BigInt(r.revision) })
      if (createHash('sha256').update(canonical).digest('hex') !== r.hash) throw new Error('baseline hash mismatch')
      n++
    }
    return n
  })
}

let lastRoot = ''
function verify(file: string, threads: number): Promise<Rate> {
  return timed(async () => {
    const v = await verifyExport(lines(file), { threads })
    if (!v.result.ok || v.size !== EVENTS) throw new Error(`verify failed: ${JSON.stringify(v.result.bad)} (${v.size} leaves)`)
    if (lastRoot !== '' && lastRoot !== v.root.toString('base64')) throw new Error('roots differ between runs')
    lastRoot = v.root.toString('base64')
    return v.size
  })
}

const file = await exportFile()
const baseline = await hashingAlone(file)
const single = await verify(file, 1)
const all = await verify(file, cores)

console.log(`### Audit verify (${fmt(EVENTS)} events, ${WALLETS} wallets, ${cores} cores, load average ${loadavg()[0]!.toFixed(1)})\n`)
console.log(
  table(
    ['run', 'events/s', 'ratio', 'events per CPU-second'],
    [
      ['baseline: hashing alone, 1 thread (JSON.parse + canonical JSON + SHA-256)', fmt(baseline.rate), '1.00×', fmt(baseline.perCpuSecond)],
      ['verify, 1 thread (chains + replay + charges + Merkle root)', fmt(single.rate), `${(single.rate / baseline.rate).toFixed(2)}×`, fmt(single.perCpuSecond)],
      [`verify, ${cores} worker threads`, fmt(all.rate), `${(all.rate / baseline.rate).toFixed(2)}× (${(all.rate / single.rate).toFixed(2)}× one thread)`, fmt(all.perCpuSecond)],
    ],
  ),
)

// ---- Append path with and without the log following the store ----
const APPEND_EVENTS = Number(process.env.BENCH_AUDIT_APPENDS ?? 20_000)
const STREAMS = 64
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
const dir = mkdtempSync(join(tmpdir(), 'audit-bench-'))

async function appendCase(withLog: boolean, round: number): Promise<number> {
  const store = new SqliteEventStore({ file: join(dir, `events-${withLog}-${round}.sqlite`), writer: 'worker' })
  await Promise.all(Array.from({ length: STREAMS }, (_, s) => store.append(`wallet-0x${s}`, [{ type: 'Warm', data: { s } }])))
  const log = withLog ? new LedgerLog({ store, file: join(dir, `log-${round}.sqlite`), origin: 'bench/ledger', signingKey: key }) : undefined
  log?.start()
  if (log !== undefined) await log.waitFor(await store.headPosition())
  const t = performance.now()
  const per = APPEND_EVENTS / STREAMS
  await Promise.all(
    Array.from({ length: STREAMS }, async (_, s) => {
      let revision = 0n
      for (let i = 0; i < per; i++) {
        const r = await store.append(`wallet-0x${s}`, [{ type: 'SpendReserved', data: { reservationId: `r-${i}`, agentId: 'a', amount: 50_000n, hold: 55_000n, at: AT } }], { expectedRevision: revision })
        revision = r.nextExpectedRevision
      }
    }),
  )
  if (log !== undefined && !(await log.waitFor(await store.headPosition(), 60_000))) throw new Error('the log did not catch up')
  const rate = (APPEND_EVENTS / (performance.now() - t)) * 1000
  await log?.close()
  await store.close()
  return rate
}

const without = [await appendCase(false, 0)]
const withLog = [await appendCase(true, 0)]
without.push(await appendCase(false, 1))
withLog.push(await appendCase(true, 1))
rmSync(dir, { recursive: true, force: true })
const best = (xs: number[]) => Math.max(...xs)

console.log(`\n### Append path with the ledger log (${fmt(APPEND_EVENTS)} single-event appends from ${STREAMS} wallet streams, SQLite writer in a worker; best of 2)\n`)
console.log(
  table(
    ['run', 'appends/s', 'ratio'],
    [
      ['baseline: store alone', fmt(best(without)), '1.00×'],
      ['store + LedgerLog following (clock stops when the log covers the last append)', fmt(best(withLog)), `${(best(withLog) / best(without)).toFixed(2)}×`],
    ],
  ),
)
