import type { Graph, NodeType } from './graph.js'
import type { CanvasEvent, RunRuntime, TeamRuntime } from './events.js'

export type NodeStatus = 'pending' | 'running' | 'awaiting_approval' | 'completed' | 'failed'
export type RunStatus = 'created' | 'running' | 'awaiting_approval' | 'completed' | 'failed'

export interface NodeState {
  status: NodeStatus
  startedAt: string | null
  result: unknown
  error: string | null
  /** Idempotency keys of writes recorded before they were attempted, by operation. */
  writeKeys: Record<string, string>
}

export interface ApprovalState {
  approvalId: string
  nodeId: string
  status: 'pending' | 'approved' | 'rejected'
  message: string
  createdAt: string
  resolvedAt?: string
  reason?: string
  automatic?: boolean
}

/** The folded state of one run (the canvas actor's machine context). */
export interface RunContext {
  runId: string
  wallet: string
  /** Nodes in topological order (CreateRun stores them so). */
  graph: Graph
  runtime: RunRuntime
  teamRuntime: TeamRuntime | null
  maxParallel: number
  parents: Record<string, string[]>
  /** Node states aligned with graph.nodes (an array: one event copies it cheaply). */
  nodes: NodeState[]
  /** Node id → index in graph.nodes / nodes (built once, shared by every later state). */
  index: Record<string, number>
  approvals: ApprovalState[]
  logs: string[]
  /** created → running → completed | failed (awaiting_approval is derived: see runStatus). */
  phase: 'created' | 'running' | 'completed' | 'failed'
  results: Record<string, unknown> | null
  error: string | null
  createdAt: string
  updatedAt: string
}

export const EMPTY_RUN: RunContext = {
  runId: '',
  wallet: '',
  graph: { nodes: [], edges: [] },
  runtime: {},
  teamRuntime: null,
  maxParallel: 1,
  parents: {},
  nodes: [],
  index: {},
  approvals: [],
  logs: [],
  phase: 'created',
  results: null,
  error: null,
  createdAt: '',
  updatedAt: '',
}

/** A node's state by id. */
export function nodeOf(s: RunContext, nodeId: string): NodeState | undefined {
  const i = s.index[nodeId]
  return i === undefined ? undefined : s.nodes[i]
}

function setNode(s: RunContext, nodeId: string, patch: Partial<NodeState>): NodeState[] {
  const i = s.index[nodeId]!
  const nodes = s.nodes.slice()
  nodes[i] = { ...nodes[i]!, ...patch }
  return nodes
}

/** Pure fold of one event into the run's state (the machine's assign and decide's look-ahead). */
export function evolve(s: RunContext, e: CanvasEvent): RunContext {
  switch (e.type) {
    case 'RunCreated': {
      const d = e.data
      const parents: Record<string, string[]> = {}
      const index: Record<string, number> = {}
      const nodes: NodeState[] = []
      for (const n of d.graph.nodes) {
        parents[n.id] = []
        index[n.id] = nodes.length
        nodes.push({ status: 'pending', startedAt: null, result: null, error: null, writeKeys: {} })
      }
      for (const edge of d.graph.edges) parents[edge.target]!.push(edge.source)
      return {
        ...EMPTY_RUN,
        runId: d.runId,
        wallet: d.wallet,
        graph: d.graph,
        runtime: d.runtime,
        teamRuntime: d.teamRuntime,
        maxParallel: d.maxParallel,
        parents,
        nodes,
        index,
        phase: 'running',
        createdAt: d.at,
        updatedAt: d.at,
      }
    }
    case 'NodeStarted':
      return { ...s, nodes: setNode(s, e.data.nodeId, { status: 'running', startedAt: e.data.at }), logs: [...s.logs, `${e.data.nodeId}: started`], updatedAt: e.data.at }
    case 'NodeLogged':
      return { ...s, logs: [...s.logs, `${e.data.nodeId}: ${e.data.message}`], updatedAt: e.data.at }
    case 'NodeWriteIntended': {
      const n = nodeOf(s, e.data.nodeId)!
      return { ...s, nodes: setNode(s, e.data.nodeId, { writeKeys: { ...n.writeKeys, [e.data.operation]: e.data.key } }), updatedAt: e.data.at }
    }
    case 'NodeCompleted':
      return { ...s, nodes: setNode(s, e.data.nodeId, { status: 'completed', result: e.data.result }), logs: [...s.logs, `${e.data.nodeId}: completed`], updatedAt: e.data.at }
    case 'NodeFailed':
      return {
        ...s,
        nodes: setNode(s, e.data.nodeId, { status: 'failed', error: e.data.error }),
        logs: [...s.logs, `${e.data.nodeId}: failed: ${e.data.error}`],
        updatedAt: e.data.at,
      }
    case 'ApprovalRequested':
      return {
        ...s,
        nodes: setNode(s, e.data.nodeId, { status: 'awaiting_approval' }),
        approvals: [...s.approvals, { approvalId: e.data.approvalId, nodeId: e.data.nodeId, status: 'pending', message: e.data.message, createdAt: e.data.at }],
        logs: [...s.logs, `${e.data.nodeId}: awaiting approval`],
        updatedAt: e.data.at,
      }
    case 'ApprovalResolved': {
      const d = e.data
      return {
        ...s,
        nodes: setNode(s, d.nodeId, { status: 'running' }),
        approvals: s.approvals.map((a) =>
          a.approvalId === d.approvalId
            ? { ...a, status: d.decision === 'approve' ? ('approved' as const) : ('rejected' as const), resolvedAt: d.at, automatic: d.automatic, ...(d.reason === undefined ? {} : { reason: d.reason }) }
            : a,
        ),
        logs: [...s.logs, `${d.nodeId}: ${d.decision === 'approve' ? 'approved' : 'rejected'}${d.automatic ? ' automatically' : ''}`],
        updatedAt: d.at,
      }
    }
    case 'TeamAgentEventRecorded':
      return { ...s, updatedAt: e.data.at }
    case 'RunCompleted':
      return { ...s, phase: 'completed', results: e.data.results, logs: e.data.logs, updatedAt: e.data.at }
    case 'RunFailed':
      return { ...s, phase: 'failed', error: e.data.error, logs: e.data.logs, updatedAt: e.data.at }
  }
}

/** The run's status as clients see it: a running run with only gates left waiting is awaiting_approval. */
export function runStatus(s: RunContext): RunStatus {
  if (s.phase !== 'running') return s.phase
  const statuses = s.nodes.map((n) => n.status)
  if (statuses.includes('running')) return 'running'
  return statuses.includes('awaiting_approval') ? 'awaiting_approval' : 'running'
}

export function nodeType(s: RunContext, nodeId: string): NodeType {
  return s.graph.nodes[s.index[nodeId]!]!.type
}
