import { own, withoutOwn } from '../../shared/own.js'
import type { LedgerEvent } from './events.js'
import { WINDOW_KINDS, windowKey, type WindowKind } from './windows.js'

/**
 * The wallet's ledger state and its pure fold. The machine (machine.ts), the balances
 * projection and the audit CLI all use `evolveLedger`, so the auditor recomputes exactly
 * what the actor decided from.
 *
 * THE BALANCE RULE (why available balance is never higher than the truth):
 *
 *   onChainBalance = observedBalance + Σ movements with block > observedBlock
 *
 * `observedBalance` is `balanceOf(depositAddress)` AT block `observedBlock` (the watcher
 * reads it at a confirmed block). Observations at or below `observedBlock` are ignored, so
 * the observation only moves forward. Every chain movement we learn of (deposit in,
 * confirmed withdrawal out, confirmed settlement sweep out) carries the block it was mined
 * in: a movement at or below `observedBlock` is already inside the observed balance and
 * adds nothing; a newer one is kept in `movements` until an observation at or past its
 * block absorbs it. Hence the same transfer is never counted twice, whatever the order
 * of "balance observed" and "transfer confirmed".
 *
 * Funds can leave the deposit address only through our own EIP-3009 authorisations:
 *  - a withdrawal is in `pendingWithdrawals` from the moment it is requested until its
 *    confirmation (or failure) is recorded, so while it is on its way the balance is
 *    either still counted on-chain and subtracted as pending, or (observed after it was
 *    mined) subtracted twice — lower than the truth, never higher;
 *  - a settlement sweep moves money that `unsettledSpend` already subtracts: until it is
 *    confirmed, an observation that already reflects it lowers onChainBalance while
 *    unsettledSpend still holds it (lower than the truth); the confirmation then removes
 *    it from unsettledSpend and adds no movement (block ≤ observedBlock) or a movement
 *    of −amount (block > observedBlock): the two cancel exactly.
 *  - an x402 tool payment made by EIP-3009 from the deposit key is held by its
 *    reservation until settled; the settlement (after the receipt) records it as an
 *    outflow at its block (same movement rule), never as unsettled spend to sweep.
 * Deposits we have not yet seen only make us lower than the truth.
 *
 *   availableBalance = onChainBalance − unsettledSpend − pendingWithdrawals
 *
 * Spending decisions also subtract `reserved` (the holds of open reservations).
 * ledger.test.ts checks this against a simulated chain with fast-check.
 */

/** Settled spend may exceed its reservation by at most this percentage (rounded up). */
export const SETTLE_OVERRUN_PERCENT = 10n

/** What a reservation holds against balance and budget windows: amount + 10% (ceil). */
export function holdFor(amount: bigint): bigint {
  return amount + (amount * SETTLE_OVERRUN_PERCENT + 99n) / 100n
}

export interface Reservation {
  agentId: string
  amount: bigint
  /** amount + the overrun allowance: what is held and the most a settlement may charge. */
  hold: bigint
  reservedAt: string
  expiresAt: string
  purpose?: string
  /** x402: settled or released by its holder only, never by the TTL. */
  onChainPayment?: boolean
}

export interface Movement {
  blockNumber: bigint
  /** +deposit, −withdrawal, −settlement sweep. */
  delta: bigint
  /** What it was (deposit key, withdrawal or settlement id). */
  ref: string
}

export type ChainStatus = 'requested' | 'broadcast' | 'confirmed' | 'failed'

/** True while a withdrawal or settlement can still confirm or fail: requested, or broadcast awaiting its receipt. */
export function isInFlight(transfer: { status: ChainStatus }): boolean {
  return transfer.status === 'requested' || transfer.status === 'broadcast'
}

export interface WithdrawalRecord {
  withdrawalId: string
  idempotencyKey: string
  to: string
  amount: bigint
  status: ChainStatus
  requestedAt: string
  updatedAt: string
  txHash?: string
  blockNumber?: bigint
  reason?: string
}

