import { randomBytes } from 'node:crypto'
import type { SigningKey } from '../keys/signing-key.js'
import { loadCertsFromDir, parseCertTable, toPem, type SnpCertificates } from './amd-certs.js'
import { buildReportData, jwksHashTrunc16, nonceSlot, provenanceSlot, splitReportData } from './binding.js'
import type { BuildInfo } from './build-info.js'
import type { CrossGatewayTrust } from './posture.js'
import { createProvenance, type DsseEnvelope, type Provenance } from './provenance.js'
import type { AttestationProvider } from './providers.js'
import { verifySnpReport, type SnpPolicy, type TrustRoot, type VerifySnpInput, type VerifySnpResult } from './verify-snp.js'

/** GET /api/attestation/report body. */
export interface AttestationReportResponse {
  format: 'sev-snp'
  provider: 'configfs-tsm'
  /** The raw 1184-byte report, base64. */
  report: string
  reportData: string
  nonce: string
  binding: { provenanceDigest: string; provenanceSlot: string; jwksHashTrunc16: string; nonce16: string }
  /** PEM certificates (from the host's auxblob, else SNP_CERTS_DIR); null when none. */
  certificates: { vcek?: string; vlek?: string; ask?: string; asvk?: string; ark?: string } | null
  /** The host's raw certificate table, base64, when it gave one. */
  certTable: string | null
  generation: number
}

/** The one worker task attestation needs, as it sees it (workers/pool.ts implements it). */
export interface ReportVerificationPool {
  run(task: 'verify-snp-report', input: VerifySnpInput): Promise<VerifySnpResult>
}

export interface AttestationServiceOptions {
  provider: AttestationProvider
  /** The current signing key (a function, so a rotation is seen at once). */
  signingKey: () => SigningKey
  buildInfo: BuildInfo
  /** SNP_CERTS_DIR: VCEK/ASK/ARK files when the host's auxblob is empty. */
  certsDir?: string
  /** Runs verify-snp-report off the event loop; direct call without it. */
  pool?: ReportVerificationPool
  /** PUBLIC_URL (or a function, when the port is only known after listen), for crossGatewayTrust.attestationUrl. */
  publicUrl?: string | (() => string)
  measurementAllowList?: string[]
  roots?: TrustRoot[]
  policy?: SnpPolicy
  now?: () => number
}

/** Serves our evidence (report, provenance, build info) and checks it against itself. */
export class AttestationService {
  private provenanceCache: { kid: string; value: Provenance } | undefined
  private certsFromDir: Promise<SnpCertificates> | undefined
  private lastTrust: CrossGatewayTrust

  constructor(private readonly options: AttestationServiceOptions) {
    this.lastTrust = {
      state: 'degraded_no_attestation',
      attestationUrl: this.attestationUrl(),
      attestedJwksHashTrunc16: null,
    }
  }

  get provider(): AttestationProvider {
    return this.options.provider
  }

  get buildInfo(): BuildInfo {
    return this.options.buildInfo
  }

  /** JWKS as served at /.well-known/jwks.json. */
  jwks(): SigningKey['jwks'] {
    return this.options.signingKey().jwks
  }

  /** The signed provenance of this build (re-signed when the key changes). */
  provenance(): Provenance {
    const key = this.options.signingKey()
    if (this.provenanceCache?.kid !== key.kid) {
      this.provenanceCache = { kid: key.kid, value: createProvenance(this.options.buildInfo, key) }
    }
    return this.provenanceCache.value
  }

  provenanceEnvelope(): DsseEnvelope {
    return this.provenance().envelope
  }

  private attestationUrl(): string | null {
    const option = this.options.publicUrl
    const base = typeof option === 'function' ? option() : option
    return base === undefined ? null : `${base.replace(/\/+$/, '')}/api/attestation/report`
  }

  /** GET /api/attestation. */
  summary(): Record<string, unknown> {
    const key = this.options.signingKey()
    const prov = this.provenance()
    return {
      teeEnabled: this.options.provider.teeEnabled,
      provider: this.options.provider.kind,
      format: this.options.provider.teeEnabled ? 'sev-snp' : null,
      reportDataLayout: {
        '0:32': 'sha256(provenanceDigest)',
        '32:48': 'sha256(RFC 8785 canonical JWKS)[0:16]',
        '48:64': 'caller nonce[0:16]',
      },
      provenanceDigest: prov.digest,
      jwksHashTrunc16: jwksHashTrunc16(key.jwks),
      kid: key.kid,
      build: { version: this.options.buildInfo.version, gitCommit: this.options.buildInfo.gitCommit },
      crossGatewayTrust: this.lastTrust,
      links: {
        report: '/api/attestation/report?nonce=<hex>',
        security: '/api/attestation/security',
        buildInfo: '/api/attestation/build-info',
        provenance: '/api/attestation/provenance',
        jwks: '/.well-known/jwks.json',
      },
    }
  }

