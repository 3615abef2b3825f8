import type { SpendSettled } from '../actors/wallet/events.js'
import { availableBalance, evolveLedger, hasDeposit, holdFor, initialLedger, isLedgerEvent, type Ledger } from '../actors/wallet/ledger.js'
import { baseCost, platformCostExact } from '../pricing/price-turn.js'
import { ceil, equals, parseRational } from '../pricing/rational.js'
import { dataFromExport } from '../ledger-log/export-format.js'
import { createHash } from 'node:crypto'
import { leafHash } from '../ledger-log/merkle.js'
import { canonicalEventJson } from '../store/hash.js'
import { own, setOwn } from '../shared/own.js'
import { fromTaggedJson } from '../store/codec.js'
import { hashEvent } from '../store/hash.js'

/** The first event that failed verification. */
export interface BadEvent {
  line: number
  streamId: string
  revision: string
  type: string
  reason: string
}

export interface WalletSummary {
  wallet: string
  events: number
  /** The export started after revision 0: the chain is anchored on its first prevHash, figures are partial. */
  partial: boolean
  onChainBalance: string
  unsettledSpend: string
  pendingWithdrawals: string
  availableBalance: string
  reserved: string
  deposited: string
  settled: string
  writtenOff: string
  withdrawn: string
  swept: string
  agentSpends: Record<string, string>
}

export interface VerifyResult {
  ok: boolean
  events: number
  streams: number
  wallets: WalletSummary[]
  bad?: BadEvent
}

interface StreamState {
  prevHash: string
  nextRevision: bigint
  partial: boolean
  ledger: Ledger
  events: number
}

/**
 * Verifies an NDJSON ledger export (GET /audit/ledger or /wallet/ledger) from its text
 * alone: each stream's hash chain (store/hash.ts), positions in order, and a replay of
 * every wallet through the same pure evolveLedger the actor uses, checking what a replay
 * can prove — each charge recomputed from its recorded usage and prices (API.md §15),
 * never above its reservation's hold, no deposit counted twice, no figure below zero.
 * Stops at the first bad event.
 */
export class LedgerVerifier {
  readonly #streams = new Map<string, StreamState>()
  readonly #checkPositions: boolean
  #line = 0
  #events = 0
  #lastPosition = -1
  #bad: BadEvent | undefined
  /** RFC 9162 leaf hash of the last event accepted (its canonical JSON under 0x00): the Merkle log's leaf. */
  lastLeaf: Buffer | undefined
  /** Store position of the last event accepted. */
  lastEventPosition = -1

  /** `checkPositions: false` when lines of one export are split across verifiers (the caller checks the global order). */
  constructor(options: { checkPositions?: boolean } = {}) {
    this.#checkPositions = options.checkPositions ?? true
  }

  get bad(): BadEvent | undefined {
    return this.#bad
  }

  get events(): number {
    return this.#events
  }

