import { randomBytes } from 'node:crypto'
import { parseCertTable, type SnpCertificates } from './amd-certs.js'
import { jwksHashTrunc16, nonceSlot, provenanceSlot, splitReportData } from './binding.js'
import type { TrustState } from './posture.js'
import { verifyDsse, type DsseEnvelope } from './provenance.js'
import { verifySnpReport, type SnpPolicy, type TrustRoot, type VerifySnpInput, type VerifySnpResult } from './verify-snp.js'

export interface EvaluateGatewayTrustOptions {
  /** Base URL of the gateway to judge, e.g. https://gw.example. */
  gatewayUrl: string
  fetch?: typeof globalThis.fetch
  /** Pinned ARKs (default: AMD's Milan, Genoa, Turin). */
  roots?: TrustRoot[]
  /** Time to check certificate validity at. */
  now?: number | Date
  /** Accepted launch measurements (hex); empty accepts any (with a warning). */
  allowList?: string[]
  policy?: SnpPolicy
  /** Verification runner (e.g. the worker pool); direct call by default. */
  verify?: (input: VerifySnpInput) => Promise<VerifySnpResult> | VerifySnpResult
  /** Our challenge (default 32 random bytes). */
  nonce?: Uint8Array
  timeoutMs?: number
}

export interface GatewayTrust {
  state: TrustState
  reasons: string[]
  warnings: string[]
  attestationUrl: string
  /** SHA-256(canonical JWKS)[0:16] of the JWKS served now. */
  jwksHashTrunc16?: string
  /** REPORT_DATA[32:48] of the verified report. */
  attestedJwksHashTrunc16?: string
  measurement?: string
  product?: string
  provenanceDigest?: string
}

interface ReportBody {
  report?: unknown
  certificates?: Record<string, unknown> | null
  certTable?: unknown
}

/**
 * What an MCP gateway runs before accepting our delegated tokens: fetch the JWKS, a report
 * for a fresh nonce and the provenance; verify the report (pinned AMD chain, policy,
 * allow-list); then require REPORT_DATA to bind the nonce, the JWKS as served and the
 * signed provenance. No report or an invalid one → degraded_no_attestation; a valid
 * report that binds other keys or another build → degraded_hash_mismatch.
 */
export async function evaluateGatewayTrust(options: EvaluateGatewayTrustOptions): Promise<GatewayTrust> {
  const doFetch = options.fetch ?? globalThis.fetch
  const base = options.gatewayUrl.replace(/\/+$/, '')
  const nonce = options.nonce ?? randomBytes(32)
  const attestationUrl = `${base}/api/attestation/report`
  const out: GatewayTrust = { state: 'degraded_no_attestation', reasons: [], warnings: [], attestationUrl }
  const get = async (path: string): Promise<{ status: number; body: unknown }> => {
    const res = await doFetch(`${base}${path}`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    })
    const text = await res.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
    return { status: res.status, body }
  }

  let jwks: { keys: Record<string, unknown>[] }
  try {
    const r = await get('/.well-known/jwks.json')
    const body = r.body as { keys?: unknown } | undefined
    if (r.status !== 200 || !Array.isArray(body?.keys)) throw new Error(`status ${r.status}`)
    jwks = body as { keys: Record<string, unknown>[] }
  } catch (err) {
    out.reasons.push(`jwks_unavailable: ${(err as Error).message}`)
    return out
  }
  out.jwksHashTrunc16 = jwksHashTrunc16(jwks)

  let reportBody: ReportBody
  try {
    const r = await get(`/api/attestation/report?nonce=${Buffer.from(nonce).toString('hex')}`)
    if (r.status !== 200) {
      const code = (r.body as { error?: unknown } | undefined)?.error
      out.reasons.push(`attestation_unavailable: report endpoint answered ${r.status}${typeof code === 'string' ? ` (${code})` : ''}`)
      return out
    }
    reportBody = r.body as ReportBody
    if (typeof reportBody?.report !== 'string') throw new Error('no report in the response')
  } catch (err) {
    out.reasons.push(`attestation_unavailable: ${(err as Error).message}`)
    return out
  }

  const certificates: SnpCertificates & Record<string, string | Uint8Array> = {}
  if (typeof reportBody.certTable === 'string' && reportBody.certTable !== '') {
    try {
      const { unknown: _unknown, ...fromTable } = parseCertTable(Buffer.from(reportBody.certTable, 'base64'))
      Object.assign(certificates, fromTable)
    } catch (err) {
      out.warnings.push(`certificate table unreadable: ${(err as Error).message}`)
    }
  }
  for (const [role, pem] of Object.entries(reportBody.certificates ?? {})) {
    if (['vcek', 'vlek', 'ask', 'asvk', 'ark'].includes(role) && typeof pem === 'string' && certificates[role] === undefined) certificates[role] = pem
  }
  const now = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime()
  const input: VerifySnpInput = {
    report: new Uint8Array(Buffer.from(reportBody.report as string, 'base64')),
    certificates,
    now,
    measurementAllowList: options.allowList ?? [],
    ...(options.roots !== undefined ? { roots: options.roots } : {}),
    ...(options.policy !== undefined ? { policy: options.policy } : {}),
  }
  let result: VerifySnpResult
  try {
    result = await (options.verify ?? verifySnpReport)(input)
  } catch (err) {
    out.reasons.push(`report_invalid: verification failed to run (${(err as Error).message})`)
    return out
  }
  out.warnings.push(...result.warnings)
  if (result.product !== undefined) out.product = result.product
  if (!result.ok || result.report === undefined) {
    out.reasons.push(...result.reasons.map((r) => `report_invalid: ${r}`))
    return out
  }
  out.measurement = result.report.measurement
  const slots = splitReportData(Buffer.from(result.report.reportData, 'hex'))
  out.attestedJwksHashTrunc16 = slots.jwks16
  if (slots.nonce16 !== nonceSlot(nonce)) {
    out.reasons.push('nonce_mismatch: REPORT_DATA[48:64] is not our nonce (stale or replayed report)')
    return out
  }

  // From here the report is genuine and fresh: any mismatch means "not what is served".
  out.state = 'degraded_hash_mismatch'
  if (slots.jwks16 !== out.jwksHashTrunc16) {
    out.reasons.push('jwks_hash_mismatch: the attested JWKS hash differs from the JWKS served now (key rotated without a new attestation?)')
  }
  try {
    const r = await get('/api/attestation/provenance')
    if (r.status !== 200) throw new Error(`status ${r.status}`)
    const verified = verifyDsse(r.body as DsseEnvelope, jwks)
    if (!verified.ok) out.reasons.push(`provenance_invalid: ${verified.reason}`)
    else {
      out.provenanceDigest = verified.digest.toString('hex')
      if (provenanceSlot(verified.digest) !== slots.provenance) out.reasons.push('provenance_mismatch: REPORT_DATA[0:32] does not bind the served provenance')
    }
  } catch (err) {
    out.reasons.push(`provenance_unavailable: ${(err as Error).message}`)
  }
  if (out.reasons.length === 0) out.state = 'trusted'
  return out
}
