import * as fs from 'node:fs/promises'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Hex, parseSignature } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, describe, expect, it } from 'vitest'
import { createWorkerPool } from '../workers/pool.js'
import { SECP256K1_N } from './crypto.js'
import { PROVIDER_INFO, PROVIDERS } from './providers.js'
import { VaultHarness } from '../test/vault/harness.js'

const harnesses: VaultHarness[] = []
/** Every API key, secret value and derive signature the tests hand the vault. */
const secrets = new Set<string>()
const walletAddresses = new Set<string>()

async function harness(options: Parameters<typeof VaultHarness.create>[0] = {}): Promise<VaultHarness> {
  const h = await VaultHarness.create(options)
  harnesses.push(h)
  return h
}

function wallet() {
  const account = privateKeyToAccount(generatePrivateKey())
  walletAddresses.add(account.address)
  return account
}

function anthropicKey(): string {
  const key = `sk-ant-api03-${Buffer.from(generatePrivateKey().slice(2), 'hex').toString('base64url')}`
  secrets.add(key)
  return key
}

function providerKey(provider: string): string {
  const key = provider === 'anthropic' ? anthropicKey() : `${provider}-key-${generatePrivateKey().slice(2, 34)}`
  secrets.add(key)
  return key
}

async function signed(h: VaultHarness, account: ReturnType<typeof wallet>, cached?: string) {
  const s = await h.signedNonce(account, cached)
  secrets.add(s.signature)
  return s
}

function highS(signature: string): Hex {
  const p = parseSignature(signature as Hex)
  const s = SECP256K1_N - BigInt(p.s)
  return `0x${p.r.slice(2)}${s.toString(16).padStart(64, '0')}${p.yParity === 0 ? '1c' : '1b'}`
}

afterAll(async () => {
  for (const h of harnesses) {
    await h.close().catch(() => undefined) // already closed by the leak scan unless it failed
    await rm(h.dataDir, { recursive: true, force: true })
  }
})

