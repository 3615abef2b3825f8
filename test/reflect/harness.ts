import { ReflectService } from '../../actors/reflect/service.js'
import { ActorHost } from '../../actors/runtime/host.js'
import { walletSessionLedger } from '../../actors/session/ledger-port.js'
import { walletDefinition } from '../../actors/wallet/definition.js'
import { availableBalance } from '../../actors/wallet/ledger.js'
import { createModelCaller, type CallModel } from '../../connectors/anthropic/call-model.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'

export interface ReflectHarness {
  store: SqliteEventStore
  wallets: ActorHost<typeof walletDefinition.machine, any, any>
  service: ReflectService
  close(): Promise<void>
}

/**
 * The reflect service as the gateway wires it (real SQLite store, real wallet actor as the
 * ledger, the real Anthropic SDK caller) on a given file, so tests can "restart" by opening
 * the same file again. `getProviderKey` stands in for the vault's lookup.
 */
export async function openReflect(p: {
  file: string
  now: () => Date
  anthropicUrl?: string
  getProviderKey?: (wallet: string) => Promise<string>
  wrapCallModel?: (real: CallModel) => CallModel
  maxSkillsPerRun?: number
}): Promise<ReflectHarness> {
  const store = await SqliteEventStore.open({ file: p.file })
  const wallets = new ActorHost({ definition: walletDefinition, store, snapshots: store.snapshots, now: p.now, maxRetries: 100 })
  const real = createModelCaller(p.anthropicUrl === undefined ? {} : { baseURL: p.anthropicUrl, maxAttempts: 1 })
  const service = new ReflectService({
    store,
    snapshots: store.snapshots,
    ledger: walletSessionLedger(wallets, availableBalance),
    callModel: p.wrapCallModel === undefined ? real : p.wrapCallModel(real),
    getProviderKey: async (wallet) => (p.getProviderKey === undefined ? 'sk-ant-test-key' : p.getProviderKey(wallet)),
    settings: async (wallet) => (await wallets.read(wallet.toLowerCase())).snapshot.context.settings,
    model: 'claude-haiku-4-5',
    maxSkillsPerRun: p.maxSkillsPerRun ?? 3,
    maxSessionsPerRun: 1000,
    now: p.now,
  })
  return { store, wallets, service, close: () => store.close() }
}

/** Registers and funds a wallet (an on-chain balance observation, as the chain watcher reports it). */
export async function fundWallet(h: ReflectHarness, address: string, balance: bigint): Promise<void> {
  await h.wallets.send(address.toLowerCase(), { type: 'RegisterWallet', address })
  await h.wallets.send(address.toLowerCase(), { type: 'ObserveOnChainBalance', balance, blockNumber: 1n })
}
