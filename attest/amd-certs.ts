import { X509Certificate } from 'node:crypto'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { children, decodeOid, decodeUnsigned, readNode, TAG } from './der.js'
import type { Product } from './snp-report.js'

/** GUIDs of the GHCB certificate table (auxblob / extended guest request). */
export const CERT_GUIDS = {
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
} as const

export type CertRole = keyof typeof CERT_GUIDS | 'asvk'

/** DER certificates by role; any may be missing. */
export interface SnpCertificates {
  vcek?: Uint8Array
  vlek?: Uint8Array
  ask?: Uint8Array
  asvk?: Uint8Array
  ark?: Uint8Array
}

export class CertTableError extends Error {
  override name = 'CertTableError'
}

const guidToBytes = (g: string): Buffer => Buffer.from(g.replace(/-/g, ''), 'hex')
const bytesToGuid = (b: Uint8Array): string => {
  const h = Buffer.from(b).toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/**
 * Parses a GHCB certificate table: entries of {GUID (16, RFC 4122 byte order), offset u32
 * LE, length u32 LE} ended by an all-zero entry; offsets are from the table's start.
 */
export function parseCertTable(blob: Uint8Array): SnpCertificates & { unknown: string[] } {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength)
  const out: SnpCertificates & { unknown: string[] } = { unknown: [] }
  for (let p = 0; ; p += 24) {
    if (p + 24 > buf.length) throw new CertTableError('certificate table is not terminated')
    const guidBytes = buf.subarray(p, p + 16)
    const offset = buf.readUInt32LE(p + 16)
    const length = buf.readUInt32LE(p + 20)
    if (guidBytes.every((b) => b === 0) && offset === 0 && length === 0) break
    if (offset + length > buf.length || offset < p + 24) throw new CertTableError('certificate table entry out of range')
    const guid = bytesToGuid(guidBytes)
    const role = (Object.keys(CERT_GUIDS) as (keyof typeof CERT_GUIDS)[]).find((k) => CERT_GUIDS[k] === guid)
    const der = Uint8Array.from(buf.subarray(offset, offset + length))
    if (role === undefined) out.unknown.push(guid)
    else out[role] = der
  }
  return out
}

/** Builds a certificate table (what the host's auxblob holds); used by tests and fakes. */
export function encodeCertTable(certs: SnpCertificates): Uint8Array {
  const entries = (Object.keys(CERT_GUIDS) as (keyof typeof CERT_GUIDS)[])
    .filter((k) => certs[k] !== undefined)
    .map((k) => ({ guid: guidToBytes(CERT_GUIDS[k]), der: certs[k]! }))
  const header = Buffer.alloc((entries.length + 1) * 24)
  let offset = header.length
  entries.forEach((e, i) => {
    e.guid.copy(header, i * 24)
    header.writeUInt32LE(offset, i * 24 + 16)
    header.writeUInt32LE(e.der.length, i * 24 + 20)
    offset += e.der.length
  })
  return Buffer.concat([header, ...entries.map((e) => e.der)])
}

/** PEM (one certificate) or DER → DER. */
export function toDer(cert: string | Uint8Array): Uint8Array {
  if (typeof cert !== 'string') {
    if (cert[0] === 0x30) return cert
    return toDer(Buffer.from(cert).toString('utf8'))
  }
  return new Uint8Array(new X509Certificate(cert).raw)
}

/** Every certificate in a PEM bundle, in order, as DER. */
export function splitPem(pem: string): Uint8Array[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
  return blocks.map((b) => new Uint8Array(new X509Certificate(b).raw))
}

export const toPem = (der: Uint8Array): string => new X509Certificate(der).toString()

export const AMD_OID = {
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSpl: '1.3.6.1.4.1.3704.1.3.1',
  teeSpl: '1.3.6.1.4.1.3704.1.3.2',
  snpSpl: '1.3.6.1.4.1.3704.1.3.3',
  ucodeSpl: '1.3.6.1.4.1.3704.1.3.8',
  fmcSpl: '1.3.6.1.4.1.3704.1.3.9',
  hwid: '1.3.6.1.4.1.3704.1.4',
  cspId: '1.3.6.1.4.1.3704.1.5',
} as const

