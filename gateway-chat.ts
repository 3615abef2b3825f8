import type { Logger } from 'pino'
import type { Config } from './config.js'
import { createPublicClient, http, type LocalAccount } from 'viem'
import { DEFAULT_AGENTS_DIR, loadAgents, type AgentRegistry } from './agents/load-agents.js'
import { createModelCaller, modelCallerOptions } from './connectors/anthropic/call-model.js'
import type { DelegationKey } from './connectors/mcp/delegated-token.js'
import { createMcpExecutor, type McpExecutor } from './connectors/mcp/executor.js'
import { createX402Payer } from './connectors/mcp/x402.js'
import { operatorSigner } from './connectors/mcp/operator-fetch.js'
import type { EventStore, RecordedEvent, SnapshotStore } from './store/types.js'
import type { Route } from './transport/route.js'
import { agentRoutes } from './transport/routes/agents.js'
import { beginChat, sessionRoutes, sessionTopic, type BeginChatParameters } from './transport/routes/sessions.js'
import type { TopicSpec } from './transport/topics.js'
import { availableBalance } from './actors/wallet/ledger.js'
import { walletSessionLedger, type WalletHostLike } from './actors/session/ledger-port.js'
import { SessionService, type SessionServiceParameters } from './actors/session/service.js'

export interface CreateChatParameters {
  config: Pick<
    Config,
    'ANTHROPIC_BASE_URL' | 'ANTHROPIC_OPEN_TELEMETRY' | 'MCP_GATEWAY_URL' | 'MCP_AUDIENCE' | 'OPERATOR_PRIVATE_KEY' | 'CHAIN_ID' | 'CHAIN_RPC_URL' | 'USDC_ADDRESS' | 'X402_MAX_PER_CALL' | 'CHAT_DEDUPE_WINDOW_MS' | 'AGENTS_DIRS' | 'RESERVATION_TTL_MS'
  >
  store: EventStore
  snapshots?: SnapshotStore
  live: { onStream(streamId: string, listener: (e: RecordedEvent) => void): () => void }
  logger: Logger
  /** The wallet ActorHost (ReserveSpend / SettleSpend / ReleaseSpend). */
  wallets: WalletHostLike
  /** The key vault (vault.getProviderKey). */
  vault: { getProviderKey(address: string, provider: 'anthropic'): Promise<string> }
  /** auth/signing-key.ts SigningKey (privateKey + kid) for delegated MCP tokens. */
  signingKey: DelegationKey
  /** The gateway's public URL (JWT issuer), read at call time. */
  publicUrl: () => string
  /**
   * The wallet's deposit account (DEPOSIT_MNEMONIC keyring at the wallet's deposit index),
   * used to pay x402 tools; absent (or X402_MAX_PER_CALL=0) refuses paid tools.
   */
  depositAccount?: (wallet: string) => Promise<LocalAccount | undefined>
  /** HOOK (self-improvement, issue 12): passed to SessionService (skills in an opted-in agent's system prompt). */
  systemPromptExtra?: SessionServiceParameters['systemPromptExtra']
}

export interface Chat {
  agents: AgentRegistry
  sessions: SessionService
  mcp: McpExecutor | undefined
  /** agentRoutes + sessionRoutes. */
  routes: Route[]
  /** WebSocket topic `session:<id>`. */
  topic: TopicSpec
  /** The WebSocket `chat` frame: starts (or attaches to) a turn; then subscribe `session:<id>`. Errors as for POST …/chat. */
  beginChat(p: BeginChatParameters): Promise<{ sessionId: string; turnId: string }>
  /** Marks turns a previous process left running as interrupted (call once at start-up); `open` from the open-turns projection. */
  recover(open?: Iterable<{ sessionId: string; turnId: string }>): Promise<number>
  close(): void
}

/** Part of the composition root (gateway.ts): builds the chat feature (agents, sessions, model loop, MCP) from config and the shared adapters. */
export async function createChat(p: CreateChatParameters): Promise<Chat> {
  const agents = await loadAgents([DEFAULT_AGENTS_DIR, ...p.config.AGENTS_DIRS])
  const ledger = walletSessionLedger(p.wallets, availableBalance, p.config.RESERVATION_TTL_MS)
  const rpc = p.config.CHAIN_RPC_URL === undefined ? undefined : createPublicClient({ transport: http(p.config.CHAIN_RPC_URL) })
  const x402 =
    p.depositAccount === undefined || p.config.X402_MAX_PER_CALL === 0n
      ? undefined
      : createX402Payer({
          chainId: p.config.CHAIN_ID,
          asset: p.config.USDC_ADDRESS,
          maxPerCall: p.config.X402_MAX_PER_CALL,
          ledger,
          depositAccount: p.depositAccount,
          ...(rpc === undefined ? {} : { receiptBlock: async (hash: `0x${string}`) => (await rpc.waitForTransactionReceipt({ hash, timeout: 60_000 })).blockNumber }),
        })
  const mcp =
    p.config.MCP_GATEWAY_URL === undefined
      ? undefined
      : createMcpExecutor({
          url: p.config.MCP_GATEWAY_URL,
          ...(p.config.MCP_AUDIENCE === undefined ? {} : { audience: p.config.MCP_AUDIENCE }),
          issuer: p.publicUrl,
          key: p.signingKey,
          ...(p.config.OPERATOR_PRIVATE_KEY === undefined ? {} : { operator: operatorSigner(p.config.OPERATOR_PRIVATE_KEY as `0x${string}`, p.config.CHAIN_ID) }),
          ...(x402 === undefined ? {} : { x402 }),
        })
  const getProviderKey = (address: string, provider: 'anthropic') => p.vault.getProviderKey(address, provider)
  const sessions = new SessionService({
    store: p.store,
    ...(p.snapshots === undefined ? {} : { snapshots: p.snapshots }),
    agents,
    callModel: createModelCaller(modelCallerOptions(p.config)),
    ...(mcp === undefined ? {} : { mcp }),
    ledger,
    getProviderKey,
    dedupeWindowMs: p.config.CHAT_DEDUPE_WINDOW_MS,
    onError: (err, where) => p.logger.error({ err, where }, 'chat session effect failed'),
    ...(p.systemPromptExtra === undefined ? {} : { systemPromptExtra: p.systemPromptExtra }),
  })
  const routes = [...agentRoutes({ agents }), ...sessionRoutes({ sessions, agents, store: p.store, live: p.live, getProviderKey })]
  return {
    agents,
    sessions,
    mcp,
    routes,
    topic: sessionTopic(sessions),
    beginChat: (b) => beginChat({ sessions }, b),
    recover: (open) => sessions.recoverInterrupted(open),
    close: () => sessions.close(),
  }
}
