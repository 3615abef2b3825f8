import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { mnemonicToAccount } from 'viem/accounts'
import { ConfigError } from '../../shared/errors.js'
import { createDepositKeyring, isValidMnemonic, resolveDepositMnemonic } from './deposit-keys.js'

const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk'

describe('deposit keyring', () => {
  it('derives the well-known BIP-44 vectors of the anvil mnemonic', () => {
    const k = createDepositKeyring(ANVIL_MNEMONIC)
    expect(k.address(0)).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
    expect(k.address(1)).toBe('0x70997970C51812dc3A010C7d01b50e0d17dc79C8')
  })

  it('matches viem mnemonicToAccount(addressIndex) and is deterministic', () => {
    const k1 = createDepositKeyring(ANVIL_MNEMONIC)
    const k2 = createDepositKeyring(`  ${ANVIL_MNEMONIC.toUpperCase()}  `)
    for (const i of [2, 17, 1000, 2 ** 31 - 1]) {
      expect(k1.address(i)).toBe(mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }).address)
      expect(k2.address(i)).toBe(k1.address(i))
    }
    expect(new Set([0, 1, 2, 3].map((i) => k1.address(i))).size).toBe(4)
  })

  it('rejects out-of-range indices and invalid mnemonics', () => {
    const k = createDepositKeyring(ANVIL_MNEMONIC)
    expect(() => k.address(-1)).toThrow(RangeError)
    expect(() => k.address(2 ** 31)).toThrow(RangeError)
    expect(() => k.address(1.5)).toThrow(RangeError)
    // valid words, wrong checksum
    expect(isValidMnemonic('test test test test test test test test test test test test')).toBe(false)
    expect(isValidMnemonic('test test test test test test test test test test test notaword')).toBe(false)
    expect(isValidMnemonic(ANVIL_MNEMONIC)).toBe(true)
    expect(() => createDepositKeyring('test test test test test test test test test test test test')).toThrow(ConfigError)
  })
})

describe('resolveDepositMnemonic', () => {
  const dirs: string[] = []
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'deposit-mnemonic-'))
    dirs.push(d)
    return d
  }
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })
  const logger = () => {
    const warnings: string[] = []
    return { warnings, log: { info() {}, error() {}, warn: (_o: object, m?: string) => void warnings.push(m ?? '') } }
  }

  it('uses DEPOSIT_MNEMONIC when set, without touching the data dir', () => {
    const dir = tmp()
    const r = resolveDepositMnemonic({ mnemonic: ANVIL_MNEMONIC, dataDir: dir, nodeEnv: 'production' })
    expect(r).toEqual({ mnemonic: ANVIL_MNEMONIC, source: 'env' })
    expect(() => statSync(join(dir, 'deposit-mnemonic.txt'))).toThrow()
  })

  it('in development generates a mnemonic once, persists it 0600 with a loud warning, and reuses it', () => {
    const dir = join(tmp(), 'nested')
    const { warnings, log } = logger()
    const first = resolveDepositMnemonic({ dataDir: dir, nodeEnv: 'development', log })
    expect(first.source).toBe('generated')
    expect(isValidMnemonic(first.mnemonic)).toBe(true)
    const file = join(dir, 'deposit-mnemonic.txt')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8').trim()).toBe(first.mnemonic)
    expect(warnings.some((w) => w.includes('GENERATED'))).toBe(true)
    // The warning never carries the secret itself.
    expect(warnings.join(' ')).not.toContain(first.mnemonic)

    const second = resolveDepositMnemonic({ dataDir: dir, nodeEnv: 'development', log })
    expect(second).toEqual({ mnemonic: first.mnemonic, source: 'file', file })
    expect(createDepositKeyring(second.mnemonic).address(5)).toBe(createDepositKeyring(first.mnemonic).address(5))
  })

  it('refuses to start in production without a mnemonic', () => {
    const dir = tmp()
    expect(() => resolveDepositMnemonic({ dataDir: dir, nodeEnv: 'production' })).toThrow(/DEPOSIT_MNEMONIC is required in production/)
    expect(() => resolveDepositMnemonic({ dataDir: dir, nodeEnv: 'production' })).toThrow(ConfigError)
  })

  it('rejects an invalid configured mnemonic', () => {
    expect(() => resolveDepositMnemonic({ mnemonic: 'not a mnemonic', dataDir: tmp(), nodeEnv: 'development' })).toThrow(ConfigError)
  })
})