/** What AMD puts into a VCEK/VLEK certificate's extensions. */
export interface AmdCertExtensions {
  structVersion?: number
  productName?: string
  product?: Product
  tcb: { bootloader?: number; tee?: number; snp?: number; microcode?: number; fmc?: number }
  /** VCEK: the chip id (64 bytes; 8 on Turin). */
  hwid?: string
  /** VLEK: the cloud provider's id. */
  cspId?: string
  /** Every extension OID seen, for diagnostics. */
  oids: string[]
}

/** 'Milan-B0' → 'Milan'. */
export function productFromName(name: string | undefined): Product | undefined {
  const p = name?.split('-')[0]
  return p === 'Milan' || p === 'Genoa' || p === 'Turin' ? p : undefined
}

/** Walks tbsCertificate.extensions of a DER certificate and decodes AMD's OIDs. */
export function parseAmdExtensions(certDer: Uint8Array): AmdCertExtensions {
  const cert = readNode(certDer)
  const tbs = children(cert)[0]
  if (tbs === undefined || tbs.tag !== TAG.SEQUENCE) throw new Error('not an X.509 certificate')
  const extWrapper = children(tbs).find((n) => n.tag === 0xa3)
  const out: AmdCertExtensions = { tcb: {}, oids: [] }
  if (extWrapper === undefined) return out
  const extSeq = children(extWrapper)[0]
  if (extSeq === undefined) return out
  for (const ext of children(extSeq)) {
    const parts = children(ext)
    const oidNode = parts[0]
    const valueNode = parts[parts.length - 1]
    if (oidNode?.tag !== TAG.OID || valueNode?.tag !== TAG.OCTET_STRING) continue
    const id = decodeOid(oidNode.content)
    out.oids.push(id)
    const value = valueNode.content
    const asInt = (): number => {
      const inner = readNode(value)
      if (inner.tag !== TAG.INTEGER) throw new Error(`extension ${id} is not an INTEGER`)
      return Number(decodeUnsigned(inner.content))
    }
    switch (id) {
      case AMD_OID.structVersion:
        out.structVersion = asInt()
        break
      case AMD_OID.productName: {
        const inner = readNode(value)
        out.productName = Buffer.from(inner.content).toString('ascii')
        const product = productFromName(out.productName)
        if (product !== undefined) out.product = product
        break
      }
      case AMD_OID.blSpl:
        out.tcb.bootloader = asInt()
        break
      case AMD_OID.teeSpl:
        out.tcb.tee = asInt()
        break
      case AMD_OID.snpSpl:
        out.tcb.snp = asInt()
        break
      case AMD_OID.ucodeSpl:
        out.tcb.microcode = asInt()
        break
      case AMD_OID.fmcSpl:
        out.tcb.fmc = asInt()
        break
      case AMD_OID.hwid:
        // Raw chip id bytes (AMD does not wrap them in another OCTET STRING).
        out.hwid = Buffer.from(value).toString('hex')
        break
      case AMD_OID.cspId: {
        const inner = readNode(value)
        out.cspId = Buffer.from(inner.content).toString('utf8')
        break
      }
    }
  }
  return out
}

/**
 * Certificates from a directory (SNP_CERTS_DIR): vcek|vlek|ask|asvk|ark with .der, .pem,
 * .crt or .cer, and/or cert_chain.pem (ASK then ARK, as AMD's KDS serves it).
 */
export async function loadCertsFromDir(dir: string): Promise<SnpCertificates> {
  const names = await readdir(dir)
  const out: SnpCertificates = {}
  const chain = names.find((n) => n === 'cert_chain.pem')
  if (chain !== undefined) {
    const [ask, ark] = splitPem(await readFile(join(dir, chain), 'utf8'))
    if (ask !== undefined) out.ask = ask
    if (ark !== undefined) out.ark = ark
  }
  for (const role of ['vcek', 'vlek', 'ask', 'asvk', 'ark'] as const) {
    const file = names.find((n) => new RegExp(`^${role}\\.(der|pem|crt|cer)$`, 'i').test(n))
    if (file !== undefined) out[role] = toDer(await readFile(join(dir, file)))
  }
  return out
}