  /** Feeds one line (its 1-based line number in the export when not simply the next); returns false once an event failed (later lines are ignored). */
  push(text: string, line?: number): boolean {
    if (this.#bad !== undefined) return false
    this.#line = line ?? this.#line + 1
    this.lastLeaf = undefined
    if (text.trim() === '') return true
    let raw: Record<string, unknown>
    try {
      raw = JSON.parse(text) as Record<string, unknown>
    } catch {
      return this.#fail('?', '?', '?', 'not valid JSON')
    }
    const { streamId, type, recordedAt, prevHash, hash } = raw
    const revision = raw.revision
    const position = raw.position
    if (
      typeof streamId !== 'string' ||
      typeof type !== 'string' ||
      typeof recordedAt !== 'string' ||
      typeof prevHash !== 'string' ||
      typeof hash !== 'string' ||
      (typeof revision !== 'number' && typeof revision !== 'string') ||
      (typeof position !== 'number' && typeof position !== 'string')
    )
      return this.#fail(String(streamId ?? '?'), String(revision ?? '?'), String(type ?? '?'), 'missing or malformed fields')
    const rev = BigInt(revision)
    const pos = Number(position)
    if (this.#checkPositions && pos <= this.#lastPosition) return this.#fail(streamId, String(rev), type, `position ${pos} not after ${this.#lastPosition}`)
    this.#lastPosition = pos
    let data: unknown
    try {
      data = dataFromExport(raw)
    } catch (error) {
      return this.#fail(streamId, String(revision), type, `malformed data: ${(error as Error).message}`)
    }

    let s = this.#streams.get(streamId)
    if (s === undefined) {
      // An export "after" some point starts mid-stream: anchor on its prevHash.
      s = { prevHash: rev === 0n ? '' : prevHash, nextRevision: rev, partial: rev !== 0n, ledger: initialLedger(), events: 0 }
      this.#streams.set(streamId, s)
    }
    if (rev !== s.nextRevision) return this.#fail(streamId, String(rev), type, `revision gap: expected ${s.nextRevision}`)
    if (prevHash !== s.prevHash) return this.#fail(streamId, String(rev), type, 'prevHash does not match the previous event (chain broken)')
    // One canonical text gives both the chain hash and the Merkle leaf.
    const canonical = canonicalEventJson({ streamId, revision: rev, type, data, recordedAt, prevHash })
    if (createHash('sha256').update(canonical).digest('hex') !== hash) return this.#fail(streamId, String(rev), type, 'hash does not match the event (edited)')
    this.lastLeaf = leafHash(canonical)
    this.lastEventPosition = pos
    s.prevHash = hash
    s.nextRevision = rev + 1n
    s.events++
    this.#events++

    if (streamId.startsWith('wallet-')) {
      const event = { type, data } as never
      if (isLedgerEvent(event)) {
        const reason = this.#check(s, event)
        if (reason !== undefined) return this.#fail(streamId, String(rev), type, reason)
        s.ledger = evolveLedger(s.ledger, event)
        const l = s.ledger
        if (l.unsettledSpend < 0n || l.pendingWithdrawals < 0n || l.reserved < 0n || l.onChainBalance < 0n)
          return this.#fail(streamId, String(rev), type, 'a balance figure went below zero')
      }
    }
    return true
  }

  #check(s: StreamState, event: { type: string; data: unknown }): string | undefined {
    const l = s.ledger
    switch (event.type) {
      case 'DepositDetected': {
        const d = event.data as { txHash: string; logIndex: number }
        if (hasDeposit(l, `${d.txHash}:${d.logIndex}`)) return 'deposit counted twice (same tx hash and log index)'
        return undefined
      }
      case 'SpendReserved': {
        const d = event.data as { amount: bigint; hold: bigint }
        if (d.hold !== holdFor(d.amount)) return 'hold is not amount + 10%'
        return undefined
      }
      case 'SpendSettled': {
        const d = (event as SpendSettled).data
        const r = own(l.reservations, d.reservationId)
        if (r === undefined) return s.partial ? undefined : 'settles a reservation that is not open'
        if (d.amount > r.hold) return 'charge above the reservation hold'
        if (d.amount + d.writtenOff !== d.requested) return 'amount + writtenOff ≠ requested'
        const b = d.breakdown
        if (b.platformCost + b.toolCosts !== d.requested) return 'requested ≠ platformCost + toolCosts'
        let base
        try {
          base = parseRational(b.baseLlmCost)
        } catch {
          return 'baseLlmCost is not an exact number'
        }
        if (b.prices !== undefined) {
          const recomputed = baseCost(b.prices, b)
          if (!equals(recomputed, base)) return 'baseLlmCost does not match tokens × recorded prices'
        }
        if (ceil(platformCostExact(base, b.toolCalls, b.byok)) !== b.platformCost) return 'platformCost does not follow the pricing formula (API.md §15)'
        return undefined
      }
      default:
        return undefined
    }
  }

  #fail(streamId: string, revision: string, type: string, reason: string): false {
    this.#bad = { line: this.#line, streamId, revision, type, reason }
    return false
  }

  /** The per-wallet figures recomputed from the events. */
  result(): VerifyResult {
    const wallets: WalletSummary[] = []
    for (const [streamId, s] of this.#streams) {
      if (!streamId.startsWith('wallet-')) continue
      const l = s.ledger
      const agentSpends: Record<string, string> = {}
      for (const [a, v] of Object.entries(l.agentSpends)) setOwn(agentSpends, a, v.totalSpent.toString())
      wallets.push({
        wallet: streamId.slice('wallet-'.length),
        events: s.events,
        partial: s.partial,
        onChainBalance: l.onChainBalance.toString(),
        unsettledSpend: l.unsettledSpend.toString(),
        pendingWithdrawals: l.pendingWithdrawals.toString(),
        availableBalance: availableBalance(l).toString(),
        reserved: l.reserved.toString(),
        deposited: l.totals.deposited.toString(),
        settled: l.totals.settled.toString(),
        writtenOff: l.totals.writtenOff.toString(),
        withdrawn: l.totals.withdrawn.toString(),
        swept: l.totals.swept.toString(),
        agentSpends,
      })
    }
    const out: VerifyResult = { ok: this.#bad === undefined, events: this.#events, streams: this.#streams.size, wallets }
    if (this.#bad !== undefined) out.bad = this.#bad
    return out
  }
}

/** Verifies a whole export given as lines. */
export async function verifyLines(lines: AsyncIterable<string> | Iterable<string>): Promise<VerifyResult> {
  const v = new LedgerVerifier()
  for await (const line of lines) if (!v.push(line)) break
  return v.result()
}