export interface SettlementRecord {
  settlementId: string
  amount: bigint
  status: ChainStatus
  requestedAt: string
  updatedAt: string
  txHash?: string
  blockNumber?: bigint
  reason?: string
}

export interface Budget {
  daily: bigint | null
  weekly: bigint | null
  monthly: bigint | null
  minimumBalance: bigint | null
}

/** Settled spend of one agent in the current window of each kind. */
export interface AgentWindows {
  daily: { key: string; spent: bigint }
  weekly: { key: string; spent: bigint }
  monthly: { key: string; spent: bigint }
}

export interface ClosedChunk {
  day: string
  count: number
  ids: Record<string, 'settled' | 'released'>
}

const CHUNK = 64
/** At most CHUNK × MAX_CHUNKS closed ids are remembered (the horizon only affects retry answers, never money: see close()). */
const MAX_CHUNKS = 64

export interface Ledger {
  depositIndex: number | null
  depositAddress: string | null
  observedBalance: bigint
  /** Block of the newest balance observation; -1n before the first. */
  observedBlock: bigint
  movements: Movement[]
  /** observedBalance + Σ movements (kept in step by every fold). */
  onChainBalance: bigint
  unsettledSpend: bigint
  pendingWithdrawals: bigint
  /** Σ holds of open reservations. */
  reserved: bigint
  /** Σ amounts of requested/broadcast settlement sweeps. */
  sweeping: bigint
  reservations: Record<string, Reservation>
  /**
   * Closed reservation ids, for idempotency of late retries: small chunks tagged with the
   * UTC day of their newest entry, kept until the day after (at most 4,096 ids). Only the last chunk is
   * copied on each close (copy-on-write), so the fold stays pure and linear.
   */
  closed: ClosedChunk[]
  /**
   * Deposit keys `${txHash}:${logIndex}` already counted: the newest (at most 64) here,
   * older ones in `depositArchive` chunks of 64. Only the small record is copied per
   * deposit: anyone can send dust transfers to a deposit address, and one flat record
   * copied on every deposit would make them quadratic. Never pruned. Use hasDeposit().
   */
  deposits: Record<string, true>
  depositArchive: Record<string, true>[]
  agentSpends: Record<string, { totalSpent: bigint }>
  windows: Record<string, AgentWindows>
  budgets: Record<string, Budget>
  withdrawals: Record<string, WithdrawalRecord>
  withdrawalKeys: Record<string, string>
  settlements: Record<string, SettlementRecord>
  /** settled includes paidOnChain (x402 spends paid from the address directly, never swept). */
  totals: { deposited: bigint; settled: bigint; writtenOff: bigint; withdrawn: bigint; swept: bigint; paidOnChain: bigint }
}

export function initialLedger(): Ledger {
  return {
    depositIndex: null,
    depositAddress: null,
    observedBalance: 0n,
    observedBlock: -1n,
    movements: [],
    onChainBalance: 0n,
    unsettledSpend: 0n,
    pendingWithdrawals: 0n,
    reserved: 0n,
    sweeping: 0n,
    reservations: {},
    closed: [],
    deposits: {},
    depositArchive: [],
    agentSpends: {},
    windows: {},
    budgets: {},
    withdrawals: {},
    withdrawalKeys: {},
    settlements: {},
    totals: { deposited: 0n, settled: 0n, writtenOff: 0n, withdrawn: 0n, swept: 0n, paidOnChain: 0n },
  }
}

/** onChainBalance − unsettledSpend − pendingWithdrawals. */
export function availableBalance(l: Ledger): bigint {
  return l.onChainBalance - l.unsettledSpend - l.pendingWithdrawals
}

/** What a new reservation or withdrawal may still take: available − open reservation holds. */
export function spendableBalance(l: Ledger): bigint {
  return availableBalance(l) - l.reserved
}

/** True when the deposit `${txHash}:${logIndex}` is already counted. */
export function hasDeposit(l: Ledger, key: string): boolean {
  if (own(l.deposits, key) !== undefined) return true
  for (let i = l.depositArchive.length - 1; i >= 0; i--) if (own(l.depositArchive[i]!, key) !== undefined) return true
  return false
}

