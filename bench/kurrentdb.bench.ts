/**
 * KurrentDbEventStore append cost against the raw @kurrent/kurrentdb-client doing the same
 * appends (same server, same run). The server is the in-process TEST DOUBLE, so absolute
 * numbers say nothing about a real cluster; the ratios show what the adapter adds (hash
 * chain, tagged JSON, the head read before a write) and what its head cache saves.
 *
 *   npx tsx bench/kurrentdb.bench.ts        (BENCH_SECONDS=2 per case by default)
 *
 * Cases, each with 1 and 16 concurrent streams, one event per append, expected revision
 * exact (as the actor host appends):
 * - baseline: raw client `appendToStream` with the exact revision it tracks itself;
 * - adapter, head cache on (default): one round trip per append;
 * - adapter, head cache off: a head read + the append (two round trips), as after another
 *   process wrote.
 */
import { performance } from 'node:perf_hooks'
import { KurrentDBClient, jsonEvent } from '@kurrent/kurrentdb-client'
import { KurrentDbEventStore } from '../store/kurrentdb/kurrentdb-event-store.js'
import { toTaggedJson } from '../store/codec.js'
import { startKurrentDbDouble } from '../test/kurrentdb/kurrentdb-double.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const payload = (i: number) => ({ turnId: `t-${i}`, amount: 123_456_789n + BigInt(i), model: 'claude', tokens: { in: 1200, out: 340 } })

const double = await startKurrentDbDouble()
let run = 0

/** Appends back to back on `streams` streams for SECONDS; returns events per second. */
async function measure(streams: number, append: (stream: string, i: number, revision: bigint) => Promise<bigint>, seconds = SECONDS): Promise<number> {
  const prefix = `bench${run++}`
  const revisions = new Map<string, bigint>()
  // Warm-up: create each stream (and the connections) outside the measured window.
  for (let s = 0; s < streams; s++) revisions.set(`${prefix}-${s}`, await append(`${prefix}-${s}`, 0, -1n))
  let events = 0
  const until = performance.now() + seconds * 1000
  const started = performance.now()
  await Promise.all(
    [...revisions.keys()].map(async (stream) => {
      let i = 1
      while (performance.now() < until) {
        revisions.set(stream, await append(stream, i++, revisions.get(stream)!))
        events++
      }
    }),
  )
  return events / ((performance.now() - started) / 1000)
}

const raw = KurrentDBClient.connectionString(double.connectionString)
const cached = new KurrentDbEventStore({ connectionString: double.connectionString })
const uncached = new KurrentDbEventStore({ connectionString: double.connectionString, headCacheSize: 0 })

const rows: string[] = []
const rawAppend = async (stream: string, i: number, revision: bigint): Promise<bigint> => {
  const r = await raw.appendToStream(stream, jsonEvent({ type: 'Charged', data: toTaggedJson(payload(i)) as Record<string, unknown> }), {
    streamState: revision < 0n ? 'no_stream' : revision,
  })
  return r.nextExpectedRevision
}
const viaAdapter = (store: KurrentDbEventStore) => async (stream: string, i: number, revision: bigint) =>
  (await store.append(stream, [{ type: 'Charged', data: payload(i) }], { expectedRevision: revision < 0n ? 'no_stream' : revision }))
    .nextExpectedRevision
// Warm-up (connections, JIT) for every contender, so the measured order does not matter.
for (const f of [rawAppend, viaAdapter(cached), viaAdapter(uncached)]) await measure(4, f, 0.5)
// Interleaved rounds: load on a shared machine drifts, and every contender sees the same drift.
const ROUNDS = 3
for (const streams of [1, 16]) {
  const sums = [0, 0, 0]
  for (let r = 0; r < ROUNDS; r++) {
    sums[0]! += await measure(streams, rawAppend, SECONDS / ROUNDS)
    sums[1]! += await measure(streams, viaAdapter(cached), SECONDS / ROUNDS)
    sums[2]! += await measure(streams, viaAdapter(uncached), SECONDS / ROUNDS)
  }
  const [base, withCache, withoutCache] = sums.map((x) => x / ROUNDS) as [number, number, number]
  const f = (n: number) => Math.round(n).toLocaleString('en-US')
  rows.push(`| ${streams} | ${f(base)} | ${f(withCache)} (${(withCache / base).toFixed(2)}×) | ${f(withoutCache)} (${(withoutCache / base).toFixed(2)}×) |`)
}

console.log('KurrentDB adapter appends on the in-process test double (events/s, one event per append, exact expected revision)\n')
console.log('| streams | raw client (baseline) | adapter, head cache | adapter, no head cache |')
console.log('|---:|---:|---:|---:|')
for (const r of rows) console.log(r)

await cached.close()
await uncached.close()
await raw.dispose()
await double.close()
