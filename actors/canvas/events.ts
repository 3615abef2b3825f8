import type { Graph } from './graph.js'

/** The run's runtime options as the client sent them (API §9 `runtime`). */
export interface RunRuntime {
  mode?: 'read_only' | 'write_candidate'
  autoApprove?: boolean
  allowAgentFallback?: boolean
}

/** Team mode options (API §9 `teamRuntime`), kept as sent. */
export interface TeamRuntime {
  workflowId?: string
  continue?: boolean
  continueKey?: string
  orchestratorNodeId?: string
  teammates?: {
    nodeId: string
    teammateName: string
    sourceType?: 'standard' | 'marketplace'
    sourceAgentId?: string
    rolePrompt?: string
    model?: string
    allowedServers?: string[]
    tools?: string[]
    maxTurns?: number
  }[]
  workflowAllowedServers?: string[]
}

export interface RunCreated {
  type: 'RunCreated'
  data: {
    runId: string
    /** Checksummed owner. */
    wallet: string
    graph: Graph
    runtime: RunRuntime
    teamRuntime: TeamRuntime | null
    /** Nodes running at once (recorded so every replay decides alike). */
    maxParallel: number
    at: string
  }
}

export interface NodeStarted {
  type: 'NodeStarted'
  data: { nodeId: string; nodeType: string; at: string }
}

export interface NodeLogged {
  type: 'NodeLogged'
  data: { nodeId: string; nodeType: string; message: string; at: string }
}

/** A write is about to be attempted with this idempotency key (recorded BEFORE the write). */
export interface NodeWriteIntended {
  type: 'NodeWriteIntended'
  data: { nodeId: string; operation: string; key: string; at: string }
}

export interface NodeCompleted {
  type: 'NodeCompleted'
  data: { nodeId: string; nodeType: string; result: unknown; durationMs: number; at: string }
}

export interface NodeFailed {
  type: 'NodeFailed'
  data: {
    nodeId: string
    nodeType: string
    code: string
    error: string
    /** Set when the node never ran because these upstream nodes failed. */
    upstreamNodeIds?: string[]
    durationMs: number
    at: string
  }
}

export interface ApprovalRequested {
  type: 'ApprovalRequested'
  data: { approvalId: string; nodeId: string; message: string; at: string }
}

export interface ApprovalResolved {
  type: 'ApprovalResolved'
  data: { approvalId: string; nodeId: string; decision: 'approve' | 'reject'; reason?: string; automatic: boolean; at: string }
}

export interface TeamAgentEventRecorded {
  type: 'TeamAgentEventRecorded'
  data: {
    nodeId: string
    agentName: string
    eventKind: 'agent_started' | 'agent_message' | 'agent_tool_call' | 'agent_tool_result' | 'agent_completed'
    message?: string
    detail?: unknown
    at: string
  }
}

export interface RunCompleted {
  type: 'RunCompleted'
  /** `logs` is the run's whole log (API §9 requires it on the wire event). */
  data: { results: Record<string, unknown>; logs: string[]; at: string }
}

export interface RunFailed {
  type: 'RunFailed'
  data: { error: string; failedNodeIds: string[]; logs: string[]; at: string }
}

export type CanvasEvent =
  | RunCreated
  | NodeStarted
  | NodeLogged
  | NodeWriteIntended
  | NodeCompleted
  | NodeFailed
  | ApprovalRequested
  | ApprovalResolved
  | TeamAgentEventRecorded
  | RunCompleted
  | RunFailed
