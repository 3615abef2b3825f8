import type { RecordedEvent } from '../store/types.js'
import { walletOf, type Projection } from './types.js'

/** Deposit address (lower-case) → its wallet and BIP-44 index. */
export interface DepositAddressRow {
  address: string
  wallet: string
  index: number
}

/**
 * Lets a withdrawal refuse any wallet's deposit address as destination, and the chain
 * watcher map a Transfer's `to` to its wallet, without scanning every wallet.
 */
export const depositAddressesProjection: Projection<DepositAddressRow> = {
  name: 'deposit-addresses',
  canHandle: (e) => e.streamId.startsWith('wallet-') && e.type === 'DepositAddressAssigned',
  keyOf: (e) => ({ key: String((e.data as { address: string }).address).toLowerCase(), owner: walletOf(e) }),
  evolve: (current: DepositAddressRow | undefined, e: RecordedEvent) => {
    const d = e.data as { address: string; index: number }
    return current ?? { address: d.address.toLowerCase(), wallet: walletOf(e), index: d.index }
  },
}
