import { randomUUID } from 'node:crypto'
import { GatewayError, NotFoundError, ValidationError } from '../../shared/errors.js'
import type { EventStore, RecordedEvent, SnapshotStore } from '../../store/types.js'
import { ActorHost } from '../runtime/host.js'
import type { EffectCall, EffectContext } from '../runtime/types.js'
import type { CanvasCommand } from './commands.js'
import type { CanvasSnapshot } from './decide.js'
import { canvasDefinition } from './definition.js'
import type { RunRuntime, TeamRuntime } from './events.js'
import { expandValidateResult, validateGraph, type CompactValidateResult, type Graph, type InputEdge, type InputNode, type ValidateOptions, type ValidateResult, type ValidationProblem } from './graph.js'
import { executorFor, type NodeDeps, type NodeRunContext, type Upstream } from './nodes.js'
import { nodeOf, type RunContext } from './run-state.js'

/** Graphs at least this large are validated and planned in the worker pool. */
export const POOL_PLANNING_THRESHOLD = 500

/** The worker pool as canvas needs it (workers/tasks/plan-canvas-graph.ts runs validateGraphCompact). */
export interface CanvasPlanningPool {
  run(task: 'plan-canvas-graph', payload: { nodes: InputNode[]; edges: InputEdge[]; options: ValidateOptions }): Promise<CompactValidateResult>
}

export interface CanvasServiceParameters {
  store: EventStore
  snapshots?: SnapshotStore
  snapshotEvery?: number
  /** Idle runs kept in memory (ACTOR_CACHE_SIZE). */
  cacheSize?: number
  deps: NodeDeps
  /** Piscina pool (workers/pool.ts) for planning large graphs; without it everything runs inline. */
  pool?: CanvasPlanningPool
  /** Nodes running at once per run (CANVAS_MAX_PARALLEL). */
  maxParallel: number
  /** Per-node time limit unless the node's data.timeoutMs says otherwise (CANVAS_NODE_TIMEOUT_MS). */
  nodeTimeoutMs: number
  teamMode: boolean
  now?: () => Date
  newId?: () => string
  onError?: (error: unknown, where: string) => void
}

export interface StartRunParameters {
  wallet: string
  nodes: InputNode[]
  edges: InputEdge[]
  runtime: RunRuntime
  teamRuntime?: TeamRuntime
}

/** The workflow was refused before anything ran: every problem is listed (400). */
export class WorkflowInvalidError extends ValidationError {
  override name = 'WorkflowInvalidError'
  constructor(problems: ValidationProblem[]) {
    super(`The workflow is invalid: ${problems.map((p) => p.message).join('; ')}`, { problems }, 'invalid_workflow')
  }
}

type TextListener = (d: { nodeId: string; delta: string }) => void

/**
 * Canvas runs: the run ActorHost with its one effect bound (execute a started node, with
 * a timeout, reporting the result as a command), plus what routes need. A node's effect
 * is idempotent by run + node id; a node is executed at most once at a time per process.
 */
export class CanvasService {
  readonly host: ActorHost<typeof canvasDefinition.machine, CanvasCommand, any>
  readonly #p: CanvasServiceParameters
  readonly #newId: () => string
  readonly #text = new Map<string, Set<TextListener>>()
  readonly #inflight = new Set<string>()
  #closed = false

  constructor(p: CanvasServiceParameters) {
    this.#p = p
    this.#newId = p.newId ?? randomUUID
    this.host = new ActorHost({
      definition: canvasDefinition,
      store: p.store,
      ...(p.snapshots === undefined ? {} : { snapshots: p.snapshots }),
      ...(p.snapshotEvery === undefined ? {} : { snapshotEvery: p.snapshotEvery }),
      ...(p.cacheSize === undefined ? {} : { cacheSize: p.cacheSize }),
      ...(p.now === undefined ? {} : { now: p.now }),
      newId: this.#newId,
      effects: {
        executeNode: (action: EffectCall, ctx: EffectContext<CanvasCommand>) => {
          const params = action.params as { nodeId: string }
          return this.#execute(ctx.actorId, params.nodeId)
        },
      },
      onEffectError: (e) => this.#p.onError?.(e, 'canvas effect'),
    })
  }

