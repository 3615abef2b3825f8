import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { maxCost, priceTurn } from './price-turn.js'
import { modelPrices, pricedModels, resolveModel } from './price-table.js'
import { ceil, formatRational, parseRational, rational } from './rational.js'

const usage = (i: number, o: number, cw = 0, cr = 0) => ({
  inputTokens: i,
  outputTokens: o,
  cacheCreationInputTokens: cw,
  cacheReadInputTokens: cr,
})

describe('resolveModel', () => {
  it('maps aliases and dated ids to canonical ids', () => {
    expect(resolveModel('haiku')).toBe('claude-haiku-4-5')
    expect(resolveModel('sonnet')).toBe('claude-sonnet-4-5')
    expect(resolveModel('opus')).toBe('claude-opus-4-5')
    expect(resolveModel('claude-sonnet-4-5-20250929')).toBe('claude-sonnet-4-5')
    expect(resolveModel('gpt-4')).toBeUndefined()
  })
  it('every table price is an exact decimal', () => {
    for (const m of pricedModels()) {
      const p = modelPrices(m)
      for (const v of [p.input, p.output, p.cacheWrite, p.cacheRead]) expect(v).toMatch(/^\d+(\.\d+)?$/)
    }
  })
})

describe('priceTurn — worked figures (API.md §15)', () => {
  it('sonnet, platform key: 1,000 in + 500 out + 2,000 cache-write + 10,000 cache-read, 3 tool calls', () => {
    // base = 1000×3 + 500×15 + 2000×3.75 + 10000×0.30 = 3000 + 7500 + 7500 + 3000 = 21,000 atomic ($0.021)
    // platform = 21000 × 1.15 + 3 × 500 = 24150 + 1500 = 25,650
    const r = priceTurn({ model: 'sonnet', usage: usage(1000, 500, 2000, 10000), toolCalls: 3, toolCosts: 0n, byok: false })
    expect(r.model).toBe('claude-sonnet-4-5')
    expect(r.baseLlmCost).toBe('21000')
    expect(r.platformCost).toBe(25650n)
    expect(r.total).toBe(25650n)
  })
  it('sonnet, BYOK: same usage → 10% of base + tool fees', () => {
    // 21000 × 0.10 + 1500 = 2100 + 1500 = 3,600
    const r = priceTurn({ model: 'sonnet', usage: usage(1000, 500, 2000, 10000), toolCalls: 3, toolCosts: 0n, byok: true })
    expect(r.platformCost).toBe(3600n)
  })
  it('haiku, fractional base is rounded up once, x402 tool costs added on top', () => {
    // base = 7×1 + 3×5 + 0 + 1×0.10 = 22.1 atomic; platform = 22.1 × 1.15 = 25.415 → 26; + 1234 x402
    const r = priceTurn({ model: 'haiku', usage: usage(7, 3, 0, 1), toolCalls: 0, toolCosts: 1234n, byok: false })
    expect(r.baseLlmCost).toBe('22.1')
    expect(r.platformCostExact).toBe('25.415')
    expect(r.platformCost).toBe(26n)
    expect(r.total).toBe(1260n)
  })
  it('BYOK on a tiny turn: 10% of 22.1 = 2.21 → 3 atomic units', () => {
    const r = priceTurn({ model: 'haiku', usage: usage(7, 3, 0, 1), toolCalls: 0, toolCosts: 0n, byok: true })
    expect(r.platformCost).toBe(3n)
  })
  it('opus 4.5 at one million output tokens costs exactly $25 base', () => {
    const r = priceTurn({ model: 'opus', usage: usage(0, 1_000_000), toolCalls: 0, toolCosts: 0n, byok: false })
    expect(r.baseLlmCost).toBe('25000000')
    expect(r.platformCost).toBe(28_750_000n)
  })
  it('zero usage, zero tools costs nothing; tool calls alone cost $0.0005 each', () => {
    expect(priceTurn({ model: 'haiku', usage: usage(0, 0), toolCalls: 0, toolCosts: 0n, byok: true }).total).toBe(0n)
    expect(priceTurn({ model: 'haiku', usage: usage(0, 0), toolCalls: 4, toolCosts: 0n, byok: true }).total).toBe(2000n)
  })
  it('rejects unknown models and negative counts', () => {
    expect(() => priceTurn({ model: 'nope', usage: usage(1, 1), toolCalls: 0, toolCosts: 0n, byok: true })).toThrow(/No price/)
    expect(() => priceTurn({ model: 'haiku', usage: usage(-1, 1), toolCalls: 0, toolCosts: 0n, byok: true })).toThrow(RangeError)
  })
})

describe('maxCost', () => {
  it('prices prompt tokens at the cache-write price (the dearer) and all max_tokens as output', () => {
    // sonnet: 1000 × 3.75 + 4096 × 15 = 3750 + 61440 = 65190; ×1.15 = 74968.5 → 74969; + 2 × 500
    expect(maxCost({ model: 'sonnet', promptTokens: 1000, maxTokens: 4096, byok: false, maxToolCalls: 2 })).toBe(75969n)
    // BYOK: 65190 × 0.1 = 6519 + 1000
    expect(maxCost({ model: 'sonnet', promptTokens: 1000, maxTokens: 4096, byok: true, maxToolCalls: 2 })).toBe(7519n)
  })
  it('bounds every turn whose usage fits the prompt and max_tokens', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('haiku', 'sonnet', 'opus', 'claude-opus-4-1'),
        fc.nat(200_000),
        fc.nat(64_000),
        fc.nat(10),
        fc.boolean(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (model, prompt, maxTokens, tools, byok, s1, s2) => {
          // split the prompt among fresh input, cache write and cache read
          const cw = Math.floor(prompt * s1)
          const cr = Math.floor((prompt - cw) * s2)
          const inp = prompt - cw - cr
          const out = Math.floor(maxTokens * s2)
          const turn = priceTurn({ model, usage: usage(inp, out, cw, cr), toolCalls: tools, toolCosts: 0n, byok })
          expect(turn.total).toBeLessThanOrEqual(maxCost({ model, promptTokens: prompt, maxTokens, byok, maxToolCalls: tools }))
        },
      ),
    )
  })
})

describe('rational', () => {
  it('formats exact decimals and round-trips', () => {
    expect(formatRational(rational(1n, 8n))).toBe('0.125')
    expect(formatRational(rational(1n, 3n))).toBe('1/3')
    expect(formatRational(rational(250n, 10n))).toBe('25')
    expect(ceil(rational(1n, 3n))).toBe(1n)
    expect(ceil(rational(6n, 3n))).toBe(2n)
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (n, d) => {
        const r = rational(n, d)
        expect(parseRational(formatRational(r))).toEqual(r)
      }),
    )
  })
})
