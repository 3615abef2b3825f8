import type { SnapshotFrom } from 'xstate'
import { DomainError } from '../../shared/errors.js'
import { own, setOwn, UNSTORABLE_NAME } from '../../shared/own.js'
import type { DecideContext } from '../runtime/types.js'
import type { LedgerCommand, WalletCommand } from './commands.js'
import type { BudgetSet, SpendReserved, WalletEvent } from './events.js'
import {
  agentReserved,
  availableBalance,
  closedStatus,
  hasDeposit,
  holdFor,
  isInFlight,
  spendableBalance,
  windowSpent,
  type Ledger,
} from './ledger.js'
import type { walletMachine } from './machine.js'
import { checkWithdrawal } from './withdrawal-guardrails.js'
import { WINDOW_KINDS } from './windows.js'

export type WalletSnapshot = SnapshotFrom<typeof walletMachine>

/** Reservation lifetime when the caller names none (= config RESERVATION_TTL_MS default). */
export const DEFAULT_RESERVATION_TTL_MS = 10 * 60_000
/** Longest reservation a caller may ask for. */
export const MAX_RESERVATION_TTL_MS = 24 * 3_600_000

const str = (v: bigint): string => v.toString()
const max0 = (v: bigint): bigint => (v < 0n ? 0n : v)

/** Pure: the events a wallet command produces, or why it is refused. */
export function decide(state: WalletSnapshot, command: WalletCommand, ctx: DecideContext): WalletEvent[] | DomainError {
  const at = ctx.now.toISOString()
  switch (command.type) {
    case 'RegisterWallet':
      if (state.value !== 'unregistered') return []
      return [{ type: 'WalletRegistered', data: { address: command.address, at } }]
    case 'UpdateSettings': {
      if (state.value === 'unregistered') return new DomainError('wallet_not_registered', 'Sign in before changing settings')
      const changed: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(command.patch)) {
        if (key === UNSTORABLE_NAME) return new DomainError('invalid_request', `settings key "${UNSTORABLE_NAME}" is reserved`)
        if (JSON.stringify(own(state.context.settings, key)) !== JSON.stringify(value)) setOwn(changed, key, value)
      }
      if (Object.keys(changed).length === 0) return []
      return [{ type: 'SettingsUpdated', data: { patch: changed, at } }]
    }
    default:
      if (state.value === 'unregistered') return new DomainError('wallet_not_registered', 'Sign in before using the wallet')
      return decideLedger(state.context.ledger, command, ctx.now, at)
  }
}

