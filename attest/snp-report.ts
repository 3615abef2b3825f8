/**
 * SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP ABI spec 56860, table "ATTESTATION_REPORT
 * Structure"): 1184 bytes, little-endian, signed over [0, 0x2A0).
 */

export const SNP_REPORT_SIZE = 0x4a0
/** The signature covers bytes [0, SIGNED_REGION_END). */
export const SIGNED_REGION_END = 0x2a0
export const MIN_REPORT_VERSION = 2
export const MAX_REPORT_VERSION = 5

/** Field offsets (bytes) and sizes. */
export const OFFSETS = {
  version: [0x00, 4],
  guestSvn: [0x04, 4],
  policy: [0x08, 8],
  familyId: [0x10, 16],
  imageId: [0x20, 16],
  vmpl: [0x30, 4],
  signatureAlgo: [0x34, 4],
  currentTcb: [0x38, 8],
  platformInfo: [0x40, 8],
  signerInfo: [0x48, 4],
  reserved0: [0x4c, 4],
  reportData: [0x50, 64],
  measurement: [0x90, 48],
  hostData: [0xc0, 32],
  idKeyDigest: [0xe0, 48],
  authorKeyDigest: [0x110, 48],
  reportId: [0x140, 32],
  reportIdMa: [0x160, 32],
  reportedTcb: [0x180, 8],
  cpuidFamId: [0x188, 1],
  cpuidModId: [0x189, 1],
  cpuidStep: [0x18a, 1],
  reserved1: [0x18b, 21],
  chipId: [0x1a0, 64],
  committedTcb: [0x1e0, 8],
  currentBuild: [0x1e8, 1],
  currentMinor: [0x1e9, 1],
  currentMajor: [0x1ea, 1],
  reserved2: [0x1eb, 1],
  committedBuild: [0x1ec, 1],
  committedMinor: [0x1ed, 1],
  committedMajor: [0x1ee, 1],
  reserved3: [0x1ef, 1],
  launchTcb: [0x1f0, 8],
  launchMitVector: [0x1f8, 8],
  currentMitVector: [0x200, 8],
  reserved4: [0x208, 0x98],
  signatureR: [0x2a0, 72],
  signatureS: [0x2e8, 72],
  signatureReserved: [0x330, 0x170],
} as const satisfies Record<string, readonly [number, number]>

export type SnpField = keyof typeof OFFSETS

export class SnpReportError extends Error {
  override name = 'SnpReportError'
  constructor(
    readonly code: 'report_too_short' | 'report_too_long' | 'report_unknown_version',
    message: string,
  ) {
    super(message)
  }
}

export type Product = 'Milan' | 'Genoa' | 'Turin'

/** Guest policy bits (ABI §4.3). */
export interface GuestPolicy {
  raw: string
  abiMinor: number
  abiMajor: number
  smt: boolean
  /** Bit 17 must be 1 per the ABI. */
  reservedMbo: boolean
  migrateMa: boolean
  debug: boolean
  singleSocket: boolean
  cxlAllow: boolean
  memAes256Xts: boolean
  raplDis: boolean
  ciphertextHiding: boolean
  pageSwapDisable: boolean
}

export interface PlatformInfo {
  raw: string
  smtEnabled: boolean
  tsmeEnabled: boolean
  eccEnabled: boolean
  raplDisabled: boolean
  ciphertextHidingEnabled: boolean
  aliasCheckComplete: boolean
  tioEnabled: boolean
}

export type SigningKeyKind = 'vcek' | 'vlek' | 'none' | 'reserved'

export interface SignerInfo {
  raw: number
  authorKeyEn: boolean
  maskChipKey: boolean
  signingKey: SigningKeyKind
  signingKeyRaw: number
}

/** TCB_VERSION: Milan/Genoa layout, or Turin's (adds FMC, moves fields). */
export interface TcbVersion {
  raw: string
  layout: 'milan_genoa' | 'turin'
  bootloader: number
  tee: number
  snp: number
  microcode: number
  /** Turin only. */
  fmc?: number
}