describe('vault client flow (API §2, §3, §6)', () => {
  it('derive-challenge → sign → PUT → sign-to-derive; restart → locked; unlock → getProviderKey', async () => {
    const h = await harness()
    const alice = wallet()
    const key = anthropicKey()

    const c1 = await h.call(alice, 'GET', '/wallet/provider-vault/derive-challenge')
    const c2 = await h.call(alice, 'GET', '/wallet/provider-vault/derive-challenge')
    expect(c1.status).toBe(200)
    expect(c1.body.message).toBe(c2.body.message) // deterministic per wallet
    expect(c1.body.nonce).not.toBe(c2.body.nonce)
    expect(c1.body.message).not.toContain(c1.body.nonce)
    expect(c1.body.message).toContain(alice.address.toLowerCase())

    const { signature, nonce } = await signed(h, alice)
    const put = await h.call(alice, 'PUT', '/wallet/apikey', { anthropicApiKey: key, signature, nonce })
    expect(put).toEqual({ status: 200, body: { success: true, configured: true, encryptionMode: 'sign-to-derive', persistent: true } })
    const status = await h.call(alice, 'GET', '/wallet/apikey/status')
    expect(status.body).toEqual({ configured: true, persistent: true, encryptionMode: 'sign-to-derive', unlocked: true, needsMigration: false })
    expect(await h.vault.getProviderKey(alice.address, 'anthropic')).toBe(key)

    await h.restart()
    const after = await h.call(alice, 'GET', '/wallet/apikey/status')
    expect(after.body).toMatchObject({ configured: true, encryptionMode: 'sign-to-derive', unlocked: false, needsMigration: false })
    const locked = await h.vault.getProviderKey(alice.address, 'anthropic').catch((e: unknown) => e)
    const { toHttpError } = await import('../transport/http-errors.js')
    expect(toHttpError(locked)).toMatchObject({
      status: 400,
      body: {
        error: 'locked_secrets',
        needsUnlock: true,
        missingSecrets: [{ serverId: 'anthropic', serverName: 'Anthropic', secretKeys: ['ANTHROPIC_API_KEY'] }],
      },
    })
    expect(toHttpError(locked).body.message).not.toMatch(/anthropic api key|required/i)

    // The client caches the signature and sends it again with a new nonce.
    const again = await signed(h, alice, signature)
    const unlock = await h.call(alice, 'POST', '/wallet/provider-vault/unlock', { signature: again.signature, nonce: again.nonce })
    expect(unlock).toEqual({
      status: 200,
      body: {
        success: true,
        unlocked: true,
        unlockedProviders: ['anthropic'],
        migratedProviders: [],
        lockedProviders: [],
        skippedProviders: [],
        expiresInMs: 60 * 60_000,
      },
    })
    expect((await h.call(alice, 'GET', '/wallet/apikey/status')).body.unlocked).toBe(true)
    expect(await h.vault.getProviderKey(alice.address, 'anthropic')).toBe(key)

    // Logout locks; a malleated (high-s) twin of the same signature opens it again.
    h.vault.lock(alice.address)
    expect((await h.call(alice, 'GET', '/wallet/apikey/status')).body.unlocked).toBe(false)
    const twin = await signed(h, alice, highS(signature))
    const reopened = await h.call(alice, 'POST', '/wallet/provider-vault/unlock', { ...twin, providers: ['anthropic', 'openai'] })
    expect(reopened.body).toMatchObject({ unlocked: true, unlockedProviders: ['anthropic'], skippedProviders: ['openai'] })

    const events = await h.store.readStream(`vault-${alice.address.toLowerCase()}`)
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['ProviderKeyStored', { provider: 'anthropic', encryptionMode: 'sign-to-derive' }],
      ['VaultUnlocked', { providers: ['anthropic'] }],
      ['VaultUnlocked', { providers: ['anthropic'] }],
    ])

    const del = await h.call(alice, 'DELETE', '/wallet/apikey')
    expect(del).toEqual({ status: 200, body: { success: true, configured: false } })
    expect((await h.call(alice, 'GET', '/wallet/apikey/status')).body).toMatchObject({ configured: false, unlocked: false })
    expect(await h.vaultFiles()).toEqual(new Map())
  })

  it('no key → 400 missing_secrets with the guidance the React hook matches', async () => {
    const h = await harness()
    const { toHttpError } = await import('../transport/http-errors.js')
    const error = toHttpError(await h.vault.getProviderKey(wallet().address, 'anthropic').catch((e: unknown) => e))
    expect(error.status).toBe(400)
    expect(error.body.error).toBe('missing_secrets')
    expect(error.body.message).toMatch(/anthropic api key|required/i)
    expect(error.body.message).toContain('PUT /wallet/apikey')
    expect(error.body.needsUnlock).toBeUndefined()
  })

  it('unlocked keys expire after VAULT_UNLOCK_TTL_MS', async () => {
    let now = 1_000_000
    const h = await harness({ now: () => now, unlockTtlMs: 60_000 })
    const bob = wallet()
    const key = anthropicKey()
    await h.call(bob, 'PUT', '/wallet/apikey', { anthropicApiKey: key, ...(await signed(h, bob)) })
    expect(await h.vault.getProviderKey(bob.address, 'anthropic')).toBe(key)
    now += 60_001
    await expect(h.vault.getProviderKey(bob.address, 'anthropic')).rejects.toMatchObject({ code: 'locked_secrets' })
    expect((await h.call(bob, 'GET', '/wallet/apikey/status')).body.unlocked).toBe(false)
  })

  it('every other provider has the same routes and body key', async () => {
    const h = await harness()
    const carol = wallet()
    for (const p of PROVIDERS.filter((x) => x !== 'anthropic')) {
      const info = PROVIDER_INFO[p]
      expect(info.path).toBe(`/wallet/${p}-apikey`)
      const key = providerKey(p)
      const put = await h.call(carol, 'PUT', info.path, { [info.bodyKey]: key })
      expect(put.body).toMatchObject({ success: true, configured: true, encryptionMode: 'hkdf' })
      expect((await h.call(carol, 'GET', `${info.path}/status`)).body).toMatchObject({ configured: true, needsMigration: true })
      expect(await h.vault.getProviderKey(carol.address, p)).toBe(key)
      expect((await h.call(carol, 'DELETE', info.path)).body).toEqual({ success: true, configured: false })
    }
  })

  it('validates bodies with stable 400 codes and never echoes the key', async () => {
    const h = await harness()
    const dave = wallet()
    const wrong = `sk-proj-${generatePrivateKey().slice(2, 40)}`
    secrets.add(wrong)
    const bad = await h.call(dave, 'PUT', '/wallet/apikey', { anthropicApiKey: wrong })
    expect(bad.status).toBe(400)
    expect(bad.body.error).toBe('invalid_request')
    expect(bad.body.message).toMatch(/sk-ant-/)
    expect(JSON.stringify(bad.body)).not.toContain(wrong)
    const half = await h.call(dave, 'PUT', '/wallet/apikey', { anthropicApiKey: anthropicKey(), signature: `0x${'1'.repeat(130)}` })
    expect(half.status).toBe(400)
    expect(half.body.error).toBe('invalid_request')
    const unlock = await h.call(dave, 'POST', '/wallet/provider-vault/unlock', { signature: '0x12', nonce: 'x' })
    expect(unlock.status).toBe(400)
    expect(await h.vaultFiles()).toEqual(new Map())
  })
})

