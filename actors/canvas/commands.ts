import type { Graph } from './graph.js'
import type { RunRuntime, TeamAgentEventRecorded, TeamRuntime } from './events.js'

export interface CreateRun {
  type: 'CreateRun'
  runId: string
  wallet: string
  graph: Graph
  runtime: RunRuntime
  teamRuntime: TeamRuntime | null
  maxParallel: number
}

export interface LogNode {
  type: 'LogNode'
  nodeId: string
  message: string
}

/** Records the idempotency key of a write before the write is attempted (no-op when already recorded). */
export interface IntendWrite {
  type: 'IntendWrite'
  nodeId: string
  operation: string
  key: string
}

export interface CompleteNode {
  type: 'CompleteNode'
  nodeId: string
  result: unknown
  durationMs: number
}

export interface FailNode {
  type: 'FailNode'
  nodeId: string
  code: string
  error: string
  durationMs: number
}

export interface ResolveApproval {
  type: 'ResolveApproval'
  approvalId: string
  decision: 'approve' | 'reject'
  reason?: string
}

export interface RecordTeamEvent {
  type: 'RecordTeamEvent'
  nodeId: string
  agentName: string
  eventKind: TeamAgentEventRecorded['data']['eventKind']
  message?: string
  detail?: unknown
}

export type CanvasCommand = CreateRun | LogNode | IntendWrite | CompleteNode | FailNode | ResolveApproval | RecordTeamEvent