export interface SnpReport {
  version: number
  guestSvn: number
  policy: GuestPolicy
  familyId: string
  imageId: string
  vmpl: number
  signatureAlgo: number
  currentTcb: TcbVersion
  platformInfo: PlatformInfo
  signer: SignerInfo
  reportData: string
  measurement: string
  hostData: string
  idKeyDigest: string
  authorKeyDigest: string
  reportId: string
  reportIdMa: string
  reportedTcb: TcbVersion
  /** Version ≥ 3 only. */
  cpuid?: { familyId: number; modelId: number; stepping: number }
  /** Derived from CPUID (version ≥ 3) or the caller's hint. */
  product?: Product
  chipId: string
  committedTcb: TcbVersion
  currentVersion: { major: number; minor: number; build: number }
  committedVersion: { major: number; minor: number; build: number }
  launchTcb: TcbVersion
  /** Version ≥ 5 only. */
  launchMitVector?: string
  currentMitVector?: string
  signature: {
    algo: number
    /** Big-endian hex of the 48 significant bytes. */
    r: string
    s: string
    /** True when bytes 48..71 of R and S are zero, as the ABI requires for P-384. */
    paddingZero: boolean
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function field(buf: Uint8Array, name: SnpField): Uint8Array {
  const [off, len] = OFFSETS[name]
  return buf.subarray(off, off + len)
}

/** Product from CPUID family/model (SNP reports v3+). */
export function productFromCpuid(familyId: number, modelId: number): Product | undefined {
  if (familyId === 0x19) {
    if (modelId <= 0x0f) return 'Milan'
    if (modelId >= 0x10 && modelId <= 0x1f) return 'Genoa'
    if (modelId >= 0xa0 && modelId <= 0xaf) return 'Genoa' // Bergamo/Siena use the Genoa chain
  }
  if (familyId === 0x1a && modelId <= 0x11) return 'Turin'
  return undefined
}

/** Decodes a TCB_VERSION in the given layout. */
export function decodeTcb(b: Uint8Array, layout: TcbVersion['layout']): TcbVersion {
  if (layout === 'turin') {
    return { raw: hex(b), layout, fmc: b[0]!, bootloader: b[1]!, tee: b[2]!, snp: b[3]!, microcode: b[7]! }
  }
  return { raw: hex(b), layout, bootloader: b[0]!, tee: b[1]!, snp: b[6]!, microcode: b[7]! }
}

function decodePolicy(b: Uint8Array): GuestPolicy {
  const v = Buffer.from(b).readBigUInt64LE(0)
  const bit = (n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n
  return {
    raw: '0x' + v.toString(16),
    abiMinor: Number(v & 0xffn),
    abiMajor: Number((v >> 8n) & 0xffn),
    smt: bit(16),
    reservedMbo: bit(17),
    migrateMa: bit(18),
    debug: bit(19),
    singleSocket: bit(20),
    cxlAllow: bit(21),
    memAes256Xts: bit(22),
    raplDis: bit(23),
    ciphertextHiding: bit(24),
    pageSwapDisable: bit(25),
  }
}

function decodePlatformInfo(b: Uint8Array): PlatformInfo {
  const v = Buffer.from(b).readBigUInt64LE(0)
  const bit = (n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n
  return {
    raw: '0x' + v.toString(16),
    smtEnabled: bit(0),
    tsmeEnabled: bit(1),
    eccEnabled: bit(2),
    raplDisabled: bit(3),
    ciphertextHidingEnabled: bit(4),
    aliasCheckComplete: bit(5),
    tioEnabled: bit(7),
  }
}

function decodeSigner(raw: number): SignerInfo {
  const key = (raw >> 2) & 0x7
  const signingKey: SigningKeyKind = key === 0 ? 'vcek' : key === 1 ? 'vlek' : key === 7 ? 'none' : 'reserved'
  return { raw, authorKeyEn: (raw & 1) === 1, maskChipKey: (raw & 2) === 2, signingKey, signingKeyRaw: key }
}

/** Little-endian 72-byte ECDSA component → big-endian 48 bytes. */
export function leComponentToBe(b: Uint8Array): Uint8Array {
  return Uint8Array.from(b.subarray(0, 48)).reverse()
}

export interface ParseOptions {
  /** Product when the report cannot say (v2): from the VCEK or the configuration. */
  productHint?: Product
}

/**
 * Parses a raw report. Throws SnpReportError for a wrong size or an unknown version;
 * never checks the signature (see verify-snp.ts).
 */
export function parseSnpReport(input: Uint8Array, options: ParseOptions = {}): SnpReport {
  if (input.length < SNP_REPORT_SIZE) {
    throw new SnpReportError('report_too_short', `SEV-SNP report is ${input.length} bytes, expected ${SNP_REPORT_SIZE}`)
  }
  if (input.length > SNP_REPORT_SIZE) {
    throw new SnpReportError('report_too_long', `SEV-SNP report is ${input.length} bytes, expected ${SNP_REPORT_SIZE}`)
  }
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  const version = buf.readUInt32LE(0)
  if (version < MIN_REPORT_VERSION || version > MAX_REPORT_VERSION) {
    throw new SnpReportError('report_unknown_version', `unknown SEV-SNP report version ${version}`)
  }
  let cpuid: SnpReport['cpuid']
  let product = options.productHint
  if (version >= 3) {
    cpuid = { familyId: buf[0x188]!, modelId: buf[0x189]!, stepping: buf[0x18a]! }
    product = productFromCpuid(cpuid.familyId, cpuid.modelId) ?? product
  }
  const layout: TcbVersion['layout'] = product === 'Turin' ? 'turin' : 'milan_genoa'
  const r = field(buf, 'signatureR')
  const s = field(buf, 'signatureS')
  const paddingZero = r.subarray(48).every((x) => x === 0) && s.subarray(48).every((x) => x === 0)
  const report: SnpReport = {
    version,
    guestSvn: buf.readUInt32LE(0x04),
    policy: decodePolicy(field(buf, 'policy')),
    familyId: hex(field(buf, 'familyId')),
    imageId: hex(field(buf, 'imageId')),
    vmpl: buf.readUInt32LE(0x30),
    signatureAlgo: buf.readUInt32LE(0x34),
    currentTcb: decodeTcb(field(buf, 'currentTcb'), layout),
    platformInfo: decodePlatformInfo(field(buf, 'platformInfo')),
    signer: decodeSigner(buf.readUInt32LE(0x48)),
    reportData: hex(field(buf, 'reportData')),
    measurement: hex(field(buf, 'measurement')),
    hostData: hex(field(buf, 'hostData')),
    idKeyDigest: hex(field(buf, 'idKeyDigest')),
    authorKeyDigest: hex(field(buf, 'authorKeyDigest')),
    reportId: hex(field(buf, 'reportId')),
    reportIdMa: hex(field(buf, 'reportIdMa')),
    reportedTcb: decodeTcb(field(buf, 'reportedTcb'), layout),
    chipId: hex(field(buf, 'chipId')),
    committedTcb: decodeTcb(field(buf, 'committedTcb'), layout),
    currentVersion: { major: buf[0x1ea]!, minor: buf[0x1e9]!, build: buf[0x1e8]! },
    committedVersion: { major: buf[0x1ee]!, minor: buf[0x1ed]!, build: buf[0x1ec]! },
    launchTcb: decodeTcb(field(buf, 'launchTcb'), layout),
    signature: {
      algo: buf.readUInt32LE(0x34),
      r: hex(leComponentToBe(r)),
      s: hex(leComponentToBe(s)),
      paddingZero,
    },
  }
  if (cpuid !== undefined) report.cpuid = cpuid
  if (product !== undefined) report.product = product
  if (version >= 5) {
    report.launchMitVector = hex(field(buf, 'launchMitVector'))
    report.currentMitVector = hex(field(buf, 'currentMitVector'))
  }
  return report
}

/** The 64-byte REPORT_DATA of a raw report. */
export function reportDataOf(raw: Uint8Array): Uint8Array {
  return raw.subarray(0x50, 0x90)
}

/** The field that contains byte `offset` (for naming what a tampered byte broke). */
export function fieldAt(offset: number): SnpField | undefined {
  for (const [name, [off, len]] of Object.entries(OFFSETS) as [SnpField, readonly [number, number]][]) {
    if (offset >= off && offset < off + len) return name
  }
  return undefined
}

/** TCB_VERSION components → 8 bytes in the given layout (inverse of decodeTcb). */
export function encodeTcb(
  tcb: { bootloader: number; tee: number; snp: number; microcode: number; fmc?: number },
  layout: TcbVersion['layout'] = 'milan_genoa',
): Uint8Array {
  const b = new Uint8Array(8)
  if (layout === 'turin') {
    b[0] = tcb.fmc ?? 0
    b[1] = tcb.bootloader
    b[2] = tcb.tee
    b[3] = tcb.snp
  } else {
    b[0] = tcb.bootloader
    b[1] = tcb.tee
    b[6] = tcb.snp
  }
  b[7] = tcb.microcode
  return b
}
