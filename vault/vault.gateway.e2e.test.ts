import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, describe, expect, it } from 'vitest'
import { signIn, startTestGateway, type TestGateway } from '../test/gateway.js'
import { VaultHarness } from '../test/vault/harness.js'

/** The whole gateway over HTTP: sign-in, vault routes, logout locking, restart, /health posture. */
describe('vault in the running gateway', () => {
  let gw: TestGateway | undefined
  let dataDir = ''
  afterAll(async () => {
    await gw?.stop({ keepData: true })
    if (dataDir !== '') await rm(dataDir, { recursive: true, force: true })
  })

  it('store → logout locks → unlock → restart stays locked; /health reports the vault; nothing leaks', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vault-gw-'))
    gw = await startTestGateway({}, dataDir)
    const alice = privateKeyToAccount(generatePrivateKey())
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(`${gw!.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      return { status: res.status, body: (await res.json()) as any }
    }
    let token = await signIn(gw.url, alice)

    const health = (await (await fetch(`${gw.url}/health`)).json()) as any
    expect(health.securityPosture.vault).toEqual({ persistent: true, failClosed: false })
    expect(health.securityPosture.keySources.byokVaultEncryptionKey).toBe('generated')

    const key = `sk-ant-api03-${generatePrivateKey().slice(2)}`
    const challenge = await call('GET', '/wallet/provider-vault/derive-challenge', token)
    const signature = await alice.signMessage({ message: challenge.body.message })
    const put = await call('PUT', '/wallet/apikey', token, { anthropicApiKey: key, signature, nonce: challenge.body.nonce })
    expect(put.body).toMatchObject({ success: true, configured: true, encryptionMode: 'sign-to-derive' })
    expect((await call('GET', '/wallet/apikey/status', token)).body.unlocked).toBe(true)

    expect((await call('POST', '/auth/logout', token, {})).status).toBeLessThan(300)
    token = await signIn(gw.url, alice)
    expect((await call('GET', '/wallet/apikey/status', token)).body).toMatchObject({ configured: true, unlocked: false })

    const c2 = await call('GET', '/wallet/provider-vault/derive-challenge', token)
    const unlock = await call('POST', '/wallet/provider-vault/unlock', token, { signature, nonce: c2.body.nonce })
    expect(unlock.body).toMatchObject({ success: true, unlocked: true, unlockedProviders: ['anthropic'] })

    await gw.stop({ keepData: true })
    gw = await startTestGateway({}, dataDir)
    token = await signIn(gw.url, alice)
    expect((await call('GET', '/wallet/apikey/status', token)).body).toEqual({
      configured: true,
      persistent: true,
      encryptionMode: 'sign-to-derive',
      unlocked: false,
      needsMigration: false,
    })
    const health2 = (await (await fetch(`${gw.url}/health`)).json()) as any
    expect(health2.securityPosture.keySources.byokVaultEncryptionKey).toBe('file')

    const needles = [key, signature.slice(2)]
    const logs = gw.logLines.join('\n')
    for (const n of needles) expect(logs).not.toContain(n)
    for (const file of await VaultHarness.allFiles(dataDir)) {
      const text = (await readFile(file)).toString('latin1')
      for (const n of needles) expect(text, file).not.toContain(n)
    }
  })
})
