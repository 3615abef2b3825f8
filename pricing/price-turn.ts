import { modelPrices, parsedPrices, type ModelPrices } from './price-table.js'
import { add, ceil, formatRational, fromBigint, mul, parseDecimal, rational, type Rational } from './rational.js'

/** $0.0005 per tool call, in atomic units. */
export const TOOL_CALL_FEE = 500n
/** BYOK: the platform charges 10% of what the provider would have cost. */
export const BYOK_RATE: Rational = rational(10n, 100n)
/** Platform key: the provider cost plus 15%. */
export const PLATFORM_RATE: Rational = rational(115n, 100n)

export interface TokenUsage {
  inputTokens: number
  outputTokens: number
  cacheCreationInputTokens: number
  cacheReadInputTokens: number
}

export interface PriceTurnParameters {
  /** Alias (haiku/sonnet/opus) or model id. */
  model: string
  usage: TokenUsage
  toolCalls: number
  /** x402 tool payments, charged on top at what was paid (atomic units). */
  toolCosts: bigint
  byok: boolean
}

export interface PriceTurnReturnType {
  /** Canonical model id. */
  model: string
  /** Exact provider cost in atomic units (decimal string, not rounded). */
  baseLlmCost: string
  /** Exact platform charge before rounding. */
  platformCostExact: string
  /** Platform charge rounded up once to atomic units. */
  platformCost: bigint
  toolCosts: bigint
  /** What the wallet is charged: platformCost + toolCosts. */
  total: bigint
  /** The per-million-token prices used, so an auditor can recompute baseLlmCost. */
  prices: Omit<ModelPrices, 'model'>
}

function nonNegativeInt(name: string, v: number): bigint {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer`)
  return BigInt(v)
}

/** Exact provider cost (atomic units) of a usage at the given prices. */
export function baseCost(prices: Omit<ModelPrices, 'model'>, usage: TokenUsage): Rational {
  const p = parsedPrices(prices)
  // USD per million tokens × tokens = micro-USD = USDC atomic units, exactly.
  return [
    mul(p.input, fromBigint(nonNegativeInt('inputTokens', usage.inputTokens))),
    mul(p.output, fromBigint(nonNegativeInt('outputTokens', usage.outputTokens))),
    mul(p.cacheWrite, fromBigint(nonNegativeInt('cacheCreationInputTokens', usage.cacheCreationInputTokens))),
    mul(p.cacheRead, fromBigint(nonNegativeInt('cacheReadInputTokens', usage.cacheReadInputTokens))),
  ].reduce(add, rational(0n))
}

/** API.md §15: the exact platform charge for a base cost and a number of tool calls. */
export function platformCostExact(base: Rational, toolCalls: number, byok: boolean): Rational {
  const fees = fromBigint(TOOL_CALL_FEE * nonNegativeInt('toolCalls', toolCalls))
  return add(mul(base, byok ? BYOK_RATE : PLATFORM_RATE), fees)
}

/** Prices one chat turn from the provider's final usage (API.md §15), rounded up once. */
export function priceTurn(p: PriceTurnParameters): PriceTurnReturnType {
  if (p.toolCosts < 0n) throw new RangeError('toolCosts must be non-negative')
  const { model, ...prices } = modelPrices(p.model)
  const base = baseCost(prices, p.usage)
  const exact = platformCostExact(base, p.toolCalls, p.byok)
  const platformCost = ceil(exact)
  return {
    model,
    baseLlmCost: formatRational(base),
    platformCostExact: formatRational(exact),
    platformCost,
    toolCosts: p.toolCosts,
    total: platformCost + p.toolCosts,
    prices,
  }
}

export interface MaxCostParameters {
  model: string
  /** Estimated prompt size in tokens (an over-estimate is safer). */
  promptTokens: number
  maxTokens: number
  byok: boolean
  maxToolCalls: number
  /** Upper bound of x402 payments the turn may make (default 0). */
  maxToolCosts?: bigint
}

/**
 * Upper bound of a turn's charge, for the reservation: every prompt token at the dearer
 * of the input and cache-write prices, `maxTokens` output tokens, `maxToolCalls` fees.
 */
export function maxCost(p: MaxCostParameters): bigint {
  const { model: _model, ...prices } = modelPrices(p.model)
  const input = parseDecimal(prices.input)
  const write = parseDecimal(prices.cacheWrite)
  const dearer = input.n * write.d >= write.n * input.d ? prices.input : prices.cacheWrite
  const base = baseCost(
    { ...prices, input: dearer },
    { inputTokens: p.promptTokens, outputTokens: p.maxTokens, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
  )
  return ceil(platformCostExact(base, p.maxToolCalls, p.byok)) + (p.maxToolCosts ?? 0n)
}
