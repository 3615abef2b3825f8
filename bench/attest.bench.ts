/**
 * SEV-SNP report verification throughput (reports/s) on the real Milan vector: the full
 * verifier (chain + P-384 signature + extensions + policy) on the main thread, and
 * through the worker pool (2 threads, 8 in flight), against a baseline in the same run:
 * the bare P-384 signature check with node:crypto (the irreducible cost).
 *
 *   npx tsx bench/attest.bench.ts
 */
import { X509Certificate, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { leComponentToBe, parseSnpReport } from '../attest/snp-report.js'
import { verifySnpReport, type VerifySnpInput } from '../attest/verify-snp.js'
import { createWorkerPool } from '../workers/pool.js'
import { fmt, table } from './lib.js'

const N = Number(process.env.BENCH_ATTEST_N ?? 400)
const dir = new URL('../attest/testdata/snp/', import.meta.url)
const report = readFileSync(new URL('attestation.bin', dir))
const vcek = readFileSync(new URL('vcek.der', dir))
const input: VerifySnpInput = { report, certificates: { vcek }, now: Date.parse('2026-01-01T00:00:00Z'), policy: { allowDebug: true } }

const rate = (n: number, ms: number): number => (n / ms) * 1000

// Baseline: only the report signature.
const key = new X509Certificate(vcek).publicKey
const sig = Buffer.concat([leComponentToBe(report.subarray(0x2a0, 0x2e8)), leComponentToBe(report.subarray(0x2e8, 0x330))])
let t = performance.now()
for (let i = 0; i < N; i++) if (!verify('sha384', report.subarray(0, 0x2a0), { key, dsaEncoding: 'ieee-p1363' }, sig)) throw new Error('baseline failed')
const baseline = rate(N, performance.now() - t)

t = performance.now()
for (let i = 0; i < N * 10; i++) parseSnpReport(report)
const parse = rate(N * 10, performance.now() - t)

t = performance.now()
for (let i = 0; i < N; i++) if (!verifySnpReport(input).ok) throw new Error('verify failed')
const full = rate(N, performance.now() - t)

const pool = createWorkerPool({ threads: 2 })
await Promise.all([pool.run('verify-snp-report', input), pool.run('verify-snp-report', input)]) // warm both threads
t = performance.now()
let next = 0
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (next++ < N) {
      const r = await pool.run('verify-snp-report', input)
      if (!r.ok) throw new Error('pool verify failed')
    }
  }),
)
const pooled = rate(N, performance.now() - t)
await pool.destroy()

console.log(`### SEV-SNP report verification (${N} reports, real Milan vector)\n`)
console.log(
  table(
    ['run', 'reports/s', 'ratio'],
    [
      ['baseline: P-384 signature only (node:crypto)', fmt(baseline), '1.00×'],
      ['parseSnpReport only', fmt(parse), `${(parse / baseline).toFixed(2)}×`],
      ['verifySnpReport, main thread (chain memoised after first call)', fmt(full), `${(full / baseline).toFixed(2)}×`],
      ['verifySnpReport via pool (2 threads, 8 in flight)', fmt(pooled), `${(pooled / baseline).toFixed(2)}×`],
    ],
  ),
)
