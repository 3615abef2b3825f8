/**
 * The canvas workflow graph (API §9): node types in every spelling clients send,
 * normalised to one name; what each type takes and gives (typed ports); and validation
 * of a whole graph with every problem listed. Pure: no I/O, safe to run in a worker.
 */

/** What flows along an edge. `any` accepts (or is accepted by) everything. */
export type PortKind = 'text' | 'repo' | 'branch' | 'commit' | 'pr' | 'issue' | 'verification' | 'any'

export type NodeType =
  | 'text-input'
  | 'agent'
  | 'mcp-tool'
  | 'results'
  | 'approval-gate'
  | 'agent-team-orchestrator'
  | 'agent-team-teammate'
  | 'github-repo'
  | 'github-create-branch'
  | 'github-commit-files'
  | 'github-open-draft-pr'
  | 'github-create-issue'
  | 'github-mark-pr-ready'
  | 'browser-verify'

interface NodeSpec {
  /** Kinds accepted on the input side; empty = the node takes no input. */
  takes: readonly PortKind[]
  /** What it gives downstream; null = a sink (nothing may follow it); 'passthrough' = what came in. */
  gives: PortKind | null | 'passthrough'
  /** Changes something outside the gateway: needs an approval gate among its ancestors. */
  write: boolean
  /** Data fields that must be present and non-empty. */
  required: readonly string[]
}

const ANY: readonly PortKind[] = ['any']

export const NODE_SPECS: Readonly<Record<NodeType, NodeSpec>> = {
  'text-input': { takes: [], gives: 'text', write: false, required: [] },
  agent: { takes: ANY, gives: 'text', write: false, required: [] },
  'mcp-tool': { takes: ANY, gives: 'text', write: false, required: ['toolName'] },
  results: { takes: ANY, gives: null, write: false, required: [] },
  'approval-gate': { takes: ANY, gives: 'passthrough', write: false, required: [] },
  'agent-team-orchestrator': { takes: ANY, gives: 'text', write: false, required: [] },
  'agent-team-teammate': { takes: ANY, gives: 'text', write: false, required: [] },
  'github-repo': { takes: ['text', 'repo'], gives: 'repo', write: false, required: [] },
  'github-create-branch': { takes: ['text', 'repo'], gives: 'branch', write: true, required: ['branchName'] },
  'github-commit-files': { takes: ['text', 'repo', 'branch', 'commit'], gives: 'commit', write: true, required: [] },
  'github-open-draft-pr': { takes: ['text', 'repo', 'branch', 'commit'], gives: 'pr', write: true, required: [] },
  'github-create-issue': { takes: ['text', 'repo', 'verification', 'pr'], gives: 'issue', write: true, required: ['title'] },
  'github-mark-pr-ready': { takes: ['pr'], gives: 'pr', write: true, required: [] },
  'browser-verify': { takes: ['text', 'branch', 'commit', 'pr'], gives: 'verification', write: false, required: ['stepsJson'] },
}

const KNOWN = new Set(Object.keys(NODE_SPECS))

/** React-Flow names that are not simply `<kebab>Node`. */
const ALIASES: Readonly<Record<string, NodeType>> = {
  approval: 'approval-gate',
  team: 'agent-team-orchestrator',
  'team-orchestrator': 'agent-team-orchestrator',
  teammate: 'agent-team-teammate',
  'team-teammate': 'agent-team-teammate',
  input: 'text-input',
  result: 'results',
  'open-pr': 'github-open-draft-pr',
  'github-open-pr': 'github-open-draft-pr',
  'github-draft-pr': 'github-open-draft-pr',
}

function kebab(s: string): string {
  return s
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[_\s]+/g, '-')
    .toLowerCase()
}

function known(name: string): NodeType | undefined {
  if (KNOWN.has(name)) return name as NodeType
  return ALIASES[name]
}

/**
 * One name for every spelling: kebab-case as is, React-Flow `xxxNode` (camelCase) to
 * kebab-case, `approvalNode`, `teamNode`, and `githubNode` with `data.action`
 * (`createBranch`, `commit_files`, `open-draft-pr`…). Undefined when unknown.
 */