  private async certificates(auxblob: Uint8Array | undefined): Promise<{ certs: SnpCertificates; table: Uint8Array | undefined }> {
    if (auxblob !== undefined && auxblob.length > 0) {
      const { unknown: _unknown, ...certs } = parseCertTable(auxblob)
      return { certs, table: auxblob }
    }
    if (this.options.certsDir === undefined) return { certs: {}, table: undefined }
    this.certsFromDir ??= loadCertsFromDir(this.options.certsDir)
    return { certs: await this.certsFromDir, table: undefined }
  }

  /** A fresh report binding our provenance, our JWKS and the caller's nonce (503 without a TEE). */
  async report(nonce: Uint8Array): Promise<AttestationReportResponse> {
    const key = this.options.signingKey()
    const prov = this.provenance()
    const digest = Buffer.from(prov.digest, 'hex')
    const reportData = buildReportData({ provenanceDigest: digest, jwks: key.jwks, nonce })
    const evidence = await this.options.provider.getReport(reportData)
    const { certs, table } = await this.certificates(evidence.auxblob)
    const pems: NonNullable<AttestationReportResponse['certificates']> = {}
    for (const role of ['vcek', 'vlek', 'ask', 'asvk', 'ark'] as const) {
      const der = certs[role]
      if (der !== undefined) pems[role] = toPem(der)
    }
    const slots = splitReportData(reportData)
    return {
      format: 'sev-snp',
      provider: evidence.provider,
      report: Buffer.from(evidence.report).toString('base64'),
      reportData: reportData.toString('hex'),
      nonce: Buffer.from(nonce).toString('hex'),
      binding: { provenanceDigest: prov.digest, provenanceSlot: slots.provenance, jwksHashTrunc16: slots.jwks16, nonce16: slots.nonce16 },
      certificates: Object.keys(pems).length > 0 ? pems : null,
      certTable: table === undefined ? null : Buffer.from(table).toString('base64'),
      generation: evidence.generation,
    }
  }

  private verify(input: VerifySnpInput): Promise<VerifySnpResult> {
    const pool = this.options.pool
    return pool === undefined ? Promise.resolve(verifySnpReport(input)) : pool.run('verify-snp-report', input)
  }

  /** Last self-check result (what a peer's evaluator would conclude). */
  crossGatewayTrust(): CrossGatewayTrust {
    return { ...this.lastTrust, attestationUrl: this.attestationUrl() }
  }

  /**
   * Asks the platform for a report with a fresh nonce and verifies it like a peer would
   * (in the pool): chain, signature, policy, allow-list, and each REPORT_DATA slot.
   */
  async selfCheck(): Promise<CrossGatewayTrust & { reasons: string[] }> {
    const base = { attestationUrl: this.attestationUrl() }
    if (!this.options.provider.teeEnabled) {
      this.lastTrust = { ...base, state: 'degraded_no_attestation', attestedJwksHashTrunc16: null }
      return { ...this.lastTrust, reasons: ['no TEE attestation provider'] }
    }
    const nonce = randomBytes(32)
    let response: AttestationReportResponse
    try {
      response = await this.report(nonce)
    } catch (err) {
      this.lastTrust = { ...base, state: 'degraded_no_attestation', attestedJwksHashTrunc16: null }
      return { ...this.lastTrust, reasons: [`report unavailable: ${(err as Error).message}`] }
    }
    const raw = Buffer.from(response.report, 'base64')
    const certificates = response.certificates ?? {}
    const result = await this.verify({
      report: new Uint8Array(raw),
      certificates,
      now: (this.options.now ?? Date.now)(),
      ...(this.options.roots !== undefined ? { roots: this.options.roots } : {}),
      ...(this.options.policy !== undefined ? { policy: this.options.policy } : {}),
      measurementAllowList: this.options.measurementAllowList ?? [],
    })
    const attested = result.report === undefined ? null : splitReportData(Buffer.from(result.report.reportData, 'hex'))
    if (!result.ok || attested === null) {
      this.lastTrust = { ...base, state: 'degraded_no_attestation', attestedJwksHashTrunc16: attested?.jwks16 ?? null }
      return { ...this.lastTrust, reasons: result.reasons }
    }
    const reasons: string[] = []
    if (attested.nonce16 !== nonceSlot(nonce)) reasons.push('REPORT_DATA nonce is not ours')
    const jwksOk = attested.jwks16 === jwksHashTrunc16(this.jwks())
    const provOk = attested.provenance === provenanceSlot(Buffer.from(this.provenance().digest, 'hex'))
    if (!jwksOk) reasons.push('REPORT_DATA does not bind the served JWKS')
    if (!provOk) reasons.push('REPORT_DATA does not bind the served provenance')
    const state = reasons.length === 0 ? 'trusted' : attested.nonce16 !== nonceSlot(nonce) ? 'degraded_no_attestation' : 'degraded_hash_mismatch'
    this.lastTrust = { ...base, state, attestedJwksHashTrunc16: attested.jwks16 }
    return { ...this.lastTrust, reasons }
  }
}