/** How a reservation id was closed, if it was (within the idempotency horizon). */
export function closedStatus(l: Ledger, reservationId: string): 'settled' | 'released' | undefined {
  // Newest first: retries come soon after the original.
  for (let i = l.closed.length - 1; i >= 0; i--) {
    const s = own(l.closed[i]!.ids, reservationId)
    if (s !== undefined) return s
  }
  return undefined
}

/** Settled spend of an agent in the window of `kind` containing `now` (0 when that window saw none). */
export function windowSpent(l: Ledger, agentId: string, kind: WindowKind, now: Date): bigint {
  const w = own(l.windows, agentId)?.[kind]
  return w !== undefined && w.key === windowKey(kind, now) ? w.spent : 0n
}

/** Σ holds of the agent's open reservations. */
export function agentReserved(l: Ledger, agentId: string): bigint {
  let sum = 0n
  for (const r of Object.values(l.reservations)) if (r.agentId === agentId) sum += r.hold
  return sum
}

function withMovement(l: Ledger, m: Movement): Pick<Ledger, 'movements' | 'onChainBalance'> {
  // Already inside the observed balance: adds nothing (see THE BALANCE RULE).
  if (m.blockNumber <= l.observedBlock) return { movements: l.movements, onChainBalance: l.onChainBalance }
  return { movements: [...l.movements, m], onChainBalance: l.onChainBalance + m.delta }
}

function close(l: Ledger, reservationId: string, status: 'settled' | 'released', at: string): ClosedChunk[] {
  const day = at.slice(0, 10)
  const last = l.closed[l.closed.length - 1]
  if (last !== undefined && last.count < CHUNK && last.day <= day) {
    const next = { day, count: last.count + 1, ids: { ...last.ids, [reservationId]: status } }
    return [...l.closed.slice(0, -1), next]
  }
  // A new chunk: drop chunks whose newest entry is older than yesterday, and the oldest
  // beyond MAX_CHUNKS. Forgetting an id is safe for money: a settle needs an OPEN
  // reservation (a forgotten one is answered reservation_unknown, never charged twice),
  // and a re-reserve of a forgotten id only holds funds until its TTL.
  const yesterday = new Date(Date.parse(day) - 86_400_000).toISOString().slice(0, 10)
  const kept = l.closed.filter((c) => c.day >= yesterday)
  return [...kept.slice(Math.max(0, kept.length - MAX_CHUNKS + 1)), { day, count: 1, ids: { [reservationId]: status } }]
}

function addToWindows(prev: AgentWindows | undefined, at: Date, amount: bigint): AgentWindows {
  const next = {} as AgentWindows
  for (const kind of WINDOW_KINDS) {
    const key = windowKey(kind, at)
    const w = prev?.[kind]
    // Events arrive in time order per wallet; a slightly older clock (another process) still counts in the current window.
    next[kind] = w === undefined || key > w.key ? { key, spent: amount } : { key: w.key, spent: w.spent + amount }
  }
  return next
}

