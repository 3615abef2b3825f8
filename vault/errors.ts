import { DomainError, ValidationError } from '../shared/errors.js'
import { PROVIDER_INFO, type Provider } from './providers.js'

/**
 * Error codes the vault raises, with the HTTP status transport gives them
 * (transport/http-errors.ts spreads this table into its own).
 */
export const VAULT_ERROR_STATUS = {
  vault_signature_mismatch: 400,
  vault_nonce_invalid: 400,
  vault_corrupt: 422,
  vault_unavailable: 503,
  missing_secrets: 400,
  locked_secrets: 400,
} as const

/** The signature cannot open this wallet's vault (another signer, or a non-deterministic one). */
export function signatureMismatch(reason: 'wrong_signer' | 'key_check' | 'message_version'): ValidationError {
  const message =
    reason === 'wrong_signer'
      ? 'The signature was not made by this wallet over its vault derive message'
      : reason === 'key_check'
        ? 'The signature does not match the one your keys were stored with (is your signer non-deterministic?)'
        : 'The signature is over an outdated vault derive message; request a new derive challenge'
  return new ValidationError(message, { reason }, 'vault_signature_mismatch')
}

/** A stored entry or file fails authentication or parsing: nothing was changed. */
export function vaultCorrupt(slot?: string): DomainError {
  return new DomainError(
    'vault_corrupt',
    slot === undefined
      ? 'The stored vault for this wallet is unreadable; delete the key and store it again'
      : `The stored secret for ${slot} fails its integrity check; delete it and store it again`,
    { details: slot === undefined ? {} : { provider: slot } },
  )
}

/** Chat asked for a provider key the wallet never stored. */
export function missingProviderKey(provider: Provider): ValidationError {
  const info = PROVIDER_INFO[provider]
  return new ValidationError(
    `${info.label} API key required — store one with PUT ${info.path}`,
    { missingSecrets: [{ serverId: info.id, serverName: info.label, secretKeys: [info.secretKey] }] },
    'missing_secrets',
  )
}

/** Chat asked for a sign-to-derive key that is not unlocked in this process (API §6). */
export function lockedProviderKey(provider: Provider): ValidationError {
  const info = PROVIDER_INFO[provider]
  // Phrased so it does not match the React hook's key-prompt pattern /anthropic api key|required/i.
  return new ValidationError(
    `Your stored ${info.label} key is locked — unlock the provider vault (POST /wallet/provider-vault/unlock) with your wallet signature`,
    {
      needsUnlock: true,
      missingSecrets: [{ serverId: info.id, serverName: info.label, secretKeys: [info.secretKey] }],
    },
    'locked_secrets',
  )
}

/** MCP secrets for a server were never stored. */
export function missingMcpSecrets(serverId: string): ValidationError {
  return new ValidationError(
    `Secrets for MCP server ${serverId} are required — store them with PUT /wallet/mcp-secrets/${serverId}`,
    { missingSecrets: [{ serverId, serverName: serverId, secretKeys: [] }] },
    'missing_secrets',
  )
}

/** MCP secrets stored sign-to-derive and not unlocked. */
export function lockedMcpSecrets(serverId: string, names: readonly string[]): ValidationError {
  return new ValidationError(
    `Your stored secrets for MCP server ${serverId} are locked — unlock the provider vault with your wallet signature`,
    { needsUnlock: true, missingSecrets: [{ serverId, serverName: serverId, secretKeys: [...names] }] },
    'locked_secrets',
  )
}
