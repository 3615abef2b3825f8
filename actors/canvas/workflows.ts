import { createHash } from 'node:crypto'
import type { EventStore } from '../../store/types.js'

export interface SaveWorkflowParameters {
  wallet: string
  name: string
  description?: string
  nodes: unknown[]
  edges: unknown[]
  at: string
}

/**
 * Saves a workflow version (API §9). A wallet's workflow is named by its name: saving the
 * same name again adds a version (the stream revision + 1, known from the append itself,
 * so nothing is read back). The list comes from the canvas-workflows projection.
 */
export async function saveWorkflow(store: EventStore, p: SaveWorkflowParameters): Promise<{ workflowId: string; version: number }> {
  const workflowId = `wf_${createHash('sha256').update(p.wallet.toLowerCase()).update('\0').update(p.name).digest('hex').slice(0, 32)}`
  const data = { workflowId, wallet: p.wallet, name: p.name, ...(p.description === undefined ? {} : { description: p.description }), nodes: p.nodes, edges: p.edges, at: p.at }
  const r = await store.append(`canvasworkflow-${workflowId}`, [{ type: 'WorkflowSaved', data }], { expectedRevision: 'any' })
  return { workflowId, version: Number(r.nextExpectedRevision) + 1 }
}