describe('refusals leave the stored file byte-identical', () => {
  async function stored() {
    const h = await harness()
    const erin = wallet()
    const first = await signed(h, erin)
    const key = anthropicKey()
    const put = await h.call(erin, 'PUT', '/wallet/apikey', { anthropicApiKey: key, signature: first.signature, nonce: first.nonce })
    expect(put.status).toBe(200)
    await h.restart()
    const file = await h.onlyVaultFile()
    return { h, erin, key, signature: first.signature, file, bytes: await readFile(file) }
  }

  it('another wallet’s signature (over the same text) → 400 vault_signature_mismatch', async () => {
    const { h, erin, file, bytes } = await stored()
    const mallory = wallet()
    const challenge = await h.call(erin, 'GET', '/wallet/provider-vault/derive-challenge')
    const forged = await mallory.signMessage({ message: challenge.body.message })
    secrets.add(forged)
    const r = await h.call(erin, 'POST', '/wallet/provider-vault/unlock', { signature: forged, nonce: challenge.body.nonce })
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({ error: 'vault_signature_mismatch', reason: 'wrong_signer' })
    expect(await readFile(file)).toEqual(bytes)
    expect((await h.call(erin, 'GET', '/wallet/apikey/status')).body.unlocked).toBe(false)

    const c2 = await h.call(erin, 'GET', '/wallet/provider-vault/derive-challenge')
    const forgedPut = await mallory.signMessage({ message: c2.body.message })
    secrets.add(forgedPut)
    const p = await h.call(erin, 'PUT', '/wallet/apikey', { anthropicApiKey: anthropicKey(), signature: forgedPut, nonce: c2.body.nonce })
    expect(p.body.error).toBe('vault_signature_mismatch')
    expect(await readFile(file)).toEqual(bytes)
  })

  it('a nonce issued to another wallet → 400 vault_nonce_invalid', async () => {
    const { h, erin, signature, file, bytes } = await stored()
    const other = wallet()
    const theirs = await h.call(other, 'GET', '/wallet/provider-vault/derive-challenge')
    const r = await h.call(erin, 'POST', '/wallet/provider-vault/unlock', { signature, nonce: theirs.body.nonce })
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({ error: 'vault_nonce_invalid', reason: 'nonce_wallet_mismatch' })
    expect(await readFile(file)).toEqual(bytes)
  })

  it('a reused nonce → 400 vault_nonce_invalid (nonce_reused)', async () => {
    const { h, erin, signature, file, bytes } = await stored()
    const s = await signed(h, erin, signature)
    expect((await h.call(erin, 'POST', '/wallet/provider-vault/unlock', s)).status).toBe(200)
    h.vault.lock(erin.address)
    const r = await h.call(erin, 'POST', '/wallet/provider-vault/unlock', s)
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({ error: 'vault_nonce_invalid', reason: 'nonce_reused' })
    expect((await h.call(erin, 'GET', '/wallet/apikey/status')).body.unlocked).toBe(false)
    expect(await readFile(file)).toEqual(bytes)
  })

  it('a tampered ciphertext → 422 vault_corrupt, nothing unlocked', async () => {
    const { h, erin, signature, file, bytes } = await stored()
    const json = JSON.parse(bytes.toString()) as { entries: Record<string, { ciphertext: string }> }
    const ct = Buffer.from(json.entries.anthropic!.ciphertext, 'base64')
    ct[0] = (ct[0] ?? 0) ^ 0x01
    json.entries.anthropic!.ciphertext = ct.toString('base64')
    await writeFile(file, JSON.stringify(json))
    const tampered = await readFile(file)
    const r = await h.call(erin, 'POST', '/wallet/provider-vault/unlock', await signed(h, erin, signature))
    expect(r.status).toBe(422)
    expect(r.body).toMatchObject({ error: 'vault_corrupt', provider: 'anthropic' })
    expect(await readFile(file)).toEqual(tampered)
    await expect(h.vault.getProviderKey(erin.address, 'anthropic')).rejects.toMatchObject({ code: 'locked_secrets' })
  })

  it('a truncated file → 422 vault_corrupt for unlock, put and status; DELETE clears it', async () => {
    const { h, erin, signature, file, bytes } = await stored()
    await writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)))
    const truncated = await readFile(file)
    const r = await h.call(erin, 'POST', '/wallet/provider-vault/unlock', await signed(h, erin, signature))
    expect(r.status).toBe(422)
    expect(r.body.error).toBe('vault_corrupt')
    expect((await h.call(erin, 'PUT', '/wallet/apikey', { anthropicApiKey: anthropicKey() })).status).toBe(422)
    expect((await h.call(erin, 'GET', '/wallet/apikey/status')).status).toBe(422)
    expect(await readFile(file)).toEqual(truncated)
    expect((await h.call(erin, 'DELETE', '/wallet/apikey')).status).toBe(200)
    expect(await h.vaultFiles()).toEqual(new Map())
  })

  it('a different valid signer state is refused by the key check, not decrypted into garbage', async () => {
    const { h, erin, file, bytes } = await stored()
    // Simulate the stored key-check value belonging to another signature (a non-deterministic signer).
    const json = JSON.parse(bytes.toString()) as { sign: { checkMac: string } }
    json.sign.checkMac = Buffer.alloc(32, 7).toString('base64')
    await writeFile(file, JSON.stringify(json))
    const edited = await readFile(file)
    const r = await h.call(erin, 'POST', '/wallet/provider-vault/unlock', await signed(h, erin))
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({ error: 'vault_signature_mismatch', reason: 'key_check' })
    expect(await readFile(file)).toEqual(edited)
  })
})

