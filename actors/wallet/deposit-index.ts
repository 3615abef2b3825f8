import { ConcurrencyError } from '../../store/errors.js'
import type { EventStore } from '../../store/types.js'
import type { ActorHost } from '../runtime/host.js'
import type { walletMachine } from './machine.js'
import type { WalletCommand } from './commands.js'
import type { WalletEvent } from './events.js'

/** The counter stream: event i (revision i) allocates deposit index i. */
export const DEPOSIT_INDEX_STREAM = 'deposit-index'

/**
 * Allocates the next BIP-44 deposit index, unique across wallets and processes: it
 * appends `DepositIndexAllocated` to the counter stream expecting its current last
 * revision, so the index IS the event's revision; a concurrent allocator gets a
 * ConcurrencyError and retries with the next revision. An index allocated but never
 * assigned (crash in between, or a lost race for the same wallet) is simply skipped.
 */
export async function allocateDepositIndex(store: EventStore, wallet: string, maxAttempts = 50): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const [last] = await store.readStream(DEPOSIT_INDEX_STREAM, { direction: 'backwards', maxCount: 1 })
    const next = last === undefined ? 0n : last.revision + 1n
    try {
      await store.append(DEPOSIT_INDEX_STREAM, [{ type: 'DepositIndexAllocated', data: { index: Number(next), wallet } }], {
        expectedRevision: last === undefined ? 'no_stream' : last.revision,
      })
      return Number(next)
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= maxAttempts) throw error
      await new Promise((r) => setTimeout(r, Math.random() * attempt))
    }
  }
}

export type WalletHost = ActorHost<typeof walletMachine, WalletCommand, WalletEvent>

export interface EnsureDepositAddressParameters {
  host: WalletHost
  store: EventStore
  /** Lower-case wallet address (actor id). */
  wallet: string
  /** The chain port's derivation (connectors/chain). */
  depositAddress(index: number): string
}

/** The wallet's deposit address, assigning one (DepositAddressAssigned) on first use. */
export async function ensureDepositAddress(p: EnsureDepositAddressParameters): Promise<{ index: number; address: string }> {
  const { snapshot } = await p.host.read(p.wallet)
  const l = snapshot.context.ledger
  if (l.depositIndex !== null && l.depositAddress !== null) return { index: l.depositIndex, address: l.depositAddress }
  const index = await allocateDepositIndex(p.store, p.wallet)
  const result = await p.host.send(p.wallet, { type: 'AssignDepositAddress', index, address: p.depositAddress(index) })
  const assigned = result.snapshot.context.ledger
  // Another process may have assigned first: its index wins, ours stays unused.
  return { index: assigned.depositIndex!, address: assigned.depositAddress! }
}
