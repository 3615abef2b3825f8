import { fromTaggedJson, toTaggedJson } from '../store/codec.js'
import type { RecordedEvent } from '../store/types.js'

/**
 * The ledger export line (GET /wallet/ledger, GET /audit/ledger; README "Ledger export
 * format" documents every field). Two renderings of `data`:
 *
 * - `canonical` (default): bigints tagged `{"$bigint":"287"}`, exactly the form the hash
 *   chain and the Merkle leaves are computed over;
 * - `plain` (`?format=plain`): every bigint a decimal string (`"287"`), readable by any
 *   JSON tool without losing a digit, plus `bigints`: the JSON Pointers (RFC 6901) of the
 *   strings that are bigints, which is all it takes to rebuild the canonical form.
 */
export type ExportFormat = 'canonical' | 'plain'

export function exportRecord(e: RecordedEvent, format: ExportFormat = 'canonical'): Record<string, unknown> {
  const head = { streamId: e.streamId, revision: Number(e.revision), position: Number(e.position), type: e.type }
  const tail = { recordedAt: e.recordedAt, prevHash: e.prevHash, hash: e.hash }
  if (format === 'canonical') return { ...head, data: toTaggedJson(e.data), ...tail }
  const bigints: string[] = []
  return { ...head, data: toPlainJson(e.data, '', bigints), bigints, ...tail }
}

function toPlainJson(value: unknown, pointer: string, bigints: string[]): unknown {
  if (typeof value === 'bigint') {
    bigints.push(pointer)
    return value.toString()
  }
  if (Array.isArray(value)) return value.map((v, i) => toPlainJson(v, `${pointer}/${i}`, bigints))
  if (value instanceof Uint8Array) return toTaggedJson(value)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value))
      if (v !== undefined) out[k] = toPlainJson(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, bigints)
    return out
  }
  return value
}

/** The event's data from an export line of either format (bigints as bigint). */
export function dataFromExport(line: { data?: unknown; bigints?: unknown }): unknown {
  if (!Array.isArray(line.bigints)) return fromTaggedJson(line.data)
  const data = fromTaggedJson(structuredClone(line.data))
  let root = data
  for (const pointer of line.bigints) {
    if (typeof pointer !== 'string') throw new TypeError('bigints holds a non-string pointer')
    if (pointer === '') {
      root = BigInt(root as string)
      continue
    }
    const path = pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    let parent = root as Record<string, unknown>
    for (const p of path.slice(0, -1)) parent = parent[p] as Record<string, unknown>
    const last = path[path.length - 1]!
    const text = parent[last]
    if (typeof text !== 'string' || !/^-?\d+$/.test(text)) throw new TypeError(`bigints names ${pointer}, which is not an integer string`)
    parent[last] = BigInt(text)
  }
  return root
}
