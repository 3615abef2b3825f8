import { getAddress, type Chain, type PublicClient, type Transport } from 'viem'
import { transferEvent, usdcAbi } from './abi.js'
import type { Address, ChainLogger, DepositObservation, Hex } from './types.js'

/** The last block the watcher has fully scanned and reported, with its hash (to notice deep reorgs). */
export interface DepositWatcherCheckpoint {
  blockNumber: bigint
  blockHash: Hex
}

/** Where a fresh watcher (no checkpoint yet) starts scanning: recorded before its first scan. */
export interface DepositWatcherStart {
  startBlock: bigint
}

export interface StartDepositWatcherParameters {
  publicClient: PublicClient<Transport, Chain>
  usdcAddress: Address
  /** Current deposit addresses: lowercase address → wallet id. Read afresh on every scan. */
  addresses: () => ReadonlyMap<string, string>
  /** CHAIN_CONFIRMATIONS: only blocks at or below head − confirmations are scanned. */
  confirmations: number
  /** CHAIN_POLL_MS */
  pollMs: number
  /** First block to scan when there is no checkpoint (default: the current confirmed head + 1, or 0 on a chain younger than `confirmations`). */
  fromBlock?: bigint
  /** The newest checkpoint, or the pinned start of a watcher that has not completed a range yet. */
  loadCheckpoint: () => Promise<DepositWatcherCheckpoint | DepositWatcherStart | undefined>
  /** Records the start block durably, once, at the first head read (so a restart can never skip ahead of it). */
  saveStart?: (start: DepositWatcherStart) => Promise<void>
  /** Called after every range whose deposits and balances were all delivered. */
  saveCheckpoint: (cp: DepositWatcherCheckpoint) => Promise<void>
  /** A confirmed incoming USDC transfer. May be called again for the same (txHash, logIndex) after a crash: be idempotent. */
  onDeposit: (obs: DepositObservation, walletId: string) => Promise<void>
  /** balanceOf(address) at the confirmed `blockNumber`, for every address with activity in the range (and newly added ones). */
  onBalance: (address: Address, balance: bigint, blockNumber: bigint, walletId: string) => Promise<void>
  /** A block the watcher already reported changed hash: a reorg deeper than `confirmations`. */
  onDeepReorg?: (info: { blockNumber: bigint; expectedHash: Hex; actualHash: Hex | undefined }) => void
  /** Largest block range per eth_getLogs (default 2,000). */
  maxBlockRange?: bigint
  /** Deposit addresses per `to`/`from` topic filter (default 100). */
  addressBatchSize?: number
  /** Also report balances of every address present at start (default false). */
  refreshBalancesOnStart?: boolean
  /** Start the polling loop (default true); false lets tests drive `syncOnce()`. */
  autoStart?: boolean
  log?: ChainLogger
}

export interface DepositWatcher {
  /** Scans every confirmed block not yet scanned, delivering deposits, balances and checkpoints. */
  syncOnce(): Promise<{ scannedTo: bigint | undefined; deposits: number }>
  /** Stops polling and waits for an in-flight scan. */
  stop(): Promise<void>
}

/**
 * Watches USDC Transfer logs into (and out of) deposit addresses.
 *
 * Reorg safety: only blocks at or below head − confirmations are ever scanned, so nothing
 * reported can be undone by a reorg within that depth (anvil's evm_revert in the tests
 * plays one). A deeper reorg is noticed when the checkpoint block's hash changes: it is
 * logged and `onDeepReorg` is called, and every address's balance is re-read at the new
 * confirmed head so the ledger's on-chain balance (which always comes from balanceOf, never
 * from summing deposits) returns to the truth; an already reported deposit is not retracted.
 *
 * Log query: `eth_getLogs` with the Transfer topic and the deposit addresses as an OR-list
 * on the indexed `to` (and `from`, to notice withdrawals and sweeps) in batches, rather
 * than every USDC Transfer in the range filtered locally: Base USDC carries hundreds of
 * transfers per block, so filtering at the node costs far less bandwidth while deposit
 * addresses number in the thousands at most (one call per 100 addresses per range).
 */
