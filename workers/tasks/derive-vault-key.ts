import { deriveVaultKeys } from '../../vault/crypto.js'

/**
 * Vault sign-to-derive: EIP-191 recovery (≈1.6 ms of secp256k1 work) plus HKDF, kept off
 * the event loop. See vault/crypto.ts deriveVaultKeys.
 */
export default deriveVaultKeys
