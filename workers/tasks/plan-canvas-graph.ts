import { validateGraph, type InputEdge, type InputNode, type ValidateOptions, type ValidateResult } from '../../actors/canvas/graph.js'

/** Validation and topological planning of a canvas workflow, off the event loop (large graphs). */
export default function planCanvasGraph(payload: { nodes: InputNode[]; edges: InputEdge[]; options: ValidateOptions }): ValidateResult {
  return validateGraph({ nodes: payload.nodes, edges: payload.edges }, payload.options)
}
