import { getAddress } from 'viem'
import type { Config } from '../../config.js'
import type { EffectHandler } from '../../actors/runtime/types.js'
import type { WalletCommand } from '../../actors/wallet/commands.js'
import type { EventStore } from '../../store/types.js'
import { eventStoreCheckpoint } from './checkpoint.js'
import { createChainPort, type ChainConnector } from './create-chain-port.js'
import { createDepositKeyring, resolveDepositMnemonic, type DepositKeyring } from './deposit-keys.js'
import { startDepositWatcher, type DepositWatcher } from './deposit-watcher.js'
import type { Address, ChainLogger, Hex } from './types.js'
import { startWalletChainIndex, type WalletChainIndex, type WalletChainSeed } from './wallet-chain-index.js'
import { createWalletChainEffects, depositWatcherSink, type WalletActors } from './wallet-effects.js'

export interface CreateChainParameters {
  config: Pick<
    Config,
    | 'NODE_ENV'
    | 'DEPOSIT_MNEMONIC'
    | 'CHAIN_RPC_URL'
    | 'CHAIN_ID'
    | 'USDC_ADDRESS'
    | 'TREASURY_ADDRESS'
    | 'RELAYER_PRIVATE_KEY'
    | 'CHAIN_CONFIRMATIONS'
    | 'CHAIN_POLL_MS'
  >
  /** Resolved DATA_DIR (a development mnemonic lives in `<dataDir>/deposit-mnemonic.txt`). */
  dataDir: string
  store: EventStore
  log: ChainLogger
  /** Run the deposit watcher, resume and settlement sweeps in this process (default true; one process suffices). */
  runWatcher?: boolean
  /** How often wallets with new settled spend are swept to the treasury (default 15 min; 0 = never). */
  settlementIntervalMs?: number
  /** Smallest sweep worth a relayer transaction (default 0.10 USDC). */
  settlementMinimum?: bigint
  /** The wallet-chain read model to start the chain index from (else it folds every stored event). */
  chainIndexSeed?: WalletChainSeed
  /** First block to scan when no checkpoint exists (default: the confirmed head at first start). */
  fromBlock?: bigint
  newId?: () => string
}

export interface Chain {
  keyring: DepositKeyring
  /** Checksummed deposit address of a BIP-44 index (for ensureDepositAddress). */
  depositAddress(index: number): Address
  /** Deposit addresses and unfinished transfers, live from the store. */
  index: WalletChainIndex
  /** True when `address` is some wallet's deposit address (withdrawal guardrail). */
  isDepositAddress(address: string): boolean
  /** CHAIN_RPC_URL set: deposits are watched. */
  watching: boolean
  /** CHAIN_RPC_URL and RELAYER_PRIVATE_KEY set: withdrawals can be broadcast (refuse them otherwise). */
  canWithdraw: boolean
  /** ... and TREASURY_ADDRESS set: settlement sweeps run. */
  canSettle: boolean
  connector: ChainConnector | undefined
  /** Pass as ActorHost `effects` of the wallet host. */
  effects: Partial<Record<'broadcastWithdrawal' | 'broadcastSettlement', EffectHandler<WalletCommand>>>
  /** After the wallet host exists: resume unfinished transfers, start the watcher and the sweeper. */
  start(wallets: WalletActors): Promise<void>
  stop(): Promise<void>
}

/**
 * Builds the chain side of the ledger from configuration. Throws a ConfigError in
 * production without DEPOSIT_MNEMONIC. Without CHAIN_RPC_URL only deposit addresses are
 * available (nothing is watched or sent); without RELAYER_PRIVATE_KEY nothing is sent.
 */
