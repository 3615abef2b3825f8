import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Logger, pino } from 'pino'
import type { PrivateKeyAccount } from 'viem'
import { NonceRegistry } from '../../auth/nonces.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import { toHttpError } from '../../transport/http-errors.js'
import { REDACT_PATHS } from '../../transport/logger.js'
import type { HttpMethod, Route } from '../../transport/route.js'
import { vaultRoutes } from '../../transport/routes/vault.js'
import type { DeriveVaultKeysParameters, DeriveVaultKeysReturnType } from '../../vault/crypto.js'
import { loadVaultKeys } from '../../vault/keys.js'
import { type VaultFs, type VaultPersistence, openVaultPersistence } from '../../vault/persistence.js'
import { VAULT_REDACT_PATHS } from '../../vault/providers.js'
import { KeyVault } from '../../vault/vault.js'

/** The redaction list recommended for the gateway's logger: transport's plus the vault's. */
export const RECOMMENDED_REDACT_PATHS = [...new Set([...REDACT_PATHS, ...VAULT_REDACT_PATHS])]

export interface HarnessOptions {
  failClosed?: boolean
  /** Vault folder; default `<dataDir>/vault`. */
  vaultDir?: string
  fs?: VaultFs
  derive?: (p: DeriveVaultKeysParameters) => Promise<DeriveVaultKeysReturnType>
  unlockTtlMs?: number
  now?: () => number
}

export interface CallResult {
  status: number
  body: any
}

/**
 * A vault wired like main.ts does (real SQLite event store, nonce registry, key files
 * under DATA_DIR, routes) with handlers called directly and a pino logger writing to
 * `logLines` the way the server logs requests and errors.
 */
export class VaultHarness {
  readonly dataDir: string
  readonly storeFile: string
  readonly logLines: string[] = []
  readonly logger: Logger
  store!: SqliteEventStore
  nonces!: NonceRegistry
  vault!: KeyVault
  persistence!: VaultPersistence
  routes!: Route[]
  #options: HarnessOptions

  private constructor(dataDir: string, options: HarnessOptions) {
    this.dataDir = dataDir
    this.storeFile = join(dataDir, 'events.sqlite')
    this.#options = options
    const lines = this.logLines
    this.logger = pino(
      { level: 'debug', redact: { paths: RECOMMENDED_REDACT_PATHS, censor: '[redacted]' } },
      { write: (s: string) => void lines.push(s) },
    )
  }

