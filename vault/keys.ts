import { join } from 'node:path'
import { type KeySource, loadOrCreateSecret, randomSecret } from '../keys/key-source.js'

export interface VaultKeys {
  hmacKey: Uint8Array
  masterKey: Uint8Array
  /** Where the master key (the one that encrypts legacy entries) came from: the posture's byokVaultEncryptionKey. */
  source: KeySource
  hmacKeySource: KeySource
}

export interface LoadVaultKeysParameters {
  VAULT_HMAC_KEY?: string | undefined
  VAULT_MASTER_KEY?: string | undefined
  DATA_DIR: string
}

/**
 * The vault's two server keys: from VAULT_HMAC_KEY / VAULT_MASTER_KEY, else from 0600
 * files under `<DATA_DIR>/keys/` (generated on first start). They live outside the vault
 * folder on purpose, so a copy of that folder alone decrypts nothing.
 */
export function loadVaultKeys(config: LoadVaultKeysParameters): VaultKeys {
  const hmac = loadOrCreateSecret({
    envValue: config.VAULT_HMAC_KEY,
    file: join(config.DATA_DIR, 'keys', 'vault-hmac.key'),
    generate: () => randomSecret(),
  })
  const master = loadOrCreateSecret({
    envValue: config.VAULT_MASTER_KEY,
    file: join(config.DATA_DIR, 'keys', 'vault-master.key'),
    generate: () => randomSecret(),
  })
  return {
    hmacKey: new Uint8Array(Buffer.from(hmac.value, 'utf8')),
    masterKey: new Uint8Array(Buffer.from(master.value, 'utf8')),
    source: master.source,
    hmacKeySource: hmac.source,
  }
}
