import type { EventStore } from '../../store/types.js'
import type { DepositWatcherCheckpoint, DepositWatcherStart } from './deposit-watcher.js'
import type { Hex } from './types.js'

export interface EventStoreCheckpointParameters {
  store: EventStore
  /** e.g. `chainwatch-<chainId>-<usdc address lowercase>` (one stream per watched token). */
  streamId: string
  /** Persist at most this often (default 60 s): a stale checkpoint only means a rescan, which the consumers absorb idempotently. */
  minIntervalMs?: number
  now?: () => number
}

/**
 * Keeps the deposit watcher's checkpoint as `ChainScanned` events in its own stream.
 * Not in the snapshot table: snapshots are a deletable cache, and losing the checkpoint
 * would make a fresh watcher start at the head and miss deposits. Writes are throttled so
 * the stream grows by at most one event per interval.
 */
export function eventStoreCheckpoint(p: EventStoreCheckpointParameters): {
  load(): Promise<DepositWatcherCheckpoint | DepositWatcherStart | undefined>
  save(cp: DepositWatcherCheckpoint): Promise<void>
  saveStart(start: DepositWatcherStart): Promise<void>
} {
  const minInterval = p.minIntervalMs ?? 60_000
  const now = p.now ?? Date.now
  let lastSaved = -Infinity
  return {
    async load() {
      const [last] = await p.store.readStream(p.streamId, { direction: 'backwards', maxCount: 1 })
      if (!last) return undefined
      if (last.type === 'ChainWatchStarted') return { startBlock: BigInt((last.data as { startBlock: bigint }).startBlock) }
      const d = last.data as { blockNumber: bigint; blockHash: Hex }
      return { blockNumber: BigInt(d.blockNumber), blockHash: d.blockHash }
    },
    async save(cp) {
      const t = now()
      if (t - lastSaved < minInterval) return
      await p.store.append(p.streamId, [{ type: 'ChainScanned', data: { blockNumber: cp.blockNumber, blockHash: cp.blockHash } }], {
        expectedRevision: 'any',
      })
      lastSaved = t
    },
    async saveStart(start) {
      // Never throttled: it is written once, before the first range is scanned.
      await p.store.append(p.streamId, [{ type: 'ChainWatchStarted', data: { startBlock: start.startBlock } }], { expectedRevision: 'any' })
    },
  }
}