function decideLedger(l: Ledger, c: LedgerCommand, now: Date, at: string): WalletEvent[] | DomainError {
  switch (c.type) {
    case 'AssignDepositAddress':
      // The first assignment wins; a second allocated index is simply never used.
      if (l.depositIndex !== null) return []
      if (!Number.isSafeInteger(c.index) || c.index < 0) return invalid('deposit index must be a non-negative integer')
      return [{ type: 'DepositAddressAssigned', data: { index: c.index, address: c.address, at } }]

    case 'ObserveDeposit': {
      if (l.depositIndex === null) return new DomainError('no_deposit_address', 'This wallet has no deposit address yet')
      if (c.amount <= 0n || c.blockNumber < 0n || !Number.isSafeInteger(c.logIndex) || c.logIndex < 0) return invalid('malformed deposit')
      if (hasDeposit(l, `${c.txHash}:${c.logIndex}`)) return []
      const data = { txHash: c.txHash, logIndex: c.logIndex, amount: c.amount, blockNumber: c.blockNumber, at }
      return [{ type: 'DepositDetected', data }]
    }

    case 'ObserveOnChainBalance':
      if (c.balance < 0n || c.blockNumber < 0n) return invalid('malformed balance observation')
      // Only a newer block moves the observation (THE BALANCE RULE in ledger.ts).
      if (c.blockNumber <= l.observedBlock) return []
      return [{ type: 'OnChainBalanceObserved', data: { balance: c.balance, blockNumber: c.blockNumber, at } }]

    case 'ReserveSpend':
      return reserve(l, c, now, at)

    case 'SettleSpend': {
      const r = own(l.reservations, c.reservationId)
      if (r === undefined) {
        const closed = closedStatus(l, c.reservationId)
        if (closed === 'settled') return []
        if (closed === 'released')
          return new DomainError('reservation_closed', 'The reservation was already released (expired or cancelled)', {
            details: { reservationId: c.reservationId },
          })
        return new DomainError('reservation_unknown', 'No such reservation', { details: { reservationId: c.reservationId } })
      }
      if (c.amount < 0n) return invalid('settled amount must be non-negative')
      // The charge never exceeds the hold (amount + 10%): budgets and balance stay exact.
      // Money already paid on chain left the address whatever we record: charge the truth.
      const charged = c.paidOnChain !== undefined || c.amount < r.hold ? c.amount : r.hold
      const data = {
        reservationId: c.reservationId,
        agentId: r.agentId,
        amount: charged,
        requested: c.amount,
        writtenOff: c.amount - charged,
        breakdown: c.breakdown,
        at,
      }
      if (c.paidOnChain !== undefined && c.paidOnChain.blockNumber < 0n) return invalid('malformed on-chain payment')
      return [{ type: 'SpendSettled', data: c.paidOnChain === undefined ? data : { ...data, paidOnChain: c.paidOnChain } }]
    }

    case 'ReleaseSpend': {
      const r = own(l.reservations, c.reservationId)
      if (r === undefined) return []
      return [{ type: 'SpendReleased', data: { reservationId: c.reservationId, agentId: r.agentId, reason: c.reason, at } }]
    }

    case 'ReleaseExpiredReservations': {
      const out: WalletEvent[] = []
      const t = now.getTime()
      for (const [reservationId, r] of Object.entries(l.reservations)) {
        // On-chain payments are resolved by their holder only (see ReserveSpend.onChainPayment).
        if (Date.parse(r.expiresAt) <= t && r.onChainPayment !== true) out.push({ type: 'SpendReleased', data: { reservationId, agentId: r.agentId, reason: 'expired', at } })
      }
      return out
    }

    case 'SetBudget': {
      if (c.agentId === UNSTORABLE_NAME) return invalid(`agentId "${UNSTORABLE_NAME}" is reserved`)
      const prev = own(l.budgets, c.agentId) ?? { daily: null, weekly: null, monthly: null, minimumBalance: null }
      const next = {
        daily: c.daily === undefined ? prev.daily : c.daily,
        weekly: c.weekly === undefined ? prev.weekly : c.weekly,
        monthly: c.monthly === undefined ? prev.monthly : c.monthly,
        minimumBalance: c.minimumBalance === undefined ? prev.minimumBalance : c.minimumBalance,
      }
      for (const v of Object.values(next)) if (v !== null && v < 0n) return invalid('budget amounts must be non-negative')
      if (next.daily === prev.daily && next.weekly === prev.weekly && next.monthly === prev.monthly && next.minimumBalance === prev.minimumBalance)
        return []
      const event: BudgetSet = { type: 'BudgetSet', data: { agentId: c.agentId, ...next, at } }
      return [event]
    }

    case 'RequestWithdrawal': {
      if (c.idempotencyKey === UNSTORABLE_NAME) return invalid(`idempotencyKey "${UNSTORABLE_NAME}" is reserved`)
      const existing = own(l.withdrawalKeys, c.idempotencyKey)
      if (existing !== undefined) {
        const w = own(l.withdrawals, existing)
        if (w !== undefined && w.amount === c.amount && w.to.toLowerCase() === c.to.toLowerCase()) return []
        return new DomainError('idempotency_key_reused', 'This idempotency key was used for a different withdrawal', {
          details: { idempotencyKey: c.idempotencyKey },
        })
      }
      if (own(l.withdrawals, c.withdrawalId) !== undefined) return []
      const refusal = checkWithdrawal({
        limits: c.limits,
        to: c.to,
        amount: c.amount,
        now,
        history: Object.values(l.withdrawals),
        destinationIsDepositAddress: c.destinationIsDepositAddress || (l.depositAddress !== null && l.depositAddress.toLowerCase() === c.to.toLowerCase()),
      })
      if (refusal !== undefined)
        return new DomainError('withdrawal_limit', refusal.message, { details: { rule: refusal.rule, ...refusal.details } })
      if (l.depositIndex === null) return new DomainError('no_deposit_address', 'This wallet has no deposit address yet')
      const spendable = spendableBalance(l)
      if (c.amount > spendable)
        return new DomainError('insufficient_balance', 'Withdrawal exceeds the available balance', {
          details: { limit: 'balance', spendable: str(max0(spendable)), requested: str(c.amount) },
        })
      return [
        {
          type: 'WithdrawalRequested',
          data: { withdrawalId: c.withdrawalId, idempotencyKey: c.idempotencyKey, to: c.to, amount: c.amount, depositIndex: l.depositIndex, at },
        },
      ]
    }

    case 'WithdrawalBroadcast': {
      const w = own(l.withdrawals, c.withdrawalId)
      if (w === undefined) return unknownWithdrawal(c.withdrawalId)
      if (w.status !== 'requested') return []
      return [{ type: 'WithdrawalBroadcast', data: { withdrawalId: c.withdrawalId, txHash: c.txHash, at } }]
    }
    case 'WithdrawalConfirmed': {
      const w = own(l.withdrawals, c.withdrawalId)
      if (w === undefined) return unknownWithdrawal(c.withdrawalId)
      if (!isInFlight(w)) return []
      return [{ type: 'WithdrawalConfirmed', data: { withdrawalId: c.withdrawalId, txHash: c.txHash, blockNumber: c.blockNumber, at } }]
    }
    case 'WithdrawalFailed': {
      const w = own(l.withdrawals, c.withdrawalId)
      if (w === undefined) return unknownWithdrawal(c.withdrawalId)
      if (!isInFlight(w)) return []
      return [{ type: 'WithdrawalFailed', data: { withdrawalId: c.withdrawalId, reason: c.reason, at } }]
    }

    case 'RequestSettlement': {
      if (own(l.settlements, c.settlementId) !== undefined || l.depositIndex === null) return []
      const unswept = l.unsettledSpend - l.sweeping
      // Never sweep more than the address holds beyond in-flight transfers out.
      const holds = l.onChainBalance - l.sweeping - l.pendingWithdrawals
      const amount = unswept < holds ? unswept : holds
      const minimum = c.minimumAmount !== undefined && c.minimumAmount > 1n ? c.minimumAmount : 1n
      if (amount < minimum) return []
      return [{ type: 'SettlementRequested', data: { settlementId: c.settlementId, amount, depositIndex: l.depositIndex, at } }]
    }
    case 'SettlementBroadcast': {
      const s = own(l.settlements, c.settlementId)
      if (s === undefined) return unknownSettlement(c.settlementId)
      if (s.status !== 'requested') return []
      return [{ type: 'SettlementBroadcast', data: { settlementId: c.settlementId, txHash: c.txHash, at } }]
    }
    case 'SettlementConfirmed': {
      const s = own(l.settlements, c.settlementId)
      if (s === undefined) return unknownSettlement(c.settlementId)
      if (!isInFlight(s)) return []
      return [{ type: 'SettlementConfirmed', data: { settlementId: c.settlementId, txHash: c.txHash, blockNumber: c.blockNumber, at } }]
    }
    case 'SettlementFailed': {
      const s = own(l.settlements, c.settlementId)
      if (s === undefined) return unknownSettlement(c.settlementId)
      if (!isInFlight(s)) return []
      return [{ type: 'SettlementFailed', data: { settlementId: c.settlementId, reason: c.reason, at } }]
    }
  }
}

