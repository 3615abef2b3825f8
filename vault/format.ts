import { z } from 'zod'

/**
 * The on-disk shape of one wallet's vault file (JSON). It holds no wallet address: the
 * file is named by an HMAC of the address and the ciphertexts are bound to that name
 * through their AAD. Bump FORMAT_VERSION (and keep a reader for the old one) on change.
 */
export const FORMAT_VERSION = 1

export type EncryptionMode = 'sign-to-derive' | 'hkdf'

/** Where a secret lives inside a wallet's file: a provider id or `mcp:<serverId>`. */
export type Slot = string

export const SLOT_PATTERN = /^(?:[a-z]+|mcp:[A-Za-z0-9._-]{1,128})$/

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/)

const entrySchema = z.strictObject({
  mode: z.enum(['sign-to-derive', 'hkdf']),
  salt: b64,
  iv: b64,
  ciphertext: b64,
  tag: b64,
  /** Names of the secrets inside (MCP slots only); names are not secret. */
  names: z.array(z.string()).optional(),
  storedAt: z.string(),
})

export type VaultEntry = z.infer<typeof entrySchema>

const fileSchema = z.strictObject({
  format: z.literal(FORMAT_VERSION),
  /** vault/crypto.ts KDF_VERSION the entries were derived with. */
  kdf: z.literal(1),
  /** Increments on every write (diagnostics; the lock file serialises writers). */
  revision: z.number().int().nonnegative(),
  /** Present once a sign-to-derive entry exists: which message was signed, and the key-check value. */
  sign: z
    .strictObject({
      messageVersion: z.number().int().positive(),
      checkSalt: b64,
      checkMac: b64,
    })
    .nullable(),
  entries: z.record(z.string().regex(SLOT_PATTERN), entrySchema),
})

export type VaultFile = z.infer<typeof fileSchema>

/** An empty file for a wallet that has nothing stored yet. */
export function emptyVaultFile(): VaultFile {
  return { format: FORMAT_VERSION, kdf: 1, revision: 0, sign: null, entries: Object.create(null) as Record<string, VaultEntry> }
}

/** Parses file bytes; undefined when they are not a valid vault file (truncated, edited, foreign). */
export function parseVaultFile(bytes: Uint8Array): VaultFile | undefined {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    return undefined
  }
  const parsed = fileSchema.safeParse(json)
  if (!parsed.success) return undefined
  // A null-prototype copy: slot names come from disk and must never reach Object.prototype.
  const entries: Record<string, VaultEntry> = Object.create(null)
  for (const [slot, entry] of Object.entries(parsed.data.entries)) entries[slot] = entry
  return { ...parsed.data, entries }
}

/** Serialises a file (stable key order is not needed: the file is never signed). */
export function serializeVaultFile(file: VaultFile): Uint8Array {
  return Buffer.from(`${JSON.stringify(file)}\n`, 'utf8')
}

/** Additional authenticated data of an entry: binds it to its wallet file, slot and mode. */
export function entryAad(fileId: string, slot: Slot, mode: EncryptionMode): string {
  return `agent-gateway-vault|format-${FORMAT_VERSION}|${fileId}|${slot}|${mode}`
}
