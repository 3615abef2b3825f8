import type { WalletEvent } from '../actors/wallet/events.js'
import { availableBalance, evolveLedger, initialLedger, isLedgerEvent, type Ledger } from '../actors/wallet/ledger.js'
import type { RecordedEvent } from '../store/types.js'
import { walletOf, type Projection } from './types.js'

/** One wallet's balances: the same ledger fold as the actor (without its idempotency memory). */
export interface BalanceRow {
  wallet: string
  /** Checksummed, once registered. */
  address: string | null
  ledger: Ledger
}

/**
 * Drops what only serves the decider (closed reservation ids for retried commands): the
 * projection folds committed facts, so it never needs it, and rows stay small.
 */
export function comparableLedger(l: Ledger): Ledger {
  return { ...l, closed: [] }
}

/** Pure: the balance row after one wallet event. */
export function evolveBalance(current: BalanceRow | undefined, event: RecordedEvent): BalanceRow | undefined {
  const row = current ?? { wallet: walletOf(event), address: null, ledger: initialLedger() }
  const e = { type: event.type, data: event.data } as WalletEvent
  if (e.type === 'WalletRegistered') return row.address === null ? { ...row, address: e.data.address } : row
  if (!isLedgerEvent(e)) return row
  return { ...row, ledger: comparableLedger(evolveLedger(row.ledger, e)) }
}

export const walletBalancesProjection: Projection<BalanceRow> = {
  name: 'wallet-balances',
  canHandle: (e) => e.streamId.startsWith('wallet-') && (e.type === 'WalletRegistered' || isLedgerEvent(e)),
  keyOf: (e) => ({ key: walletOf(e), owner: walletOf(e) }),
  evolve: evolveBalance,
}

/** The balance figures of a row (what GET /wallet/balance and the audit print). */
export function balanceFigures(l: Ledger): Record<string, string> {
  return {
    onChainBalance: l.onChainBalance.toString(),
    unsettledSpend: l.unsettledSpend.toString(),
    pendingWithdrawals: l.pendingWithdrawals.toString(),
    availableBalance: availableBalance(l).toString(),
    reserved: l.reserved.toString(),
  }
}
