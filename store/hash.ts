import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'
import { toTaggedJson } from './codec.js'

/** The fields of an event that its hash covers; all are present in a ledger export. */
export interface HashedFields {
  streamId: string
  revision: bigint
  type: string
  data: unknown
  recordedAt: string
  prevHash: string
}

/**
 * SHA-256 (hex) over the RFC 8785 canonical JSON of the event's fields, bigints tagged
 * as in codec.ts. Each event records the previous event's hash, so changing, removing or
 * reordering any event of a stream breaks every later link.
 */
export function hashEvent(fields: HashedFields): string {
  return createHash('sha256').update(canonicalEventJson(fields)).digest('hex')
}

/**
 * The exact text hashEvent hashes (RFC 8785 canonical JSON of the hashed fields): also the
 * "canonical event bytes" of the ledger's Merkle log leaves (ledger-log/).
 */
export function canonicalEventJson(fields: HashedFields): string {
  // Keys in RFC 8785 order (UTF-16 code units): data, prevHash, recordedAt, revision, streamId, type.
  const data = fields.data === undefined || typeof fields.data === 'symbol' ? '' : `"data":${canonicalTaggedJson(fields.data)},`
  return (
    `{${data}"prevHash":${str(fields.prevHash)},"recordedAt":${str(fields.recordedAt)},` +
    `"revision":${canonicalTaggedJson(fields.revision)},"streamId":${str(fields.streamId)},"type":${str(fields.type)}}`
  )
}

/**
 * Byte-identical to `canonicalize(toTaggedJson(value))` (RFC 8785 over codec.ts's tagged
 * JSON: bigint → {"$bigint":"…"}, Uint8Array → {"$bytes":base64}, undefined members
 * omitted) in one pass, without the intermediate tree: the hash chain runs on every append.
 * Throws like canonicalize on NaN, ±Infinity and lone surrogates.
 */
export function canonicalTaggedJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return str(value)
    case 'number':
      if (Number.isNaN(value)) throw new Error('NaN is not allowed')
      if (!Number.isFinite(value)) throw new Error('Infinity is not allowed')
      // ES Number::toString is RFC 8785's number form (and -0 prints "0", as JSON.stringify does).
      return String(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'bigint':
      return `{"$bigint":"${value.toString()}"}`
    case 'object':
      if (value === null) return 'null'
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ','
          const v: unknown = value[i]
          // canonicalize maps undefined/symbol to null but leaves a hole (sparse array) and a function empty.
          if (v === undefined) out += i in value ? 'null' : ''
          else if (typeof v === 'symbol') out += 'null'
          else if (typeof v === 'function') out += ''
          else out += canonicalTaggedJson(v)
        }
        return `${out}]`
      }
      if (value instanceof Uint8Array) return `{"$bytes":"${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}"}`
      return object(value as Record<string, unknown>)
    default:
      // undefined/function/symbol have no JSON form; canonicalize's output for them is not
      // JSON either ("undefined" once interpolated), reproduced for identical hashes.
      return String(referenceCanonical(value))
  }
}

function object(value: Record<string, unknown>): string {
  // Object.keys + default sort = RFC 8785's UTF-16 code-unit order (toTaggedJson also
  // walks own enumerable string keys only).
  const keys = Object.keys(value).sort()
  let out = '{'
  let first = true
  for (const k of keys) {
    const v = value[k]
    if (v === undefined || typeof v === 'symbol') continue
    if (!first) out += ','
    first = false
    out += `${str(k)}:${canonicalTaggedJson(v)}`
  }
  return `${out}}`
}

// String.prototype.isWellFormed (Node 20) is native; the lib target here predates its typing.
type WellFormed = string & { isWellFormed(): boolean }

function str(s: string): string {
  if (!(s as WellFormed).isWellFormed()) throw new Error('Lone surrogate is not allowed')
  return JSON.stringify(s)
}

/** The definition canonicalTaggedJson must match (used for the odd values and by tests). */
export function referenceCanonical(value: unknown): string | undefined {
  return canonicalize(toTaggedJson(value))
}

export interface ChainBreak {
  streamId: string
  revision: bigint
  reason: 'prev_hash_mismatch' | 'hash_mismatch' | 'revision_gap'
}

/**
 * Checks one stream's events (in revision order) link and hash correctly.
 * Returns the first break, or undefined when the chain verifies.
 */
export function verifyChain(events: readonly (HashedFields & { hash: string })[]): ChainBreak | undefined {
  let prevHash = ''
  let expectedRevision = 0n
  for (const e of events) {
    if (e.revision !== expectedRevision) return { streamId: e.streamId, revision: e.revision, reason: 'revision_gap' }
    if (e.prevHash !== prevHash) return { streamId: e.streamId, revision: e.revision, reason: 'prev_hash_mismatch' }
    if (hashEvent(e) !== e.hash) return { streamId: e.streamId, revision: e.revision, reason: 'hash_mismatch' }
    prevHash = e.hash
    expectedRevision += 1n
  }
  return undefined
}