describe('legacy (hkdf) keys', () => {
  it('PUT without a signature → hkdf, usable without unlock; the next unlock migrates and removes the legacy copy', async () => {
    const h = await harness()
    const frank = wallet()
    const key = anthropicKey()
    const mcp = { GITHUB_TOKEN: `ghp_${generatePrivateKey().slice(2, 38)}`, OTHER: 'x'.repeat(12) + generatePrivateKey().slice(2, 12) }
    for (const v of Object.values(mcp)) secrets.add(v)
    expect((await h.call(frank, 'PUT', '/wallet/apikey', { anthropicApiKey: key })).body.encryptionMode).toBe('hkdf')
    expect((await h.call(frank, 'PUT', '/wallet/mcp-secrets/github', { secrets: mcp })).body).toMatchObject({
      encryptionMode: 'hkdf',
      secretNames: ['GITHUB_TOKEN', 'OTHER'],
    })
    expect((await h.call(frank, 'GET', '/wallet/apikey/status')).body).toEqual({
      configured: true,
      persistent: true,
      encryptionMode: 'hkdf',
      unlocked: true,
      needsMigration: true,
    })
    await h.restart()
    expect(await h.vault.getProviderKey(frank.address, 'anthropic')).toBe(key)
    expect(await h.vault.getMcpSecrets(frank.address, 'github')).toEqual(mcp)

    const u = await h.call(frank, 'POST', '/wallet/provider-vault/unlock', { ...(await signed(h, frank)), providers: ['anthropic'] })
    expect(u.body).toMatchObject({ success: true, unlocked: true, skippedProviders: [], lockedProviders: [] })
    expect(u.body.migratedProviders.sort()).toEqual(['anthropic', 'mcp:github'])
    expect(u.body.unlockedProviders).toContain('anthropic')
    const file = JSON.parse((await readFile(await h.onlyVaultFile())).toString()) as { entries: Record<string, { mode: string }> }
    expect(Object.values(file.entries).map((e) => e.mode)).toEqual(['sign-to-derive', 'sign-to-derive'])
    expect((await h.call(frank, 'GET', '/wallet/apikey/status')).body).toMatchObject({ encryptionMode: 'sign-to-derive', needsMigration: false, unlocked: true })

    await h.restart() // the master key alone no longer opens anything
    await expect(h.vault.getProviderKey(frank.address, 'anthropic')).rejects.toMatchObject({ code: 'locked_secrets' })
    await expect(h.vault.getMcpSecrets(frank.address, 'github')).rejects.toMatchObject({
      code: 'locked_secrets',
      details: { needsUnlock: true, missingSecrets: [{ serverId: 'github', secretKeys: ['GITHUB_TOKEN', 'OTHER'] }] },
    })
    const mcpStatus = await h.call(frank, 'GET', '/wallet/mcp-secrets/github')
    expect(mcpStatus.body).toMatchObject({ serverId: 'github', configured: true, secretNames: ['GITHUB_TOKEN', 'OTHER'], unlocked: false })
    expect(JSON.stringify(mcpStatus.body)).not.toContain(mcp.GITHUB_TOKEN)
    await h.call(frank, 'POST', '/wallet/provider-vault/unlock', await signed(h, frank))
    expect(await h.vault.getMcpSecrets(frank.address, 'github')).toEqual(mcp)
    const types = (await h.store.readStream(`vault-${frank.address.toLowerCase()}`)).map((e) => e.type)
    expect(types.filter((t) => t === 'ProviderKeyMigrated')).toHaveLength(2)
  })
})

