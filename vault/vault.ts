import type { NonceRegistry } from '../auth/nonces.js'
import { AuthError, ValidationError } from '../shared/errors.js'
import { ConcurrencyError } from '../store/errors.js'
import type { EventStore } from '../store/types.js'
import {
  type DeriveVaultKeysParameters,
  type DeriveVaultKeysReturnType,
  deriveVaultKeys,
  legacyEntryKey,
  macEquals,
  open,
  randomSalt,
  seal,
  walletFileId,
} from './crypto.js'
import {
  lockedMcpSecrets,
  lockedProviderKey,
  missingMcpSecrets,
  missingProviderKey,
  signatureMismatch,
  vaultCorrupt,
} from './errors.js'
import {
  type EncryptionMode,
  type Slot,
  type VaultEntry,
  type VaultFile,
  emptyVaultFile,
  entryAad,
  parseVaultFile,
  serializeVaultFile,
} from './format.js'
import { CURRENT_DERIVE_MESSAGE_VERSION, deriveMessage, deriveMessageVersionOf } from './messages.js'
import type { VaultPersistence } from './persistence.js'
import type { Provider } from './providers.js'
import { UnlockedSecrets } from './session.js'

/** Nonce purpose of derive challenges in auth/nonces.ts. */
export const VAULT_DERIVE_NONCE_PURPOSE = 'vault-derive'

/** Facts the vault appends to stream `vault-<lower-case address>`: never material, never signatures. */
export type VaultEvent =
  | { type: 'ProviderKeyStored'; data: { provider: Slot; encryptionMode: EncryptionMode } }
  | { type: 'ProviderKeyDeleted'; data: { provider: Slot } }
  | { type: 'VaultUnlocked'; data: { providers: Slot[] } }
  | { type: 'ProviderKeyMigrated'; data: { provider: Slot; from: 'hkdf'; to: 'sign-to-derive' } }

export interface KeyVaultParameters {
  persistence: VaultPersistence
  /** Names wallet files (HMAC of the address). Losing it orphans every file. */
  hmacKey: Uint8Array
  /** Encrypts legacy (server-decryptable) entries. */
  masterKey: Uint8Array
  nonces: NonceRegistry
  store: EventStore
  unlockTtlMs: number
  /** Signer recovery + HKDF; main.ts passes the worker pool's `derive-vault-key`. Default: inline. */
  derive?: (p: DeriveVaultKeysParameters) => Promise<DeriveVaultKeysReturnType>
  now?: () => number
  /** Warnings carry only codes and slot names. */
  log?: { warn(obj: Record<string, unknown>, msg: string): void }
}

export interface SecretStatus {
  configured: boolean
  persistent: boolean
  encryptionMode: EncryptionMode | null
  unlocked: boolean
  needsMigration: boolean
  /** Secret names (MCP slots). */
  names?: string[]
}

export interface SignedRequest {
  signature: string
  nonce: string
}

export interface UnlockResult {
  success: true
  unlocked: boolean
  unlockedProviders: string[]
  migratedProviders: string[]
  lockedProviders: string[]
  skippedProviders: string[]
  expiresInMs: number
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'))

/**
 * The BYOK key vault. At rest a sign-to-derive entry opens only with a key derived from
 * the wallet's signature over its derive message; decrypted values live in process memory
 * for `unlockTtlMs`. Legacy entries (stored without a signature) are server-decryptable
 * with the master key until the next unlock migrates them.
 */
export class KeyVault {
  readonly #p: KeyVaultParameters
  readonly #derive: (p: DeriveVaultKeysParameters) => Promise<DeriveVaultKeysReturnType>
  readonly #now: () => number
  readonly #session: UnlockedSecrets

  constructor(p: KeyVaultParameters) {
    this.#p = p
    this.#derive = p.derive ?? deriveVaultKeys
    this.#now = p.now ?? Date.now
    this.#session = new UnlockedSecrets({ now: this.#now })
  }

