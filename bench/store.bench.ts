/**
 * Event-store append throughput: SqliteEventStore against a raw better-sqlite3 insert loop
 * with the same pragmas (WAL, synchronous=FULL), measured in the same run.
 *
 *   npx tsx bench/store.bench.ts            (BENCH_SECONDS=2 per case by default)
 *
 * Cases: one event per append from 1, 16 and 256 concurrent streams (baseline: one insert
 * + commit per event), and 100-event appends from 1 and 16 streams (baseline: one
 * 100-row transaction per batch). Each case runs with the writer in a worker thread (the
 * gateway's setting) and inline. Also the event-loop stall (max lateness of a 1 ms interval).
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import { encode } from '../store/codec.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'store-bench-'))
let fileSeq = 0
const nextFile = (): string => join(root, `bench-${fileSeq++}.db`)

// A realistic small event: a ledger-ish payload with a bigint amount.
const payload = (i: number): unknown => ({ turnId: `t-${i}`, amount: 123_456_789n + BigInt(i), model: 'claude', tokens: { in: 1200, out: 340 } })

interface Measured {
  events: number
  seconds: number
  transactions?: number
  stallMs?: number
}
const rate = (m: Measured): number => m.events / m.seconds

/** `writers` concurrent streams, each appending `batch` events per append, back to back, for SECONDS. */
async function storeCase(writer: 'worker' | 'inline', writers: number, batch: number, probeStall = false): Promise<Measured> {
  const store = new SqliteEventStore({ file: nextFile(), writer })
  // Warm-up: create the streams (first append), so the measured part is steady state.
  await Promise.all(Array.from({ length: writers }, (_, w) => store.append(`bench-${w}`, [{ type: 'Warm', data: payload(0) }])))
  const tx0 = store.stats.transactions
  let stall = 0
  let probe: NodeJS.Timeout | undefined
  if (probeStall) {
    let last = performance.now()
    probe = setInterval(() => {
      const now = performance.now()
      stall = Math.max(stall, now - last - 1)
      last = now
    }, 1)
  }
  let events = 0
  const start = performance.now()
  const deadline = start + SECONDS * 1000
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      let revision = 0n
      let i = 0
      while (performance.now() < deadline) {
        const evs = Array.from({ length: batch }, () => ({ type: 'Bench', data: payload(i++) }))
        const r = await store.append(`bench-${w}`, evs, { expectedRevision: revision })
        revision = r.nextExpectedRevision
        events += batch
      }
    }),
  )
  const seconds = (performance.now() - start) / 1000
  if (probe !== undefined) clearInterval(probe)
  const transactions = store.stats.transactions - tx0
  await store.close()
  return { events, seconds, transactions, ...(probeStall ? { stallMs: stall } : {}) }
}

