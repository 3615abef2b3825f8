import { ValidationError } from '../shared/errors.js'
import type { AgentDefinition } from './schema.js'

/** Short names clients send (the rickydata client defaults to "haiku"). */
export const MODEL_ALIASES: Record<string, string> = {
  haiku: 'claude-haiku-4-5',
  sonnet: 'claude-sonnet-4-5',
  opus: 'claude-opus-4-1',
}

/**
 * The Anthropic model id for a requested model: an alias, a `claude-…` id, or the
 * agent's own model when nothing was asked. Other providers' models are refused (this
 * gateway only runs Claude).
 */
export function resolveModel(requested: string | undefined, agent: AgentDefinition): string {
  if (requested === undefined || requested === '') return agent.model
  const alias = MODEL_ALIASES[requested.toLowerCase()]
  if (alias !== undefined) return alias
  if (/^claude-[a-z0-9.-]+$/i.test(requested)) return requested
  throw new ValidationError(`Model "${requested.slice(0, 80)}" is not supported here; use a Claude model (haiku, sonnet, opus or a claude-… id)`, { model: requested.slice(0, 80) }, 'model_not_supported')
}
