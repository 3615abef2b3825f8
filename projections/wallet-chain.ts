import type { RecordedEvent } from '../store/types.js'
import { walletOf, type Projection } from './types.js'

/** An outbound chain transfer of a wallet that has not reached a final status. */
export interface PendingChainWork {
  walletId: string
  kind: 'withdrawal' | 'settlement'
  id: string
}

/** One wallet's chain-relevant state: its deposit addresses, unfinished transfers, and whether a sweep is due. */
export interface WalletChainRow {
  walletId: string
  addresses: string[]
  pending: PendingChainWork[]
  toSettle: boolean
}

const TYPES = new Set([
  'DepositAddressAssigned',
  'WithdrawalRequested',
  'WithdrawalConfirmed',
  'WithdrawalFailed',
  'SpendSettled',
  'SettlementRequested',
  'SettlementConfirmed',
  'SettlementFailed',
])

/** True for the wallet events the chain side follows. */
export function isWalletChainEvent(e: RecordedEvent): boolean {
  return e.streamId.startsWith('wallet-') && TYPES.has(e.type)
}

/** Pure fold of one wallet's chain-relevant events (shared by the read model and the in-memory index). */
export function evolveWalletChain(current: WalletChainRow | undefined, e: RecordedEvent): WalletChainRow {
  const walletId = walletOf(e)
  const row: WalletChainRow = current ?? { walletId, addresses: [], pending: [], toSettle: false }
  const d = e.data as { address?: string; withdrawalId?: string; settlementId?: string }
  const without = (kind: PendingChainWork['kind'], id: string | undefined) => row.pending.filter((w) => !(w.kind === kind && w.id === id))
  switch (e.type) {
    case 'DepositAddressAssigned':
      return d.address === undefined || row.addresses.includes(d.address.toLowerCase()) ? row : { ...row, addresses: [...row.addresses, d.address.toLowerCase()] }
    case 'WithdrawalRequested':
      return { ...row, pending: [...without('withdrawal', d.withdrawalId), { walletId, kind: 'withdrawal', id: d.withdrawalId! }] }
    case 'WithdrawalConfirmed':
    case 'WithdrawalFailed':
      return { ...row, pending: without('withdrawal', d.withdrawalId) }
    case 'SpendSettled':
      return row.toSettle ? row : { ...row, toSettle: true }
    case 'SettlementRequested':
      // A sweep capped below the unswept spend leaves a remainder for the next spend's sweep.
      return { ...row, toSettle: false, pending: [...without('settlement', d.settlementId), { walletId, kind: 'settlement', id: d.settlementId! }] }
    case 'SettlementConfirmed':
      return { ...row, pending: without('settlement', d.settlementId) }
    case 'SettlementFailed':
      return { ...row, toSettle: true, pending: without('settlement', d.settlementId) }
    default:
      return row
  }
}

/** The chain index's state per wallet, so start-up reads it instead of scanning every event. */
export const walletChainProjection: Projection<WalletChainRow> = {
  name: 'wallet-chain',
  canHandle: isWalletChainEvent,
  keyOf: (e) => ({ key: walletOf(e), owner: walletOf(e) }),
  evolve: (current, e) => evolveWalletChain(current, e),
}
