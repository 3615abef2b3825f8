import { evolveWalletChain, isWalletChainEvent, type PendingChainWork, type WalletChainRow } from '../../projections/wallet-chain.js'
import type { EventStore, Position, RecordedEvent, Subscription } from '../../store/types.js'

export type { PendingChainWork } from '../../projections/wallet-chain.js'

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

/** The wallet-chain read model at a position: start-up folds from there instead of from the first event. */
export type WalletChainSeed = () => Promise<{ rows: WalletChainRow[]; position: Position } | undefined>

/**
 * An in-memory index of the wallet streams' chain-relevant events: deposit addresses
 * (for the watcher and the "destination is a deposit address" guardrail) and unfinished
 * transfers (to resume after a restart, since the host never re-runs the effects of
 * events it merely rehydrates). Starts from `seed` (the wallet-chain read model, so
 * start-up does not grow with the store) or, without one, from the first event; then
 * follows subscribeAll.
 */
export function startWalletChainIndex(store: EventStore, seed?: WalletChainSeed): WalletChainIndex {
  const wallets = new Map<string, WalletChainRow>()
  const addresses = new Map<string, string>()
  let sub: Subscription | undefined
  let closed = false

  const put = (row: WalletChainRow): void => {
    wallets.set(row.walletId, row)
    for (const a of row.addresses) addresses.set(a, row.walletId)
  }
  const apply = (e: RecordedEvent): void => {
    if (!isWalletChainEvent(e)) return
    put(evolveWalletChain(wallets.get(e.streamId.slice(WALLET_PREFIX.length)), e))
  }

  const ready = (async () => {
    const seeded = await seed?.()
    for (const row of seeded?.rows ?? []) put(row)
    const head = await store.headPosition()
    let from: Position = seeded?.position ?? 0n
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
    pending: () => [...wallets.values()].flatMap((w) => w.pending),
    walletsToSettle: () => [...wallets.values()].filter((w) => w.toSettle).map((w) => w.walletId),
    ready,
    async close() {
      closed = true
      await ready.catch(() => undefined)
      await sub?.close()
    },
  }
}
