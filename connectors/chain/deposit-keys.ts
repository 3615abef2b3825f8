import { join } from 'node:path'
import { generateMnemonic, mnemonicToSeedSync, validateMnemonic } from '@scure/bip39'
import { wordlist as english } from '@scure/bip39/wordlists/english'
import { HDKey, hdKeyToAccount, type HDAccount } from 'viem/accounts'
import { readFileIfPresent, writeSecretFileExclusive } from '../../keys/key-source.js'
import { ConfigError } from '../../shared/errors.js'
import type { Address, ChainLogger } from './types.js'

/** Largest non-hardened BIP-32 child index. */
const MAX_INDEX = 2 ** 31 - 1

/** True when `mnemonic` (any case and spacing) is a BIP-39 English phrase with a valid checksum. */
export function isValidMnemonic(mnemonic: string): boolean {
  return validateMnemonic(normalise(mnemonic), english)
}

/** One space between lower-case words: the phrase as BIP-39 reads it (it NFKD-normalises itself). */
function normalise(mnemonic: string): string {
  return mnemonic.normalize('NFKD').trim().toLowerCase().split(/\s+/).join(' ')
}

export interface DepositKeyring {
  /** BIP-44 account m/44'/60'/0'/0/<index>. */
  account(index: number): HDAccount
  /** Checksummed address of m/44'/60'/0'/0/<index>. */
  address(index: number): Address
}

/**
 * Derives deposit accounts from a mnemonic. The BIP-39 seed (2048 PBKDF2 rounds) is computed
 * once and child accounts are cached, unlike calling `mnemonicToAccount` per index; the
 * derivation path is the same as `mnemonicToAccount(m, { addressIndex })`.
 */
export function createDepositKeyring(mnemonic: string): DepositKeyring {
  if (!isValidMnemonic(mnemonic)) throw new ConfigError('DEPOSIT_MNEMONIC: not a valid BIP-39 English mnemonic')
  const seed = mnemonicToSeedSync(normalise(mnemonic))
  const master = HDKey.fromMasterSeed(seed)
  const cache = new Map<number, HDAccount>()
  const account = (index: number): HDAccount => {
    if (!Number.isInteger(index) || index < 0 || index > MAX_INDEX) throw new RangeError(`deposit index out of range: ${index}`)
    let acc = cache.get(index)
    if (!acc) {
      acc = hdKeyToAccount(master, { accountIndex: 0, changeIndex: 0, addressIndex: index })
      cache.set(index, acc)
    }
    return acc
  }
  return { account, address: (index) => account(index).address }
}

export interface ResolveDepositMnemonicOptions {
  /** DEPOSIT_MNEMONIC from config (wins when set). */
  mnemonic?: string | undefined
  /** DATA_DIR: a development mnemonic is kept in `<dataDir>/deposit-mnemonic.txt` (0600). */
  dataDir: string
  nodeEnv: 'development' | 'production' | 'test'
  log?: ChainLogger | undefined
}

export interface ResolvedDepositMnemonic {
  mnemonic: string
  source: 'env' | 'file' | 'generated'
  /** Set for source file/generated. */
  file?: string
}

/**
 * The deposit mnemonic: DEPOSIT_MNEMONIC; else, outside production, the one persisted under
 * DATA_DIR, generated on first start (with a loud warning: whoever reads that file controls
 * every deposit). In production a missing mnemonic is a ConfigError — never generate there,
 * since losing the generated file would strand every deposit.
 */
export function resolveDepositMnemonic(opts: ResolveDepositMnemonicOptions): ResolvedDepositMnemonic {
  if (opts.mnemonic !== undefined && opts.mnemonic.trim() !== '') {
    if (!isValidMnemonic(opts.mnemonic)) throw new ConfigError('DEPOSIT_MNEMONIC: not a valid BIP-39 English mnemonic')
    return { mnemonic: normalise(opts.mnemonic), source: 'env' }
  }
  if (opts.nodeEnv === 'production') {
    throw new ConfigError(
      'DEPOSIT_MNEMONIC is required in production: the chain connector (deposit addresses, withdrawals, settlements) refuses to start without it',
    )
  }
  const file = join(opts.dataDir, 'deposit-mnemonic.txt')
  const existing = readMnemonicFile(file)
  if (existing !== undefined) {
    opts.log?.warn({ file }, 'DEPOSIT_MNEMONIC not set: using the development deposit mnemonic stored in DATA_DIR — set DEPOSIT_MNEMONIC for real funds')
    return { mnemonic: existing, source: 'file', file }
  }
  const fresh = generateMnemonic(english)
  if (!writeSecretFileExclusive(file, fresh)) {
    // Another process created it first: use theirs so both derive the same addresses.
    const theirs = readMnemonicFile(file)
    if (theirs !== undefined) return { mnemonic: theirs, source: 'file', file }
    throw new ConfigError(`${file}: exists but holds no mnemonic yet (another process is creating it?)`)
  }
  opts.log?.warn(
    { file },
    '!!! DEPOSIT_MNEMONIC not set: GENERATED a new deposit mnemonic and stored it in DATA_DIR (mode 0600). ' +
      'Every deposit address derives from it; back it up or set DEPOSIT_MNEMONIC. Development only !!!',
  )
  return { mnemonic: fresh, source: 'generated', file }
}

function readMnemonicFile(file: string): string | undefined {
  const text = readFileIfPresent(file)
  if (text === undefined) return undefined
  const m = normalise(text)
  if (m === '') return undefined
  if (!isValidMnemonic(m)) throw new ConfigError(`${file}: not a valid BIP-39 English mnemonic`)
  return m
}
