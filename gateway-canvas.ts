import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import { createModelCaller, modelCallerOptions } from './connectors/anthropic/call-model.js'
import type { McpExecutor } from './connectors/mcp/executor.js'
import { formatUsd } from './transport/session-wire.js'
import { resolveModel } from './pricing/price-table.js'
import { canvasRunsProjection, canvasTeamContinueProjection, canvasWorkflowsProjection, openCanvasRunsProjection } from './projections/canvas.js'
import { ProjectionRunner } from './projections/runner.js'
import { GatewayError, ValidationError } from './shared/errors.js'
import type { EventStore, SnapshotStore } from './store/types.js'
import { billedModelCall } from './actors/billing/billed-model-call.js'
import { walletSessionLedger, type WalletHostLike } from './actors/session/ledger-port.js'
import { availableBalance } from './actors/wallet/ledger.js'
import type { CanvasModelCall, NodeDeps } from './actors/canvas/nodes.js'
import type { BrowserPort, GitHubPort } from './actors/canvas/ports.js'
import { CanvasService, type CanvasPlanningPool } from './actors/canvas/service.js'
import { createTeamRunner } from './actors/canvas/team.js'

export interface CreateCanvasParameters {
  config: Pick<Config, 'ANTHROPIC_BASE_URL' | 'ANTHROPIC_OPEN_TELEMETRY' | 'RESERVATION_TTL_MS' | 'CANVAS_MAX_PARALLEL' | 'CANVAS_NODE_TIMEOUT_MS' | 'CANVAS_TEAM_MODE'> & { GITHUB_TOKEN?: string | undefined }
  dataDir: string
  store: EventStore
  snapshots?: SnapshotStore
  snapshotEvery?: number
  cacheSize?: number
  logger: Logger
  wallets: WalletHostLike
  vault: { getProviderKey(address: string, provider: 'anthropic'): Promise<string>; getMcpSecrets(address: string, serverId: string): Promise<Record<string, string>> }
  pool?: CanvasPlanningPool
  /** Chat's MCP executor (delegated tokens, x402), when MCP_GATEWAY_URL is set. */
  mcp?: McpExecutor
  github?: GitHubPort
  browser?: BrowserPort
}

export interface Canvas {
  service: CanvasService
  projections: ProjectionRunner
  artifactsDir: string
  /** Waits for the read models, then resumes every run a previous process left unfinished. */
  recover(): Promise<number>
  close(): Promise<void>
}

