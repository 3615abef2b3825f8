import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toTaggedJson } from './codec.js'
import { canonicalTaggedJson, hashEvent, verifyChain, type HashedFields } from './hash.js'

const reference = (v: unknown): string | undefined => canonicalize(toTaggedJson(v))

// Keys and strings across the BMP and astral planes (well-formed: lone surrogates are refused by both).
const text = fc.string({ unit: 'grapheme', maxLength: 8 })
const key = fc.oneof(text, fc.constantFrom('', '$bigint', '$bytes', '10', '2', 'a', 'B', 'é', '\u{1F600}', '\uFFFF', '__proto__x'))
const leaf = fc.oneof(
  text,
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 12 }),
)
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('node'), { maxLength: 5 }),
  object: fc.dictionary(key, tie('node'), { maxKeys: 6 }),
})).node

describe('canonicalTaggedJson', () => {
  it('is byte-identical to canonicalize(toTaggedJson(x)) on random nested values', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(canonicalTaggedJson(v)).toBe(String(reference(v)))
      }),
      { numRuns: 2000 },
    )
  })

  it('matches on the edge values: -0, exponents, unicode key order, undefined members, sparse arrays', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3]
    const cases: unknown[] = [
      -0,
      1e21,
      1e-7,
      5e-324,
      Number.MAX_SAFE_INTEGER + 2,
      { b: 1, a: undefined, c: [undefined, 2n, new Uint8Array([0, 255])] },
      { '\u{1F600}': 1, '\uFFFF': 2, é: 3, Z: 4, a: 5, '10': 6, '2': 7 },
      sparse,
      Buffer.from('hello'),
      new Uint8Array(new ArrayBuffer(8), 2, 3),
      { nested: { deeper: [{ z: 'x', y: [[]] }] } },
      '\u2028\u2029"\\\u0000\n',
    ]
    for (const c of cases) expect(canonicalTaggedJson(c)).toBe(reference(c))
  })

  it('refuses non-finite numbers and lone surrogates, as canonicalize does', () => {
    for (const bad of [NaN, Infinity, -Infinity, { a: [NaN] }, 'x\uD800', { ['\uDC00']: 1 }]) {
      expect(() => reference(bad)).toThrow()
      expect(() => canonicalTaggedJson(bad)).toThrow()
    }
  })
})

describe('hashEvent', () => {
  const oldHash = (f: HashedFields): string =>
    createHash('sha256')
      .update(String(reference({ streamId: f.streamId, revision: f.revision, type: f.type, data: f.data, recordedAt: f.recordedAt, prevHash: f.prevHash })))
      .digest('hex')

  it('keeps the chain format: same hash as the canonicalize-based definition', () => {
    const fields = fc.record({
      streamId: text,
      revision: fc.bigInt({ min: 0n, max: 2n ** 64n }),
      type: text,
      data: value,
      recordedAt: fc.constant('2026-11-25T12:00:00.000Z'),
      prevHash: fc.oneof(fc.constant(''), fc.stringMatching(/^[0-9a-f]{64}$/)),
    })
    fc.assert(
      fc.property(fields, (f) => {
        expect(hashEvent(f)).toBe(oldHash(f))
      }),
      { numRuns: 500 },
    )
  })

  it('pins a known hash (a change of format breaks existing exports)', () => {
    const f = { streamId: 'wallet-0xabc', revision: 3n, type: 'SpendReserved', data: { amount: 50_000n, at: 'x', n: undefined }, recordedAt: '2026-11-25T12:00:00.000Z', prevHash: 'ab' }
    // Computed with the canonicalize-based hashEvent this replaced.
    expect(hashEvent(f)).toBe('4d81acb415154f4bbdeeccd54ffa0c64f7eeb6ebcdb1a8e21967fd02ed57a9c5')
    expect(hashEvent(f)).toBe(oldHash(f))
    expect(hashEvent({ ...f, data: undefined })).toBe(oldHash({ ...f, data: undefined }))
  })

  it('verifyChain accepts a chain and reports a tampered event', () => {
    const events: (HashedFields & { hash: string })[] = []
    let prevHash = ''
    for (let i = 0n; i < 4n; i++) {
      const f = { streamId: 's', revision: i, type: 'T', data: { i }, recordedAt: 'now', prevHash }
      const hash = hashEvent(f)
      events.push({ ...f, hash })
      prevHash = hash
    }
    expect(verifyChain(events)).toBeUndefined()
    const tampered = events.map((e, i) => (i === 2 ? { ...e, data: { i: 99n } } : e))
    expect(verifyChain(tampered)).toEqual({ streamId: 's', revision: 2n, reason: 'hash_mismatch' })
  })
})