  /** `{persistent, failClosed}` for /health and the security posture. */
  health(): { persistent: boolean; failClosed: boolean } {
    return { persistent: this.#p.persistence.persistent, failClosed: this.#p.persistence.failClosed }
  }

  /** The wallet's derive message (its stored version, else the current one) and a fresh nonce. */
  async deriveChallenge(address: string): Promise<{ message: string; nonce: string }> {
    const addr = address.toLowerCase()
    let version = CURRENT_DERIVE_MESSAGE_VERSION
    try {
      version = (await this.#readFile(addr)).sign?.messageVersion ?? version
    } catch {
      // An unreadable file fails later with its own error; the challenge itself still works.
    }
    const message = deriveMessage(addr, version)
    const issued = await this.#p.nonces.issue(VAULT_DERIVE_NONCE_PURPOSE, () => message, addr)
    return { message, nonce: issued.nonce }
  }

  /** What is stored for a slot; never any material. */
  async status(address: string, slot: Slot): Promise<SecretStatus> {
    const addr = address.toLowerCase()
    const entry = (await this.#readFile(addr)).entries[slot]
    const persistent = this.#p.persistence.persistent
    if (entry === undefined)
      return { configured: false, persistent, encryptionMode: null, unlocked: false, needsMigration: false }
    const legacy = entry.mode === 'hkdf'
    return {
      configured: true,
      persistent,
      encryptionMode: entry.mode,
      unlocked: legacy || this.#session.has(addr, slot),
      needsMigration: legacy,
      ...(entry.names === undefined ? {} : { names: [...entry.names] }),
    }
  }

  /**
   * Stores `plaintext` in `slot`: with a derive signature under the wallet-derived key
   * (and held unlocked), else in legacy mode. Replaces what the slot held.
   */
  async put(
    address: string,
    slot: Slot,
    plaintext: string,
    options: { names?: string[]; signed?: SignedRequest } = {},
  ): Promise<{ encryptionMode: EncryptionMode }> {
    const addr = address.toLowerCase()
    const id = this.#fileId(addr)
    const signed = options.signed === undefined ? undefined : await this.#consumeNonce(addr, options.signed.nonce)
    const mode: EncryptionMode = signed === undefined ? 'hkdf' : 'sign-to-derive'
    await this.#p.persistence.update(id, async (current) => {
      const file = this.#parse(current)
      const salt = randomSalt()
      let key: Uint8Array
      if (signed === undefined || options.signed === undefined) key = legacyEntryKey(this.#p.masterKey, salt)
      else {
        if (file.sign !== null && file.sign.messageVersion !== signed.version) throw signatureMismatch('message_version')
        const checkSalt = file.sign === null ? randomSalt() : unb64(file.sign.checkSalt)
        const derived = await this.#deriveChecked(addr, signed.message, options.signed.signature, checkSalt, [salt], file)
        key = derived.keys[0] as Uint8Array
        if (file.sign === null)
          file.sign = { messageVersion: signed.version, checkSalt: b64(checkSalt), checkMac: b64(derived.checkMac) }
      }
      file.entries[slot] = this.#sealEntry(key, plaintext, id, slot, mode, salt, options.names)
      key.fill(0)
      return { next: this.#serialize(file), result: undefined }
    })
    if (mode === 'sign-to-derive') this.#session.hold(addr, slot, plaintext, this.#now() + this.#p.unlockTtlMs)
    else this.#session.forget(addr, slot)
    await this.#record(addr, [{ type: 'ProviderKeyStored', data: { provider: slot, encryptionMode: mode } }])
    return { encryptionMode: mode }
  }

  /**
   * Deletes a slot (and its unlocked copy). A file that no longer parses is removed whole:
   * nothing in it can be opened any more, and this is the owner's only way out.
   */
  async delete(address: string, slot: Slot): Promise<void> {
    const addr = address.toLowerCase()
    const existed = await this.#p.persistence.update(this.#fileId(addr), async (current) => {
      if (current === undefined) return { next: undefined, result: false }
      const file = parseVaultFile(current)
      if (file === undefined) return { next: null, result: true }
      if (file.entries[slot] === undefined) return { next: undefined, result: false }
      delete file.entries[slot]
      return { next: Object.keys(file.entries).length === 0 ? null : this.#serialize(file), result: true }
    })
    this.#session.forget(addr, slot)
    if (existed) await this.#record(addr, [{ type: 'ProviderKeyDeleted', data: { provider: slot } }])
  }

  /**
   * Opens the wallet's sign-to-derive entries named by `slots` (all when absent) with a
   * derive signature, migrates every legacy entry to sign-to-derive, and holds the opened
   * values for `unlockTtlMs`. All-or-nothing: any failure changes no file and holds nothing.
   */
  async unlock(address: string, signedRequest: SignedRequest, slots?: readonly string[]): Promise<UnlockResult> {
    const addr = address.toLowerCase()
    const id = this.#fileId(addr)
    const signed = await this.#consumeNonce(addr, signedRequest.nonce)
    const outcome = await this.#p.persistence.update(id, async (current) => {
      const file = this.#parse(current)
      const configured = Object.keys(file.entries)
      const requested = [...new Set(slots ?? configured)]
      const skipped = requested.filter((s) => file.entries[s] === undefined)
      const targets = requested.filter((s) => file.entries[s]?.mode === 'sign-to-derive')
      const legacy = configured.filter((s) => file.entries[s]?.mode === 'hkdf')
      if (file.sign !== null && file.sign.messageVersion !== signed.version) throw signatureMismatch('message_version')
      const checkSalt = file.sign === null ? randomSalt() : unb64(file.sign.checkSalt)
      const newSalts = legacy.map(() => randomSalt())
      const derived = await this.#deriveChecked(
        addr,
        signed.message,
        signedRequest.signature,
        checkSalt,
        [...targets.map((s) => unb64((file.entries[s] as VaultEntry).salt)), ...newSalts],
        file,
      )
      try {
        const opened = new Map<Slot, string>()
        targets.forEach((slot, i) => {
          const value = open(derived.keys[i] as Uint8Array, sealedOf(file.entries[slot] as VaultEntry), entryAad(id, slot, 'sign-to-derive'))
          if (value === undefined) throw vaultCorrupt(slot)
          opened.set(slot, value)
        })
        const migrated: Slot[] = []
        legacy.forEach((slot, j) => {
          const entry = file.entries[slot] as VaultEntry
          const oldKey = legacyEntryKey(this.#p.masterKey, unb64(entry.salt))
          const value = open(oldKey, sealedOf(entry), entryAad(id, slot, 'hkdf'))
          oldKey.fill(0)
          if (value === undefined) {
            // Only a slot the caller asked for fails the unlock; an unrelated broken one stays as it is.
            if (requested.includes(slot)) throw vaultCorrupt(slot)
            this.#p.log?.warn({ provider: slot }, 'legacy vault entry fails its integrity check; not migrated')
            return
          }
          const key = derived.keys[targets.length + j] as Uint8Array
          file.entries[slot] = this.#sealEntry(key, value, id, slot, 'sign-to-derive', newSalts[j] as Uint8Array, entry.names)
          opened.set(slot, value)
          migrated.push(slot)
        })
        if (migrated.length > 0 && file.sign === null)
          file.sign = { messageVersion: signed.version, checkSalt: b64(checkSalt), checkMac: b64(derived.checkMac) }
        return {
          next: migrated.length > 0 ? this.#serialize(file) : undefined,
          result: {
            opened,
            migrated,
            skipped,
            sealed: Object.keys(file.entries).filter((s) => file.entries[s]?.mode === 'sign-to-derive'),
          },
        }
      } finally {
        for (const key of derived.keys) key.fill(0)
      }
    })
    const expiresAt = this.#now() + this.#p.unlockTtlMs
    for (const [slot, value] of outcome.opened) this.#session.hold(addr, slot, value, expiresAt)
    const unlockedProviders = [...outcome.opened.keys()]
    const lockedProviders = outcome.sealed.filter((s) => !this.#session.has(addr, s))
    const events: VaultEvent[] = outcome.migrated.map((provider) => ({
      type: 'ProviderKeyMigrated',
      data: { provider, from: 'hkdf', to: 'sign-to-derive' },
    }))
    if (unlockedProviders.length > 0) events.push({ type: 'VaultUnlocked', data: { providers: unlockedProviders } })
    await this.#record(addr, events)
    return {
      success: true,
      unlocked: unlockedProviders.length > 0,
      unlockedProviders,
      migratedProviders: outcome.migrated,
      lockedProviders,
      skippedProviders: outcome.skipped,
      expiresInMs: this.#p.unlockTtlMs,
    }
  }

  /**
   * The chat integration point: the wallet's decrypted key for `provider`. Throws 400
   * `missing_secrets` (nothing stored) or `locked_secrets` (stored sign-to-derive, not
   * unlocked here). A legacy key is usable without unlock.
   */
  async getProviderKey(address: string, provider: Provider): Promise<string> {
    const value = await this.#getSecret(address, provider)
    if (value === 'missing') throw missingProviderKey(provider)
    if (value === 'locked') throw lockedProviderKey(provider)
    return value.value
  }

  /** Decrypted named secrets for an MCP server, with the same errors as getProviderKey. */
  async getMcpSecrets(address: string, serverId: string): Promise<Record<string, string>> {
    const value = await this.#getSecret(address, mcpSlot(serverId))
    if (value === 'missing') throw missingMcpSecrets(serverId)
    if (value === 'locked') throw lockedMcpSecrets(serverId, await this.#names(address, serverId))
    return JSON.parse(value.value) as Record<string, string>
  }

  /** Forgets every unlocked value of a wallet (POST /auth/logout). */
  lock(address: string): void {
    this.#session.lock(address)
  }

  /** Drops all unlocked values and stops the expiry sweeper. */
  close(): void {
    this.#session.close()
  }

  async #names(address: string, serverId: string): Promise<string[]> {
    return (await this.#readFile(address.toLowerCase())).entries[mcpSlot(serverId)]?.names ?? []
  }

  async #getSecret(address: string, slot: Slot): Promise<{ value: string } | 'missing' | 'locked'> {
    const addr = address.toLowerCase()
    const held = this.#session.get(addr, slot)
    if (held !== undefined) return { value: held }
    const entry = (await this.#readFile(addr)).entries[slot]
    if (entry === undefined) return 'missing'
    if (entry.mode === 'sign-to-derive') return 'locked'
    const key = legacyEntryKey(this.#p.masterKey, unb64(entry.salt))
    const value = open(key, sealedOf(entry), entryAad(this.#fileId(addr), slot, 'hkdf'))
    key.fill(0)
    if (value === undefined) throw vaultCorrupt(slot)
    // Held like an unlocked value (put, delete and logout drop it), so a chat turn does not
    // read the file and run HKDF again: the file says nothing new until one of those runs.
    this.#session.hold(addr, slot, value, this.#now() + this.#p.unlockTtlMs)
    return { value }
  }

  async #deriveChecked(
    address: string,
    message: string,
    signature: string,
    checkSalt: Uint8Array,
    entrySalts: Uint8Array[],
    file: VaultFile,
  ): Promise<{ checkMac: Uint8Array; keys: Uint8Array[] }> {
    const derived = await this.#derive({ address, message, signature, checkSalt, entrySalts })
    if (!derived.ok) {
      if (derived.reason === 'wrong_signer') throw signatureMismatch('wrong_signer')
      throw new ValidationError('The signature is not a well-formed 65-byte signature', {}, 'invalid_request')
    }
    if (file.sign !== null && !macEquals(derived.checkMac, unb64(file.sign.checkMac))) {
      for (const key of derived.keys) key.fill(0)
      throw signatureMismatch('key_check')
    }
    return derived
  }

  async #consumeNonce(address: string, nonce: string): Promise<{ message: string; version: number }> {
    let issued
    try {
      issued = await this.#p.nonces.consume(VAULT_DERIVE_NONCE_PURPOSE, nonce)
    } catch (error) {
      // 400 rather than auth's 401: a 401 would make clients re-authenticate and resend the same nonce.
      if (error instanceof AuthError) throw new ValidationError(error.shortMessage, { reason: error.code }, 'vault_nonce_invalid')
      throw error
    }
    if (issued.address !== address)
      throw new ValidationError('This derive challenge was issued to another wallet', { reason: 'nonce_wallet_mismatch' }, 'vault_nonce_invalid')
    const version = deriveMessageVersionOf(address, issued.message)
    if (version === undefined)
      throw new ValidationError('This nonce does not belong to a vault derive challenge', { reason: 'nonce_unknown' }, 'vault_nonce_invalid')
    return { message: issued.message, version }
  }

  #sealEntry(
    key: Uint8Array,
    plaintext: string,
    id: string,
    slot: Slot,
    mode: EncryptionMode,
    salt: Uint8Array,
    names: readonly string[] | undefined,
  ): VaultEntry {
    const sealed = seal(key, plaintext, entryAad(id, slot, mode))
    return {
      mode,
      salt: b64(salt),
      iv: b64(sealed.iv),
      ciphertext: b64(sealed.ciphertext),
      tag: b64(sealed.tag),
      ...(names === undefined ? {} : { names: [...names] }),
      storedAt: new Date(this.#now()).toISOString(),
    }
  }

  #serialize(file: VaultFile): Uint8Array {
    // A key-check value with no sign-to-derive entry left would pin a signer for nothing.
    if (!Object.values(file.entries).some((e) => e.mode === 'sign-to-derive')) file.sign = null
    file.revision += 1
    return serializeVaultFile(file)
  }

  #parse(bytes: Uint8Array | undefined): VaultFile {
    if (bytes === undefined) return emptyVaultFile()
    const file = parseVaultFile(bytes)
    if (file === undefined) throw vaultCorrupt()
    return file
  }

  async #readFile(addr: string): Promise<VaultFile> {
    return this.#parse(await this.#p.persistence.read(this.#fileId(addr)))
  }