/** Raw better-sqlite3: same schema and pragmas, `batch` rows per transaction, for SECONDS. */
function rawCase(batch: number): Measured {
  const db = new Database(nextFile())
  db.pragma('busy_timeout = 5000')
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec(`CREATE TABLE events (
    position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL,
    revision INTEGER NOT NULL, type TEXT NOT NULL, data BLOB NOT NULL, metadata BLOB,
    recorded_at TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, UNIQUE (stream_id, revision))`)
  const insert = db.prepare(
    'INSERT INTO events (id, stream_id, revision, type, data, metadata, recorded_at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)',
  )
  const writeBatch = db.transaction((from: number) => {
    for (let j = 0; j < batch; j++) {
      const i = from + j
      insert.run(randomUUID(), 'raw-0', i, 'Bench', encode(payload(i)), new Date().toISOString(), '', '')
    }
  })
  let events = 0
  const start = performance.now()
  const deadline = start + SECONDS * 1000
  while (performance.now() < deadline) {
    writeBatch(events)
    events += batch
  }
  const seconds = (performance.now() - start) / 1000
  db.close()
  return { events, seconds, transactions: events / batch }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

/**
 * The writer hand-off on its own: one append at a time (no group to share the cost), so a
 * worker append costs commit + main→worker→main round trip and an inline one commit +
 * one setImmediate. The raw loop (insert + commit) is the floor. Rounds interleave the
 * three so the machine's drift hits all alike.
 */
async function handoff(appends: number, rounds: number): Promise<{ raw: number; inline: number; worker: number }> {
  const samples = { raw: [] as number[], inline: [] as number[], worker: [] as number[] }
  for (let round = 0; round < rounds; round++) {
    const db = new Database(nextFile())
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.exec('CREATE TABLE events (position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, data BLOB NOT NULL)')
    const insert = db.prepare('INSERT INTO events (id, data) VALUES (?, ?)')
    for (let i = 0; i < appends; i++) {
      const t0 = performance.now()
      insert.run(randomUUID(), encode(payload(i)))
      samples.raw.push(performance.now() - t0)
    }
    db.close()
    for (const writer of ['inline', 'worker'] as const) {
      const store = new SqliteEventStore({ file: nextFile(), writer })
      await store.append('h', [{ type: 'Warm', data: payload(0) }])
      let revision = 0n
      for (let i = 0; i < appends; i++) {
        const t0 = performance.now()
        revision = (await store.append('h', [{ type: 'Bench', data: payload(i) }], { expectedRevision: revision })).nextExpectedRevision
        samples[writer].push(performance.now() - t0)
      }
      await store.close()
    }
  }
  return { raw: p50(samples.raw), inline: p50(samples.inline), worker: p50(samples.worker) }
}

async function main(): Promise<void> {
  const rows: string[] = []
  const cases: [string, Measured, Measured][] = []
  for (const writer of ['worker', 'inline'] as const) {
    for (const [label, writers, batch] of [
      ['1 stream, 1 event/append', 1, 1],
      ['16 streams, 1 event/append', 16, 1],
      ['256 streams, 1 event/append', 256, 1],
      ['1 stream, 100 events/append', 1, 100],
      ['16 streams, 100 events/append', 16, 100],
    ] as const) {
      // The baseline runs right before each case: this machine's disk and CPU vary.
      const base = rawCase(batch)
      cases.push([`${label} (${writer} writer)`, await storeCase(writer, writers, batch, true), base])
    }
  }
  const h = await handoff(Number(process.env.BENCH_HANDOFF_APPENDS ?? 500), 3)
  rows.push('| case | SqliteEventStore events/s | raw better-sqlite3 events/s | ratio | events per transaction | max event-loop stall |')
  rows.push('|---|---:|---:|---:|---:|---:|')
  for (const [label, m, base] of cases) {
    const perTx = m.transactions === undefined || m.transactions === 0 ? '—' : (m.events / m.transactions).toFixed(1)
    const stall = m.stallMs === undefined ? '—' : `${m.stallMs.toFixed(1)} ms`
    rows.push(`| ${label} | ${fmt(rate(m))} | ${fmt(rate(base))} | ${(rate(m) / rate(base)).toFixed(2)}× | ${perTx} | ${stall} |`)
  }
  console.log(`## Event store appends (SQLite, WAL, synchronous=FULL, ${SECONDS}s per case, ${process.env.BENCH_DIR ?? tmpdir()})\n`)
  console.log(rows.join('\n'))
  console.log('\n### Writer hand-off: one append at a time, p50 latency (3 interleaved rounds)\n')
  console.log('| raw insert+commit (floor) | inline append | worker append | worker − inline (the hand-off) | inline / raw | worker / raw |')
  console.log('|---:|---:|---:|---:|---:|---:|')
  const us = (ms: number): string => `${Math.round(ms * 1000)} µs`
  console.log(`| ${us(h.raw)} | ${us(h.inline)} | ${us(h.worker)} | ${us(h.worker - h.inline)} | ${(h.inline / h.raw).toFixed(2)}× | ${(h.worker / h.raw).toFixed(2)}× |`)
  console.log(
    `\nBaseline: raw better-sqlite3 loop run right before each case, same schema and pragmas, one insert+commit per event (1-event cases) or one 100-row transaction per batch (100-event cases), no hashing, one stream. Stall: max lateness of a 1 ms setInterval during the case (the raw loop blocks the event loop for its whole run).`,
  )
}

try {
  await main()
} finally {
  rmSync(root, { recursive: true, force: true })
}
