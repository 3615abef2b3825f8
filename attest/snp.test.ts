import { X509Certificate, createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { AMD_ARK_SHA256, AMD_CHAINS } from './amd-roots.js'
import { encodeCertTable, parseAmdExtensions, parseCertTable, splitPem } from './amd-certs.js'
import { OFFSETS, SIGNED_REGION_END, SnpReportError, fieldAt, parseSnpReport } from './snp-report.js'
import { AMD_ROOTS, verifySnpReport, type VerifySnpInput } from './verify-snp.js'
import { POLICY_DEBUG, POLICY_DEFAULT, createFakeChain, makeSignedReport } from '../test/attest/fake-amd.js'

const dir = new URL('./testdata/snp/', import.meta.url)
const REAL = readFileSync(new URL('attestation.bin', dir))
const VCEK = readFileSync(new URL('vcek.der', dir))
const [MILAN_ASK, MILAN_ARK] = splitPem(readFileSync(new URL('ask_ark_milan.pem', dir), 'utf8'))
const [GENOA_ASK, GENOA_ARK] = splitPem(readFileSync(new URL('ask_ark_genoa.pem', dir), 'utf8'))
const [, TURIN_ARK] = splitPem(readFileSync(new URL('ask_ark_turin_vcek.pem', dir), 'utf8'))
const NOW = Date.parse('2025-06-01T00:00:00Z')
const REAL_INPUT: VerifySnpInput = { report: REAL, certificates: { vcek: VCEK, ask: MILAN_ASK!, ark: MILAN_ARK! }, now: NOW, policy: { allowDebug: true } }
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const codes = (r: { failures: { code: string }[] }): string[] => r.failures.map((f) => f.code)

describe('parseSnpReport (real Milan report)', () => {
  const r = parseSnpReport(REAL)
  it('decodes the header fields', () => {
    expect(r.version).toBe(2)
    expect(r.guestSvn).toBe(0)
    expect(r.vmpl).toBe(0)
    expect(r.signatureAlgo).toBe(1)
    expect(r.policy).toMatchObject({ raw: '0xb0000', smt: true, reservedMbo: true, migrateMa: false, debug: true, singleSocket: false, abiMajor: 0, abiMinor: 0 })
    expect(r.platformInfo).toMatchObject({ smtEnabled: true, tsmeEnabled: false, eccEnabled: false })
    expect(r.signer).toEqual({ raw: 0, authorKeyEn: false, maskChipKey: false, signingKey: 'vcek', signingKeyRaw: 0 })
    expect(r.cpuid).toBeUndefined()
    expect(r.product).toBeUndefined()
  })
  it('decodes data, digests and TCBs', () => {
    expect(r.reportData).toBe('0102030405' + '00'.repeat(59))
    expect(r.measurement).toBe('b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01')
    expect(r.hostData).toBe('00'.repeat(32))
    expect(r.idKeyDigest).toBe('00'.repeat(48))
    expect(r.reportIdMa).toBe('ff'.repeat(32))
    expect(r.reportId.startsWith('8edc638e')).toBe(true)
    for (const tcb of [r.currentTcb, r.reportedTcb, r.committedTcb, r.launchTcb]) {
      expect(tcb).toMatchObject({ layout: 'milan_genoa', bootloader: 2, tee: 0, snp: 5, microcode: 0x44 })
    }
    expect(r.currentVersion).toEqual({ major: 1, minor: 0x31, build: 3 })
    expect(r.committedVersion).toEqual({ major: 1, minor: 0x31, build: 3 })
    expect(r.chipId).toBe(parseAmdExtensions(VCEK).hwid)
    expect(r.signature.paddingZero).toBe(true)
    expect(r.signature.r).toHaveLength(96)
  })
  it('uses the Turin TCB layout when the product is Turin', () => {
    const t = parseSnpReport(REAL, { productHint: 'Turin' })
    expect(t.reportedTcb).toMatchObject({ layout: 'turin', fmc: 2, bootloader: 0, tee: 0, snp: 0, microcode: 0x44 })
  })
  it('raises typed errors for short, long and unknown-version input', () => {
    const err = (b: Uint8Array): SnpReportError => {
      try {
        parseSnpReport(b)
      } catch (e) {
        return e as SnpReportError
      }
      throw new Error('no error')
    }
    expect(err(REAL.subarray(0, 1183)).code).toBe('report_too_short')
    expect(err(new Uint8Array(0)).code).toBe('report_too_short')
    expect(err(Buffer.concat([REAL, Buffer.alloc(1)])).code).toBe('report_too_long')
    for (const v of [0, 1, 6, 0x01000002]) {
      const b = Buffer.from(REAL)
      b.writeUInt32LE(v, 0)
      expect(err(b)).toBeInstanceOf(SnpReportError)
      expect(err(b).code).toBe('report_unknown_version')
    }
  })
})

describe('verifySnpReport (real vectors)', () => {
  it('accepts the real report with its VCEK and the pinned Milan chain', () => {
    const r = verifySnpReport(REAL_INPUT)
    expect(r.reasons).toEqual([])
    expect(r.ok).toBe(true)
    expect(r.product).toBe('Milan')
    expect(r.signingKey).toBe('vcek')
    expect(r.arkSha256).toBe(AMD_ARK_SHA256.Milan)
  })
  it('accepts it with only the VCEK (ASK and ARK from the embedded roots)', () => {
    expect(verifySnpReport({ ...REAL_INPUT, certificates: { vcek: VCEK } }).ok).toBe(true)
  })
  it('pins the ARKs of the test vectors', () => {
    expect(sha256(MILAN_ARK!)).toBe(AMD_ARK_SHA256.Milan)
    expect(sha256(GENOA_ARK!)).toBe(AMD_ARK_SHA256.Genoa)
    expect(sha256(TURIN_ARK!)).toBe(AMD_ARK_SHA256.Turin)
    for (const root of AMD_ROOTS) {
      expect(sha256(new Uint8Array(new X509Certificate(root.ark as string).raw))).toBe(AMD_ARK_SHA256[root.product])
      expect(new X509Certificate(AMD_CHAINS[root.product].ask).verify(new X509Certificate(root.ark as string).publicKey)).toBe(true)
    }
  })
  it('rejects the debug policy by default, naming it', () => {
    const r = verifySnpReport({ ...REAL_INPUT, policy: {} })
    expect(r.ok).toBe(false)
    expect(codes(r)).toEqual(['policy_debug'])
  })
  it('rejects every single-byte change in the signed region, with a reason', () => {
    let checked = 0
    for (let off = 0; off < SIGNED_REGION_END; off++) {
      for (const mask of fieldStarts.has(off) ? [0x01, 0x80, 0xff] : [0x01]) {
        const b = Buffer.from(REAL)
        b[off]! ^= mask
        const r = verifySnpReport({ ...REAL_INPUT, report: b })
        if (r.ok || r.reasons.length === 0) throw new Error(`tampered byte 0x${off.toString(16)} (${fieldAt(off)}) accepted`)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(SIGNED_REGION_END)
  })
  it('names the signature for tampered data fields, and the field decoders for structural ones', () => {
    const at = (off: number, mask = 1): string[] => {
      const b = Buffer.from(REAL)
      b[off]! ^= mask
      return codes(verifySnpReport({ ...REAL_INPUT, report: b }))
    }
    expect(at(OFFSETS.reportData[0])).toEqual(['signature_invalid'])
    expect(at(OFFSETS.measurement[0] + 5)).toEqual(['signature_invalid'])
    expect(at(OFFSETS.chipId[0])).toEqual(['signature_invalid', 'chip_id_mismatch'])
    expect(at(OFFSETS.reportedTcb[0])).toEqual(['signature_invalid', 'tcb_mismatch'])
    expect(at(OFFSETS.version[0], 0x80)).toEqual(['report_unknown_version'])
    // 2 → 3 is a known version: the CPUID bytes (zero here) then name no product, and the signature fails.
    expect(at(OFFSETS.version[0])).toEqual(['signature_invalid'])
    expect(at(OFFSETS.signatureAlgo[0])).toContain('signature_algo_unsupported')
  })
  it('rejects changes to R and S too', () => {
    for (const off of [0x2a0, 0x2a0 + 47, 0x2e8, 0x2e8 + 47]) {
      const b = Buffer.from(REAL)
      b[off]! ^= 1
      expect(codes(verifySnpReport({ ...REAL_INPUT, report: b }))).toEqual(['signature_invalid'])
    }
    const b = Buffer.from(REAL)
    b[0x2a0 + 60] = 1
    expect(codes(verifySnpReport({ ...REAL_INPUT, report: b }))).toContain('signature_padding_nonzero')
  })
  it("rejects the wrong product's chain", () => {
    const withGenoa = verifySnpReport({ ...REAL_INPUT, certificates: { vcek: VCEK, ask: GENOA_ASK!, ark: GENOA_ARK! } })
    expect(withGenoa.ok).toBe(false)
    expect(codes(withGenoa)).toEqual(expect.arrayContaining(['ark_not_pinned', 'ask_not_signed_by_ark', 'vcek_not_signed_by_ask']))
    const genoaAskOnly = verifySnpReport({ ...REAL_INPUT, certificates: { vcek: VCEK, ask: GENOA_ASK! } })
    expect(codes(genoaAskOnly)).toEqual(expect.arrayContaining(['ask_not_signed_by_ark', 'vcek_not_signed_by_ask']))
    const onlyGenoaTrusted = verifySnpReport({ ...REAL_INPUT, certificates: { vcek: VCEK }, roots: AMD_ROOTS.filter((r) => r.product === 'Genoa') })
    expect(codes(onlyGenoaTrusted)).toEqual(['no_trusted_root'])
    const miscast = verifySnpReport({ ...REAL_INPUT, roots: [{ ...AMD_ROOTS.find((r) => r.product === 'Turin')!, product: 'Milan' }] })
    expect(codes(miscast)).toEqual(expect.arrayContaining(['ark_not_pinned', 'ask_not_signed_by_ark']))
  })
  it('rejects a VCEK from another chip', () => {
    const other = createFakeChain({ product: 'Milan', tcb: { bootloader: 2, tee: 0, snp: 5, microcode: 0x44 } })
    const r = verifySnpReport({ ...REAL_INPUT, certificates: { vcek: other.endorsement }, roots: [other.root] })
    expect(codes(r)).toEqual(['signature_invalid', 'chip_id_mismatch'])
  })
  it('checks validity at the given time', () => {
    expect(codes(verifySnpReport({ ...REAL_INPUT, now: '2030-01-01T00:00:00Z' }))).toEqual(['cert_expired'])
    expect(codes(verifySnpReport({ ...REAL_INPUT, now: '2021-01-01T00:00:00Z' }))).toEqual(['cert_not_yet_valid'])
    expect(codes(verifySnpReport({ ...REAL_INPUT, now: '2019-01-01T00:00:00Z' }))).toEqual(['cert_not_yet_valid', 'cert_not_yet_valid', 'cert_not_yet_valid'])
  })
  it('enforces the measurement allow-list and minimum TCB', () => {
    const m = parseSnpReport(REAL).measurement
    expect(verifySnpReport({ ...REAL_INPUT, measurementAllowList: [m.toUpperCase()] }).ok).toBe(true)
    expect(codes(verifySnpReport({ ...REAL_INPUT, measurementAllowList: ['00'.repeat(48)] }))).toEqual(['measurement_not_allowed'])
    expect(codes(verifySnpReport({ ...REAL_INPUT, policy: { allowDebug: true, minTcb: { snp: 6, bootloader: 2 } } }))).toEqual(['tcb_below_minimum'])
  })
})

const fieldStarts = new Set<number>(Object.values(OFFSETS).map(([o]) => o))

describe('verifySnpReport (generated chains)', () => {
  const chain = createFakeChain({ product: 'Genoa' })
  const base = (report: Buffer, extra: Partial<VerifySnpInput> = {}): VerifySnpInput => ({
    report,
    certificates: chain.certificates,
    roots: [chain.root],
    now: NOW,
    ...extra,
  })

  it('accepts a v3 report binding chosen REPORT_DATA, product from CPUID', () => {
    const reportData = createHash('sha512').update('jwks-bound').digest()
    const report = makeSignedReport(chain, { reportData })
    const r = verifySnpReport(base(report, { expectedReportData: reportData.toString('hex') }))
    expect(r.reasons).toEqual([])
    expect(r.product).toBe('Genoa')
    expect(r.report?.cpuid).toEqual({ familyId: 0x19, modelId: 0x11, stepping: 1 })
    const wrong = verifySnpReport(base(report, { expectedReportData: '00'.repeat(64) }))
    expect(codes(wrong)).toEqual(['report_data_mismatch'])
  })
  it('is not fooled by AMD roots: a fake chain is not trusted by default', () => {
    const r = verifySnpReport({ report: makeSignedReport(chain), certificates: chain.certificates, now: NOW })
    expect(codes(r)).toEqual(expect.arrayContaining(['ark_not_pinned', 'ask_not_signed_by_ark']))
  })
  it('rejects policy violations: debug, migration agent, VMPL', () => {
    expect(codes(verifySnpReport(base(makeSignedReport(chain, { policy: POLICY_DEFAULT | POLICY_DEBUG }))))).toEqual(['policy_debug'])
    expect(codes(verifySnpReport(base(makeSignedReport(chain, { policy: POLICY_DEFAULT | (1n << 18n) }))))).toEqual(['policy_migrate_ma'])
    expect(codes(verifySnpReport(base(makeSignedReport(chain, { vmpl: 2 }), { policy: { maxVmpl: 0 } })))).toEqual(['vmpl_too_high'])
  })
  it('rejects a report whose TCB differs from the VCEK, or that claims no signing key', () => {
    const r = verifySnpReport(base(makeSignedReport(chain, { tcb: { ...chain.tcb, snp: chain.tcb.snp + 1 } })))
    expect(codes(r)).toEqual(['tcb_mismatch'])
    expect(codes(verifySnpReport(base(makeSignedReport(chain, { signingKey: 'none' }))))).toEqual(['signing_key_unsupported'])
    expect(codes(verifySnpReport(base(makeSignedReport(chain, { maskChipKey: true }))))).toEqual(['chip_id_mismatch'])
  })
  it('rejects an ASK signed by a different root', () => {
    const rogue = createFakeChain({ product: 'Genoa' })
    const r = verifySnpReport(base(makeSignedReport(rogue), { certificates: { vcek: rogue.endorsement, ask: rogue.ask } }))
    expect(codes(r)).toEqual(['ask_not_signed_by_ark'])
  })
  it('verifies a VLEK-signed report through the ASVK', () => {
    const vlek = createFakeChain({ product: 'Milan', vlek: true })
    const report = makeSignedReport(vlek)
    const ok = verifySnpReport({ report, certificates: vlek.certificates, roots: [vlek.root], now: NOW })
    expect(ok.reasons).toEqual([])
    expect(ok.signingKey).toBe('vlek')
    const vcekOnly = verifySnpReport({ report, certificates: { vcek: vlek.endorsement }, roots: [vlek.root], now: NOW })
    expect(codes(vcekOnly)).toEqual(['cert_missing'])
    expect(codes(verifySnpReport({ report, certificates: vlek.certificates, roots: [vlek.root], now: NOW, policy: { signingKey: 'vcek' } }))).toEqual(['signing_key_not_allowed'])
  })
  it('verifies Turin reports with the FMC component and an 8-byte hwID', () => {
    const turin = createFakeChain({ product: 'Turin' })
    const report = makeSignedReport(turin)
    const r = verifySnpReport({ report, certificates: turin.certificates, roots: [turin.root], now: NOW })
    expect(r.reasons).toEqual([])
    expect(r.report?.reportedTcb).toMatchObject({ layout: 'turin', fmc: 1, snp: 8 })
    const bad = makeSignedReport(turin, { tcb: { ...turin.tcb, fmc: 2 } })
    expect(codes(verifySnpReport({ report: bad, certificates: turin.certificates, roots: [turin.root], now: NOW }))).toEqual(['tcb_mismatch'])
  })
  it('reads the certificates from a GHCB certificate table', () => {
    const table = parseCertTable(encodeCertTable({ vcek: chain.endorsement, ask: chain.ask, ark: chain.ark }))
    expect(Buffer.from(table.vcek!).equals(Buffer.from(chain.endorsement))).toBe(true)
    expect(table.unknown).toEqual([])
    const { unknown: _unknown, ...certificates } = table
    expect(verifySnpReport(base(makeSignedReport(chain), { certificates })).ok).toBe(true)
    expect(() => parseCertTable(new Uint8Array(10))).toThrow(/not terminated/)
  })
})

describe('verifySnpReport (hostile input)', () => {
  it('fails, never throws, on garbage certificates', () => {
    for (const certificates of [
      { vcek: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]) },
      { vcek: VCEK, ask: 'not a pem' },
      { vcek: VCEK, ark: new Uint8Array([0x30, 0x82, 0xff, 0xff]) },
      { vcek: 'garbage' },
    ]) {
      const r = verifySnpReport({ ...REAL_INPUT, certificates })
      expect(r.ok).toBe(false)
      expect(r.reasons.length).toBeGreaterThan(0)
    }
  })
})
