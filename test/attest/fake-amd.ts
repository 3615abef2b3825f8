import { constants, createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { bitString, bool, explicit, ia5, integer, octets, oid, seq, set, time, utf8, nullValue } from '../../attest/der.js'
import { AMD_OID } from '../../attest/amd-certs.js'
import { OFFSETS, SNP_REPORT_SIZE, SIGNED_REGION_END, encodeTcb, type Product, type TcbVersion } from '../../attest/snp-report.js'
import type { TrustRoot } from '../../attest/verify-snp.js'

/**
 * A stand-in for AMD's key hierarchy, for tests and benches: RSA-PSS (SHA-384) ARK and
 * ASK/ASVK, a P-384 VCEK/VLEK with AMD's extensions, and reports signed like the PSP does.
 */

const SHA384 = '2.16.840.1.101.3.4.2.2'
const RSA_PSS = '1.2.840.113549.1.1.10'
const MGF1 = '1.2.840.113549.1.1.8'

const rsaPssSha384 = (): Uint8Array =>
  seq(
    oid(RSA_PSS),
    seq(
      explicit(0, seq(oid(SHA384), nullValue())),
      explicit(1, seq(oid(MGF1), seq(oid(SHA384), nullValue()))),
      explicit(2, integer(48)),
    ),
  )

const name = (cn: string): Uint8Array =>
  seq(
    set(seq(oid('2.5.4.11'), utf8('Engineering'))),
    set(seq(oid('2.5.4.10'), utf8('Fake Micro Devices'))),
    set(seq(oid('2.5.4.3'), utf8(cn))),
  )

const extension = (id: string, value: Uint8Array, critical = false): Uint8Array =>
  critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value))

export interface CertSpec {
  subject: string
  issuer: string
  publicKey: KeyObject
  issuerKey: KeyObject
  notBefore: Date
  notAfter: Date
  extensions?: Uint8Array[]
  serial?: bigint
}

/** An X.509 v3 certificate signed RSA-PSS/SHA-384 by `issuerKey`, as DER. */
export function makeCert(spec: CertSpec): Uint8Array {
  const spki = spec.publicKey.export({ type: 'spki', format: 'der' })
  const tbs = seq(
    explicit(0, integer(2)),
    integer(spec.serial ?? BigInt('0x' + randomBytes(8).toString('hex'))),
    rsaPssSha384(),
    name(spec.issuer),
    seq(time(spec.notBefore), time(spec.notAfter)),
    name(spec.subject),
    spki,
    ...(spec.extensions !== undefined && spec.extensions.length > 0 ? [explicit(3, seq(...spec.extensions))] : []),
  )
  const signature = sign('sha384', tbs, {
    key: spec.issuerKey,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: 48,
  })
  return seq(tbs, rsaPssSha384(), bitString(signature))
}

export interface Tcb {
  bootloader: number
  tee: number
  snp: number
  microcode: number
  fmc?: number
}

export interface FakeChainOptions {
  product?: Product
  /** TCB written into the endorsement key's extensions. */
  tcb?: Tcb
  chipId?: Uint8Array
  notBefore?: Date
  notAfter?: Date
  /** Issue a VLEK (signed by an ASVK) instead of a VCEK. */
  vlek?: boolean
  /** Reuse an existing ARK/ASK (e.g. a second chip under the same root). */
  parent?: Pick<FakeChain, 'ark' | 'arkKey' | 'ask' | 'askKey'>
  rsaBits?: number
}

export interface FakeChain {
  product: Product
  ark: Uint8Array
  arkKey: KeyObject
  ask: Uint8Array
  askKey: KeyObject
  /** The VCEK or VLEK certificate. */
  endorsement: Uint8Array
  endorsementKey: KeyObject
  kind: 'vcek' | 'vlek'
  chipId: Uint8Array
  tcb: Tcb
  /** The trust root a verifier must be given for this chain. */
  root: TrustRoot
  certificates: { vcek?: Uint8Array; vlek?: Uint8Array; ask?: Uint8Array; asvk?: Uint8Array; ark: Uint8Array }
}

