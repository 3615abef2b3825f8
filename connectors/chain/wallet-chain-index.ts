import type { EventStore, Position, RecordedEvent, Subscription } from '../../store/types.js'

/** An outbound chain transfer of a wallet that has not reached a final status. */
export interface PendingChainWork {
  walletId: string
  kind: 'withdrawal' | 'settlement'
  id: string
}

export interface WalletChainIndex {
  /** lowercase deposit address → wallet actor id (what the deposit watcher watches). */
  readonly addresses: ReadonlyMap<string, string>
  /** Withdrawals and settlements requested or broadcast but not yet confirmed or failed. */
  pending(): PendingChainWork[]
  /** Wallets with settled spend not yet handed to a settlement sweep (what the sweeper visits). */
  walletsToSettle(): string[]
  /** Resolves once every event present at start-up has been folded. */
  readonly ready: Promise<void>
  close(): Promise<void>
}

const WALLET_PREFIX = 'wallet-'

/**
 * An in-memory index of the wallet streams' chain-relevant events: deposit addresses
 * (for the watcher and the "destination is a deposit address" guardrail) and unfinished
 * transfers (to resume after a restart, since the host never re-runs the effects of
 * events it merely rehydrates). Catches up with readAll, then follows subscribeAll.
 */
export function startWalletChainIndex(store: EventStore): WalletChainIndex {
  const addresses = new Map<string, string>()
  const pending = new Map<string, PendingChainWork>()
  const toSettle = new Set<string>()
  let sub: Subscription | undefined
  let closed = false

  const apply = (e: RecordedEvent) => {
    if (!e.streamId.startsWith(WALLET_PREFIX)) return
    const walletId = e.streamId.slice(WALLET_PREFIX.length)
    const d = e.data as { address?: string; withdrawalId?: string; settlementId?: string }
    switch (e.type) {
      case 'DepositAddressAssigned':
        if (d.address) addresses.set(d.address.toLowerCase(), walletId)
        break
      case 'WithdrawalRequested':
        pending.set(`${walletId}:w:${d.withdrawalId}`, { walletId, kind: 'withdrawal', id: d.withdrawalId! })
        break
      case 'WithdrawalConfirmed':
      case 'WithdrawalFailed':
        pending.delete(`${walletId}:w:${d.withdrawalId}`)
        break
      case 'SpendSettled':
        toSettle.add(walletId)
        break
      case 'SettlementRequested':
        // A sweep capped below the unswept spend leaves a remainder for the next spend's sweep.
        toSettle.delete(walletId)
        pending.set(`${walletId}:s:${d.settlementId}`, { walletId, kind: 'settlement', id: d.settlementId! })
        break
      case 'SettlementConfirmed':
        pending.delete(`${walletId}:s:${d.settlementId}`)
        break
      case 'SettlementFailed':
        pending.delete(`${walletId}:s:${d.settlementId}`)
        toSettle.add(walletId)
        break
    }
  }

  const ready = (async () => {
    const head = await store.headPosition()
    let from: Position = 0n
    while (from < head && !closed) {
      const page = await store.readAll({ fromPosition: from, maxCount: 1000 })
      if (page.length === 0) break
      for (const e of page) apply(e)
      from = page[page.length - 1]!.position
    }
    if (closed) return
    const live = store.subscribeAll({ fromPosition: from, streamPrefixes: [WALLET_PREFIX] })
    sub = live
    void (async () => {
      try {
        for await (const e of live) apply(e)
      } catch {
        // closed under us
      }
    })()
  })()

  return {
    addresses,
    pending: () => [...pending.values()],
    walletsToSettle: () => [...toSettle],
    ready,
    async close() {
      closed = true
      await ready.catch(() => undefined)
      await sub?.close()
    },
  }
}
