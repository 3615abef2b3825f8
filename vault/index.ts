/** Public entry of the BYOK key vault. */
export { deriveVaultKeys, normaliseSignature } from './crypto.js'
export { VAULT_ERROR_STATUS } from './errors.js'
export { loadVaultKeys, type VaultKeys } from './keys.js'
export { CURRENT_DERIVE_MESSAGE_VERSION, DERIVE_MESSAGE_VERSIONS, deriveMessage } from './messages.js'
export { openVaultPersistence, type VaultPersistence } from './persistence.js'
export { PROVIDERS, PROVIDER_INFO, type Provider, VAULT_REDACT_PATHS, isProvider } from './providers.js'
export { type CreateVaultParameters, type CreatedVault, createVault } from './wiring.js'
export { KeyVault, type KeyVaultParameters, type UnlockResult, type VaultEvent, mcpSlot } from './vault.js'
