import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SessionTokens } from '../auth/session-tokens.js'
import { loadConfig } from '../config.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import { REDACT_PATHS } from '../transport/logger.js'
import { createMetrics } from '../transport/metrics.js'
import { vaultRoutes } from '../transport/routes/vault.js'
import { type HttpServer, createHttpServer } from '../transport/server.js'
import { createWorkerPool, type WorkerPool } from '../workers/pool.js'
import { VAULT_REDACT_PATHS } from './providers.js'
import { VaultHarness } from '../test/vault/harness.js'
import { type CreatedVault, createVault } from './wiring.js'

/**
 * The vault over real HTTP (uWS server, JWT Bearer auth, JSON bodies, error mapping),
 * wired exactly as the composition root should wire it (vault/wiring.ts createVault).
 */
describe('vault over HTTP', () => {
  let dataDir: string
  let store: SqliteEventStore
  let pool: WorkerPool
  let server: HttpServer | undefined
  let created: CreatedVault | undefined
  let url = ''
  const logLines: string[] = []
  const logger = pino(
    { level: 'debug', redact: { paths: [...REDACT_PATHS, ...VAULT_REDACT_PATHS], censor: '[redacted]' } },
    { write: (s: string) => void logLines.push(s) },
  )
  const metrics = createMetrics()
  const tokens = new SessionTokens({ secret: 'e2e-secret-0123456789abcdef0123456789ab', issuer: 'agent-gateway', audience: 'agent-gateway', ttlS: 3600, isRevoked: () => false })
  const alice = privateKeyToAccount(generatePrivateKey())
  let token = ''

  async function start(): Promise<void> {
    await server?.close(0)
    created?.vault.close()
    const config = loadConfig({ DATA_DIR: dataDir, NODE_ENV: 'production' })
    created = await createVault({ config, dataDir, store, pool, logger })
    server = createHttpServer({
      routes: vaultRoutes({ vault: created.vault }),
      logger,
      metrics,
      bodyLimit: 1 << 20,
      corsOrigins: [],
      authenticate: (t) => tokens.verify(t),
    })
    url = `http://127.0.0.1:${await server.listen('127.0.0.1', 0)}`
  }

  async function call(method: string, path: string, body?: unknown, bearer = token): Promise<{ status: number; body: any }> {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(bearer === '' ? {} : { authorization: `Bearer ${bearer}` }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, body: await res.json() }
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vault-e2e-'))
    store = await SqliteEventStore.open({ file: join(dataDir, 'events.sqlite') })
    pool = createWorkerPool({ threads: 1 })
    token = (await tokens.issue(alice.address)).token
    await start()
  })

  afterAll(async () => {
    await server?.close(0)
    created?.vault.close()
    await pool.destroy()
    await store.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('stores, survives a restart locked, unlocks, and refuses with the documented statuses', async () => {
    expect(created?.keySources.byokVaultEncryptionKey).toBe('generated')
    expect(created?.vault.health()).toEqual({ persistent: true, failClosed: true })
    expect((await call('GET', '/wallet/apikey/status', undefined, '')).status).toBe(401)

    const key = `sk-ant-api03-${generatePrivateKey().slice(2)}`
    const challenge = await call('GET', '/wallet/provider-vault/derive-challenge')
    expect(challenge.status).toBe(200)
    const signature = await alice.signMessage({ message: challenge.body.message })
    const put = await call('PUT', '/wallet/apikey', { anthropicApiKey: key, signature, nonce: challenge.body.nonce })
    expect(put).toEqual({ status: 200, body: { success: true, configured: true, encryptionMode: 'sign-to-derive', persistent: true } })
    const reused = await call('PUT', '/wallet/apikey', { anthropicApiKey: key, signature, nonce: challenge.body.nonce })
    expect(reused.status).toBe(400)
    expect(reused.body.error).toBe('vault_nonce_invalid')
    const badKey = await call('PUT', '/wallet/apikey', { anthropicApiKey: 'not-an-anthropic-key' })
    expect(badKey.status).toBe(400)
    expect(badKey.body.error).toBe('invalid_request')

    await start() // restart: a new vault instance over the same folder, keys (files) and store
    expect(created?.keySources.byokVaultEncryptionKey).toBe('file')
    expect((await call('GET', '/wallet/apikey/status')).body).toEqual({
      configured: true,
      persistent: true,
      encryptionMode: 'sign-to-derive',
      unlocked: false,
      needsMigration: false,
    })
    await expect(created!.vault.getProviderKey(alice.address, 'anthropic')).rejects.toMatchObject({ code: 'locked_secrets' })

    const mallory = privateKeyToAccount(generatePrivateKey())
    const c2 = await call('GET', '/wallet/provider-vault/derive-challenge')
    const forged = await mallory.signMessage({ message: c2.body.message })
    const refused = await call('POST', '/wallet/provider-vault/unlock', { signature: forged, nonce: c2.body.nonce })
    expect(refused.status).toBe(400)
    expect(refused.body.error).toBe('vault_signature_mismatch')

    const c3 = await call('GET', '/wallet/provider-vault/derive-challenge')
    const unlock = await call('POST', '/wallet/provider-vault/unlock', { signature, nonce: c3.body.nonce, providers: ['anthropic'] })
    expect(unlock.status).toBe(200)
    expect(unlock.body).toMatchObject({ success: true, unlocked: true, unlockedProviders: ['anthropic'], expiresInMs: 3_600_000 })
    expect(await created!.vault.getProviderKey(alice.address, 'anthropic')).toBe(key)

    // Nothing secret in the logs, the store or the data folder.
    const needles = [key, signature.slice(2), forged.slice(2)]
    const logs = logLines.join('\n')
    expect(logs).toContain('vault_signature_mismatch')
    for (const n of needles) expect(logs).not.toContain(n)
    for (const file of await VaultHarness.allFiles(dataDir)) {
      const text = (await readFile(file)).toString('latin1')
      for (const n of needles) expect(text).not.toContain(n)
    }
  })
})