export function createChain(p: CreateChainParameters): Chain {
  const { config, log } = p
  const { mnemonic } = resolveDepositMnemonic({ mnemonic: config.DEPOSIT_MNEMONIC, dataDir: p.dataDir, nodeEnv: config.NODE_ENV, log })
  const keyring = createDepositKeyring(mnemonic)
  const index = startWalletChainIndex(p.store, p.chainIndexSeed)
  const rpcUrl = config.CHAIN_RPC_URL
  // Without a relayer key the port still reads (balances, logs); it is never asked to send.
  const connector =
    rpcUrl === undefined
      ? undefined
      : createChainPort({
          rpcUrl,
          chainId: config.CHAIN_ID,
          usdcAddress: getAddress(config.USDC_ADDRESS),
          relayerPrivateKey: config.RELAYER_PRIVATE_KEY as Hex | undefined,
          keyring,
          receiptConfirmations: Math.max(1, config.CHAIN_CONFIRMATIONS),
          pollingIntervalMs: config.CHAIN_POLL_MS,
          log,
        })
  const canWithdraw = connector !== undefined && config.RELAYER_PRIVATE_KEY !== undefined
  const canSettle = canWithdraw && config.TREASURY_ADDRESS !== undefined
  if (rpcUrl === undefined) log.warn({}, 'CHAIN_RPC_URL not set: deposits are not watched and withdrawals/settlements cannot be sent')
  else if (!canWithdraw) log.warn({}, 'RELAYER_PRIVATE_KEY not set: withdrawals and settlement sweeps cannot be sent')
  else if (!canSettle) log.warn({}, 'TREASURY_ADDRESS not set: settlement sweeps are disabled')

  const handlers =
    connector !== undefined && canWithdraw
      ? createWalletChainEffects({
          port: connector,
          // Without a treasury the settlement handler is not bound (below), so this is never used.
          treasuryAddress: getAddress(config.TREASURY_ADDRESS ?? '0x0000000000000000000000000000000000000000'),
          log,
        })
      : undefined
  const effects: Chain['effects'] = {}
  if (handlers) {
    effects.broadcastWithdrawal = handlers.broadcastWithdrawal
    if (canSettle) effects.broadcastSettlement = handlers.broadcastSettlement
  }

  let watcher: DepositWatcher | undefined
  let sweepTimer: NodeJS.Timeout | undefined
  let stopped = false

  return {
    keyring,
    depositAddress: (i) => keyring.address(i),
    index,
    isDepositAddress: (a) => index.addresses.has(a.toLowerCase()),
    watching: connector !== undefined,
    canWithdraw,
    canSettle,
    connector,
    effects,
    async start(wallets) {
      await index.ready
      if (!connector || p.runWatcher === false) return
      if (handlers) {
        const work = index.pending().filter((w) => w.kind === 'withdrawal' || canSettle)
        if (work.length > 0) log.info({ count: work.length }, 'chain: resuming unfinished transfers')
        void handlers.resume(wallets, work).catch((err: unknown) => log.error({ err: (err as Error).message }, 'chain: resuming transfers failed'))
      }
      const checkpoint = eventStoreCheckpoint({ store: p.store, streamId: `chainwatch-${config.CHAIN_ID}-${config.USDC_ADDRESS.toLowerCase()}` })
      watcher = startDepositWatcher({
        publicClient: connector.publicClient,
        usdcAddress: connector.usdcAddress,
        addresses: () => index.addresses,
        confirmations: config.CHAIN_CONFIRMATIONS,
        pollMs: config.CHAIN_POLL_MS,
        ...(p.fromBlock === undefined ? {} : { fromBlock: p.fromBlock }),
        loadCheckpoint: checkpoint.load,
        saveCheckpoint: checkpoint.save,
        saveStart: checkpoint.saveStart,
        ...depositWatcherSink(wallets),
        log,
      })
      const interval = p.settlementIntervalMs ?? 15 * 60_000
      if (canSettle && interval > 0) {
        const newId = p.newId ?? (() => crypto.randomUUID())
        const minimumAmount = p.settlementMinimum ?? 100_000n
        const sweep = async () => {
          for (const walletId of index.walletsToSettle()) {
            if (stopped) return
            // A no-op (no event) unless the wallet has unswept settled spend above the minimum.
            await wallets.send(walletId, { type: 'RequestSettlement', settlementId: newId(), minimumAmount }).catch((err: unknown) => {
              log.warn({ walletId, err: (err as Error).message }, 'chain: settlement request failed')
            })
          }
        }
        const loop = () => {
          sweepTimer = setTimeout(() => void sweep().finally(() => !stopped && loop()), interval)
          sweepTimer.unref()
        }
        loop()
      }
    },
    async stop() {
      stopped = true
      if (sweepTimer) clearTimeout(sweepTimer)
      await watcher?.stop()
      await index.close()
    },
  }
}
