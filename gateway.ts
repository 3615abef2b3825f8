import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import { ActorHost } from './actors/runtime/host.js'
import { walletDefinition } from './actors/wallet/definition.js'
import { startLedgerTimers } from './projections/ledger-timers.js'
import { createChain, depositInstructions } from './connectors/chain/index.js'
import { depositAddressesProjection } from './projections/deposit-addresses.js'
import { openReservationsProjection } from './projections/open-reservations.js'
import { openTurnsProjection, type OpenTurnRow } from './projections/open-turns.js'
import { walletChainProjection, type WalletChainRow } from './projections/wallet-chain.js'
import { ProjectionRunner } from './projections/runner.js'
import { walletBalancesProjection } from './projections/wallet-balances.js'
import { walletTransactionsProjection } from './projections/wallet-transactions.js'
import { walletLedgerRoutes } from './transport/routes/wallet-ledger.js'
import { auditLogRoutes } from './transport/routes/audit-log.js'
import { LedgerLog } from './ledger-log/ledger-log.js'
import { verifierKey } from './ledger-log/checkpoint.js'
import { tpmOptionsFromConfig } from './keys/tpm.js'
import { createAttestation } from './attest/wiring.js'
import { loadOrCreateSecretSealed, randomSecret } from './keys/key-source.js'
import { loadSigningKey } from './keys/signing-key.js'
import { challengeKey, SignedChallenges } from './auth/signed-challenges.js'
import { REVOCATION_STREAM, RevocationList } from './auth/revocations.js'
import { SessionTokens } from './auth/session-tokens.js'
import { SignIn } from './auth/sign-in.js'
import type { Config } from './config.js'
import { ConfigError } from './shared/errors.js'
import { instrumentStore } from './store/instrumented.js'
import { KurrentDbEventStore } from './store/kurrentdb/kurrentdb-event-store.js'
import { SqliteEventStore } from './store/sqlite/sqlite-event-store.js'
import type { EventStore, SnapshotStore } from './store/types.js'
import { LiveFeed } from './transport/live.js'
import { createLogger } from './transport/logger.js'
import { createMetrics } from './transport/metrics.js'
import type { AuthContext } from './auth/auth-context.js'
import type { Route } from './transport/route.js'
import { attestationRoutes } from './transport/routes/attestation.js'
import { authRoutes } from './transport/routes/auth.js'
import { settingsRoutes } from './transport/routes/settings.js'
import { systemRoutes } from './transport/routes/system.js'
import { walletTopic } from './transport/routes/wallet-topic.js'
import { buildOpenApi } from './transport/openapi.js'
import { json } from './transport/route.js'
import { createHttpServer } from './transport/server.js'
import { TokenBuckets } from './transport/rate-limit.js'
import { WebSocketHub } from './transport/ws.js'
import { createVault } from './vault/wiring.js'
import { vaultRoutes } from './transport/routes/vault.js'
import { createWorkerPool } from './workers/pool.js'
import { createChat } from './gateway-chat.js'
import { chatFrameHandlers } from './transport/routes/chat-frames.js'
import { createReflect, type Reflect } from './gateway-reflect.js'
import { selfImprovementRoutes } from './transport/routes/self-improvement.js'
import { skillsRoutes } from './transport/routes/skills.js'
import { createCanvas, readArtifact } from './gateway-canvas.js'
import { createGitHubAdapter } from './connectors/github/github-adapter.js'
import { createBrowserVerifier } from './connectors/browser/browser-verifier.js'
import { canvasAwareApprove, canvasRoutes, canvasTopic } from './transport/routes/canvas.js'

export interface Gateway {
  port: number
  url: string
  logger: Logger
  store: EventStore
  /** The routes served and the token check in front of them (benchmarks replay them on node:http). */
  routes: readonly Route[]
  /** Self-improvement (tests drive its scheduler with their clock). */
  reflect: Reflect
  authenticate(token: string): Promise<AuthContext>
  /** Graceful stop: stop accepting, finish in-flight requests, flush and close the store. */
  close(): Promise<void>
}