describe('unlock scope', () => {
  it('providers:[p] opens p, lists other sealed slots as locked, and a broken unrelated legacy entry blocks nothing', async () => {
    const h = await harness()
    const lee = wallet()
    const s = await signed(h, lee)
    const a = anthropicKey()
    const o = providerKey('openai')
    const d = providerKey('deepseek')
    await h.call(lee, 'PUT', '/wallet/apikey', { anthropicApiKey: a, ...s })
    await h.call(lee, 'PUT', '/wallet/openai-apikey', { openaiApiKey: o, ...(await signed(h, lee, s.signature)) })
    await h.call(lee, 'PUT', '/wallet/deepseek-apikey', { deepseekApiKey: d }) // legacy
    const file = await h.onlyVaultFile()
    const json = JSON.parse((await readFile(file)).toString()) as { entries: Record<string, { tag: string }> }
    json.entries.deepseek!.tag = Buffer.alloc(16).toString('base64') // break the legacy entry
    await writeFile(file, JSON.stringify(json))
    await h.restart()
    const u = await h.call(lee, 'POST', '/wallet/provider-vault/unlock', { ...(await signed(h, lee, s.signature)), providers: ['anthropic'] })
    expect(u.body).toMatchObject({ unlocked: true, unlockedProviders: ['anthropic'], migratedProviders: [], lockedProviders: ['openai'] })
    expect(await h.vault.getProviderKey(lee.address, 'anthropic')).toBe(a)
    await expect(h.vault.getProviderKey(lee.address, 'openai')).rejects.toMatchObject({ code: 'locked_secrets' })
    await expect(h.vault.getProviderKey(lee.address, 'deepseek')).rejects.toMatchObject({ code: 'vault_corrupt' })
    const asked = await h.call(lee, 'POST', '/wallet/provider-vault/unlock', { ...(await signed(h, lee, s.signature)), providers: ['deepseek'] })
    expect(asked.status).toBe(422)
    expect(asked.body).toMatchObject({ error: 'vault_corrupt', provider: 'deepseek' })
  })
})

