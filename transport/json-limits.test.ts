import { describe, expect, it } from 'vitest'
import { checkJsonComplexity } from './json-limits.js'

describe('checkJsonComplexity', () => {
  const nested = (depth: number): unknown => {
    let v: unknown = 1
    for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v }
    return v
  }
  it('accepts up to the depth and refuses beyond it, iteratively (no stack overflow at 1,000,000 levels)', () => {
    expect(() => checkJsonComplexity(nested(64), { maxDepth: 64, maxNodes: 1000 })).not.toThrow()
    expect(() => checkJsonComplexity(nested(65), { maxDepth: 64, maxNodes: 1000 })).toThrow(expect.objectContaining({ code: 'json_too_complex' }))
    expect(() => checkJsonComplexity(nested(1_000_000))).toThrow(expect.objectContaining({ code: 'json_too_complex' }))
  })
  it('counts keys and items across the whole value', () => {
    expect(() => checkJsonComplexity({ a: [1, 2, 3], b: { c: 1 } }, { maxDepth: 10, maxNodes: 6 })).not.toThrow()
    expect(() => checkJsonComplexity({ a: [1, 2, 3], b: { c: 1, d: 2 } }, { maxDepth: 10, maxNodes: 6 })).toThrow(expect.objectContaining({ code: 'json_too_complex' }))
  })
})