  /**
   * A second gateway "process" on the same DATA_DIR, vault folder and event store file
   * (its own store connection, nonce registry, vault instance and in-process locks).
   */
  static async sibling(of: VaultHarness): Promise<VaultHarness> {
    const h = new VaultHarness(of.dataDir, { ...of.#options })
    h.store = await SqliteEventStore.open({ file: of.storeFile })
    h.nonces = new NonceRegistry({ store: h.store, ttlMs: 5 * 60_000 })
    await h.restart()
    return h
  }

  static async create(options: HarnessOptions = {}): Promise<VaultHarness> {
    const h = new VaultHarness(await mkdtemp(join(tmpdir(), 'vault-int-')), options)
    h.store = await SqliteEventStore.open({ file: h.storeFile })
    h.nonces = new NonceRegistry({ store: h.store, ttlMs: 5 * 60_000 })
    await h.restart()
    return h
  }

  get vaultDir(): string {
    return this.#options.vaultDir ?? join(this.dataDir, 'vault')
  }

  /** A fresh vault instance over the same folder, keys and store (a process restart). */
  async restart(overrides: HarnessOptions = {}): Promise<KeyVault> {
    this.vault?.close()
    this.#options = { ...this.#options, ...overrides }
    const o = this.#options
    const keys = loadVaultKeys({ DATA_DIR: this.dataDir })
    this.persistence = await openVaultPersistence({
      dir: this.vaultDir,
      failClosed: o.failClosed ?? false,
      ...(o.fs === undefined ? {} : { fs: o.fs }),
      onFallback: (reason) => this.logger.warn({ reason }, 'vault running memory-only'),
    })
    this.vault = new KeyVault({
      persistence: this.persistence,
      hmacKey: keys.hmacKey,
      masterKey: keys.masterKey,
      nonces: this.nonces,
      store: this.store,
      unlockTtlMs: o.unlockTtlMs ?? 60 * 60_000,
      ...(o.derive === undefined ? {} : { derive: o.derive }),
      ...(o.now === undefined ? {} : { now: o.now }),
      log: this.logger,
    })
    this.routes = vaultRoutes({ vault: this.vault })
    return this.vault
  }

  /** Calls the route handler for `method path` as `account`, mapping errors like the server. */
  async call(account: PrivateKeyAccount, method: HttpMethod, path: string, body?: unknown): Promise<CallResult> {
    const { route, params } = this.#match(method, path)
    const token = `test-token-${account.address.toLowerCase()}`
    this.logger.info({ req: { method, url: path, headers: { authorization: `Bearer ${token}` } }, body }, 'request')
    try {
      const parsed = route.body === undefined ? body : route.body.parse(body)
      const result = await route.handler({
        method,
        path,
        params,
        query: {},
        headers: { authorization: `Bearer ${token}` },
        body: parsed,
        requestId: 'test',
        remoteAddress: '127.0.0.1',
        auth: { address: account.address, sub: account.address.toLowerCase(), jti: 'jti', exp: 2e9, token },
        signal: new AbortController().signal,
      })
      if (result.kind === 'stream') throw new Error('unexpected stream')
      this.logger.info({ status: result.status ?? 200, route: route.path }, 'response')
      return { status: result.status ?? 200, body: result.body }
    } catch (error) {
      const mapped = toHttpError(error)
      this.logger.warn({ err: error, status: mapped.status, code: mapped.body.error, route: route.path }, mapped.body.message)
      return { status: mapped.status, body: mapped.body }
    }
  }

  /** derive-challenge → sign → {signature, nonce}, as AgentClient does. */
  async signedNonce(account: PrivateKeyAccount, cached?: string): Promise<{ signature: string; nonce: string; message: string }> {
    const challenge = await this.call(account, 'GET', '/wallet/provider-vault/derive-challenge')
    if (challenge.status !== 200) throw new Error(`challenge failed: ${JSON.stringify(challenge.body)}`)
    const signature = cached ?? (await account.signMessage({ message: challenge.body.message }))
    return { signature, nonce: challenge.body.nonce, message: challenge.body.message }
  }

  /** Every file under the vault folder, name → bytes. */
  async vaultFiles(): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>()
    const names = await readdir(this.vaultDir).catch(() => [] as string[])
    for (const name of names) out.set(name, await readFile(join(this.vaultDir, name)))
    return out
  }

  /** The single wallet file's path (fails when there is not exactly one). */
  async onlyVaultFile(): Promise<string> {
    const names = [...(await this.vaultFiles()).keys()]
    if (names.length !== 1) throw new Error(`expected one vault file, found ${names.join(',')}`)
    return join(this.vaultDir, names[0] as string)
  }

  /** Every regular file under `dir`, recursively. */
  static async allFiles(dir: string): Promise<string[]> {
    const out: string[] = []
    const walk = async (d: string) => {
      for (const name of await readdir(d).catch(() => [] as string[])) {
        const p = join(d, name)
        const s = await stat(p)
        if (s.isDirectory()) await walk(p)
        else out.push(p)
      }
    }
    await walk(dir)
    return out
  }

  #match(method: HttpMethod, path: string): { route: Route; params: Record<string, string> } {
    for (const route of this.routes) {
      if (route.method !== method) continue
      const want = route.path.split('/')
      const got = path.split('/')
      if (want.length !== got.length) continue
      const params: Record<string, string> = {}
      if (want.every((seg, i) => (seg.startsWith(':') ? ((params[seg.slice(1)] = got[i] as string), true) : seg === got[i])))
        return { route, params }
    }
    throw new Error(`no route ${method} ${path}`)
  }

  /** Closes the vault and the store (leaves files for inspection; the caller removes dataDir). */
  async close(): Promise<void> {
    this.vault.close()
    await this.store.close()
  }
}
