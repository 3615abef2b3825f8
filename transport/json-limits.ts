import { ValidationError } from '../shared/errors.js'

export interface JsonLimits {
  /** Deepest nesting of arrays and objects (JSON_MAX_DEPTH). */
  maxDepth: number
  /** Most object keys plus array items in the whole value (JSON_MAX_NODES). */
  maxNodes: number
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 64, maxNodes: 20_000 }

/**
 * Refuses a parsed JSON value nested deeper or with more members than the limits, with 400
 * `json_too_complex`. Iterative on purpose: it runs before the (recursive) schema
 * validators precisely so that a hostile body cannot overflow the stack.
 */
export function checkJsonComplexity(value: unknown, limits: JsonLimits = DEFAULT_JSON_LIMITS): void {
  const stack: [unknown, number][] = [[value, 1]]
  let nodes = 0
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (depth > limits.maxDepth)
      throw new ValidationError(`JSON nested deeper than ${limits.maxDepth} levels`, { maxDepth: limits.maxDepth }, 'json_too_complex')
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v)
    nodes += children.length
    if (nodes > limits.maxNodes)
      throw new ValidationError(`JSON with more than ${limits.maxNodes} keys and items`, { maxNodes: limits.maxNodes }, 'json_too_complex')
    for (const c of children) if (c !== null && typeof c === 'object') stack.push([c, depth + 1])
  }
}