/** Generates ARK → ASK (or ASVK) → VCEK (or VLEK) for one fake chip. */
export function createFakeChain(opts: FakeChainOptions = {}): FakeChain {
  const product = opts.product ?? 'Milan'
  const tcb = opts.tcb ?? { bootloader: 3, tee: 0, snp: 8, microcode: 115, ...(product === 'Turin' ? { fmc: 1 } : {}) }
  const notBefore = opts.notBefore ?? new Date('2024-01-01T00:00:00Z')
  const notAfter = opts.notAfter ?? new Date('2049-01-01T00:00:00Z')
  const chipId = opts.chipId ?? (product === 'Turin' ? Buffer.concat([randomBytes(8), Buffer.alloc(56)]) : randomBytes(64))
  const kind = opts.vlek === true ? 'vlek' : 'vcek'
  const interName = kind === 'vcek' ? `SEV-${product}` : `SEV-VLEK-${product}`
  const rsa = (): { publicKey: KeyObject; privateKey: KeyObject } =>
    generateKeyPairSync('rsa', { modulusLength: opts.rsaBits ?? 2048 })
  const caExt = [extension('2.5.29.19', seq(bool(true)), true)]

  let ark: Uint8Array
  let arkKey: KeyObject
  let ask: Uint8Array
  let askKey: KeyObject
  if (opts.parent !== undefined && kind === 'vcek') {
    ;({ ark, arkKey, ask, askKey } = opts.parent)
  } else {
    let arkPub: KeyObject
    if (opts.parent !== undefined) {
      ark = opts.parent.ark
      arkKey = opts.parent.arkKey
      arkPub = arkKey
    } else {
      const arkPair = rsa()
      arkKey = arkPair.privateKey
      arkPub = arkPair.publicKey
      ark = makeCert({ subject: `ARK-${product}`, issuer: `ARK-${product}`, publicKey: arkPub, issuerKey: arkKey, notBefore, notAfter, extensions: caExt })
    }
    const askPair = rsa()
    askKey = askPair.privateKey
    ask = makeCert({ subject: interName, issuer: `ARK-${product}`, publicKey: askPair.publicKey, issuerKey: arkKey, notBefore, notAfter, extensions: caExt })
  }
  const ec = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
  const tcbExt = [
    extension(AMD_OID.structVersion, integer(1)),
    extension(AMD_OID.productName, ia5(`${product}-B0`)),
    extension(AMD_OID.blSpl, integer(tcb.bootloader)),
    extension(AMD_OID.teeSpl, integer(tcb.tee)),
    extension(AMD_OID.snpSpl, integer(tcb.snp)),
    extension(AMD_OID.ucodeSpl, integer(tcb.microcode)),
    ...(tcb.fmc !== undefined ? [extension(AMD_OID.fmcSpl, integer(tcb.fmc))] : []),
  ]
  const idExt =
    kind === 'vcek'
      ? extension(AMD_OID.hwid, product === 'Turin' ? chipId.subarray(0, 8) : chipId)
      : extension(AMD_OID.cspId, utf8('fake-cloud'))
  const endorsement = makeCert({
    subject: kind === 'vcek' ? 'SEV-VCEK' : 'SEV-VLEK',
    issuer: interName,
    publicKey: ec.publicKey,
    issuerKey: askKey,
    notBefore,
    notAfter,
    extensions: [...tcbExt, idExt],
  })
  const root: TrustRoot = kind === 'vcek' ? { product, ark, ask } : { product, ark, asvk: ask }
  return {
    product,
    ark,
    arkKey,
    ask,
    askKey,
    endorsement,
    endorsementKey: ec.privateKey,
    kind,
    chipId,
    tcb,
    root,
    certificates: kind === 'vcek' ? { vcek: endorsement, ask, ark } : { vlek: endorsement, asvk: ask, ark },
  }
}

export interface ReportFields {
  version?: number
  guestSvn?: number
  policy?: bigint
  familyId?: Uint8Array
  imageId?: Uint8Array
  vmpl?: number
  signatureAlgo?: number
  tcb?: Tcb
  platformInfo?: bigint
  signingKey?: 'vcek' | 'vlek' | 'none'
  maskChipKey?: boolean
  authorKeyEn?: boolean
  reportData?: Uint8Array
  measurement?: Uint8Array
  hostData?: Uint8Array
  idKeyDigest?: Uint8Array
  authorKeyDigest?: Uint8Array
  reportId?: Uint8Array
  chipId?: Uint8Array
  product?: Product
}

