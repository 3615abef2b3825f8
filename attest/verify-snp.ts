import { X509Certificate, createHash, verify as cryptoVerify } from 'node:crypto'
import { AMD_CHAINS } from './amd-roots.js'
import { parseAmdExtensions, toDer, type AmdCertExtensions } from './amd-certs.js'
import {
  SIGNED_REGION_END,
  SnpReportError,
  leComponentToBe,
  parseSnpReport,
  type Product,
  type SnpReport,
  type TcbVersion,
} from './snp-report.js'

type CertInput = string | Uint8Array

/** A trusted root for one product: the pinned ARK and, optionally, AMD's ASK/ASVK for it. */
export interface TrustRoot {
  product: Product
  ark: CertInput
  ask?: CertInput
  asvk?: CertInput
}

/** AMD's roots for Milan, Genoa and Turin (the default pins). */
export const AMD_ROOTS: TrustRoot[] = (Object.keys(AMD_CHAINS) as Product[]).map((product) => ({
  product,
  ark: AMD_CHAINS[product].ark,
  ask: AMD_CHAINS[product].ask,
}))

export interface TcbMinimum {
  bootloader?: number
  tee?: number
  snp?: number
  microcode?: number
  fmc?: number
}

export interface SnpPolicy {
  /** Default false: a debuggable guest's memory is readable by the host. */
  allowDebug?: boolean
  /** Default false: a migration agent could move the guest's keys elsewhere. */
  allowMigrateMa?: boolean
  /** Highest VMPL accepted (default 3, i.e. any). */
  maxVmpl?: number
  /** Minimum reported TCB per component. */
  minTcb?: TcbMinimum
  /** Which endorsement key may sign (default either). */
  signingKey?: 'vcek' | 'vlek' | 'any'
}

/** Everything the verifier needs; structured-clonable so it can cross into the pool. */
export interface VerifySnpInput {
  report: Uint8Array
  certificates: { vcek?: CertInput; vlek?: CertInput; ask?: CertInput; asvk?: CertInput; ark?: CertInput }
  /** Time to check certificate validity against (ms since epoch or ISO string). */
  now: number | string
  roots?: TrustRoot[]
  policy?: SnpPolicy
  /** Accepted MEASUREMENT values (hex, 96 chars); empty/absent accepts any, with a warning. */
  measurementAllowList?: string[]
  /** Expected REPORT_DATA (hex, 128 chars). */
  expectedReportData?: string
  productHint?: Product
}

export interface VerifyFailure {
  code: string
  message: string
}

export interface VerifySnpResult {
  ok: boolean
  /** `code: message` for every failed check (empty when ok). */
  reasons: string[]
  failures: VerifyFailure[]
  warnings: string[]
  product?: Product
  signingKey?: 'vcek' | 'vlek'
  arkSha256?: string
  report?: SnpReport
}

const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

// Roots and intermediates repeat across calls: parse each once, and remember issuer
// checks (a pure function of the two certificates' bytes).
const parsedPem = new Map<string, X509Certificate>()
const parsedDer = new WeakMap<Uint8Array, X509Certificate>()
const issuedBy = new Map<string, boolean>()

function cert(input: CertInput): X509Certificate {
  if (typeof input === 'string') {
    let c = parsedPem.get(input)
    if (c === undefined) {
      c = new X509Certificate(toDer(input))
      if (parsedPem.size > 256) parsedPem.clear()
      parsedPem.set(input, c)
    }
    return c
  }
  let c = parsedDer.get(input)
  if (c === undefined) {
    c = new X509Certificate(toDer(input))
    parsedDer.set(input, c)
  }
  return c
}

/** `child` names `parent` as issuer and carries its signature (memoised by fingerprints). */
function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  const key = `${child.fingerprint256}/${parent.fingerprint256}`
  let ok = issuedBy.get(key)
  if (ok === undefined) {
    ok = child.checkIssued(parent) && child.verify(parent.publicKey)
    if (issuedBy.size > 1024) issuedBy.clear()
    issuedBy.set(key, ok)
  }
  return ok
}

/**
 * Verifies an SEV-SNP report end to end: parse, endorsement chain (VCEK/VLEK ← ASK/ASVK ←
 * pinned ARK, RSA-PSS), certificate validity at `now`, report signature (P-384), VCEK
 * TCB/chip-id extensions against the report, guest policy, measurement allow-list and
 * REPORT_DATA. Pure (no I/O); collects every failure instead of stopping at the first.
 */
export function verifySnpReport(input: VerifySnpInput): VerifySnpResult {
  try {
    return verifyUnchecked(input)
  } catch (err) {
    // Certificates come from the host being judged: malformed ones must fail, not throw.
    const message = `verification aborted: ${(err as Error).message}`
    return { ok: false, reasons: [`verification_error: ${message}`], failures: [{ code: 'verification_error', message }], warnings: [] }
  }
}