export function normalizeNodeType(type: string, data: Record<string, unknown> = {}): NodeType | undefined {
  const base = kebab(type.endsWith('Node') && type.length > 4 ? type.slice(0, -4) : type)
  if (base === 'github') {
    const action = typeof data.action === 'string' ? kebab(data.action).replace(/^github-/, '') : ''
    return action === '' ? undefined : known(`github-${action}`)
  }
  return known(base)
}

export interface InputNode {
  id: string
  type: string
  data?: Record<string, unknown> | undefined
}

export interface InputEdge {
  source: string
  target: string
}

export interface GraphNode {
  id: string
  type: NodeType
  /** The type as the client sent it (kept for display). */
  sentType: string
  data: Record<string, unknown>
}

export interface Graph {
  nodes: GraphNode[]
  edges: InputEdge[]
}

export interface ValidationProblem {
  code:
    | 'empty_graph'
    | 'duplicate_node_id'
    | 'unknown_node_type'
    | 'dangling_edge'
    | 'cycle'
    | 'type_mismatch'
    | 'missing_data'
    | 'invalid_data'
    | 'write_without_approval'
    | 'write_in_read_only'
    | 'team_mode_disabled'
  message: string
  nodeIds?: string[]
}

export interface ValidateOptions {
  mode?: 'read_only' | 'write_candidate' | undefined
  teamMode?: boolean
}

export interface Plan {
  /** Node ids in a topological order (parents before children). */
  order: string[]
  /** Depth of each node (roots 0): nodes of one level are independent of each other. */
  levels: number[]
}

export type ValidateResult = { ok: true; graph: Graph; plan: Plan } | { ok: false; problems: ValidationProblem[] }

/**
 * The same verdict without copies of the input (what the worker pool sends back, so the
 * main thread does not deserialise the whole graph again): on success the normalised type
 * of each input node, in input order, and the indices of the edges kept (duplicates dropped).
 */
export type CompactValidateResult = { ok: true; types: NodeType[]; keptEdges: number[]; plan: Plan } | { ok: false; problems: ValidationProblem[] }

/** Rebuilds the full result from the input and a compact verdict. */
export function expandValidateResult(input: { nodes: InputNode[]; edges: InputEdge[] }, r: CompactValidateResult): ValidateResult {
  if (!r.ok) return r
  const nodes = input.nodes.map((n, i) => ({ id: n.id, type: r.types[i]!, sentType: n.type, data: n.data ?? {} }))
  const edges = r.keptEdges.map((i) => ({ source: input.edges[i]!.source, target: input.edges[i]!.target }))
  return { ok: true, graph: { nodes, edges }, plan: r.plan }
}

/** MCP tools declared as writes: `data.write`, `data.destructive`, or the tool's MCP annotations. */
function isWriteNode(n: GraphNode): boolean {
  if (NODE_SPECS[n.type].write) return true
  if (n.type !== 'mcp-tool') return false
  const d = n.data
  const annotations = (d.annotations ?? {}) as Record<string, unknown>
  return d.write === true || d.destructive === true || d.sideEffect === 'write' || annotations.destructiveHint === true || annotations.readOnlyHint === false
}

function present(v: unknown): boolean {
  if (v === undefined || v === null) return false
  if (typeof v === 'string') return v.trim().length > 0
  return true
}

function jsonProblem(n: GraphNode, field: string): ValidationProblem | undefined {
  const v = n.data[field]
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string') return undefined
  try {
    JSON.parse(v)
    return undefined
  } catch {
    return { code: 'invalid_data', message: `Node "${n.id}" (${n.type}): data.${field} is not valid JSON`, nodeIds: [n.id] }
  }
}

/** Kinds a node gives, resolving gates (transparent: a gate gives what reaches it). */
function outKinds(n: GraphNode, parentsOut: PortKind[][]): PortKind[] {
  const gives = NODE_SPECS[n.type].gives
  if (gives === null) return []
  if (gives !== 'passthrough') return [gives]
  const all = new Set<PortKind>()
  for (const p of parentsOut) for (const k of p) all.add(k)
  return all.size === 0 ? ['any'] : [...all]
}

function accepts(takes: readonly PortKind[], kind: PortKind): boolean {
  return kind === 'any' || takes.includes('any') || takes.includes(kind)
}

