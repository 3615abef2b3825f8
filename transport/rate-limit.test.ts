import { describe, expect, it } from 'vitest'
import { TokenBuckets } from './rate-limit.js'

describe('TokenBuckets', () => {
  it('grants the burst, then one token per 1/perSecond, per key; tells how long to wait', () => {
    let t = 0
    const b = new TokenBuckets({ perSecond: 2, burst: 3 }, 10, () => t)
    expect([b.take('a'), b.take('a'), b.take('a')]).toEqual([0, 0, 0])
    expect(b.take('a')).toBe(1)
    expect(b.take('b')).toBe(0) // another key has its own bucket
    t += 500
    expect(b.take('a')).toBe(0)
    expect(b.take('a')).toBe(1)
    t += 10_000
    expect([b.take('a'), b.take('a'), b.take('a'), b.take('a')]).toEqual([0, 0, 0, 1]) // refills to the burst, not beyond
  })
  it('is off at perSecond 0 and bounded in keys', () => {
    expect(new TokenBuckets({ perSecond: 0, burst: 1 }).take('x')).toBe(0)
    const b = new TokenBuckets({ perSecond: 1, burst: 1 }, 2, () => 0)
    b.take('a')
    b.take('b')
    b.take('c') // evicts a
    expect(b.take('a')).toBe(0)
  })
})