function verifyUnchecked(input: VerifySnpInput): VerifySnpResult {
  const failures: VerifyFailure[] = []
  const warnings: string[] = []
  const fail = (code: string, message: string): void => {
    failures.push({ code, message })
  }
  const done = (extra: Partial<VerifySnpResult> = {}): VerifySnpResult => ({
    ok: failures.length === 0,
    reasons: failures.map((f) => `${f.code}: ${f.message}`),
    failures,
    warnings,
    ...extra,
  })
  const now = typeof input.now === 'number' ? input.now : Date.parse(input.now)
  if (!Number.isFinite(now)) {
    fail('bad_time', 'the time to verify at is not a valid date')
    return done()
  }
  const raw = input.report instanceof Uint8Array ? input.report : new Uint8Array(input.report)

  // The endorsement key decides the product for v2 reports, so read it before parsing.
  const signingCertInput = input.certificates.vcek ?? input.certificates.vlek
  let endorsement: X509Certificate | undefined
  let ext: AmdCertExtensions | undefined
  if (signingCertInput !== undefined) {
    try {
      endorsement = cert(signingCertInput)
      ext = parseAmdExtensions(new Uint8Array(endorsement.raw))
    } catch (err) {
      fail('cert_unparseable', `endorsement key certificate cannot be parsed (${(err as Error).message})`)
    }
  }

  let report: SnpReport
  try {
    const hint = input.productHint ?? ext?.product
    report = parseSnpReport(raw, hint === undefined ? {} : { productHint: hint })
  } catch (err) {
    if (err instanceof SnpReportError) fail(err.code, err.message)
    else fail('report_unparseable', (err as Error).message)
    return done()
  }
  const extra: Partial<VerifySnpResult> = { report }

  // ---- which key signed, and with what ----
  if (report.signatureAlgo !== 1) fail('signature_algo_unsupported', `signature algorithm ${report.signatureAlgo} is not ECDSA P-384 with SHA-384 (1)`)
  const kind = report.signer.signingKey
  if (kind !== 'vcek' && kind !== 'vlek') {
    fail('signing_key_unsupported', `report is signed with key selector ${report.signer.signingKeyRaw} (${kind}), not VCEK or VLEK`)
    return done(extra)
  }
  extra.signingKey = kind
  const wanted = input.policy?.signingKey ?? 'any'
  if (wanted !== 'any' && wanted !== kind) fail('signing_key_not_allowed', `report is signed by the ${kind.toUpperCase()}, policy requires the ${wanted.toUpperCase()}`)
  const endorsementInput = input.certificates[kind]
  if (endorsementInput === undefined) {
    fail('cert_missing', `no ${kind.toUpperCase()} certificate was provided`)
    return done(extra)
  }
  if (endorsementInput !== signingCertInput) {
    try {
      endorsement = cert(endorsementInput)
      ext = parseAmdExtensions(new Uint8Array(endorsement.raw))
    } catch (err) {
      fail('cert_unparseable', `${kind.toUpperCase()} certificate cannot be parsed (${(err as Error).message})`)
      return done(extra)
    }
  }
  if (endorsement === undefined || ext === undefined) return done(extra)

  // ---- product ----
  const product = report.product ?? ext.product ?? input.productHint
  if (product === undefined) {
    fail('product_unknown', 'cannot tell the processor product from the report or the certificate')
    return done(extra)
  }
  extra.product = product
  if (ext.product !== undefined && ext.product !== product) {
    fail('product_mismatch', `${kind.toUpperCase()} is for ${ext.product}, the report is from ${product}`)
  }

  // ---- chain: endorsement ← ASK/ASVK ← ARK (pinned) ----
  const roots = (input.roots ?? AMD_ROOTS).filter((r) => r.product === product)
  if (roots.length === 0) {
    fail('no_trusted_root', `no trusted ARK is configured for ${product}`)
    return done(extra)
  }
  const pinned = roots.map((r) => ({ root: r, ark: cert(r.ark) }))
  let ark = pinned[0]!.ark
  let root = pinned[0]!.root
  if (input.certificates.ark !== undefined) {
    const hostArk = cert(input.certificates.ark)
    const match = pinned.find((p) => p.ark.fingerprint256 === hostArk.fingerprint256)
    if (match === undefined) {
      fail('ark_not_pinned', `the ARK provided (sha256 ${hostArk.fingerprint256.replace(/:/g, '').toLowerCase().slice(0, 16)}…) is not the pinned ${product} root`)
    } else {
      ark = match.ark
      root = match.root
    }
  }
  extra.arkSha256 = sha256Hex(new Uint8Array(ark.raw))
  if (!signedBy(ark, ark)) fail('ark_not_self_signed', `the ${product} ARK is not self-signed`)

  const interRole = kind === 'vcek' ? 'ask' : 'asvk'
  const interInput = input.certificates[interRole] ?? root[interRole]
  if (interInput === undefined) {
    fail('cert_missing', `no ${interRole.toUpperCase()} certificate was provided or configured for ${product}`)
    return done(extra)
  }
  const inter = cert(interInput)
  if (!signedBy(inter, ark)) {
    fail(`${interRole}_not_signed_by_ark`, `the ${interRole.toUpperCase()} is not signed by the ${product} ARK`)
  }
  if (!signedBy(endorsement, inter)) {
    fail(`${kind}_not_signed_by_${interRole}`, `the ${kind.toUpperCase()} is not signed by the ${interRole.toUpperCase()}`)
  }
  for (const [label, c] of [['ARK', ark], [interRole.toUpperCase(), inter], [kind.toUpperCase(), endorsement]] as const) {
    const from = Date.parse(c.validFrom)
    const to = Date.parse(c.validTo)
    if (now < from) fail('cert_not_yet_valid', `${label} is valid from ${new Date(from).toISOString()}`)
    if (now > to) fail('cert_expired', `${label} expired at ${new Date(to).toISOString()}`)
  }

  // ---- the report's signature ----
  const key = endorsement.publicKey
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    fail('cert_key_not_p384', `${kind.toUpperCase()} key is not ECDSA P-384`)
  } else {
    if (!report.signature.paddingZero) fail('signature_padding_nonzero', 'bytes 48..71 of R or S are not zero')
    const r = leComponentToBe(raw.subarray(0x2a0, 0x2a0 + 72))
    const s = leComponentToBe(raw.subarray(0x2e8, 0x2e8 + 72))
    const ok = cryptoVerify(
      'sha384',
      raw.subarray(0, SIGNED_REGION_END),
      { key, dsaEncoding: 'ieee-p1363' },
      Buffer.concat([r, s]),
    )
    if (!ok) fail('signature_invalid', `report signature does not verify with the ${kind.toUpperCase()} over bytes [0, 0x2A0)`)
  }

  // ---- the certificate describes this chip at this TCB ----
  const tcbFields: (keyof TcbMinimum)[] = ['bootloader', 'tee', 'snp', 'microcode']
  if (report.reportedTcb.layout === 'turin') tcbFields.push('fmc')
  for (const f of tcbFields) {
    const inCert = ext.tcb[f]
    const inReport = report.reportedTcb[f]
    if (inCert === undefined) fail('tcb_mismatch', `${kind.toUpperCase()} has no ${f} SPL extension`)
    else if (inCert !== inReport) fail('tcb_mismatch', `${kind.toUpperCase()} ${f} SPL ${inCert} ≠ reported TCB ${f} ${String(inReport)}`)
  }
  if (kind === 'vcek') {
    if (ext.hwid === undefined) fail('chip_id_mismatch', 'VCEK has no hwID extension')
    else {
      const hwid = ext.hwid
      // Turin VCEKs carry an 8-byte hwID; the report's CHIP_ID then has zeros after it.
      const matches =
        hwid.length === 16
          ? report.chipId.slice(0, 16) === hwid && /^0*$/.test(report.chipId.slice(16))
          : report.chipId === hwid
      if (!matches) {
        fail('chip_id_mismatch', report.signer.maskChipKey ? 'CHIP_ID is masked (MASK_CHIP_KEY) and cannot match the VCEK' : "the VCEK's hwID is not the report's CHIP_ID")
      }
    }
  } else if (ext.cspId === undefined) {
    warnings.push('VLEK has no csp_id extension')
  }

  // ---- guest policy ----
  const policy = input.policy ?? {}
  if (report.policy.debug && policy.allowDebug !== true) fail('policy_debug', 'guest policy allows debugging (DEBUG=1)')
  if (report.policy.migrateMa && policy.allowMigrateMa !== true) fail('policy_migrate_ma', 'guest policy allows a migration agent (MIGRATE_MA=1)')
  if (!report.policy.reservedMbo) warnings.push('guest policy bit 17 (must be one) is zero')
  const maxVmpl = policy.maxVmpl ?? 3
  if (report.vmpl > maxVmpl) fail('vmpl_too_high', `report requested at VMPL ${report.vmpl}, maximum ${maxVmpl}`)
  for (const [f, min] of Object.entries(policy.minTcb ?? {}) as [keyof TcbMinimum, number][]) {
    const got = report.reportedTcb[f]
    if (got === undefined) fail('tcb_below_minimum', `reported TCB has no ${f} component`)
    else if (got < min) fail('tcb_below_minimum', `reported TCB ${f} ${got} < minimum ${min}`)
  }

  // ---- what runs, and what it said ----
  const allow = (input.measurementAllowList ?? []).map((m) => m.toLowerCase())
  if (allow.length === 0) warnings.push('no measurement allow-list: any launch measurement is accepted')
  else if (!allow.includes(report.measurement)) fail('measurement_not_allowed', `MEASUREMENT ${report.measurement.slice(0, 16)}… is not in the allow-list`)
  if (input.expectedReportData !== undefined && input.expectedReportData.toLowerCase() !== report.reportData) {
    fail('report_data_mismatch', 'REPORT_DATA differs from the expected value')
  }
  return done(extra)
}