/**
 * Validates a workflow before anything runs: every problem is listed (unknown types,
 * duplicate ids, dangling edges, cycles named by their nodes, edges between incompatible
 * ports, missing or malformed data, write nodes without an approval gate among their
 * ancestors, write nodes in `read_only` mode). On success returns the normalised graph
 * and its topological plan. O(nodes + edges).
 */
export function validateGraph(input: { nodes: InputNode[]; edges: InputEdge[] }, options: ValidateOptions = {}): ValidateResult {
  return expandValidateResult(input, validateGraphCompact(input, options))
}

/** validateGraph's work, answering in the compact form (see CompactValidateResult). */
export function validateGraphCompact(input: { nodes: InputNode[]; edges: InputEdge[] }, options: ValidateOptions = {}): CompactValidateResult {
  const problems: ValidationProblem[] = []
  if (input.nodes.length === 0) problems.push({ code: 'empty_graph', message: 'The workflow has no nodes' })

  const nodes: GraphNode[] = []
  const index = new Map<string, number>()
  for (const raw of input.nodes) {
    const data = raw.data ?? {}
    if (index.has(raw.id)) {
      problems.push({ code: 'duplicate_node_id', message: `Two nodes have the id "${raw.id}"`, nodeIds: [raw.id] })
      continue
    }
    const type = normalizeNodeType(raw.type, data)
    if (type === undefined) {
      const what = raw.type === 'githubNode' ? `githubNode with action "${String(data.action ?? '')}"` : `"${raw.type}"`
      problems.push({ code: 'unknown_node_type', message: `Node "${raw.id}" has an unknown type ${what}`, nodeIds: [raw.id] })
    }
    index.set(raw.id, nodes.length)
    nodes.push({ id: raw.id, type: type ?? 'results', sentType: raw.type, data })
  }
  const unknown = new Set(problems.filter((p) => p.code === 'unknown_node_type').flatMap((p) => p.nodeIds ?? []))

  const n = nodes.length
  const children: number[][] = Array.from({ length: n }, () => [])
  const parents: number[][] = Array.from({ length: n }, () => [])
  const keptEdges: number[] = []
  const seenEdge = new Set<string>()
  for (let ei = 0; ei < input.edges.length; ei++) {
    const e = input.edges[ei]!
    const s = index.get(e.source)
    const t = index.get(e.target)
    if (s === undefined || t === undefined) {
      const missing = [s === undefined ? e.source : undefined, t === undefined ? e.target : undefined].filter((x): x is string => x !== undefined)
      problems.push({ code: 'dangling_edge', message: `Edge ${e.source} → ${e.target} points to no node "${missing.join('", "')}"`, nodeIds: missing })
      continue
    }
    const key = `${e.source}\u0000${e.target}`
    if (seenEdge.has(key)) continue
    seenEdge.add(key)
    keptEdges.push(ei)
    children[s]!.push(t)
    parents[t]!.push(s)
  }

  // Kahn's algorithm: what is left over lies on or behind a cycle.
  const indegree = parents.map((p) => p.length)
  const order: number[] = []
  for (let i = 0; i < n; i++) if (indegree[i] === 0) order.push(i)
  for (let k = 0; k < order.length; k++) for (const c of children[order[k]!]!) if (--indegree[c]! === 0) order.push(c)
  if (order.length < n) {
    for (const cycle of findCycles(n, children, indegree)) {
      const ids = cycle.map((i) => nodes[i]!.id)
      problems.push({ code: 'cycle', message: `The workflow has a cycle: ${[...ids, ids[0]].join(' → ')}`, nodeIds: ids })
    }
  }

  const ordered = new Uint8Array(n)
  for (const i of order) ordered[i] = 1

  // In topological order: what each node gives, and whether a gate is among its ancestors.
  const out: PortKind[][] = Array.from({ length: n }, () => [])
  const gated: boolean[] = new Array<boolean>(n).fill(false)
  const levels: number[] = new Array<number>(n).fill(0)
  for (const i of order) {
    const node = nodes[i]!
    const ps = parents[i]!
    let level = 0
    let hasGate = false
    for (const p of ps) {
      if (levels[p]! + 1 > level) level = levels[p]! + 1
      if (gated[p] || nodes[p]!.type === 'approval-gate') hasGate = true
    }
    levels[i] = level
    gated[i] = hasGate
    if (unknown.has(node.id)) {
      out[i] = ['any']
      continue
    }
    const spec = NODE_SPECS[node.type]
    for (const p of ps) {
      if (unknown.has(nodes[p]!.id)) continue
      const parent = nodes[p]!
      if (out[p]!.length === 0) {
        problems.push({ code: 'type_mismatch', message: `Edge ${parent.id} → ${node.id}: ${parent.type} gives nothing, so nothing may follow it`, nodeIds: [parent.id, node.id] })
      } else if (spec.takes.length === 0) {
        problems.push({ code: 'type_mismatch', message: `Edge ${parent.id} → ${node.id}: ${node.type} takes no input`, nodeIds: [parent.id, node.id] })
      } else if (!out[p]!.some((k) => accepts(spec.takes, k))) {
        problems.push({
          code: 'type_mismatch',
          message: `Edge ${parent.id} → ${node.id}: ${parent.type} gives ${out[p]!.join('|')}, but ${node.type} takes ${spec.takes.join('|')}`,
          nodeIds: [parent.id, node.id],
        })
      }
    }
    out[i] = outKinds(node, ps.map((p) => out[p]!))
  }

  for (let i = 0; i < n; i++) {
    const node = nodes[i]!
    if (unknown.has(node.id)) continue
    const spec = NODE_SPECS[node.type]
    const missing = spec.required.filter((f) => !present(node.data[f]))
    if (node.type === 'github-commit-files' && !present(node.data.filesJson) && node.data.consumeUpstream !== true && parents[i]!.length === 0) missing.push('filesJson')
    if (missing.length > 0) problems.push({ code: 'missing_data', message: `Node "${node.id}" (${node.type}) needs data.${missing.join(', data.')}`, nodeIds: [node.id] })
    for (const f of ['filesJson', 'stepsJson', 'assertionsJson', 'sessionConfigJson']) {
      const p = jsonProblem(node, f)
      if (p !== undefined) problems.push(p)
    }
    if (isWriteNode(node)) {
      if (options.mode === 'read_only') {
        problems.push({ code: 'write_in_read_only', message: `Node "${node.id}" (${node.type}) writes, but the run is read_only`, nodeIds: [node.id] })
      } else if (!gated[i] && ordered[i] === 1) {
        problems.push({ code: 'write_without_approval', message: `Node "${node.id}" (${node.type}) writes, but no approval-gate is among its ancestors`, nodeIds: [node.id] })
      }
    }
    if ((node.type === 'agent-team-orchestrator' || node.type === 'agent-team-teammate') && options.teamMode === false) {
      problems.push({ code: 'team_mode_disabled', message: `Node "${node.id}" (${node.type}) needs team mode, which is off on this gateway (CANVAS_TEAM_MODE)`, nodeIds: [node.id] })
    }
  }

  if (problems.length > 0) return { ok: false, problems }
  return { ok: true, types: nodes.map((x) => x.type), keptEdges, plan: { order: order.map((i) => nodes[i]!.id), levels: order.map((i) => levels[i]!) } }
}

/** The simple cycles among nodes Kahn's algorithm could not order (one per strongly connected group found), iteratively. */
function findCycles(n: number, children: number[][], indegree: number[]): number[][] {
  const color = new Uint8Array(n) // 0 new, 1 on the path, 2 done
  const cycles: number[][] = []
  for (let start = 0; start < n; start++) {
    if (indegree[start] === 0 || color[start] !== 0) continue
    const path: number[] = []
    const stack: { node: number; next: number }[] = [{ node: start, next: 0 }]
    color[start] = 1
    path.push(start)
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!
      const kids = children[top.node]!
      if (top.next < kids.length) {
        const c = kids[top.next++]!
        if (color[c] === 1) {
          cycles.push(path.slice(path.indexOf(c)))
        } else if (color[c] === 0 && indegree[c]! > 0) {
          color[c] = 1
          path.push(c)
          stack.push({ node: c, next: 0 })
        }
      } else {
        color[top.node] = 2
        path.pop()
        stack.pop()
      }
    }
  }
  return cycles
}
