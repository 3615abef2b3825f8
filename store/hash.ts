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
  const canonical = canonicalize(
    toTaggedJson({
      streamId: fields.streamId,
      revision: fields.revision,
      type: fields.type,
      data: fields.data,
      recordedAt: fields.recordedAt,
      prevHash: fields.prevHash,
    }),
  )
  if (canonical === undefined) throw new TypeError('event is not serialisable')
  return createHash('sha256').update(canonical).digest('hex')
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