/** Default guest policy: SMT allowed, bit 17 set, no debug, no migration agent. */
export const POLICY_DEFAULT = (1n << 16n) | (1n << 17n)
export const POLICY_DEBUG = 1n << 19n

const CPUID: Record<Product, [number, number]> = { Milan: [0x19, 0x01], Genoa: [0x19, 0x11], Turin: [0x1a, 0x02] }

/** An unsigned report with the given fields (zeros elsewhere). */
export function buildReport(f: ReportFields = {}): Buffer {
  const b = Buffer.alloc(SNP_REPORT_SIZE)
  const put = (name: keyof typeof OFFSETS, bytes: Uint8Array | undefined): void => {
    if (bytes === undefined) return
    const [off, len] = OFFSETS[name]
    if (bytes.length > len) throw new Error(`${name} is ${len} bytes`)
    b.set(bytes, off)
  }
  const product = f.product ?? 'Milan'
  const version = f.version ?? 3
  const layout: TcbVersion['layout'] = product === 'Turin' ? 'turin' : 'milan_genoa'
  b.writeUInt32LE(version, 0)
  b.writeUInt32LE(f.guestSvn ?? 0, 0x04)
  b.writeBigUInt64LE(f.policy ?? POLICY_DEFAULT, 0x08)
  put('familyId', f.familyId)
  put('imageId', f.imageId)
  b.writeUInt32LE(f.vmpl ?? 0, 0x30)
  b.writeUInt32LE(f.signatureAlgo ?? 1, 0x34)
  const tcb = encodeTcb(f.tcb ?? { bootloader: 3, tee: 0, snp: 8, microcode: 115 }, layout)
  for (const name of ['currentTcb', 'reportedTcb', 'committedTcb', 'launchTcb'] as const) put(name, tcb)
  b.writeBigUInt64LE(f.platformInfo ?? 1n, 0x40)
  const key = { vcek: 0, vlek: 1, none: 7 }[f.signingKey ?? 'vcek']
  b.writeUInt32LE((f.authorKeyEn === true ? 1 : 0) | (f.maskChipKey === true ? 2 : 0) | (key << 2), 0x48)
  put('reportData', f.reportData)
  put('measurement', f.measurement ?? createHash('sha384').update('fake guest').digest())
  put('hostData', f.hostData)
  put('idKeyDigest', f.idKeyDigest)
  put('authorKeyDigest', f.authorKeyDigest)
  put('reportId', f.reportId ?? randomBytes(32))
  put('reportIdMa', Buffer.alloc(32, 0xff))
  if (version >= 3) {
    const [fam, mod] = CPUID[product]
    b[0x188] = fam
    b[0x189] = mod
    b[0x18a] = 1
  }
  put('chipId', f.maskChipKey === true ? undefined : f.chipId)
  b[0x1e8] = 7
  b[0x1e9] = 55
  b[0x1ea] = 1
  b[0x1ec] = 7
  b[0x1ed] = 55
  b[0x1ee] = 1
  return b
}

/** Signs [0, 0x2A0) with a P-384 key and writes R and S little-endian, zero-padded to 72. */
export function signReport(report: Buffer, key: KeyObject): Buffer {
  const out = Buffer.from(report)
  const sig = sign('sha384', out.subarray(0, SIGNED_REGION_END), { key, dsaEncoding: 'ieee-p1363' })
  out.fill(0, 0x2a0, 0x2a0 + 144)
  out.set(Uint8Array.from(sig.subarray(0, 48)).reverse(), 0x2a0)
  out.set(Uint8Array.from(sig.subarray(48, 96)).reverse(), 0x2e8)
  return out
}

/** A signed report for `chain` (its chip id and TCB), with field overrides. */
export function makeSignedReport(chain: FakeChain, f: ReportFields = {}): Buffer {
  return signReport(
    buildReport({ product: chain.product, tcb: chain.tcb, chipId: chain.chipId, signingKey: chain.kind, ...f }),
    chain.endorsementKey,
  )
}
