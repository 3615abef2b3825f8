import { describe, expect, it } from 'vitest'
import { buildSecurityPosture, type PostureInput } from './posture.js'

const trusted = { state: 'trusted' as const, attestationUrl: 'https://gw/api/attestation/report', attestedJwksHashTrunc16: 'ab'.repeat(16) }
const full: PostureInput = {
  attestation: { provider: 'configfs-tsm', teeEnabled: true },
  keySources: { jwtSecret: 'env_fallback', signingKeyMaterial: 'tpm_pcr', byokVaultEncryptionKey: 'env_fallback' },
  vault: { persistent: true, failClosed: true },
  crossGatewayTrust: trusted,
}

describe('buildSecurityPosture', () => {
  it('is not degraded when every guarantee holds', () => {
    const p = buildSecurityPosture(full)
    expect(p).toEqual({
      mode: 'tee',
      attestationAvailability: { teeEnabled: true, provider: 'configfs-tsm' },
      keySources: full.keySources,
      vault: { persistent: true, failClosed: true },
      degraded: false,
      degradedReasons: [],
      secretReleaseGuard: { enforced: true, mode: 'attested_tee' },
      crossGatewayTrust: trusted,
    })
  })

  it('names each missing guarantee', () => {
    const p = buildSecurityPosture({
      attestation: { provider: 'none', teeEnabled: false },
      keySources: { jwtSecret: 'generated', signingKeyMaterial: 'file', byokVaultEncryptionKey: 'env_fallback' },
      vault: { persistent: false, failClosed: false },
      crossGatewayTrust: { state: 'degraded_no_attestation', attestationUrl: null, attestedJwksHashTrunc16: null },
    })
    expect(p.mode).toBe('none')
    expect(p.degraded).toBe(true)
    expect(p.degradedReasons).toEqual([
      'no_tee_attestation',
      'key_generated:jwtSecret',
      'key_unsealed_file:signingKeyMaterial',
      'vault_not_persistent',
      'vault_not_fail_closed',
      'cross_gateway_trust:degraded_no_attestation',
    ])
    expect(p.secretReleaseGuard).toEqual({ enforced: false, mode: 'unguarded' })
  })

  it('is degraded in a TEE whose attested keys no longer match', () => {
    const p = buildSecurityPosture({ ...full, crossGatewayTrust: { ...trusted, state: 'degraded_hash_mismatch' } })
    expect(p.mode).toBe('tee')
    expect(p.degradedReasons).toEqual(['cross_gateway_trust:degraded_hash_mismatch'])
    expect(p.secretReleaseGuard.enforced).toBe(false)
  })
})