function reserve(l: Ledger, c: Extract<LedgerCommand, { type: 'ReserveSpend' }>, now: Date, at: string): WalletEvent[] | DomainError {
  const open = own(l.reservations, c.reservationId)
  if (open !== undefined) {
    if (open.agentId === c.agentId && open.amount === c.amount) return []
    return new DomainError('idempotency_key_reused', 'This reservation id was used for a different reservation', {
      details: { reservationId: c.reservationId },
    })
  }
  if (c.agentId === UNSTORABLE_NAME || c.reservationId === UNSTORABLE_NAME) return invalid(`"${UNSTORABLE_NAME}" is reserved`)
  // Already settled or released: a retried reserve must not hold the money again.
  if (closedStatus(l, c.reservationId) !== undefined) return []
  if (c.amount <= 0n) return invalid('reservation amount must be positive')
  const ttl = c.ttlMs ?? DEFAULT_RESERVATION_TTL_MS
  if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > MAX_RESERVATION_TTL_MS) return invalid('ttlMs out of range')

  const hold = holdFor(c.amount)
  const base = { agentId: c.agentId, requested: str(c.amount), hold: str(hold) }
  const spendable = spendableBalance(l)
  if (hold > spendable)
    return new DomainError('insufficient_balance', 'Insufficient balance for this request', {
      details: { limit: 'balance', ...base, spendable: str(max0(spendable)), available: str(availableBalance(l)) },
    })
  const budget = own(l.budgets, c.agentId)
  if (budget !== undefined) {
    if (budget.minimumBalance !== null && spendable - hold < budget.minimumBalance)
      return new DomainError('insufficient_balance', 'This request would take the wallet below its minimum balance', {
        details: { limit: 'minimumBalance', ...base, spendable: str(max0(spendable - budget.minimumBalance)), minimumBalance: str(budget.minimumBalance) },
      })
    const held = agentReserved(l, c.agentId)
    for (const kind of WINDOW_KINDS) {
      const limit = budget[kind]
      if (limit === null) continue
      const used = windowSpent(l, c.agentId, kind, now) + held
      if (used + hold > limit)
        return new DomainError('budget_exceeded', `The agent's ${kind} budget would be exceeded`, {
          details: { limit: kind, ...base, spendable: str(max0(limit - used)), budget: str(limit), used: str(used) },
        })
    }
  }
  const expiresAt = new Date(now.getTime() + ttl).toISOString()
  const data: SpendReserved['data'] = { reservationId: c.reservationId, agentId: c.agentId, amount: c.amount, hold, expiresAt, at }
  if (c.purpose !== undefined) data.purpose = c.purpose
  if (c.onChainPayment === true) data.onChainPayment = true
  return [{ type: 'SpendReserved', data }]
}

const invalid = (message: string): DomainError => new DomainError('invalid_ledger_command', message)
const unknownWithdrawal = (id: string): DomainError =>
  new DomainError('withdrawal_unknown', 'No such withdrawal', { details: { withdrawalId: id } })
const unknownSettlement = (id: string): DomainError =>
  new DomainError('settlement_unknown', 'No such settlement', { details: { settlementId: id } })
