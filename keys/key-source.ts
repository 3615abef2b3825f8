import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, openSync, closeSync, readFileSync, writeSync, statSync, renameSync } from 'node:fs'
import { dirname } from 'node:path'
import { loadOrCreateSealedSecret, type TpmOptions } from './tpm.js'

/** Where a secret came from; reported truthfully in the security posture (API §16). */
export type KeySource = 'env_fallback' | 'file' | 'generated' | 'tpm_pcr'

export interface LoadOrCreateSecretOptions {
  /** Value from the environment (already read by config.ts); wins when non-empty. */
  envValue?: string | undefined
  /** Absolute (or DATA_DIR-relative, resolved by the caller) file holding the secret. */
  file: string
  /** Produces a fresh secret when neither env nor file has one. */
  generate: () => Buffer | string
}

export interface LoadedSecret {
  /** The secret as a string: env value verbatim, file contents trimmed, or generated. */
  value: string
  source: Exclude<KeySource, 'tpm_pcr'>
}

/**
 * Secret from env, else from `file` (created 0600), else generated and persisted
 * there. A Buffer from `generate` is stored as base64url.
 */
export function loadOrCreateSecret(opts: LoadOrCreateSecretOptions): LoadedSecret {
  if (opts.envValue !== undefined && opts.envValue !== '') return { value: opts.envValue, source: 'env_fallback' }
  const existing = readSecretFile(opts.file)
  if (existing !== undefined) return { value: existing, source: 'file' }
  const fresh = opts.generate()
  const value = typeof fresh === 'string' ? fresh : fresh.toString('base64url')
  // Another process may win the race to create it: then its value is the one to use.
  if (!writeSecretFileExclusive(opts.file, value)) {
    const theirs = readSecretFile(opts.file)
    if (theirs !== undefined) return { value: theirs, source: 'file' }
    writeSecretFile(opts.file, value) // the file existed but was empty: replace it
  }
  return { value, source: 'generated' }
}

/** A random 32-byte secret, base64url (43 chars) — the default `generate`. */
export function randomSecret(bytes = 32): Buffer {
  return randomBytes(bytes)
}

/** The trimmed contents of a secret file, undefined when absent or empty. */
export function readSecretFileIfAny(file: string): string | undefined {
  return readSecretFile(file)
}

/** The raw UTF-8 contents of `file`, undefined when it does not exist (other errors throw). */
export function readFileIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

function readSecretFile(file: string): string | undefined {
  const text = readFileIfPresent(file)
  if (text === undefined) return undefined
  // Tighten permissions left loose by hand-copied files; never loosen.
  try {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
  } catch {
    /* read-only mount: keep going, the value is still usable */
  }
  const trimmed = text.trim()
  return trimmed === '' ? undefined : trimmed
}

/**
 * Creates `file` (0600, parent folder 0700) holding `value` with O_EXCL; false when the file
 * already exists, so a process that loses a creation race can read the winner's value.
 */
export function writeSecretFileExclusive(file: string, value: string): boolean {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  let fd: number
  try {
    fd = openSync(file, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
  try {
    writeSync(fd, value + '\n')
  } finally {
    closeSync(fd)
  }
  chmodSync(file, 0o600)
  return true
}

/** Replaces `file` with `value` (0600, atomic rename); used for deliberate rotation. */
export function writeSecretFile(file: string, value: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const fd = openSync(tmp, 'wx', 0o600)
  try {
    writeSync(fd, value + '\n')
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}

/**
 * Like loadOrCreateSecret, but with a TPM: env wins, then an existing plaintext file
 * (kept, not migrated), else a secret sealed to the TPM's PCRs next to `file`
 * (`<file>.tpm.pub|priv`), source 'tpm_pcr'. Without `tpm` it is loadOrCreateSecret.
 */
export async function loadOrCreateSecretSealed(
  opts: LoadOrCreateSecretOptions & { tpm?: TpmOptions | undefined },
): Promise<{ value: string; source: KeySource }> {
  if (opts.tpm === undefined || (opts.envValue !== undefined && opts.envValue !== '')) return loadOrCreateSecret(opts)
  const plain = readSecretFile(opts.file)
  if (plain !== undefined) return { value: plain, source: 'file' }
  const sealed = await loadOrCreateSealedSecret({
    base: opts.file,
    tpm: opts.tpm,
    generate: () => {
      const fresh = opts.generate()
      return typeof fresh === 'string' ? fresh : fresh.toString('base64url')
    },
  })
  return { value: sealed.value, source: sealed.source }
}
