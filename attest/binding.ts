import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'

/**
 * REPORT_DATA layout (API §16): [0:32] SHA-256 of the provenance digest, [32:48] the first
 * 16 bytes of SHA-256 over the RFC 8785 canonical JWKS, [48:64] the first 16 bytes of the
 * caller's nonce (zero-padded when shorter).
 */

const sha256 = (b: Uint8Array | string): Buffer => createHash('sha256').update(b).digest()

/** RFC 8785 canonical JSON text; throws on values JSON cannot carry. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value)
  if (text === undefined) throw new TypeError('value cannot be canonicalised as JSON')
  return text
}

/** SHA-256 over the canonical JWKS document. */
export function jwksHash(jwks: unknown): Buffer {
  return sha256(canonicalJson(jwks))
}

/** First 16 bytes of jwksHash, hex (what REPORT_DATA[32:48] holds). */
export function jwksHashTrunc16(jwks: unknown): string {
  return jwksHash(jwks).subarray(0, 16).toString('hex')
}

export interface ReportDataParts {
  /** The 32-byte provenance digest (SHA-256 of the DSSE payload). */
  provenanceDigest: Uint8Array
  jwks: unknown
  nonce: Uint8Array
}

/** The 64 bytes to put into the report request (configfs-tsm inblob). */
export function buildReportData(parts: ReportDataParts): Buffer {
  if (parts.provenanceDigest.length !== 32) throw new RangeError('provenance digest must be 32 bytes')
  const out = Buffer.alloc(64)
  sha256(parts.provenanceDigest).copy(out, 0)
  jwksHash(parts.jwks).copy(out, 32, 0, 16)
  Buffer.from(parts.nonce.subarray(0, 16)).copy(out, 48)
  return out
}

/** The three slots of a REPORT_DATA, hex. */
export function splitReportData(reportData: Uint8Array): { provenance: string; jwks16: string; nonce16: string } {
  if (reportData.length !== 64) throw new RangeError('REPORT_DATA must be 64 bytes')
  const hex = (a: number, b: number): string => Buffer.from(reportData.subarray(a, b)).toString('hex')
  return { provenance: hex(0, 32), jwks16: hex(32, 48), nonce16: hex(48, 64) }
}

/** What REPORT_DATA[0:32] must be for a given provenance digest. */
export function provenanceSlot(provenanceDigest: Uint8Array): string {
  return sha256(provenanceDigest).toString('hex')
}

/** The caller's nonce as it appears in REPORT_DATA[48:64]. */
export function nonceSlot(nonce: Uint8Array): string {
  const b = Buffer.alloc(16)
  Buffer.from(nonce.subarray(0, 16)).copy(b)
  return b.toString('hex')
}
