import type { GraphNode, NodeType } from './graph.js'

/** Node types whose result is a pure function of their data and inputs: decide completes them at once (no effect, no extra commit). */
export const PURE_NODE_TYPES: ReadonlySet<NodeType> = new Set<NodeType>(['text-input', 'results'])

/** The result of a pure node: a text input gives its value; results gives its one input, or its inputs by node id. */
export function pureNodeResult(node: GraphNode, inputs: { nodeId: string; result: unknown }[]): unknown {
  if (node.type === 'text-input') return String(node.data.value ?? '')
  if (inputs.length === 1) return inputs[0]!.result
  const out: Record<string, unknown> = {}
  for (const i of inputs) out[i.nodeId] = i.result
  return out
}
