import { join, resolve } from 'node:path'
import { NonceRegistry } from '../auth/nonces.js'
import type { KeySource } from '../keys/key-source.js'
import type { Config } from '../config.js'
import type { EventStore } from '../store/types.js'
import type { DeriveVaultKeysParameters, DeriveVaultKeysReturnType } from './crypto.js'
import { loadVaultKeys } from './keys.js'
import { openVaultPersistence } from './persistence.js'
import { KeyVault } from './vault.js'

export interface CreateVaultParameters {
  config: Pick<
    Config,
    'NODE_ENV' | 'VAULT_PERSISTENCE_DIR' | 'VAULT_FAIL_CLOSED' | 'VAULT_MASTER_KEY' | 'VAULT_HMAC_KEY' | 'VAULT_UNLOCK_TTL_MS' | 'CHALLENGE_TTL_MS'
  >
  /** Resolved DATA_DIR (key files go to `<dataDir>/keys/`, the default vault folder is `<dataDir>/vault`). */
  dataDir: string
  store: EventStore
  /** The worker pool; derivation runs its task `derive-vault-key`. */
  pool: { run(task: 'derive-vault-key', payload: DeriveVaultKeysParameters): Promise<DeriveVaultKeysReturnType> }
  logger: { warn(obj: Record<string, unknown>, msg: string): void }
}

export interface CreatedVault {
  vault: KeyVault
  /** For the security posture's keySources (API §16). */
  keySources: { byokVaultEncryptionKey: KeySource; byokVaultHmacKey: KeySource }
  /** Absolute vault folder in use. */
  dir: string
}

/**
 * Builds the vault from configuration: keys from env or DATA_DIR files, the persistence
 * folder (fail-closed when NODE_ENV=production or VAULT_FAIL_CLOSED=true), derive nonces on
 * the event store, derivation in the worker pool. Call once from the composition root.
 */
export async function createVault(p: CreateVaultParameters): Promise<CreatedVault> {
  const { config } = p
  const keys = loadVaultKeys({ DATA_DIR: p.dataDir, VAULT_HMAC_KEY: config.VAULT_HMAC_KEY, VAULT_MASTER_KEY: config.VAULT_MASTER_KEY })
  const failClosed = config.VAULT_FAIL_CLOSED ?? config.NODE_ENV === 'production'
  const dir = resolve(config.VAULT_PERSISTENCE_DIR ?? join(p.dataDir, 'vault'))
  const persistence = await openVaultPersistence({
    dir,
    failClosed,
    onFallback: (reason) => p.logger.warn({ reason }, 'vault folder unusable: BYOK keys are kept in memory only (development)'),
  })
  if (failClosed && !persistence.persistent)
    p.logger.warn({ failClosed }, 'vault folder unusable: storing BYOK keys answers 503 until it is writable')
  const vault = new KeyVault({
    persistence,
    hmacKey: keys.hmacKey,
    masterKey: keys.masterKey,
    nonces: new NonceRegistry({ store: p.store, ttlMs: config.CHALLENGE_TTL_MS }),
    store: p.store,
    unlockTtlMs: config.VAULT_UNLOCK_TTL_MS,
    derive: (payload: DeriveVaultKeysParameters) => p.pool.run('derive-vault-key', payload),
    log: p.logger,
  })
  return { vault, keySources: { byokVaultEncryptionKey: keys.source, byokVaultHmacKey: keys.hmacKeySource }, dir }
}
