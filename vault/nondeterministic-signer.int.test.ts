import { rm } from 'node:fs/promises'
import { generatePrivateKey, privateKeyToAccount, setSignEntropy } from 'viem/accounts'
import { afterAll, describe, expect, it } from 'vitest'
import { VaultHarness } from '../test/vault/harness.js'

// For this file only (its own worker): every signature uses fresh randomness, like a
// hardware or MPC signer that does not follow RFC 6979.
setSignEntropy(true)

let h: VaultHarness | undefined
afterAll(async () => {
  if (h === undefined) return
  await h.close()
  await rm(h.dataDir, { recursive: true, force: true })
})

describe('a non-deterministic signer', () => {
  it('gets vault_signature_mismatch (key check), never garbage, and the stored key stays intact', async () => {
    h = await VaultHarness.create()
    const account = privateKeyToAccount(generatePrivateKey())
    const key = `sk-ant-${generatePrivateKey().slice(2)}`
    const first = await h.signedNonce(account)
    expect((await h.call(account, 'PUT', '/wallet/apikey', { anthropicApiKey: key, signature: first.signature, nonce: first.nonce })).status).toBe(200)
    await h.restart()

    const second = await h.signedNonce(account) // a new, different, yet valid signature
    expect(second.signature).not.toBe(first.signature)
    expect(second.message).toBe(first.message)
    const refused = await h.call(account, 'POST', '/wallet/provider-vault/unlock', { signature: second.signature, nonce: second.nonce })
    expect(refused.status).toBe(400)
    expect(refused.body).toMatchObject({ error: 'vault_signature_mismatch', reason: 'key_check' })
    expect(refused.body.message).toMatch(/non-deterministic/)

    // A PUT for another provider with the new signature is refused too: one wallet, one signature.
    const third = await h.signedNonce(account)
    const put = await h.call(account, 'PUT', '/wallet/openai-apikey', { openaiApiKey: 'sk-openai-xyz-123', signature: third.signature, nonce: third.nonce })
    expect(put.body.error).toBe('vault_signature_mismatch')

    // The cached first signature still works.
    const again = await h.signedNonce(account, first.signature)
    const ok = await h.call(account, 'POST', '/wallet/provider-vault/unlock', { signature: again.signature, nonce: again.nonce })
    expect(ok.body.unlockedProviders).toEqual(['anthropic'])
    expect(await h.vault.getProviderKey(account.address, 'anthropic')).toBe(key)
  })
})
