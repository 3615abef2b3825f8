import { z } from 'zod'
import { ConfigError } from './shared/errors.js'

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes')

const csv = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  )

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
const privateKey = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex private key')
const atomic = z.string().regex(/^\d+$/, 'must be an integer amount in USDC atomic units').transform((v) => BigInt(v))
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max)

/**
 * Every environment variable the gateway reads, with its default. README's
 * "Configuration" table lists the same names; keep the two together.
 */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(8080),
  DATA_DIR: z.string().min(1).default('./data'),
  PUBLIC_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CORS_ORIGINS: csv.default([]),
  BODY_LIMIT_BYTES: int(1024).default(1024 * 1024),
  /** Deepest nesting of a JSON body (400 json_too_complex beyond): bounded before validation. */
  JSON_MAX_DEPTH: int(2, 10_000).default(64),
  /** Most object keys plus array items in one JSON body. */
  JSON_MAX_NODES: int(10).default(20_000),
  /** Anonymous requests per second per client address (token bucket refill; 0 = no limit). */
  RATE_LIMIT_CLIENT_PER_S: int(0).default(10),
  /** Anonymous requests a client address may send at once. */
  RATE_LIMIT_CLIENT_BURST: int(1).default(100),
  /** Authenticated writes per second per wallet (token bucket refill; 0 = no limit). */
  RATE_LIMIT_WALLET_PER_S: int(0).default(50),
  /** Authenticated writes a wallet may send at once. */
  RATE_LIMIT_WALLET_BURST: int(1).default(1000),
  WORKER_THREADS: int(1, 64).optional(),
  SHUTDOWN_GRACE_MS: int(0).default(10_000),

  EVENT_STORE: z.enum(['sqlite', 'kurrentdb']).default('sqlite'),
  SQLITE_FILE: z.string().optional(),
  /** Where SQLite's group commit runs: a worker thread (event loop never blocks on fsync) or inline. */
  SQLITE_WRITER: z.enum(['worker', 'inline']).default('worker'),
  SQLITE_BUSY_TIMEOUT_MS: int(0).default(5000),
  KURRENTDB_CONNECTION_STRING: z.string().optional(),
  SNAPSHOT_EVERY: int(1).default(100),
  ACTOR_CACHE_SIZE: int(1).default(10_000),

  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).default('agent-gateway'),
  JWT_TTL_S: int(60).default(24 * 3600),
  CHALLENGE_TTL_MS: int(1000).default(5 * 60_000),

  AUDITOR_WALLETS: csv.pipe(z.array(address)).default([]),
  /** The ledger's Merkle log (its own SQLite file); default DATA_DIR/ledger-log.sqlite. */
  AUDIT_LOG_FILE: z.string().optional(),
  /** Checkpoint origin and key name; default PUBLIC_URL's host + "/ledger", else "agent-gateway/ledger". */
  AUDIT_LOG_ORIGIN: z.string().regex(/^[^\s+]+$/, 'must be non-empty without spaces or "+"').optional(),
  /** How often a checkpoint of a grown log is signed (GET /audit/checkpoint also signs on demand). */
  AUDIT_CHECKPOINT_INTERVAL_MS: int(1000).default(60_000),

  VAULT_PERSISTENCE_DIR: z.string().optional(),
  VAULT_FAIL_CLOSED: bool.optional(),
  VAULT_MASTER_KEY: z.string().min(32).optional(),
  VAULT_HMAC_KEY: z.string().min(32).optional(),
  VAULT_UNLOCK_TTL_MS: int(1000).default(60 * 60_000),

  DEPOSIT_MNEMONIC: z.string().optional(),
  CHAIN_RPC_URL: z.string().url().optional(),
  CHAIN_ID: int(1).default(8453),
  USDC_ADDRESS: address.default('0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913'),
  TREASURY_ADDRESS: address.optional(),
  RELAYER_PRIVATE_KEY: privateKey.optional(),
  CHAIN_CONFIRMATIONS: int(0).default(12),
  CHAIN_POLL_MS: int(100).default(4000),
  RESERVATION_TTL_MS: int(1000).default(10 * 60_000),
  WITHDRAWAL_MAX: atomic.default(BigInt(10_000 * 1e6)),
  WITHDRAWAL_DAILY_MAX: atomic.default(BigInt(25_000 * 1e6)),
  WITHDRAWAL_PER_HOUR: int(1).default(5),

  ANTHROPIC_BASE_URL: z.string().url().optional(),
  /** The Anthropic SDK's OpenTelemetry spans, for an operator who runs an OpenTelemetry SDK in the process. */
  ANTHROPIC_OPEN_TELEMETRY: bool.default(false),
  MCP_GATEWAY_URL: z.string().url().optional(),
  MCP_SIGNING_KEY: z.string().optional(),
  OPERATOR_PRIVATE_KEY: privateKey.optional(),
  /** JWT audience of delegated MCP tokens; default the MCP gateway URL's origin. */
  MCP_AUDIENCE: z.string().min(1).optional(),
  /** Highest x402 price paid for one tool call (atomic USDC units); 0 refuses paid tools. */
  X402_MAX_PER_CALL: atomic.default(1_000_000n),
  /** A resent chat message within this window attaches to its turn (never billed twice). */
  CHAT_DEDUPE_WINDOW_MS: int(1000).default(10 * 60_000),
  /** Extra folders of agent definition files (comma-separated), besides the shipped agents. */
  AGENTS_DIRS: csv.default([]),

  /** Canvas: nodes of one run executing at once. */
  CANVAS_MAX_PARALLEL: int(1, 64).default(4),
  /** Canvas: a node's time limit unless its data.timeoutMs says otherwise (approval gates wait without limit). */
  CANVAS_NODE_TIMEOUT_MS: int(100).default(300_000),
  /** Canvas: agent-team-orchestrator nodes (team mode). */
  CANVAS_TEAM_MODE: bool.default(false),
  /** Canvas GitHub nodes: the fallback token when a node names no vault secret. */
  GITHUB_TOKEN: z.string().min(1).optional(),
  /** GitHub REST base URL (GitHub Enterprise Server: https://<host>/api/v3). */
  GITHUB_API_URL: z.string().url().default('https://api.github.com'),
  /** Hosts (names or IPs, optionally host:port) browser-verify nodes may reach; empty = none. */
  CANVAS_BROWSER_ALLOWED_HOSTS: csv.default([]),
  CHROMIUM_PATH: z.string().min(1).default('/usr/bin/chromium'),
  /** Self-improvement (issue 12): model of facet and skill calls, caps per run, after_each idle time, scheduler tick. */
  REFLECT_MODEL: z.string().min(1).default('claude-haiku-4-5'),
  REFLECT_MAX_SKILLS_PER_RUN: int(0, 50).default(3),
  REFLECT_MAX_SESSIONS_PER_RUN: int(1).default(50),
  REFLECT_IDLE_MS: int(0).default(10 * 60_000),
  REFLECT_TICK_MS: int(100).default(60_000),

  ATTESTATION_PROVIDER: z.enum(['auto', 'configfs-tsm', 'none']).default('auto'),
  TSM_REPORT_DIR: z.string().default('/sys/kernel/config/tsm/report'),
  SNP_CERTS_DIR: z.string().optional(),
  MEASUREMENT_ALLOWLIST: csv.default([]),
  /** TPM 2.0 for sealing generated keys (tpm2-tools TCTI, e.g. device:/dev/tpmrm0); unset = no TPM. */
  TPM_TCTI: z.string().min(1).optional(),
  TPM_SEAL_PCRS: z.string().regex(/^sha(1|256|384):\d+(,\d+)*$/, 'must be a PCR selection like sha256:0,7').default('sha256:0,7'),
})

export type Config = z.infer<typeof configSchema>

/** Parses the environment; an invalid value throws a ConfigError naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {}
  for (const key of Object.keys(configSchema.shape)) {
    const v = env[key]
    if (v !== undefined && v !== '') input[key] = v
  }
  const parsed = configSchema.safeParse(input)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`)
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`)
  }
  return parsed.data
}
