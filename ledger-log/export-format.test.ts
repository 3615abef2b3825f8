import { expect, it } from 'vitest'
import { hashEvent } from '../store/hash.js'
import type { RecordedEvent } from '../store/types.js'
import { dataFromExport, exportRecord } from './export-format.js'

const data = { amount: 287n, nested: { 'a/b~c': [1n, 2, 'x'], hold: 316n }, count: 3, note: 'USDC' }
const fields = { streamId: 'wallet-0xabc', revision: 4n, type: 'SpendReserved', data, recordedAt: '2026-11-25T12:00:00.000Z', prevHash: 'ab'.repeat(32) }
const event: RecordedEvent = { ...fields, id: 'e', position: 9n, metadata: {}, hash: hashEvent(fields) }

it('the plain export shows bigints as decimal strings, lists them by JSON Pointer, and rebuilds the hashed data exactly', () => {
  const plain = JSON.parse(JSON.stringify(exportRecord(event, 'plain')))
  expect(plain.data).toEqual({ amount: '287', nested: { 'a/b~c': ['1', 2, 'x'], hold: '316' }, count: 3, note: 'USDC' })
  expect(plain.bigints).toEqual(['/amount', '/nested/a~1b~0c/0', '/nested/hold'])
  expect(dataFromExport(plain)).toEqual(data)
  expect(hashEvent({ ...fields, data: dataFromExport(plain) })).toBe(event.hash)
  // the canonical export keeps the tagged form the hash is computed over
  const canonical = JSON.parse(JSON.stringify(exportRecord(event)))
  expect(canonical.data.amount).toEqual({ $bigint: '287' })
  expect(canonical.bigints).toBeUndefined()
  expect(dataFromExport(canonical)).toEqual(data)
  // a pointer at something that is not an integer string is refused
  expect(() => dataFromExport({ ...plain, bigints: ['/note'] })).toThrow(/not an integer string/)
})
