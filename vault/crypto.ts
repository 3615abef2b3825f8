import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { type Hex, parseSignature, recoverMessageAddress, serializeSignature } from 'viem'

/** Order of the secp256k1 group; a signature with s > n/2 has an equivalent low-s twin. */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const HALF_N = SECP256K1_N >> 1n

/** Version of the key-derivation scheme below (info strings, KCV constant). Stored per file. */
export const KDF_VERSION = 1

const INFO_S2D_ENTRY = 'agent-gateway/vault/kdf-v1/sign-to-derive/aes-256-gcm'
const INFO_S2D_CHECK = 'agent-gateway/vault/kdf-v1/sign-to-derive/key-check'
const INFO_LEGACY_ENTRY = 'agent-gateway/vault/kdf-v1/legacy/aes-256-gcm'
const KCV_CONSTANT = 'agent-gateway/vault/kdf-v1/key-check-value'

const SIGNATURE_PATTERN = /^0x[0-9a-fA-F]{130}$/

/**
 * Canonical 65-byte form of an EIP-191 signature: low-s (s ≤ n/2, flipping the recovery
 * bit when s is mirrored) and v as 27/28. Equivalent signatures (v 0/1 vs 27/28, high-s
 * malleated twins) therefore derive the same key. Throws on anything that is not a
 * well-formed 65-byte signature.
 */
export function normaliseSignature(signature: string): Hex {
  if (!SIGNATURE_PATTERN.test(signature)) throw new Error('signature must be 65 bytes of hex')
  const parsed = parseSignature(signature as Hex)
  const r = BigInt(parsed.r)
  let s = BigInt(parsed.s)
  let yParity = parsed.yParity
  if (r === 0n || r >= SECP256K1_N || s === 0n || s >= SECP256K1_N) throw new Error('signature scalar out of range')
  if (s > HALF_N) {
    s = SECP256K1_N - s
    yParity = yParity === 0 ? 1 : 0
  }
  return serializeSignature({ r: parsed.r, s: `0x${s.toString(16).padStart(64, '0')}`, yParity })
}

export interface DeriveVaultKeysParameters {
  /** Lower-case wallet address the signature must recover to. */
  address: string
  /** The exact derive message (a version from vault/messages.ts). */
  message: string
  signature: string
  /** Salt of the wallet's key-check value. */
  checkSalt: Uint8Array
  /** One salt per entry to derive an AES-256-GCM key for. */
  entrySalts: readonly Uint8Array[]
}

export type DeriveVaultKeysReturnType =
  | { ok: true; checkMac: Uint8Array; keys: Uint8Array[] }
  | { ok: false; reason: 'malformed_signature' | 'wrong_signer' }

/**
 * Recovers the signer (EIP-191), checks it is `address`, then derives with HKDF-SHA256
 * over the normalised signature bytes: the key-check MAC and one AES-256-GCM key per entry
 * salt. Pure and structured-clonable both ways: runs as the worker task derive-vault-key.
 * Failures are returned, not thrown, so nothing about the signature crosses an Error.
 */
export async function deriveVaultKeys(p: DeriveVaultKeysParameters): Promise<DeriveVaultKeysReturnType> {
  let normalised: Hex
  try {
    normalised = normaliseSignature(p.signature)
  } catch {
    return { ok: false, reason: 'malformed_signature' }
  }
  let signer: string
  try {
    signer = await recoverMessageAddress({ message: p.message, signature: normalised })
  } catch {
    return { ok: false, reason: 'malformed_signature' }
  }
  if (signer.toLowerCase() !== p.address.toLowerCase()) return { ok: false, reason: 'wrong_signer' }
  const ikm = Buffer.from(normalised.slice(2), 'hex')
  const checkKey = hkdf(ikm, p.checkSalt, INFO_S2D_CHECK)
  const checkMac = new Uint8Array(createHmac('sha256', checkKey).update(KCV_CONSTANT).digest())
  const keys = p.entrySalts.map((salt) => hkdf(ikm, salt, INFO_S2D_ENTRY))
  ikm.fill(0)
  checkKey.fill(0)
  return { ok: true, checkMac, keys }
}

/** The legacy (server-decryptable) entry key: HKDF-SHA256 of the master key. */
export function legacyEntryKey(masterKey: Uint8Array, salt: Uint8Array): Uint8Array {
  return hkdf(masterKey, salt, INFO_LEGACY_ENTRY)
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, 32))
}

/** Constant-time comparison of two MACs. */
export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Fresh random bytes (salts, IVs). */
export function randomSalt(bytes = 32): Uint8Array {
  return new Uint8Array(randomBytes(bytes))
}

export interface Sealed {
  iv: Uint8Array
  ciphertext: Uint8Array
  tag: Uint8Array
}

/** AES-256-GCM with a random 12-byte IV; `aad` binds the ciphertext to its wallet and slot. */
export function seal(key: Uint8Array, plaintext: string, aad: string): Sealed {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(aad, 'utf8'))
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return { iv: new Uint8Array(iv), ciphertext: new Uint8Array(ciphertext), tag: new Uint8Array(cipher.getAuthTag()) }
}

/** Inverse of seal; returns undefined when authentication fails (tampered or wrong key). */
export function open(key: Uint8Array, sealed: Sealed, aad: string): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv)
    decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(sealed.tag)
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}

/** Name of a wallet's vault file: hex HMAC-SHA256(vault HMAC key, lower-case address). */
export function walletFileId(hmacKey: Uint8Array, address: string): string {
  return createHmac('sha256', hmacKey).update(address.toLowerCase()).digest('hex')
}
