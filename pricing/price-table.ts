import table from './prices.json' with { type: 'json' }
import { parseDecimal, type Rational } from './rational.js'

/** Per-token prices of one model, in USD per million tokens (= USDC atomic units per token). */
export interface ModelPrices {
  /** Canonical model id (the table's key). */
  model: string
  input: string
  output: string
  cacheWrite: string
  cacheRead: string
}

interface TableEntry {
  ids: string[]
  input: string
  output: string
  cacheWrite: string
  cacheRead: string
}

const models = table.models as Record<string, TableEntry>
const aliases = table.aliases as Record<string, string>
const byId = new Map<string, string>()
for (const [key, entry] of Object.entries(models)) {
  byId.set(key, key)
  for (const id of entry.ids) byId.set(id, key)
}
for (const [alias, key] of Object.entries(aliases)) byId.set(alias, key)

/** Unknown model (not in pricing/prices.json). */
export class UnknownModelError extends Error {
  override name = 'UnknownModelError' as const
  constructor(model: string) {
    super(`No price for model ${JSON.stringify(model)}`)
  }
}

/** Canonical model id for an alias (haiku/sonnet/opus), a dated id or a canonical id; undefined when unknown. */
export function resolveModel(aliasOrId: string): string | undefined {
  return byId.get(aliasOrId) ?? byId.get(aliasOrId.toLowerCase())
}

/** The prices of a model (alias or id); throws UnknownModelError. */
export function modelPrices(aliasOrId: string): ModelPrices {
  const key = resolveModel(aliasOrId)
  const entry = key === undefined ? undefined : models[key]
  if (key === undefined || entry === undefined) throw new UnknownModelError(aliasOrId)
  return { model: key, input: entry.input, output: entry.output, cacheWrite: entry.cacheWrite, cacheRead: entry.cacheRead }
}

/** Every canonical model id in the table. */
export function pricedModels(): string[] {
  return Object.keys(models)
}

/** Prices parsed to rationals (atomic units per token). */
export function parsedPrices(p: Omit<ModelPrices, 'model'>): Record<'input' | 'output' | 'cacheWrite' | 'cacheRead', Rational> {
  return { input: parseDecimal(p.input), output: parseDecimal(p.output), cacheWrite: parseDecimal(p.cacheWrite), cacheRead: parseDecimal(p.cacheRead) }
}
