import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import type { ModelMessage } from './connectors/anthropic/call-model.js'
import { createModelCaller, modelCallerOptions } from './connectors/anthropic/call-model.js'
import { ProjectionRunner } from './projections/runner.js'
import { runningReflectProjection, selfImprovementSettingsProjection, type ImprovementSettingsRow, type RunningReflectRow } from './projections/self-improvement-settings.js'
import type { EventStore, RecordedEvent, SnapshotStore } from './store/types.js'
import { walletSessionLedger, type WalletHostLike } from './actors/session/ledger-port.js'
import { availableBalance } from './actors/wallet/ledger.js'
import { ReflectScheduler } from './actors/reflect/scheduler.js'
import { ReflectService } from './actors/reflect/service.js'

export interface CreateReflectParameters {
  config: Pick<Config, 'ANTHROPIC_BASE_URL' | 'ANTHROPIC_OPEN_TELEMETRY' | 'RESERVATION_TTL_MS' | 'REFLECT_MODEL' | 'REFLECT_MAX_SKILLS_PER_RUN' | 'REFLECT_MAX_SESSIONS_PER_RUN' | 'REFLECT_IDLE_MS' | 'REFLECT_TICK_MS'>
  store: EventStore
  snapshots?: SnapshotStore
  dataDir: string
  logger: Logger
  /** The wallet ActorHost: settings, and ReserveSpend/SettleSpend/ReleaseSpend for the run's model calls. */
  wallets: WalletHostLike & { peek(actorId: string): Promise<{ snapshot: { context: { settings: Record<string, unknown> } } }> }
  vault: { getProviderKey(address: string, provider: 'anthropic'): Promise<string> }
  live: { onAny(listener: (e: RecordedEvent) => void): () => void }
  /** Tests pass a controllable clock. */
  now?: () => Date
}

export interface Reflect {
  service: ReflectService
  scheduler: ReflectScheduler
  /** For SessionService.systemPromptExtra. */
  systemPromptExtra(p: { wallet: string; agentId: string; conversation: readonly ModelMessage[] }): Promise<string | undefined>
  /** After the store is open: catch the read models up, resume interrupted runs, start ticking. */
  start(): Promise<void>
  close(): Promise<void>
}

/** Builds self-improvement (reflect actors, read models, scheduler) from config and the shared adapters; gateway.ts adds its routes. */
export function createReflect(p: CreateReflectParameters): Reflect {
  const now = p.now ?? (() => new Date())
  // Read on every model call (is this agent opted in?): this process's fold, not a store read each time.
  const settings = async (wallet: string) => (await p.wallets.peek(wallet.toLowerCase())).snapshot.context.settings
  const service = new ReflectService({
    store: p.store,
    ...(p.snapshots === undefined ? {} : { snapshots: p.snapshots }),
    ledger: walletSessionLedger(p.wallets, availableBalance, p.config.RESERVATION_TTL_MS),
    callModel: createModelCaller(modelCallerOptions(p.config)),
    getProviderKey: (a, provider) => p.vault.getProviderKey(a, provider),
    settings,
    model: p.config.REFLECT_MODEL,
    maxSkillsPerRun: p.config.REFLECT_MAX_SKILLS_PER_RUN,
    maxSessionsPerRun: p.config.REFLECT_MAX_SESSIONS_PER_RUN,
    now,
    onError: (err, where) => p.logger.warn({ err, where }, 'self-improvement'),
  })
  const projections = new ProjectionRunner({
    store: p.store,
    file: join(p.dataDir, 'reflect-projections.sqlite'),
    name: 'reflect',
    projections: [selfImprovementSettingsProjection, runningReflectProjection],
    streamPrefixes: ['wallet-', 'reflect-'],
    onError: (err) => p.logger.error({ err }, 'self-improvement projection stopped'),
  })
  const scheduler = new ReflectScheduler({
    startScheduled: (wallet, slot) => service.startScheduled(wallet, slot),
    candidates: () => projections.all<ImprovementSettingsRow>(selfImprovementSettingsProjection.name),
    sessionWallet: async (sessionId) => {
      const [first] = await p.store.readStream(`session-${sessionId}`, { maxCount: 1 })
      return first?.type === 'SessionCreated' ? (first.data as { wallet: string }).wallet.toLowerCase() : undefined
    },
    now,
    idleMs: p.config.REFLECT_IDLE_MS,
    onError: (err, where) => p.logger.warn({ err, where }, 'self-improvement scheduler'),
  })
  let unsubscribe: (() => void) | undefined
  return {
    service,
    scheduler,
    systemPromptExtra: ({ wallet, agentId, conversation }) => service.systemPromptExtra(wallet, agentId, lastUserText(conversation)),
    async start() {
      projections.start()
      await projections.waitFor(await p.store.headPosition(), 30_000)
      await service.resume(projections.all<RunningReflectRow>(runningReflectProjection.name).map((r) => r.wallet))
      unsubscribe = p.live.onAny((e) => scheduler.observe(e))
      scheduler.start(p.config.REFLECT_TICK_MS)
    },
    async close() {
      scheduler.stop()
      unsubscribe?.()
      await projections.close()
    },
  }
}

/** The text of the conversation's latest user message (tool results are not what the user asked). */
function lastUserText(conversation: readonly ModelMessage[]): string {
  for (let i = conversation.length - 1; i >= 0; i--) {
    const m = conversation[i]!
    if (m.role !== 'user') continue
    if (typeof m.content === 'string') return m.content
    const text = m.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('\n')
    if (text.length > 0) return text
  }
  return ''
}
