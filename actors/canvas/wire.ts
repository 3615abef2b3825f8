import type { RecordedEvent } from '../../store/types.js'
import type { CanvasEvent } from './events.js'
import { nodeOf, runStatus, type RunContext } from './run-state.js'

/** A run id from its stream id (`canvas-<runId>`). */
export function runIdOf(streamId: string): string {
  return streamId.slice('canvas-'.length)
}

/** The §9 SSE events for one stored canvas event (the same payloads go to WebSocket `canvas:<runId>`). */
export function projectCanvasEvent(recorded: RecordedEvent): { type: string; data: unknown }[] {
  const runId = runIdOf(recorded.streamId)
  const e = { type: recorded.type, data: recorded.data } as CanvasEvent
  switch (e.type) {
    case 'RunCreated':
      return [{ type: 'run_started', data: { runId, status: 'running', createdAt: e.data.at } }]
    case 'NodeStarted':
      return [{ type: 'node_started', data: { runId, nodeId: e.data.nodeId, nodeType: e.data.nodeType, status: 'running' } }]
    case 'NodeLogged':
      return [{ type: 'node_log', data: { runId, nodeId: e.data.nodeId, nodeType: e.data.nodeType, message: e.data.message } }]
    case 'NodeWriteIntended':
      return [{ type: 'node_log', data: { runId, nodeId: e.data.nodeId, message: `${e.data.operation}: idempotency key recorded` } }]
    case 'NodeCompleted':
      return [{ type: 'node_completed', data: { runId, nodeId: e.data.nodeId, nodeType: e.data.nodeType, status: 'completed', result: e.data.result, durationMs: e.data.durationMs } }]
    case 'NodeFailed':
      return [
        {
          type: 'node_failed',
          data: {
            runId,
            nodeId: e.data.nodeId,
            nodeType: e.data.nodeType,
            ...(e.data.upstreamNodeIds === undefined ? {} : { upstreamNodeIds: e.data.upstreamNodeIds }),
            error: e.data.error,
            code: e.data.code,
            durationMs: e.data.durationMs,
          },
        },
      ]
    case 'ApprovalRequested':
      return [{ type: 'approval_required', data: { runId, approvalId: e.data.approvalId, nodeId: e.data.nodeId, message: e.data.message, status: 'pending', createdAt: e.data.at } }]
    case 'ApprovalResolved':
      return [
        {
          type: 'approval_resolved',
          data: { runId, approvalId: e.data.approvalId, nodeId: e.data.nodeId, decision: e.data.decision, ...(e.data.reason === undefined ? {} : { reason: e.data.reason }), automatic: e.data.automatic, resolvedAt: e.data.at },
        },
      ]
    case 'TeamAgentEventRecorded':
      return [
        {
          type: 'team_agent_event',
          data: {
            runId,
            nodeId: e.data.nodeId,
            agentName: e.data.agentName,
            eventKind: e.data.eventKind,
            ...(e.data.message === undefined ? {} : { message: e.data.message }),
            ...(e.data.detail === undefined ? {} : { detail: e.data.detail }),
            timestamp: e.data.at,
          },
        },
      ]
    case 'RunCompleted':
      return [{ type: 'run_completed', data: { runId, status: 'completed', results: e.data.results, logs: e.data.logs, completedAt: e.data.at } }]
    case 'RunFailed':
      return [{ type: 'run_failed', data: { runId, status: 'failed', error: e.data.error, logs: e.data.logs, failedAt: e.data.at } }]
    default:
      return []
  }
}

/** GET /canvas/runs/:id — the unwrapped §9 RunState. `nodeResults` equals `run_completed.results` once completed. */
export function runView(s: RunContext): Record<string, unknown> {
  const nodeStatuses: Record<string, string> = {}
  const nodeResults: Record<string, unknown> = {}
  for (const n of s.graph.nodes) {
    const st = nodeOf(s, n.id)!
    nodeStatuses[n.id] = st.status
    if (st.status === 'completed') nodeResults[n.id] = st.result
  }
  return {
    runId: s.runId,
    walletAddress: s.wallet,
    status: runStatus(s),
    runtime: s.runtime,
    nodeStatuses,
    nodeResults: s.results ?? nodeResults,
    approvals: s.approvals.map((a) => ({
      approvalId: a.approvalId,
      nodeId: a.nodeId,
      status: a.status,
      message: a.message,
      createdAt: a.createdAt,
      ...(a.resolvedAt === undefined ? {} : { resolvedAt: a.resolvedAt }),
      ...(a.reason === undefined ? {} : { reason: a.reason }),
      ...(a.automatic === undefined ? {} : { automatic: a.automatic }),
    })),
    logs: s.logs,
    ...(s.error === null ? {} : { error: s.error }),
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  }
}
