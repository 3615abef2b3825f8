import type { RecordedEvent } from '../store/types.js'
import type { Projection } from './types.js'

const runIdOf = (e: RecordedEvent) => e.streamId.slice('canvas-'.length)

/** A wallet's canvas runs, newest first (GET /canvas/runs lists these, then reads each run's actor). */
export interface CanvasRunRow {
  runId: string
  wallet: string
  createdAt: string
}

export const canvasRunsProjection: Projection<CanvasRunRow> = {
  name: 'canvas-runs',
  canHandle: (e) => e.streamId.startsWith('canvas-') && e.type === 'RunCreated',
  keyOf: (e) => ({ key: runIdOf(e), owner: (e.data as { wallet: string }).wallet.toLowerCase() }),
  evolve: (_current, e) => {
    const d = e.data as { runId: string; wallet: string; at: string }
    return { runId: d.runId, wallet: d.wallet, createdAt: d.at }
  },
}

/** Runs not yet completed or failed: the ones a restarted gateway resumes. */
export const openCanvasRunsProjection: Projection<{ runId: string }> = {
  name: 'canvas-open-runs',
  canHandle: (e) => e.streamId.startsWith('canvas-') && (e.type === 'RunCreated' || e.type === 'RunCompleted' || e.type === 'RunFailed'),
  keyOf: (e) => ({ key: runIdOf(e), owner: 'open' }),
  evolve: (_current, e) => (e.type === 'RunCreated' ? { runId: runIdOf(e) } : undefined),
}

/** A saved workflow as §9 lists it. */
export interface CanvasWorkflowRow {
  entityId: string
  name: string
  description?: string
  nodesJson: string
  edgesJson: string
  nodeCount: number
  version: number
  createdAt: string
  updatedAt: string
}

export const canvasWorkflowsProjection: Projection<CanvasWorkflowRow> = {
  name: 'canvas-workflows',
  canHandle: (e) => e.streamId.startsWith('canvasworkflow-') && e.type === 'WorkflowSaved',
  keyOf: (e) => ({ key: (e.data as { workflowId: string }).workflowId, owner: (e.data as { wallet: string }).wallet.toLowerCase() }),
  evolve: (current, e) => {
    const d = e.data as { workflowId: string; name: string; description?: string; nodes: unknown[]; edges: unknown[]; at: string }
    return {
      entityId: d.workflowId,
      name: d.name,
      ...(d.description === undefined ? {} : { description: d.description }),
      nodesJson: JSON.stringify(d.nodes),
      edgesJson: JSON.stringify(d.edges),
      nodeCount: d.nodes.length,
      version: Number(e.revision) + 1,
      createdAt: current?.createdAt ?? d.at,
      updatedAt: d.at,
    }
  },
}

/** The latest run of a team by `continueKey` (per wallet), for `teamRuntime.continue`. */
export const canvasTeamContinueProjection: Projection<{ runId: string; previousRunId?: string }> = {
  name: 'canvas-team-continue',
  canHandle: (e) => e.streamId.startsWith('canvas-') && e.type === 'RunCreated' && typeof (e.data as { teamRuntime?: { continueKey?: unknown } | null }).teamRuntime?.continueKey === 'string',
  keyOf: (e) => {
    const d = e.data as { wallet: string; teamRuntime: { continueKey: string } }
    return { key: `${d.wallet.toLowerCase()}:${d.teamRuntime.continueKey}`, owner: d.wallet.toLowerCase() }
  },
  evolve: (current, e) => (current === undefined ? { runId: runIdOf(e) } : { runId: runIdOf(e), previousRunId: current.runId }),
}
