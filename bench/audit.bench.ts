/**
 * Audit verify throughput (events/s): LedgerVerifier (hash chain + replay through
 * evolveLedger + charge recomputation) on a synthetic export, against a baseline in the
 * same run: JSON.parse + store/hash.ts verifyChain of the same lines (hashing alone).
 *
 *   npx tsx bench/audit.bench.ts
 */
import { LedgerVerifier } from '../cli/audit-verify.js'
import { holdFor } from '../actors/wallet/ledger.js'
import { priceTurn } from '../pricing/price-turn.js'
import { fromTaggedJson, toTaggedJson } from '../store/codec.js'
import { hashEvent, verifyChain } from '../store/hash.js'
import { fmt, table } from './lib.js'

const WALLETS = 20
const PAIRS = Number(process.env.BENCH_AUDIT_PAIRS ?? 1_250) // per wallet → 2 events each
const AT = '2026-11-25T12:00:00.000Z'

function buildExport(): string[] {
  const lines: string[] = []
  let position = 0
  const turn = priceTurn({ model: 'sonnet', usage: { inputTokens: 900, outputTokens: 300, cacheCreationInputTokens: 0, cacheReadInputTokens: 2000 }, toolCalls: 1, toolCosts: 0n, byok: false })
  const streams = Array.from({ length: WALLETS }, (_, w) => ({ id: `wallet-0x${w.toString(16).padStart(40, '0')}`, rev: 0n, prev: '' }))
  const emit = (s: (typeof streams)[number], type: string, data: unknown) => {
    const hash = hashEvent({ streamId: s.id, revision: s.rev, type, data, recordedAt: AT, prevHash: s.prev })
    lines.push(JSON.stringify({ streamId: s.id, revision: Number(s.rev), position: ++position, type, data: toTaggedJson(data), recordedAt: AT, prevHash: s.prev, hash }))
    s.prev = hash
    s.rev++
  }
  for (const s of streams) {
    emit(s, 'WalletRegistered', { address: s.id.slice(7), at: AT })
    emit(s, 'DepositAddressAssigned', { index: 0, address: s.id.slice(7), at: AT })
    emit(s, 'DepositDetected', { txHash: `0x${s.id}`, logIndex: 0, amount: 10n ** 12n, blockNumber: 1n, at: AT })
  }
  for (let k = 0; k < PAIRS; k++) {
    for (const s of streams) {
      const id = `r-${k}`
      emit(s, 'SpendReserved', { reservationId: id, agentId: 'a', amount: 50_000n, hold: holdFor(50_000n), expiresAt: AT, at: AT })
      emit(s, 'SpendSettled', {
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
  return lines
}

const lines = buildExport()

const t0 = performance.now()
const byStream = new Map<string, Parameters<typeof verifyChain>[0][number][]>()
for (const line of lines) {
  const r = JSON.parse(line) as { streamId: string; revision: number; type: string; data: unknown; recordedAt: string; prevHash: string; hash: string }
  const list = byStream.get(r.streamId) ?? []
  list.push({ ...r, revision: BigInt(r.revision), data: fromTaggedJson(r.data) })
  byStream.set(r.streamId, list)
}
for (const list of byStream.values()) if (verifyChain(list) !== undefined) throw new Error('baseline chain broken')
const baseline = (lines.length / (performance.now() - t0)) * 1000

const t1 = performance.now()
const v = new LedgerVerifier()
for (const line of lines) if (!v.push(line)) throw new Error(`verify failed: ${JSON.stringify(v.bad)}`)
const ours = (lines.length / (performance.now() - t1)) * 1000

console.log(`### Audit verify (${fmt(lines.length)} events, ${WALLETS} wallets)\n`)
console.log(table(['run', 'events/s', 'ratio'], [
  ['baseline: JSON.parse + verifyChain (hashing only)', fmt(baseline), '1.00×'],
  ['LedgerVerifier (chain + replay + charge recomputation)', fmt(ours), `${(ours / baseline).toFixed(2)}×`],
]))