  streamId(runId: string): string {
    return this.host.streamId(runId)
  }

  /** Validates and plans a workflow (in the pool for large graphs). */
  async validate(nodes: InputNode[], edges: InputEdge[], options: ValidateOptions): Promise<ValidateResult> {
    if (this.#p.pool !== undefined && nodes.length >= POOL_PLANNING_THRESHOLD) {
      const compact = await this.#p.pool.run('plan-canvas-graph', { nodes, edges, options })
      return expandValidateResult({ nodes, edges }, compact)
    }
    return validateGraph({ nodes, edges }, options)
  }

  /**
   * Validates the workflow (400 with every problem), then commits the run: once this
   * resolves the run is readable (GET /canvas/runs/:id), and its first nodes are starting.
   */
  async start(p: StartRunParameters): Promise<{ runId: string; snapshot: CanvasSnapshot }> {
    // Teammates are not in `nodes` (§9): they run inside the orchestrator node.
    const v = await this.validate(p.nodes, p.edges, { mode: p.runtime.mode, teamMode: this.#p.teamMode })
    if (!v.ok) throw new WorkflowInvalidError(v.problems)
    const order = new Map(v.plan.order.map((id, i) => [id, i]))
    const graph: Graph = { nodes: [...v.graph.nodes].sort((a, b) => order.get(a.id)! - order.get(b.id)!), edges: v.graph.edges }
    const runId = `run_${this.#newId().replace(/-/g, '')}`
    const r = await this.host.send(runId, {
      type: 'CreateRun',
      runId,
      wallet: p.wallet,
      graph,
      runtime: p.runtime,
      teamRuntime: p.teamRuntime ?? null,
      maxParallel: this.#p.maxParallel,
    })
    return { runId, snapshot: r.snapshot as CanvasSnapshot }
  }

  /** The run's state; undefined when it does not exist. */
  async get(runId: string): Promise<RunContext | undefined> {
    const { snapshot } = await this.host.read(runId)
    return snapshot.value === 'new' ? undefined : (snapshot.context as RunContext)
  }

  /** The run when it belongs to `wallet`; 404 otherwise (another wallet's run is not revealed). */
  async owned(runId: string, wallet: string): Promise<RunContext> {
    const s = await this.get(runId)
    if (s === undefined || s.wallet.toLowerCase() !== wallet.toLowerCase()) throw new NotFoundError('No such run', 'run_not_found')
    return s
  }

  /** Resolves a gate: idempotent for the same decision, 409 for a different one; owner only. */
  async approve(p: { runId: string; wallet: string; approvalId: string; decision: 'approve' | 'reject'; reason?: string }): Promise<RunContext> {
    await this.owned(p.runId, p.wallet)
    const r = await this.host.send(p.runId, { type: 'ResolveApproval', approvalId: p.approvalId, decision: p.decision, ...(p.reason === undefined ? {} : { reason: p.reason }) })
    return r.snapshot.context as RunContext
  }

  /**
   * Start-up: every node a stopped process left running is executed again (its writes are
   * looked up by their recorded keys, its charge is idempotent by run + node id); gates
   * keep waiting; finished nodes are never re-entered.
   */
  async resume(runIds: readonly string[]): Promise<number> {
    let resumed = 0
    for (const runId of runIds) {
      const s = await this.get(runId)
      if (s === undefined || s.phase !== 'running') continue
      for (const n of s.graph.nodes) {
        if (nodeOf(s, n.id)!.status !== 'running' || n.type === 'approval-gate') continue
        resumed++
        void this.#execute(runId, n.id).catch((e: unknown) => this.#p.onError?.(e, 'resume'))
      }
    }
    return resumed
  }

  /** Live text deltas of a run's model answers (not stored: the node's result holds the text). */
  onText(runId: string, listener: TextListener): () => void {
    let set = this.#text.get(runId)
    if (set === undefined) {
      set = new Set()
      this.#text.set(runId, set)
    }
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.#text.delete(runId)
    }
  }

  /** Stops starting node work (shutdown); effects already running finish or are cut by the process exit. */
  close(): void {
    this.#closed = true
  }

  async #execute(runId: string, nodeId: string): Promise<void> {
    const key = `${runId}\u0000${nodeId}`
    if (this.#closed || this.#inflight.has(key)) return
    this.#inflight.add(key)
    const started = Date.now()
    try {
      const s = await this.get(runId)
      if (s === undefined || nodeOf(s, nodeId)?.status !== 'running') return
      const node = s.graph.nodes[s.index[nodeId]!]!
      const timeoutMs = typeof node.data.timeoutMs === 'number' && node.data.timeoutMs > 0 ? node.data.timeoutMs : this.#p.nodeTimeoutMs
      const abort = new AbortController()
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          abort.abort()
          reject(new GatewayError('node_timeout', `Node "${nodeId}" did not finish within ${timeoutMs} ms`))
        }, timeoutMs)
        timer.unref()
      })
      const ctx = this.#context(s, nodeId, abort.signal)
      try {
        const result = await Promise.race([executorFor(node.type)(ctx, this.#p.deps), timedOut])
        await this.host.send(runId, { type: 'CompleteNode', nodeId, result: result ?? null, durationMs: Date.now() - started })
      } catch (error) {
        // Connector errors carry a stable code and a message scrubbed of secrets (GitHubError, browser refusals).
        const coded = error instanceof Error && typeof (error as { code?: unknown }).code === 'string' ? (error as Error & { code: string }) : undefined
        const code = error instanceof GatewayError ? error.code : coded?.code ?? 'node_failed'
        const message = error instanceof GatewayError ? error.shortMessage : coded?.message ?? 'The node failed'
        if (coded === undefined) this.#p.onError?.(error, `node ${node.type}`)
        await this.host.send(runId, { type: 'FailNode', nodeId, code, error: message, durationMs: Date.now() - started })
      } finally {
        clearTimeout(timer)
      }
    } finally {
      this.#inflight.delete(key)
    }
  }

  #context(s: RunContext, nodeId: string, signal: AbortSignal): NodeRunContext {
    const runId = s.runId
    const node = s.graph.nodes[s.index[nodeId]!]!
    const upstream = (id: string): Upstream => ({ nodeId: id, nodeType: s.graph.nodes[s.index[id]!]!.type, result: nodeOf(s, id)!.result })
    // Ancestors nearest first (breadth-first over parents).
    const ancestors: Upstream[] = []
    const seen = new Set<string>([nodeId])
    let frontier = [nodeId]
    while (frontier.length > 0) {
      const next: string[] = []
      for (const id of frontier)
        for (const p of s.parents[id] ?? []) {
          if (seen.has(p)) continue
          seen.add(p)
          ancestors.push(upstream(p))
          next.push(p)
        }
      frontier = next
    }
    return {
      runId,
      wallet: s.wallet,
      node,
      teamRuntime: s.teamRuntime,
      inputs: (s.parents[nodeId] ?? []).map(upstream),
      ancestors,
      signal,
      log: async (message) => {
        await this.host.send(runId, { type: 'LogNode', nodeId, message })
      },
      intendWrite: async (operation, key) => {
        await this.host.send(runId, { type: 'IntendWrite', nodeId, operation, key })
      },
      text: (delta) => {
        for (const l of this.#text.get(runId) ?? []) l({ nodeId, delta })
      },
      teamEvent: async (e) => {
        await this.host.send(runId, { type: 'RecordTeamEvent', nodeId, ...e })
      },
    }
  }
}

/** Whether a stored event ends its run (streams stop after it). */
export function endsRun(e: RecordedEvent): boolean {
  return e.type === 'RunCompleted' || e.type === 'RunFailed'
}
