import { createHash } from 'node:crypto'
import { type Hex, parseSignature } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import deriveVaultKeyTask from '../workers/tasks/derive-vault-key.js'
import { tasks } from '../workers/tasks/index.js'
import {
  SECP256K1_N,
  deriveVaultKeys,
  legacyEntryKey,
  macEquals,
  normaliseSignature,
  open,
  randomSalt,
  seal,
  walletFileId,
} from './crypto.js'
import { CURRENT_DERIVE_MESSAGE_VERSION, DERIVE_MESSAGE_VERSIONS, deriveMessage, deriveMessageVersionOf } from './messages.js'

const account = privateKeyToAccount(generatePrivateKey())
const other = privateKeyToAccount(generatePrivateKey())
const address = account.address.toLowerCase()
const message = deriveMessage(address, 1)

/** The malleated twin of a signature: s → n − s with the recovery bit flipped (still valid). */
function highS(signature: Hex): Hex {
  const p = parseSignature(signature)
  const s = SECP256K1_N - BigInt(p.s)
  const body = `${p.r.slice(2)}${s.toString(16).padStart(64, '0')}`
  return `0x${body}${p.yParity === 0 ? '1c' : '1b'}`
}

/** The same signature with v as a raw recovery bit (0/1) instead of 27/28. */
function rawV(signature: Hex): Hex {
  const p = parseSignature(signature)
  return `${signature.slice(0, 130)}0${p.yParity}` as Hex
}

describe('derive messages', () => {
  it('are deterministic per wallet, lower-case the address, and carry purpose and version but no nonce', () => {
    const a = deriveMessage(account.address, 1)
    expect(a).toBe(deriveMessage(address, 1))
    expect(a).toContain(`Wallet: ${address}`)
    expect(a).toContain('Purpose: vault-derive')
    expect(a).toContain('Version: 1')
    if (account.address !== address) expect(a).not.toContain(account.address) // never the checksummed form
    expect(deriveMessageVersionOf(account.address, a)).toBe(1)
    expect(deriveMessageVersionOf(other.address, a)).toBeUndefined()
  })

  it('version 1 text is frozen (its signature is users’ key material)', () => {
    const digest = createHash('sha256').update(deriveMessage('0x0000000000000000000000000000000000000001', 1)).digest('hex')
    expect(digest).toBe(V1_DIGEST)
    expect(DERIVE_MESSAGE_VERSIONS).toContain(1)
    expect(DERIVE_MESSAGE_VERSIONS).toContain(CURRENT_DERIVE_MESSAGE_VERSION)
    expect(() => deriveMessage(address, 999)).toThrow(/unknown/)
  })
})

const V1_DIGEST = createHash('sha256')
  .update(
    [
      'Agent Gateway provider key vault',
      '',
      'Sign this message to derive the key that encrypts your provider API keys.',
      'Signing it costs nothing and sends no transaction.',
      'Only sign it on a gateway you trust: the signature unlocks your stored keys.',
      '',
      'Wallet: 0x0000000000000000000000000000000000000001',
      'Purpose: vault-derive',
      'Version: 1',
    ].join('\n'),
  )
  .digest('hex')

describe('normaliseSignature', () => {
  it('maps high-s twins and raw-v forms onto one canonical low-s, v=27/28 signature', async () => {
    const sig = await account.signMessage({ message })
    const canonical = normaliseSignature(sig)
    expect(canonical).toBe(sig.toLowerCase()) // viem already signs low-s with v 27/28
    expect(highS(sig)).not.toBe(sig)
    expect(normaliseSignature(highS(sig))).toBe(canonical)
    expect(normaliseSignature(rawV(sig))).toBe(canonical)
    expect(normaliseSignature(sig.toUpperCase().replace('0X', '0x'))).toBe(canonical)
    expect(['1b', '1c']).toContain(canonical.slice(-2))
  })

  it('rejects malformed signatures', () => {
    expect(() => normaliseSignature('0x1234')).toThrow()
    expect(() => normaliseSignature(`0x${'00'.repeat(65)}`)).toThrow()
    expect(() => normaliseSignature(`0x${'ab'.repeat(64)}05`)).toThrow()
  })
})

