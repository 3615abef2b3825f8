import { resolveModel as priced } from '../pricing/price-table.js'
import { ValidationError } from '../shared/errors.js'
import type { AgentDefinition } from './schema.js'

/**
 * The canonical Claude model id for a requested model: an alias (haiku/sonnet/opus), a
 * dated or canonical id from pricing/prices.json, or the agent's own model when nothing
 * was asked. Models without a price are refused: the turn could not be billed exactly.
 */
export function resolveModel(requested: string | undefined, agent: AgentDefinition): string {
  const wanted = requested === undefined || requested === '' ? agent.model : requested
  const id = priced(wanted)
  if (id !== undefined) return id
  throw new ValidationError(
    `Model "${wanted.slice(0, 80)}" is not supported here; use a Claude model (haiku, sonnet, opus or a claude-… id)`,
    { model: wanted.slice(0, 80) },
    'model_not_supported',
  )
}
