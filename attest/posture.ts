import type { KeySource } from '../keys/key-source.js'

export type TrustState = 'trusted' | 'degraded_hash_mismatch' | 'degraded_no_attestation'

/** How a peer (an MCP gateway) would judge us, from our own last self-check. */
export interface CrossGatewayTrust {
  state: TrustState
  /** Where a peer fetches our report (null without PUBLIC_URL). */
  attestationUrl: string | null
  /** REPORT_DATA[32:48] of our last verified report, hex (null without one). */
  attestedJwksHashTrunc16: string | null
}

export interface SecretReleaseGuard {
  /** True when secrets are only ever held by an attested build (TEE + verified report). */
  enforced: boolean
  mode: 'attested_tee' | 'unguarded'
}

/** API §16 securityPosture. */
export interface SecurityPosture {
  mode: 'tee' | 'none'
  attestationAvailability: { teeEnabled: boolean; provider: 'configfs-tsm' | 'none' }
  keySources: Record<string, KeySource>
  vault: { persistent: boolean; failClosed: boolean }
  degraded: boolean
  degradedReasons: string[]
  secretReleaseGuard: SecretReleaseGuard
  crossGatewayTrust: CrossGatewayTrust
}

export interface PostureInput {
  attestation: { provider: 'configfs-tsm' | 'none'; teeEnabled: boolean }
  /** e.g. { jwtSecret, signingKeyMaterial, byokVaultEncryptionKey, byokVaultHmacKey }. */
  keySources: Record<string, KeySource>
  vault: { persistent: boolean; failClosed: boolean }
  crossGatewayTrust: CrossGatewayTrust
}

/**
 * Builds the posture and says, one reason per missing guarantee, why it is degraded:
 * no TEE, keys that were not provisioned (generated here, or kept unsealed in DATA_DIR),
 * a vault that forgets on restart or fails open, and any cross-gateway trust short of
 * `trusted`. Pure.
 */
export function buildSecurityPosture(input: PostureInput): SecurityPosture {
  const reasons: string[] = []
  const tee = input.attestation.teeEnabled && input.attestation.provider !== 'none'
  if (!tee) reasons.push('no_tee_attestation')
  for (const [name, source] of Object.entries(input.keySources)) {
    if (source === 'generated') reasons.push(`key_generated:${name}`)
    else if (source === 'file') reasons.push(`key_unsealed_file:${name}`)
  }
  if (!input.vault.persistent) reasons.push('vault_not_persistent')
  if (!input.vault.failClosed) reasons.push('vault_not_fail_closed')
  if (input.crossGatewayTrust.state !== 'trusted') reasons.push(`cross_gateway_trust:${input.crossGatewayTrust.state}`)
  const guarded = tee && input.crossGatewayTrust.state === 'trusted'
  return {
    mode: tee ? 'tee' : 'none',
    attestationAvailability: { teeEnabled: tee, provider: input.attestation.provider },
    keySources: { ...input.keySources },
    vault: { ...input.vault },
    degraded: reasons.length > 0,
    degradedReasons: reasons,
    secretReleaseGuard: { enforced: guarded, mode: guarded ? 'attested_tee' : 'unguarded' },
    crossGatewayTrust: { ...input.crossGatewayTrust },
  }
}