export function startDepositWatcher(p: StartDepositWatcherParameters): DepositWatcher {
  const maxRange = p.maxBlockRange ?? 2_000n
  const batchSize = p.addressBatchSize ?? 100
  const confirmations = BigInt(p.confirmations)
  // (txHash:logIndex) already delivered in this process: a range retried after a failed
  // checkpoint save does not deliver twice. Bounded; the consumer is idempotent anyway.
  const delivered = new Set<string>()
  let known: Set<string> | undefined
  let checkpoint: DepositWatcherCheckpoint | undefined
  let loaded = false
  let nextBlock: bigint | undefined
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let running: Promise<{ scannedTo: bigint | undefined; deposits: number }> | undefined

  const remember = (key: string) => {
    delivered.add(key)
    if (delivered.size > 10_000) {
      const oldest = delivered.values().next().value
      if (oldest !== undefined) delivered.delete(oldest)
    }
  }

  async function reportBalances(addrs: Iterable<string>, blockNumber: bigint, map: ReadonlyMap<string, string>) {
    for (const lower of addrs) {
      const walletId = map.get(lower)
      if (walletId === undefined) continue
      const address = getAddress(lower)
      const balance = await p.publicClient.readContract({
        address: p.usdcAddress,
        abi: usdcAbi,
        functionName: 'balanceOf',
        args: [address],
        blockNumber,
      })
      await p.onBalance(address, balance, blockNumber, walletId)
    }
  }

  async function scan(): Promise<{ scannedTo: bigint | undefined; deposits: number }> {
    if (!loaded) {
      const resume = await p.loadCheckpoint()
      if (resume !== undefined && 'startBlock' in resume) nextBlock = resume.startBlock
      else if (resume !== undefined) (checkpoint = resume, (nextBlock = resume.blockNumber + 1n))
      loaded = true
    }
    const head = await p.publicClient.getBlockNumber({ cacheTime: 0 })
    // Negative on a chain younger than the confirmation depth: nothing is confirmed yet.
    const safe = head - confirmations
    const map = p.addresses()

    if (nextBlock === undefined) {
      // First head read ever. Addresses may already have been handed out (the RPC was down at
      // first start, or the chain was configured later) and hold deposits from before the
      // start block: their balance is read at the confirmed head before the start is pinned.
      // Everything after the start is scanned, so no deposit is ever missed. (A caller that
      // names `fromBlock` vouches that nothing before it matters.)
      const start = p.fromBlock ?? (safe >= 0n ? safe + 1n : 0n)
      if (p.fromBlock === undefined && safe >= 0n) await reportBalances(map.keys(), safe, map)
      await p.saveStart?.({ startBlock: start })
      nextBlock = start
      known = new Set(map.keys())
    }
    let cursor: bigint = nextBlock

    let deepReorg = false
    if (checkpoint) {
      const block = await p.publicClient.getBlock({ blockNumber: checkpoint.blockNumber }).catch(() => undefined)
      if (block?.hash !== checkpoint.blockHash) {
        deepReorg = true
        p.log?.error(
          { blockNumber: checkpoint.blockNumber.toString(), expected: checkpoint.blockHash, actual: block?.hash },
          'chain: a reported block was reorganised (deeper than CHAIN_CONFIRMATIONS); re-reading all deposit balances',
        )
        p.onDeepReorg?.({ blockNumber: checkpoint.blockNumber, expectedHash: checkpoint.blockHash, actualHash: block?.hash ?? undefined })
      }
    }

    // Addresses that appeared since the last scan (or all, on a deep reorg / first start if asked).
    const fresh: string[] = []
    if (known === undefined) {
      known = new Set(map.keys())
      if (p.refreshBalancesOnStart) fresh.push(...known)
    } else {
      for (const a of map.keys()) if (!known.has(a)) (known.add(a), fresh.push(a))
    }
    if (deepReorg) fresh.splice(0, fresh.length, ...map.keys())
    if (fresh.length > 0 && safe >= 0n) {
      await reportBalances(fresh, safe, map)
      if (deepReorg) {
        const block = await p.publicClient.getBlock({ blockNumber: checkpoint!.blockNumber }).catch(() => undefined)
        if (block?.hash) checkpoint = { blockNumber: checkpoint!.blockNumber, blockHash: block.hash }
      }
    }

    let deposits = 0
    while (cursor <= safe && !stopped) {
      const from: bigint = cursor
      const to: bigint = from + maxRange - 1n < safe ? from + maxRange - 1n : safe
      const addrs = [...map.keys()].map((a) => getAddress(a))
      const logs: Awaited<ReturnType<typeof getTransfers>> = []
      for (let i = 0; i < addrs.length; i += batchSize) {
        const batch = addrs.slice(i, i + batchSize)
        logs.push(...(await getTransfers({ to: batch }, from, to)), ...(await getTransfers({ from: batch }, from, to)))
      }
      logs.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1))

      const active = new Set<string>()
      for (const log of logs) {
        const toLower = log.to.toLowerCase()
        const fromLower = log.from.toLowerCase()
        if (map.has(fromLower)) active.add(fromLower)
        const walletId = map.get(toLower)
        if (walletId === undefined) continue
        active.add(toLower)
        const key = `${log.txHash}:${log.logIndex}`
        if (delivered.has(key)) continue
        await p.onDeposit(
          { address: log.to, txHash: log.txHash, logIndex: log.logIndex, amount: log.value, blockNumber: log.blockNumber, from: log.from },
          walletId,
        )
        remember(key)
        deposits++
      }
      if (active.size > 0) await reportBalances(active, to, map)

      const block = await p.publicClient.getBlock({ blockNumber: to })
      if (!block.hash) throw new Error(`block ${to} has no hash`)
      checkpoint = { blockNumber: to, blockHash: block.hash }
      await p.saveCheckpoint(checkpoint)
      cursor = to + 1n
      nextBlock = cursor
    }
    return { scannedTo: checkpoint?.blockNumber, deposits }
  }

  async function getTransfers(args: { to: Address[] } | { from: Address[] }, fromBlock: bigint, toBlock: bigint) {
    const logs = await p.publicClient.getLogs({ address: p.usdcAddress, event: transferEvent, args, fromBlock, toBlock })
    const out: { txHash: Hex; logIndex: number; blockNumber: bigint; from: Address; to: Address; value: bigint }[] = []
    for (const l of logs) {
      // Pending logs have no position; removed logs belong to an abandoned fork. Neither happens
      // below the confirmation depth, but never report one.
      if (l.removed || l.transactionHash === null || l.logIndex === null || l.blockNumber === null) continue
      const { from, to, value } = l.args
      if (from === undefined || to === undefined || value === undefined) continue
      out.push({ txHash: l.transactionHash, logIndex: l.logIndex, blockNumber: l.blockNumber, from: getAddress(from), to: getAddress(to), value })
    }
    return out
  }

  function syncOnce() {
    // One scan at a time: the timer and a test's explicit call never interleave.
    running ??= scan().finally(() => {
      running = undefined
    })
    return running
  }

  let failures = 0
  const loop = async () => {
    if (stopped) return
    try {
      await syncOnce()
      failures = 0
    } catch (err) {
      failures++
      p.log?.warn({ err: (err as Error).message, failures }, 'chain: deposit scan failed; retrying')
    }
    if (stopped) return
    // Back off on repeated RPC failures, up to a minute.
    const delay = Math.min(p.pollMs * 2 ** Math.min(failures, 6), Math.max(p.pollMs, 60_000))
    timer = setTimeout(() => void loop(), delay)
  }
  if (p.autoStart ?? true) timer = setTimeout(() => void loop(), 0)

  return {
    syncOnce,
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await running?.catch(() => undefined)
    },
  }
}