  #fileId(addr: string): string {
    return walletFileId(this.#p.hmacKey, addr)
  }

  /** Appends facts with the stream's expected revision; a failure is logged, never returned (the file is the truth). */
  async #record(addr: string, events: VaultEvent[]): Promise<void> {
    if (events.length === 0) return
    const stream = `vault-${addr}`
    try {
      for (let attempt = 0; ; attempt++) {
        const last = await this.#p.store.readStream(stream, { direction: 'backwards', maxCount: 1 })
        try {
          await this.#p.store.append(stream, events, { expectedRevision: last[0]?.revision ?? 'no_stream' })
          return
        } catch (error) {
          if (!(error instanceof ConcurrencyError) || attempt >= 4) throw error
        }
      }
    } catch (error) {
      this.#p.log?.warn(
        { err: { name: (error as Error).name, code: (error as { code?: unknown }).code }, events: events.map((e) => e.type) },
        'vault event not recorded',
      )
    }
  }
}

/** The slot of an MCP server's named secrets. */
export function mcpSlot(serverId: string): Slot {
  return `mcp:${serverId}`
}

function sealedOf(entry: VaultEntry) {
  return { iv: unb64(entry.iv), ciphertext: unb64(entry.ciphertext), tag: unb64(entry.tag) }
}