describe('deriveVaultKeys', () => {
  it('derives the same keys from equivalent signatures and different keys per salt', async () => {
    const sig = await account.signMessage({ message })
    const checkSalt = randomSalt()
    const salts = [randomSalt(), randomSalt()]
    const a = await deriveVaultKeys({ address, message, signature: sig, checkSalt, entrySalts: salts })
    const b = await deriveVaultKeys({ address: account.address, message, signature: highS(sig), checkSalt, entrySalts: salts })
    const c = await deriveVaultKeys({ address, message, signature: rawV(sig), checkSalt, entrySalts: salts })
    if (!a.ok || !b.ok || !c.ok) throw new Error('expected ok')
    expect(a.keys).toHaveLength(2)
    expect(a.keys[0]).toHaveLength(32)
    expect(Buffer.from(a.keys[0]!)).toEqual(Buffer.from(b.keys[0]!))
    expect(Buffer.from(a.keys[1]!)).toEqual(Buffer.from(c.keys[1]!))
    expect(Buffer.from(a.keys[0]!)).not.toEqual(Buffer.from(a.keys[1]!))
    expect(macEquals(a.checkMac, b.checkMac)).toBe(true)
    const otherSalt = await deriveVaultKeys({ address, message, signature: sig, checkSalt: randomSalt(), entrySalts: [] })
    if (!otherSalt.ok) throw new Error('expected ok')
    expect(macEquals(a.checkMac, otherSalt.checkMac)).toBe(false)
  })

  it('refuses a signature by another wallet or over another text, and malformed input', async () => {
    const base = { address, message, checkSalt: randomSalt(), entrySalts: [randomSalt()] }
    expect(await deriveVaultKeys({ ...base, signature: await other.signMessage({ message }) })).toEqual({ ok: false, reason: 'wrong_signer' })
    expect(await deriveVaultKeys({ ...base, signature: await account.signMessage({ message: `${message}!` }) })).toEqual({
      ok: false,
      reason: 'wrong_signer',
    })
    expect(await deriveVaultKeys({ ...base, signature: '0xdead' })).toEqual({ ok: false, reason: 'malformed_signature' })
  })

  it('is the worker task derive-vault-key, registered in the task table', () => {
    expect(deriveVaultKeyTask).toBe(deriveVaultKeys)
    expect(tasks['derive-vault-key']).toBe(deriveVaultKeys)
  })
})

describe('seal/open', () => {
  it('round-trips and fails closed on a tampered byte, a wrong key or a different AAD', () => {
    const key = randomSalt(32)
    const sealed = seal(key, 'sk-ant-secret', 'aad-1')
    expect(sealed.iv).toHaveLength(12)
    expect(open(key, sealed, 'aad-1')).toBe('sk-ant-secret')
    expect(open(key, sealed, 'aad-2')).toBeUndefined()
    expect(open(randomSalt(32), sealed, 'aad-1')).toBeUndefined()
    const flipped = new Uint8Array(sealed.ciphertext)
    flipped[0] = (flipped[0] ?? 0) ^ 1
    expect(open(key, { ...sealed, ciphertext: flipped }, 'aad-1')).toBeUndefined()
    expect(Buffer.from(seal(key, 'x', 'a').iv)).not.toEqual(Buffer.from(seal(key, 'x', 'a').iv))
  })

  it('legacy keys depend on the master key and the salt', () => {
    const salt = randomSalt()
    const m = Buffer.from('m'.repeat(32))
    expect(Buffer.from(legacyEntryKey(m, salt))).toEqual(Buffer.from(legacyEntryKey(m, salt)))
    expect(Buffer.from(legacyEntryKey(m, salt))).not.toEqual(Buffer.from(legacyEntryKey(m, randomSalt())))
    expect(Buffer.from(legacyEntryKey(Buffer.from('n'.repeat(32)), salt))).not.toEqual(Buffer.from(legacyEntryKey(m, salt)))
  })

  it('file ids are HMACs of the lower-case address, without the address in them', () => {
    const k = Buffer.from('k'.repeat(32))
    const id = walletFileId(k, account.address)
    expect(id).toMatch(/^[0-9a-f]{64}$/)
    expect(id).toBe(walletFileId(k, address))
    expect(id).not.toContain(address.slice(2, 10))
    expect(walletFileId(Buffer.from('j'.repeat(32)), address)).not.toBe(id)
  })
})
