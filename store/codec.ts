import { Packr } from 'msgpackr'

/**
 * One shared msgpackr instance: bigint of any size survives (useBigIntExtension), and
 * both ends (store, WebSocket msgpack frames) must use the same settings.
 */
export const packr = new Packr({ useBigIntExtension: true, useRecords: false, moreTypes: false })

/**
 * The value's msgpack bytes, in a buffer of their own. msgpackr packs into one growing
 * buffer and returns a view of it; a view posted to another thread (the writer worker)
 * copies the whole backing buffer, and a view kept keeps it alive: after one 270 KB
 * session snapshot, every later 6-byte event cost a 600 KB copy to the writer (a turn's
 * cost grew with the longest session seen). One copy of the bytes themselves is cheaper.
 */
export function encode(value: unknown): Buffer {
  const packed = packr.pack(value)
  const owned = Buffer.allocUnsafeSlow(packed.length)
  packed.copy(owned)
  return owned
}

export function decode<T = unknown>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T
}

/**
 * The one JSON rule for bigints on the client wires (HTTP bodies, SSE `data:`, JSON
 * WebSocket frames): a bigint is its decimal string. Money is always atomic units and a
 * position is a counter, so the field's meaning says it is an integer; clients (the
 * `rickydata` SDK) read strings. `JSON.stringify(value, bigintReplacer)`.
 */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value
}

/**
 * Stored JSON with the type kept: a bigint becomes `{"$bigint":"<decimal>"}`, so the value
 * is rebuilt exactly from text with no schema. Used where events themselves leave as text
 * (the hash chain, KurrentDB JSON bodies, ledger exports) so an auditor can recompute
 * every hash from the text alone. Not for client payloads: those use `bigintReplacer`.
 */
export function toTaggedJson(value: unknown): unknown {
  if (typeof value === 'bigint') return { $bigint: value.toString() }
  if (Array.isArray(value)) return value.map(toTaggedJson)
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toTaggedJson(v)
    return out
  }
  return value
}

/** Inverse of toTaggedJson. */
export function fromTaggedJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromTaggedJson)
  if (value !== null && typeof value === 'object') {
    const rec = value as Record<string, unknown>
    const keys = Object.keys(rec)
    if (keys.length === 1 && typeof rec.$bigint === 'string') return BigInt(rec.$bigint)
    if (keys.length === 1 && typeof rec.$bytes === 'string') return new Uint8Array(Buffer.from(rec.$bytes, 'base64'))
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(rec)) out[k] = fromTaggedJson(v)
    return out
  }
  return value
}

/** JSON.stringify that keeps bigints exact via toTaggedJson. */
export function stringifyTagged(value: unknown): string {
  return JSON.stringify(toTaggedJson(value))
}

/** JSON.parse followed by fromTaggedJson. */
export function parseTagged<T = unknown>(text: string): T {
  return fromTaggedJson(JSON.parse(text)) as T
}