describe('production posture (fail closed)', () => {
  it('missing folder → 503 vault_unavailable, no file, nothing held; health says so', async () => {
    const h = await harness({ failClosed: true })
    const vaultDir = join(h.dataDir, 'not-mounted', 'vault')
    await h.restart({ vaultDir })
    expect(h.vault.health()).toEqual({ persistent: false, failClosed: true })
    const gina = wallet()
    const legacy = await h.call(gina, 'PUT', '/wallet/apikey', { anthropicApiKey: anthropicKey() })
    expect(legacy.status).toBe(503)
    expect(legacy.body.error).toBe('vault_unavailable')
    const signedPut = await h.call(gina, 'PUT', '/wallet/apikey', { anthropicApiKey: anthropicKey(), ...(await signed(h, gina)) })
    expect(signedPut.status).toBe(503)
    await expect(h.vault.getProviderKey(gina.address, 'anthropic')).rejects.toMatchObject({ code: 'missing_secrets' })
    expect((await h.call(gina, 'GET', '/wallet/apikey/status')).body).toMatchObject({ configured: false, persistent: false })
    await expect(fs.stat(join(h.dataDir, 'not-mounted'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('unwritable folder (a file in its place; a failing rename) → 503, no partial file, nothing held', async () => {
    const h = await harness({ failClosed: true })
    const hank = wallet()
    const blocker = join(h.dataDir, 'blocked')
    await writeFile(blocker, 'placeholder')
    await h.restart({ vaultDir: blocker })
    const r = await h.call(hank, 'PUT', '/wallet/apikey', { anthropicApiKey: anthropicKey(), ...(await signed(h, hank)) })
    expect(r.status).toBe(503)
    expect(await readFile(blocker, 'utf8')).toBe('placeholder')

    const vaultDir = join(h.dataDir, 'vault-rename-fails')
    const failing = { ...fs, rename: async () => Promise.reject(Object.assign(new Error('EROFS'), { code: 'EROFS' })) }
    await h.restart({ vaultDir, fs: failing })
    const r2 = await h.call(hank, 'PUT', '/wallet/apikey', { anthropicApiKey: anthropicKey(), ...(await signed(h, hank)) })
    expect(r2.status).toBe(503)
    expect(await fs.readdir(vaultDir)).toEqual([])
    await expect(h.vault.getProviderKey(hank.address, 'anthropic')).rejects.toMatchObject({ code: 'missing_secrets' })
    expect(h.vault.health()).toEqual({ persistent: false, failClosed: true })
  })

  it('development without a usable folder: memory-only, honestly persistent:false', async () => {
    const h = await harness({ failClosed: false })
    const blocker = join(h.dataDir, 'blocked-dev')
    await writeFile(blocker, 'placeholder')
    await h.restart({ vaultDir: blocker })
    const ivy = wallet()
    const put = await h.call(ivy, 'PUT', '/wallet/apikey', { anthropicApiKey: anthropicKey() })
    expect(put.body).toMatchObject({ success: true, persistent: false })
    expect((await h.call(ivy, 'GET', '/wallet/apikey/status')).body).toMatchObject({ configured: true, persistent: false })
    expect(h.vault.health()).toEqual({ persistent: false, failClosed: false })
    expect(h.logLines.some((l) => l.includes('vault running memory-only'))).toBe(true)
  })
})

describe('concurrency', () => {
  it('concurrent signed puts of every provider for one wallet, from two vault instances, lose nothing', async () => {
    const h = await harness()
    const jo = wallet()
    const first = await signed(h, jo)
    // Establish the wallet's key check first so every concurrent put is checked against it.
    await h.call(jo, 'PUT', '/wallet/apikey', { anthropicApiKey: anthropicKey(), signature: first.signature, nonce: first.nonce })
    const other = await VaultHarness.sibling(h) // a second gateway process on the same folder and store
    harnesses.push(other)
    const keys = Object.fromEntries(PROVIDERS.map((p) => [p, providerKey(p)]))
    const results = await Promise.all(
      PROVIDERS.map(async (p, i) => {
        const s = await signed(other, jo, first.signature)
        const target = i % 2 === 0 ? h : other
        return target.call(jo, 'PUT', PROVIDER_INFO[p].path, { [PROVIDER_INFO[p].bodyKey]: keys[p], signature: s.signature, nonce: s.nonce })
      }),
    )
    expect(results.map((r) => r.status)).toEqual(PROVIDERS.map(() => 200))
    await h.restart()
    const u = await h.call(jo, 'POST', '/wallet/provider-vault/unlock', await signed(h, jo, first.signature))
    expect([...u.body.unlockedProviders].sort()).toEqual([...PROVIDERS].sort())
    for (const p of PROVIDERS) expect(await h.vault.getProviderKey(jo.address, p)).toBe(keys[p])
  })
})

describe('MCP server secrets and the worker pool', () => {
  it('signed MCP secrets through the Piscina task derive-vault-key: put, status names only, unlock, delete', async () => {
    const pool = createWorkerPool({ threads: 1 })
    try {
      const h = await harness({ derive: (p) => pool.run('derive-vault-key', p) })
      const kim = wallet()
      const values = { API_TOKEN: `tok-${generatePrivateKey().slice(2, 30)}` }
      secrets.add(values.API_TOKEN)
      const s = await signed(h, kim)
      const put = await h.call(kim, 'PUT', '/wallet/mcp-secrets/my.server', { secrets: values, ...s })
      expect(put.body).toMatchObject({ success: true, serverId: 'my.server', secretNames: ['API_TOKEN'], encryptionMode: 'sign-to-derive' })
      await h.restart({ derive: (p) => pool.run('derive-vault-key', p) })
      const status = await h.call(kim, 'GET', '/wallet/mcp-secrets/my.server')
      expect(status.body).toEqual({
        serverId: 'my.server',
        configured: true,
        persistent: true,
        encryptionMode: 'sign-to-derive',
        unlocked: false,
        needsMigration: false,
        secretNames: ['API_TOKEN'],
      })
      const wrong = wallet()
      const c = await h.call(kim, 'GET', '/wallet/provider-vault/derive-challenge')
      const forged = await wrong.signMessage({ message: c.body.message })
      secrets.add(forged)
      const refused = await h.call(kim, 'POST', '/wallet/provider-vault/unlock', { signature: forged, nonce: c.body.nonce })
      expect(refused.body.error).toBe('vault_signature_mismatch')
      const u = await h.call(kim, 'POST', '/wallet/provider-vault/unlock', await signed(h, kim, s.signature))
      expect(u.body.unlockedProviders).toEqual(['mcp:my.server'])
      expect(await h.vault.getMcpSecrets(kim.address, 'my.server')).toEqual(values)
      expect((await h.call(kim, 'GET', '/wallet/mcp-secrets/bad%2Fid')).status).toBe(400)
      expect((await h.call(kim, 'DELETE', '/wallet/mcp-secrets/my.server')).body).toEqual({ success: true, configured: false, serverId: 'my.server' })
      await expect(h.vault.getMcpSecrets(kim.address, 'my.server')).rejects.toMatchObject({ code: 'missing_secrets' })
    } finally {
      await pool.destroy()
    }
  })
})

describe('nothing leaks', () => {
  it('no stored key, secret or derive signature in the data folders, the event store files or the log lines; no address in the vault folder', async () => {
    expect(secrets.size).toBeGreaterThan(20)
    const needles = new Set<string>()
    for (const s of secrets) {
      needles.add(s)
      if (s.startsWith('0x')) {
        needles.add(s.slice(2).toLowerCase())
        needles.add(s.slice(2, 66).toLowerCase()) // r alone
      }
    }
    const scan = async () => {
      const hits: string[] = []
      for (const h of harnesses) {
        for (const file of await VaultHarness.allFiles(h.dataDir)) {
          const text = (await readFile(file)).toString('latin1').toLowerCase()
          for (const n of needles) if (text.includes(n.toLowerCase())) hits.push(`${file}: ${n.slice(0, 8)}…`)
        }
        const logs = h.logLines.join('\n').toLowerCase()
        for (const n of needles) if (logs.includes(n.toLowerCase())) hits.push(`log: ${n.slice(0, 8)}…`)
        for (const file of await VaultHarness.allFiles(h.vaultDir)) {
          const text = (await readFile(file)).toString('latin1').toLowerCase()
          for (const a of walletAddresses) if (text.includes(a.slice(2).toLowerCase())) hits.push(`${file}: address`)
          if (file.toLowerCase().includes('0x')) hits.push(`${file}: address-like name`)
        }
      }
      return hits
    }
    // The scan itself can fail: a canary planted in a data folder and a log line is found.
    const canary = `sk-ant-canary-${generatePrivateKey().slice(2, 20)}`
    needles.add(canary)
    const first = harnesses[0] as VaultHarness
    await writeFile(join(first.dataDir, 'canary.txt'), `x${canary}x`)
    first.logLines.push(JSON.stringify({ msg: canary }))
    expect(await scan()).toHaveLength(2)
    await rm(join(first.dataDir, 'canary.txt'))
    first.logLines.pop()
    expect(await scan()).toEqual([])
    // The logs did see the request bodies (redacted) and the error lines.
    const allLogs = harnesses.flatMap((h) => h.logLines).join('\n')
    expect(allLogs).toContain('[redacted]')
    expect(allLogs).toContain('vault_signature_mismatch')
    // And once more after the stores are closed (WAL checkpointed into the main file).
    for (const h of harnesses) await h.close()
    expect(await scan()).toEqual([])
  })
})