/** Pure fold of one ledger event (unknown references are ignored, never thrown: replay must not fail). */
export function evolveLedger(l: Ledger, event: LedgerEvent): Ledger {
  switch (event.type) {
    case 'DepositAddressAssigned':
      if (l.depositIndex !== null) return l
      return { ...l, depositIndex: event.data.index, depositAddress: event.data.address }
    case 'DepositDetected': {
      const d = event.data
      const key = `${d.txHash}:${d.logIndex}`
      if (hasDeposit(l, key)) return l
      const full = Object.keys(l.deposits).length >= CHUNK
      return {
        ...l,
        deposits: full ? { [key]: true } : { ...l.deposits, [key]: true },
        depositArchive: full ? [...l.depositArchive, l.deposits] : l.depositArchive,
        ...withMovement(l, { blockNumber: d.blockNumber, delta: d.amount, ref: key }),
        totals: { ...l.totals, deposited: l.totals.deposited + d.amount },
      }
    }
    case 'OnChainBalanceObserved': {
      const { balance, blockNumber } = event.data
      if (blockNumber <= l.observedBlock) return l
      const movements = l.movements.filter((m) => m.blockNumber > blockNumber)
      const pending = movements.reduce((s, m) => s + m.delta, 0n)
      return { ...l, observedBalance: balance, observedBlock: blockNumber, movements, onChainBalance: balance + pending }
    }
    case 'SpendReserved': {
      const d = event.data
      if (own(l.reservations, d.reservationId) !== undefined) return l
      const r: Reservation = { agentId: d.agentId, amount: d.amount, hold: d.hold, reservedAt: d.at, expiresAt: d.expiresAt }
      if (d.purpose !== undefined) r.purpose = d.purpose
      if (d.onChainPayment === true) r.onChainPayment = true
      return { ...l, reservations: { ...l.reservations, [d.reservationId]: r }, reserved: l.reserved + d.hold }
    }
    case 'SpendSettled': {
      const d = event.data
      const r = own(l.reservations, d.reservationId)
      if (r === undefined) return l
      const prev = own(l.agentSpends, d.agentId)?.totalSpent ?? 0n
      const onChain = d.paidOnChain
      return {
        ...l,
        // Paid on chain (x402): an outflow like a confirmed withdrawal, not spend to sweep.
        ...(onChain === undefined ? {} : withMovement(l, { blockNumber: onChain.blockNumber, delta: -d.amount, ref: `payment:${d.reservationId}` })),
        reservations: withoutOwn(l.reservations, d.reservationId),
        reserved: l.reserved - r.hold,
        closed: close(l, d.reservationId, 'settled', d.at),
        unsettledSpend: onChain === undefined ? l.unsettledSpend + d.amount : l.unsettledSpend,
        agentSpends: { ...l.agentSpends, [d.agentId]: { totalSpent: prev + d.amount } },
        windows: { ...l.windows, [d.agentId]: addToWindows(own(l.windows, d.agentId), new Date(d.at), d.amount) },
        totals: {
          ...l.totals,
          settled: l.totals.settled + d.amount,
          writtenOff: l.totals.writtenOff + d.writtenOff,
          paidOnChain: l.totals.paidOnChain + (onChain === undefined ? 0n : d.amount),
        },
      }
    }
    case 'SpendReleased': {
      const d = event.data
      const r = own(l.reservations, d.reservationId)
      if (r === undefined) return l
      return {
        ...l,
        reservations: withoutOwn(l.reservations, d.reservationId),
        reserved: l.reserved - r.hold,
        closed: close(l, d.reservationId, 'released', d.at),
      }
    }
    case 'BudgetSet': {
      const { agentId, daily, weekly, monthly, minimumBalance } = event.data
      const empty = daily === null && weekly === null && monthly === null && minimumBalance === null
      return {
        ...l,
        budgets: empty ? withoutOwn(l.budgets, agentId) : { ...l.budgets, [agentId]: { daily, weekly, monthly, minimumBalance } },
      }
    }
    case 'WithdrawalRequested': {
      const d = event.data
      if (own(l.withdrawals, d.withdrawalId) !== undefined) return l
      const w: WithdrawalRecord = {
        withdrawalId: d.withdrawalId,
        idempotencyKey: d.idempotencyKey,
        to: d.to,
        amount: d.amount,
        status: 'requested',
        requestedAt: d.at,
        updatedAt: d.at,
      }
      return {
        ...l,
        withdrawals: { ...l.withdrawals, [d.withdrawalId]: w },
        withdrawalKeys: { ...l.withdrawalKeys, [d.idempotencyKey]: d.withdrawalId },
        pendingWithdrawals: l.pendingWithdrawals + d.amount,
      }
    }
    case 'WithdrawalBroadcast': {
      const w = own(l.withdrawals, event.data.withdrawalId)
      if (w === undefined || w.status !== 'requested') return l
      const next: WithdrawalRecord = { ...w, status: 'broadcast', txHash: event.data.txHash, updatedAt: event.data.at }
      return { ...l, withdrawals: { ...l.withdrawals, [w.withdrawalId]: next } }
    }
    case 'WithdrawalConfirmed': {
      const d = event.data
      const w = own(l.withdrawals, d.withdrawalId)
      if (w === undefined || !isInFlight(w)) return l
      const next: WithdrawalRecord = { ...w, status: 'confirmed', txHash: d.txHash, blockNumber: d.blockNumber, updatedAt: d.at }
      return {
        ...l,
        ...withMovement(l, { blockNumber: d.blockNumber, delta: -w.amount, ref: `withdrawal:${w.withdrawalId}` }),
        withdrawals: { ...l.withdrawals, [w.withdrawalId]: next },
        pendingWithdrawals: l.pendingWithdrawals - w.amount,
        totals: { ...l.totals, withdrawn: l.totals.withdrawn + w.amount },
      }
    }
    case 'WithdrawalFailed': {
      const d = event.data
      const w = own(l.withdrawals, d.withdrawalId)
      if (w === undefined || !isInFlight(w)) return l
      const next: WithdrawalRecord = { ...w, status: 'failed', reason: d.reason, updatedAt: d.at }
      return { ...l, withdrawals: { ...l.withdrawals, [w.withdrawalId]: next }, pendingWithdrawals: l.pendingWithdrawals - w.amount }
    }
    case 'SettlementRequested': {
      const d = event.data
      if (own(l.settlements, d.settlementId) !== undefined) return l
      const s: SettlementRecord = { settlementId: d.settlementId, amount: d.amount, status: 'requested', requestedAt: d.at, updatedAt: d.at }
      return { ...l, settlements: { ...l.settlements, [d.settlementId]: s }, sweeping: l.sweeping + d.amount }
    }
    case 'SettlementBroadcast': {
      const s = own(l.settlements, event.data.settlementId)
      if (s === undefined || s.status !== 'requested') return l
      const next: SettlementRecord = { ...s, status: 'broadcast', txHash: event.data.txHash, updatedAt: event.data.at }
      return { ...l, settlements: { ...l.settlements, [s.settlementId]: next } }
    }
    case 'SettlementConfirmed': {
      const d = event.data
      const s = own(l.settlements, d.settlementId)
      if (s === undefined || !isInFlight(s)) return l
      const next: SettlementRecord = { ...s, status: 'confirmed', txHash: d.txHash, blockNumber: d.blockNumber, updatedAt: d.at }
      return {
        ...l,
        ...withMovement(l, { blockNumber: d.blockNumber, delta: -s.amount, ref: `settlement:${s.settlementId}` }),
        settlements: { ...l.settlements, [s.settlementId]: next },
        sweeping: l.sweeping - s.amount,
        unsettledSpend: l.unsettledSpend - s.amount,
        totals: { ...l.totals, swept: l.totals.swept + s.amount },
      }
    }
    case 'SettlementFailed': {
      const d = event.data
      const s = own(l.settlements, d.settlementId)
      if (s === undefined || !isInFlight(s)) return l
      const next: SettlementRecord = { ...s, status: 'failed', reason: d.reason, updatedAt: d.at }
      return { ...l, settlements: { ...l.settlements, [s.settlementId]: next }, sweeping: l.sweeping - s.amount }
    }
  }
}

/** True for the events evolveLedger folds. */
export function isLedgerEvent(event: { type: string }): event is LedgerEvent {
  return LEDGER_EVENT_TYPES.has(event.type)
}

export const LEDGER_EVENT_TYPES: ReadonlySet<string> = new Set([
  'DepositAddressAssigned',
  'DepositDetected',
  'OnChainBalanceObserved',
  'SpendReserved',
  'SpendSettled',
  'SpendReleased',
  'BudgetSet',
  'WithdrawalRequested',
  'WithdrawalBroadcast',
  'WithdrawalConfirmed',
  'WithdrawalFailed',
  'SettlementRequested',
  'SettlementBroadcast',
  'SettlementConfirmed',
  'SettlementFailed',
])