export interface StartGatewayOptions {
  logger?: Logger
  /** The clock of the self-improvement scheduler (tests control it). */
  now?: () => Date
}

/** How long start-up waits for the read models before reading the store itself. */
const READ_MODEL_START_WAIT_MS = 2_000

const VERSION = (JSON.parse(readFileSync(new URL(import.meta.url.endsWith('.ts') ? './package.json' : '../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** The composition root: builds every adapter from config, wires them, and starts serving. */
export async function startGateway(config: Config, options: StartGatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config.LOG_LEVEL)
  const dataDir = resolve(config.DATA_DIR)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  // mkdir's mode applies only when it creates the folder: an existing one is tightened too.
  chmodSync(dataDir, 0o700)
  const metrics = createMetrics()

  const { store: rawStore, snapshots } = openStore(config, dataDir)
  const store = instrumentStore(rawStore, (s) => metrics.storeAppendDuration.observe(s))
  const pool = createWorkerPool(config.WORKER_THREADS === undefined ? {} : { threads: config.WORKER_THREADS })

  // Keys: from the environment, a 0600 file under DATA_DIR, or generated (sealed to the TPM when TPM_TCTI is set).
  const tpm = tpmOptionsFromConfig(config)
  const jwtSecret = await loadOrCreateSecretSealed({
    envValue: config.JWT_SECRET,
    file: join(dataDir, 'keys', 'jwt-secret'),
    generate: () => randomSecret(32),
    tpm,
  })
  const signingKey = await loadSigningKey({ envValue: config.MCP_SIGNING_KEY, dataDir, tpm })
  const revocations = new RevocationList(store)
  await revocations.load()
  const live = new LiveFeed(store, logger)
  await live.start()
  live.onStream(REVOCATION_STREAM, (e) => revocations.apply(e))

  // PORT=0 picks a free port: until listen() tells which, the configured one stands in.
  let publicUrl = config.PUBLIC_URL ?? `http://${config.HOST}:${config.PORT}`
  const tokens = new SessionTokens({
    secret: jwtSecret.value,
    // Fixed default: every process behind one PUBLIC_URL must accept each other's tokens.
    issuer: config.JWT_ISSUER ?? 'agent-gateway',
    audience: config.JWT_AUDIENCE,
    ttlS: config.JWT_TTL_S,
    isRevoked: (jti) => revocations.has(jti),
  })
  // Read models for GET routes (never for decisions): rows and checkpoint in one SQLite transaction.
  const projections = new ProjectionRunner({
    store,
    file: join(dataDir, 'projections.sqlite'),
    projections: [walletBalancesProjection, walletTransactionsProjection, depositAddressesProjection, openReservationsProjection, openTurnsProjection, walletChainProjection],
    streamPrefixes: ['wallet-', 'session-'],
    onError: (err, e) => logger.error({ err, position: e?.position?.toString() }, 'projection stopped'),
  })
  projections.start()
  // Start-up reads the read models when they are (nearly) current, as on a restart; read
  // models still being built (a first start on an existing store) would take longer than
  // folding the store once, so then the store is read instead.
  const readModelsCaughtUp = async (): Promise<boolean> => projections.waitFor(await store.headPosition(), READ_MODEL_START_WAIT_MS)
  // The chain connector (deposit addresses, watcher, EIP-3009 relayer) runs the wallet's on-chain effects.
  // Its index starts from the wallet-chain read model (caught up first), not from a scan of the store.
  const chain = createChain({
    config,
    dataDir,
    store,
    log: logger,
    chainIndexSeed: async () =>
      (await readModelsCaughtUp()) ? { rows: projections.all<WalletChainRow>('wallet-chain'), position: projections.checkpoint } : undefined,
  })
  const wallets = new ActorHost({
    definition: walletDefinition,
    store,
    effects: chain.effects,
    ...(snapshots === undefined ? {} : { snapshots }),
    snapshotEvery: config.SNAPSHOT_EVERY,
    cacheSize: config.ACTOR_CACHE_SIZE,
    onEffectError: (err, action, actorId) => logger.error({ err, action: action.type, actorId }, 'wallet effect failed'),
  })
  const signIn = new SignIn({
    challenges: new SignedChallenges({ key: challengeKey(jwtSecret.value), store, ttlMs: config.CHALLENGE_TTL_MS }),
    tokens,
    pool,
    publicUrl: () => publicUrl,
    chainId: config.CHAIN_ID,
    onSignedIn: async (address) => {
      await wallets.send(address.toLowerCase(), { type: 'RegisterWallet', address })
    },
  })

  // The ledger as a Merkle log with signed checkpoints, followed off the append path.
  const logOrigin = config.AUDIT_LOG_ORIGIN ?? (config.PUBLIC_URL === undefined ? 'agent-gateway/ledger' : `${new URL(config.PUBLIC_URL).host}/ledger`)
  const ledgerLog = new LedgerLog({
    store,
    file: resolve(config.AUDIT_LOG_FILE ?? join(dataDir, 'ledger-log.sqlite')),
    origin: logOrigin,
    signingKey: signingKey.privateKeyObject,
    onError: (err) => logger.error({ err }, 'ledger log stopped'),
  })
  ledgerLog.start()
  const checkpointTimer = setInterval(() => {
    try {
      ledgerLog.signCheckpoint()
    } catch (err) {
      logger.error({ err }, 'ledger checkpoint failed')
    }
  }, config.AUDIT_CHECKPOINT_INTERVAL_MS)
  checkpointTimer.unref()
  if (config.EVENT_STORE === 'sqlite') restrictToOwner([resolve(config.SQLITE_FILE ?? join(dataDir, 'events.sqlite')), join(dataDir, 'projections.sqlite')])
  // Releases reservations whose holder died (also those that expired while the process was down).
  const stopLedgerTimers = startLedgerTimers({ wallets, projections, store, expiryIntervalMs: 15_000 })
  await chain.start(wallets)

  const { vault, keySources: vaultKeySources } = await createVault({ config, dataDir, store, pool, logger })

  const keySources = { jwtSecret: jwtSecret.source, signingKeyMaterial: signingKey.source, ...vaultKeySources }
  const attestation = await createAttestation({ config, signingKey: () => signingKey, pool, publicUrl: () => publicUrl })
  const securityPosture = async () => attestation.posture({ keySources, vault: vault.health() })
  // ---- Self-improvement (issue 12): reflect actors, durable scheduler, §8 routes; its chat hook is systemPromptExtra below ----
  const reflect = createReflect({
    config,
    store,
    ...(snapshots === undefined ? {} : { snapshots }),
    dataDir,
    logger,
    wallets,
    vault,
    live,
    ...(options.now === undefined ? {} : { now: options.now }),
  })
  // ---- end self-improvement ----
  // Chat: agents, sessions (model/tool loop, billing through the wallet actor), MCP tools with delegated tokens.
  const chat = await createChat({
    config,
    store,
    ...(snapshots === undefined ? {} : { snapshots }),
    live,
    logger,
    wallets,
    vault,
    signingKey,
    publicUrl: () => publicUrl,
    depositAccount: async (wallet) => {
      const i = (await wallets.read(wallet.toLowerCase())).snapshot.context.ledger.depositIndex
      return i === null ? undefined : chain.keyring.account(i)
    },
    systemPromptExtra: reflect.systemPromptExtra,
  })
  // Turns a previous process left running are marked interrupted and billed by the stated rule:
  // the open-turns read model lists them (caught up with the store first), no scan of every event.
  // A read model that cannot catch up (stopped on an error) must not leave a turn open: scan then.
  const caughtUp = await readModelsCaughtUp()
  if (!caughtUp) logger.warn('read models behind the store at start-up: recovering chat turns by scanning the store')
  await chat.recover(caughtUp ? projections.all<OpenTurnRow>('open-turns') : undefined)
  // Canvas runs: a run actor per run; node effects reuse chat's billing, vault and MCP executor.
  // Chromium starts on the first browser-verify node, not here.
  const browser = createBrowserVerifier({ allowedHosts: config.CANVAS_BROWSER_ALLOWED_HOSTS, executablePath: config.CHROMIUM_PATH })
  const canvas = createCanvas({
    config,
    dataDir,
    store,
    ...(snapshots === undefined ? {} : { snapshots }),
    snapshotEvery: config.SNAPSHOT_EVERY,
    cacheSize: config.ACTOR_CACHE_SIZE,
    logger,
    wallets,
    vault,
    pool,
    ...(chat.mcp === undefined ? {} : { mcp: chat.mcp }),
    github: createGitHubAdapter({ baseUrl: config.GITHUB_API_URL }),
    browser,
  })
  // Self-improvement runs a previous process left running are resumed; then the scheduler ticks.
  await reflect.start()
  const startedAt = new Date()
  const routes: Route[] = [
    ...chat.routes,
    ...selfImprovementRoutes({ reflect: reflect.service }),
    ...skillsRoutes({ reflect: reflect.service }),
    ...canvasRoutes({
      canvas: canvas.service,
      store,
      live,
      projections: canvas.projections,
      readArtifact: (runId, name) => readArtifact(canvas.artifactsDir, runId, name),
      getProviderKey: (address, provider) => vault.getProviderKey(address, provider),
    }),
    ...systemRoutes({
      store,
      metrics,
      version: VERSION,
      startedAt,
      knownPosition: () => live.position,
      securityPosture,
      beforeScrape: () => metrics.actorsInMemory.set({ kind: 'wallet' }, wallets.size),
    }),
    ...authRoutes({ signIn, revocations, onLogout: (address) => vault.lock(address) }),
    ...vaultRoutes({ vault }),
    ...attestationRoutes({ service: attestation.service, posture: securityPosture }),
    ...settingsRoutes({ wallets }),
    ...walletLedgerRoutes({
      wallets,
      store,
      projections,
      depositAddress: chain.depositAddress,
      depositInstructions: { ...depositInstructions({ chainId: config.CHAIN_ID, usdcAddress: config.USDC_ADDRESS, confirmations: config.CHAIN_CONFIRMATIONS }) },
      isDepositAddress: chain.isDepositAddress,
      withdrawalsEnabled: chain.canWithdraw,
      chainId: config.CHAIN_ID,
      usdcAddress: config.USDC_ADDRESS,
      auditorWallets: config.AUDITOR_WALLETS,
      withdrawalLimits: { perWithdrawalMax: config.WITHDRAWAL_MAX, dailyMax: config.WITHDRAWAL_DAILY_MAX, perHour: config.WITHDRAWAL_PER_HOUR },
    }),
    ...auditLogRoutes({
      log: ledgerLog,
      store,
      auditorWallets: config.AUDITOR_WALLETS,
      verifierKey: verifierKey(logOrigin, signingKey.publicKeyObject),
      kid: signingKey.kid,
    }),
  ]

  const openApi = buildOpenApi(routes, { title: 'Agent Gateway', version: VERSION })
  routes.push({ method: 'GET', path: '/openapi.json', auth: 'none', handler: () => json(openApi) })

  const authenticate = (token: string) => tokens.verify(token)
  // One write budget per wallet, whether the write comes over HTTP or as a WebSocket command.
  const walletBuckets = new TokenBuckets({ perSecond: config.RATE_LIMIT_WALLET_PER_S, burst: config.RATE_LIMIT_WALLET_BURST })
  const chatFrames = chatFrameHandlers({ sessions: chat.sessions, beginChat: chat.beginChat })
  const frames = { ...chatFrames, approve: canvasAwareApprove(canvas.service, chatFrames.approve) }
  const websocket = new WebSocketHub({
    walletBuckets,
    store,
    live,
    logger,
    metrics,
    topics: [walletTopic, chat.topic, canvasTopic(canvas.service)],
    authenticate,
    commands: frames,
  })
  // Logout anywhere on this store closes the sockets that token opened, here too.
  live.onStream(REVOCATION_STREAM, (e) => {
    if (e.type === 'TokenRevoked') websocket.revoked((e.data as { jti: string }).jti)
  })
  const server = createHttpServer({
    routes,
    logger,
    metrics,
    bodyLimit: config.BODY_LIMIT_BYTES,
    corsOrigins: config.CORS_ORIGINS,
    jsonLimits: { maxDepth: config.JSON_MAX_DEPTH, maxNodes: config.JSON_MAX_NODES },
    clientRateLimit: { perSecond: config.RATE_LIMIT_CLIENT_PER_S, burst: config.RATE_LIMIT_CLIENT_BURST },
    walletBuckets,
    authenticate,
    websocket,
  })
  /** Everything started above, stopped in reverse order (after the server stopped accepting). */
  const releaseAll = async (): Promise<void> => {
    clearInterval(checkpointTimer)
    stopLedgerTimers()
    await reflect.close()
    chat.close()
    await canvas.close()
    await browser.close()
    await chain.stop()
    await projections.close()
    await ledgerLog.close()
    await live.stop()
    vault.close()
    await pool.destroy()
    await store.close()
  }
  let port: number
  try {
    port = await server.listen(config.HOST, config.PORT)
  } catch (error) {
    // Port taken: nothing may keep running (the store's writer, timers) behind the failure.
    await server.close(0)
    await releaseAll()
    throw error
  }
  // Unfinished canvas runs resume once the server is up (their nodes may call back into it, e.g. MCP's JWKS).
  void canvas.recover().catch((err: unknown) => logger.error({ err }, 'canvas recovery failed'))
  if (config.PUBLIC_URL === undefined) publicUrl = `http://${config.HOST}:${port}`
  // Cross-gateway trust as a peer would see it (needs the final URL); repeated hourly for rotations.
  await attestation.service.selfCheck()
  const trustTimer = setInterval(() => void attestation.service.selfCheck().catch(() => undefined), 3600_000)
  trustTimer.unref()
  logger.info({ host: config.HOST, port, eventStore: store.kind, dataDir, jwtSecretSource: jwtSecret.source }, 'gateway listening')

  let closed: Promise<void> | undefined
  return {
    port,
    url: `http://${config.HOST}:${port}`,
    logger,
    store,
    routes,
    reflect,
    authenticate,
    close: () =>
      (closed ??= (async () => {
        clearInterval(trustTimer)
        await server.close(config.SHUTDOWN_GRACE_MS)
        await releaseAll()
        logger.info('gateway stopped')
      })()),
  }
}

/** SQLite files (and their -wal/-shm companions, which SQLite gives the main file's mode) readable by the owner only. */
function restrictToOwner(files: readonly string[]): void {
  for (const file of files)
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600)
}

function openStore(config: Config, dataDir: string): { store: EventStore; snapshots?: SnapshotStore } {
  if (config.EVENT_STORE === 'kurrentdb') {
    if (config.KURRENTDB_CONNECTION_STRING === undefined) throw new ConfigError('EVENT_STORE=kurrentdb needs KURRENTDB_CONNECTION_STRING')
    const store = new KurrentDbEventStore({ connectionString: config.KURRENTDB_CONNECTION_STRING })
    return { store, snapshots: store.snapshots }
  }
  const store = new SqliteEventStore({
    file: resolve(config.SQLITE_FILE ?? join(dataDir, 'events.sqlite')),
    writer: config.SQLITE_WRITER,
    busyTimeoutMs: config.SQLITE_BUSY_TIMEOUT_MS,
  })
  return { store, snapshots: store.snapshots }
}
