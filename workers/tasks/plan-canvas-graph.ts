import { validateGraphCompact, type CompactValidateResult, type InputEdge, type InputNode, type ValidateOptions } from '../../actors/canvas/graph.js'

/** Validation and topological planning of a canvas workflow, off the event loop (large graphs); answers compactly. */
export default function planCanvasGraph(payload: { nodes: InputNode[]; edges: InputEdge[]; options: ValidateOptions }): CompactValidateResult {
  return validateGraphCompact({ nodes: payload.nodes, edges: payload.edges }, payload.options)
}