/** Builds canvas runs (actor, node effects, read models) from config and the shared adapters. */
export function createCanvas(p: CreateCanvasParameters): Canvas {
  const ledger = walletSessionLedger(p.wallets, availableBalance, p.config.RESERVATION_TTL_MS)
  const callModel = createModelCaller(modelCallerOptions(p.config))
  const artifactsDir = join(p.dataDir, 'canvas-artifacts')

  const modelCall: CanvasModelCall = async (c) => {
    const model = resolveModel(c.model ?? 'haiku')
    if (model === undefined) throw new ValidationError(`Model "${(c.model ?? '').slice(0, 80)}" is not supported here`, {}, 'model_not_supported')
    const apiKey = await p.vault.getProviderKey(c.wallet, 'anthropic')
    const r = await billedModelCall({
      ledger,
      callModel,
      apiKey,
      wallet: c.wallet,
      // Canvas spends count against the `canvas` agent's budgets.
      agentId: 'canvas',
      reservationId: c.reservationId,
      purpose: `canvas ${c.ref.sessionId} node ${c.ref.turnId}`,
      ref: c.ref,
      model,
      system: c.system,
      messages: c.messages ?? [{ role: 'user', content: c.prompt }],
      ...(c.tools === undefined || c.tools.length === 0 ? {} : { tools: c.tools }),
      maxTokens: c.maxTokens,
      ...(c.onText === undefined ? {} : { onText: c.onText }),
      ...(c.signal === undefined ? {} : { signal: c.signal }),
    })
    const text = r.result.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('')
    return { text, content: r.result.content, model: r.result.model, usage: r.result.usage, costRaw: r.cost.platformCost, cost: formatUsd(r.cost.platformCost), balanceRemaining: r.balanceRemaining }
  }

  const projections = new ProjectionRunner({
    store: p.store,
    file: join(p.dataDir, 'canvas-projections.sqlite'),
    name: 'canvas',
    projections: [canvasRunsProjection, openCanvasRunsProjection, canvasWorkflowsProjection, canvasTeamContinueProjection],
    streamPrefixes: ['canvas-', 'canvasworkflow-'],
    onError: (err, e) => p.logger.error({ err, position: e?.position?.toString() }, 'canvas projection stopped'),
  })

  const deps: NodeDeps = {
    modelCall,
    ...(p.mcp === undefined ? {} : { callTool: (c) => p.mcp!.callTool(c) }),
    ...(p.github === undefined ? {} : { github: p.github }),
    ...(p.browser === undefined ? {} : { browser: p.browser }),
    githubToken: async (wallet, secretName) => {
      // A named secret in the wallet's vault (PUT /wallet/mcp-secrets/github), else the operator's GITHUB_TOKEN.
      const name = secretName ?? 'GITHUB_TOKEN'
      try {
        const secrets = await p.vault.getMcpSecrets(wallet, 'github')
        const token = secrets[name]
        if (token !== undefined && token.length > 0) return token
      } catch (error) {
        if (!(error instanceof GatewayError) || error.code !== 'missing_secrets') throw error
      }
      if (p.config.GITHUB_TOKEN !== undefined && p.config.GITHUB_TOKEN.length > 0) return p.config.GITHUB_TOKEN
      throw new GatewayError('github_token_missing', `No GitHub token: store one as secret ${name} of server "github" in your vault, or set GITHUB_TOKEN`)
    },
    saveArtifact: async (runId, name, bytes) => {
      const dir = join(artifactsDir, runId)
      await mkdir(dir, { recursive: true, mode: 0o700 })
      const tmp = join(dir, `.${name}.${process.pid}.tmp`)
      await writeFile(tmp, bytes, { mode: 0o600 })
      await rename(tmp, join(dir, name))
      return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength }
    },
  }
  const service = new CanvasService({
    store: p.store,
    ...(p.snapshots === undefined ? {} : { snapshots: p.snapshots }),
    ...(p.snapshotEvery === undefined ? {} : { snapshotEvery: p.snapshotEvery }),
    ...(p.cacheSize === undefined ? {} : { cacheSize: p.cacheSize }),
    deps,
    ...(p.pool === undefined ? {} : { pool: p.pool }),
    maxParallel: p.config.CANVAS_MAX_PARALLEL,
    nodeTimeoutMs: p.config.CANVAS_NODE_TIMEOUT_MS,
    teamMode: p.config.CANVAS_TEAM_MODE,
    onError: (err, where) => p.logger.error({ err, where }, 'canvas effect failed'),
  })
  if (p.config.CANVAS_TEAM_MODE) {
    deps.team = createTeamRunner({
      modelCall,
      ...(p.mcp === undefined ? {} : { mcp: p.mcp }),
      previousRun: async (wallet, continueKey, selfRunId) => {
        const row = projections.get<{ runId: string; previousRunId?: string }>('canvas-team-continue', `${wallet.toLowerCase()}:${continueKey}`)
        const id = row === undefined ? undefined : row.runId === selfRunId ? row.previousRunId : row.runId
        return id === undefined ? undefined : service.get(id)
      },
    })
  }
  projections.start()

  return {
    service,
    projections,
    artifactsDir,
    async recover() {
      await projections.waitFor(await p.store.headPosition(), 30_000)
      return service.resume(projections.all<{ runId: string }>('canvas-open-runs').map((r) => r.runId))
    },
    async close() {
      service.close()
      await projections.close()
    },
  }
}

/** Reads a run artifact (the route checks the owner first). */
export async function readArtifact(artifactsDir: string, runId: string, name: string): Promise<Buffer | undefined> {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(runId) || !/^[A-Za-z0-9_.-]{1,200}$/.test(name) || name.startsWith('.')) return undefined
  return readFile(join(artifactsDir, runId, name)).catch(() => undefined)
}
