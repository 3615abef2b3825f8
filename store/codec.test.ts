import { describe, expect, it } from 'vitest'
import { decode, encode } from './codec.js'

describe('encode', () => {
  it('gives each value a buffer of its own, also after a large one (a view would drag the whole pack buffer across threads)', () => {
    const big = encode({ conversation: Array.from({ length: 1000 }, (_, i) => ({ role: 'user', content: `${'x'.repeat(200)}${i}` })) })
    expect(big.buffer.byteLength).toBe(big.length)
    const small = encode({ type: 'TurnStarted', amount: 2n ** 70n })
    expect(small.byteOffset).toBe(0)
    expect(small.buffer.byteLength).toBe(small.length)
    expect(decode(small)).toEqual({ type: 'TurnStarted', amount: 2n ** 70n })
    // Encoding more does not change bytes handed out before.
    const before = Buffer.from(small)
    encode({ other: 'value'.repeat(100) })
    expect(small.equals(before)).toBe(true)
  })
})
