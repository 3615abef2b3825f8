import type { KeySource } from '../keys/key-source.js'
import type { SigningKey } from '../keys/signing-key.js'
import type { Config } from '../config.js'
import { loadBuildInfo, type BuildInfo } from './build-info.js'
import { buildSecurityPosture, type SecurityPosture } from './posture.js'
import { selectProvider, type AttestationProvider } from './providers.js'
import { AttestationService, type ReportVerificationPool } from './service.js'

export interface CreateAttestationParameters {
  config: Pick<Config, 'ATTESTATION_PROVIDER' | 'TSM_REPORT_DIR' | 'SNP_CERTS_DIR' | 'MEASUREMENT_ALLOWLIST' | 'PUBLIC_URL'>
  /** The current signing key (keys/signing-key.ts). */
  signingKey: () => SigningKey
  pool?: ReportVerificationPool
  /** Override (tests); default dist/build-info.json or computed live. */
  buildInfo?: BuildInfo
  /** The URL peers reach us at (default PUBLIC_URL); a function when known only after listen. */
  publicUrl?: () => string
  /** Override (tests); default from ATTESTATION_PROVIDER/TSM_REPORT_DIR. */
  provider?: AttestationProvider
}

export interface Attestation {
  service: AttestationService
  provider: AttestationProvider
  /** API §16 securityPosture from the other modules' facts plus ours. */
  posture(input: { keySources: Record<string, KeySource>; vault: { persistent: boolean; failClosed: boolean } }): SecurityPosture
}

/** Composition-root helper: provider, build info and the attestation service. */
export async function createAttestation(p: CreateAttestationParameters): Promise<Attestation> {
  const provider = p.provider ?? (await selectProvider(p.config.ATTESTATION_PROVIDER, p.config.TSM_REPORT_DIR))
  const service = new AttestationService({
    provider,
    signingKey: p.signingKey,
    buildInfo: p.buildInfo ?? loadBuildInfo(),
    measurementAllowList: p.config.MEASUREMENT_ALLOWLIST,
    ...(p.config.SNP_CERTS_DIR !== undefined ? { certsDir: p.config.SNP_CERTS_DIR } : {}),
    ...(p.publicUrl !== undefined ? { publicUrl: p.publicUrl } : p.config.PUBLIC_URL !== undefined ? { publicUrl: p.config.PUBLIC_URL } : {}),
    ...(p.pool !== undefined ? { pool: p.pool } : {}),
  })
  return {
    service,
    provider,
    posture: (input) =>
      buildSecurityPosture({
        attestation: { provider: provider.kind, teeEnabled: provider.teeEnabled },
        keySources: input.keySources,
        vault: input.vault,
        crossGatewayTrust: service.crossGatewayTrust(),
      }),
  }
}
