/**
 * A minimal DER reader and writer: enough to walk X.509 extensions (AMD's VCEK OIDs)
 * and to build test certificates. No dependency: @peculiar/x509 would pull in a
 * reflect-metadata/asn1 stack for what is ~150 lines of tag-length-value walking.
 */

export interface DerNode {
  /** Full identifier octet (class | constructed | number), single-byte tags only. */
  tag: number
  /** Offset of the identifier octet within the parsed buffer. */
  start: number
  /** Offset of the first content byte. */
  contentStart: number
  /** Offset just past the content. */
  end: number
  /** Content bytes (a view, not a copy). */
  content: Uint8Array
}

export class DerError extends Error {
  override name = 'DerError'
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8String: 0x0c,
  PrintableString: 0x13,
  IA5String: 0x16,
  UTCTime: 0x17,
  GeneralizedTime: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const

/** Reads one TLV at `offset`. */
export function readNode(buf: Uint8Array, offset = 0): DerNode {
  if (offset + 2 > buf.length) throw new DerError('truncated DER header')
  const tag = buf[offset]!
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported')
  let p = offset + 1
  let len = buf[p++]!
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4) throw new DerError('unsupported DER length')
    if (p + n > buf.length) throw new DerError('truncated DER length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!
  }
  const end = p + len
  if (end > buf.length) throw new DerError('DER content runs past the buffer')
  return { tag, start: offset, contentStart: p, end, content: buf.subarray(p, end) }
}

/** The children of a constructed node (SEQUENCE, SET, context tags). */
export function children(node: DerNode): DerNode[] {
  const out: DerNode[] = []
  let p = 0
  while (p < node.content.length) {
    const child = readNode(node.content, p)
    out.push(child)
    p = child.end
  }
  return out
}

/** Dotted-decimal OID from the content of an OBJECT IDENTIFIER. */
export function decodeOid(content: Uint8Array): string {
  if (content.length === 0) throw new DerError('empty OID')
  const first = content[0]!
  const parts: number[] = [Math.min(2, Math.floor(first / 40)), first - Math.min(2, Math.floor(first / 40)) * 40]
  let v = 0
  for (let i = 1; i < content.length; i++) {
    const b = content[i]!
    v = v * 128 + (b & 0x7f)
    if ((b & 0x80) === 0) {
      parts.push(v)
      v = 0
    }
  }
  return parts.join('.')
}

/** Non-negative INTEGER content → bigint. */
export function decodeUnsigned(content: Uint8Array): bigint {
  let v = 0n
  for (const b of content) v = (v << 8n) | BigInt(b)
  return v
}

// ---- writer ----

function encodeLength(len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(len)
  const bytes: number[] = []
  while (len > 0) {
    bytes.unshift(len & 0xff)
    len = Math.floor(len / 256)
  }
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}

/** A TLV with the given tag and content. */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content)
  return Buffer.concat([Uint8Array.of(tag), encodeLength(body.length), body])
}

export const seq = (...items: Uint8Array[]): Uint8Array => tlv(TAG.SEQUENCE, ...items)
export const set = (...items: Uint8Array[]): Uint8Array => tlv(TAG.SET, ...items)
export const octets = (b: Uint8Array): Uint8Array => tlv(TAG.OCTET_STRING, b)
export const nullValue = (): Uint8Array => Uint8Array.of(TAG.NULL, 0)
export const bool = (v: boolean): Uint8Array => Uint8Array.of(TAG.BOOLEAN, 1, v ? 0xff : 0)
export const ia5 = (s: string): Uint8Array => tlv(TAG.IA5String, Buffer.from(s, 'ascii'))
export const utf8 = (s: string): Uint8Array => tlv(TAG.UTF8String, Buffer.from(s, 'utf8'))
export const bitString = (b: Uint8Array): Uint8Array => tlv(TAG.BIT_STRING, Uint8Array.of(0), b)
/** Context-specific constructed tag [n]. */
export const explicit = (n: number, ...items: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...items)

/** Non-negative INTEGER (minimal, with a leading 0 when the high bit is set). */
export function integer(v: bigint | number): Uint8Array {
  let n = BigInt(v)
  if (n < 0n) throw new DerError('negative integers are not supported')
  const bytes: number[] = []
  do {
    bytes.unshift(Number(n & 0xffn))
    n >>= 8n
  } while (n > 0n)
  if (bytes[0]! & 0x80) bytes.unshift(0)
  return tlv(TAG.INTEGER, Uint8Array.from(bytes))
}

/** OBJECT IDENTIFIER from dotted-decimal. */
export function oid(dotted: string): Uint8Array {
  const parts = dotted.split('.').map((p) => Number(p))
  if (parts.length < 2 || parts.some((p) => !Number.isInteger(p) || p < 0)) throw new DerError(`bad OID ${dotted}`)
  const out: number[] = [parts[0]! * 40 + parts[1]!]
  for (const part of parts.slice(2)) {
    const chunk: number[] = []
    let v = part
    do {
      chunk.unshift(v & 0x7f)
      v = Math.floor(v / 128)
    } while (v > 0)
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80
    out.push(...chunk)
  }
  return tlv(TAG.OID, Uint8Array.from(out))
}

/** UTCTime (years < 2050) or GeneralizedTime, as X.509 requires. */
export function time(d: Date): Uint8Array {
  const iso = d.toISOString() // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') // YYYYMMDDHHMMSS
  const year = d.getUTCFullYear()
  if (year >= 1950 && year < 2050) return tlv(TAG.UTCTime, Buffer.from(digits.slice(2) + 'Z', 'ascii'))
  return tlv(TAG.GeneralizedTime, Buffer.from(digits + 'Z', 'ascii'))
}
