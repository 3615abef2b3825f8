import { z } from 'zod'
import { normalizeNodeType } from '../../actors/canvas/graph.js'
import { endsRun, type CanvasService } from '../../actors/canvas/service.js'
import { projectCanvasEvent, runView } from '../../actors/canvas/wire.js'
import { saveWorkflow } from '../../actors/canvas/workflows.js'
import type { CanvasWorkflowRow } from '../../projections/canvas.js'
import { NotFoundError, ValidationError } from '../../shared/errors.js'
import type { EventStore, Position } from '../../store/types.js'
import type { LiveFeed } from '../live.js'
import { json, type AuthContext, type Route } from '../route.js'
import { coalescingWake, sse, type SseChannel } from '../sse.js'
import { followTopic, type TopicSpec } from '../topics.js'
import type { WsCommandHandler } from '../ws.js'

export interface CanvasRoutesDeps {
  canvas: CanvasService
  store: EventStore
  live: LiveFeed
  /** Read models: the wallet's runs (newest first) and saved workflows. */
  projections: {
    waitFor(position: Position, timeoutMs?: number): Promise<boolean>
    list<Row>(projection: string, owner: string, limit: number, offset: number): { rows: Row[]; total: number }
  }
  readArtifact(runId: string, name: string): Promise<Buffer | undefined>
  /** The vault: an agent node needs the wallet's key, checked before the run is created (400). */
  getProviderKey(address: string, provider: 'anthropic'): Promise<string>
  /** SSE heartbeat (default 15 s; clients abort after 60 s of silence, also while a gate waits). */
  pingMs?: number
}

const id = z.string().min(1).max(200)
const data = z.record(z.string(), z.unknown())
const node = z.object({ id, type: z.string().min(1).max(100), data: data.optional() }).passthrough()
const connection = z.object({ source: id, target: id }).passthrough()
const runtime = z
  .object({ mode: z.enum(['read_only', 'write_candidate']).optional(), allowAgentFallback: z.boolean().optional(), autoApprove: z.boolean().optional() })
  .passthrough()
const teammate = z
  .object({
    nodeId: id,
    teammateName: z.string().min(1).max(200),
    sourceType: z.enum(['standard', 'marketplace']).optional(),
    sourceAgentId: z.string().max(200).optional(),
    rolePrompt: z.string().max(20_000).optional(),
    model: z.string().max(200).optional(),
    allowedServers: z.array(z.string().max(200)).max(100).optional(),
    tools: z.array(z.string().max(200)).max(200).optional(),
    maxTurns: z.number().int().min(1).max(100).optional(),
  })
  .passthrough()
const teamRuntime = z
  .object({
    workflowId: z.string().max(200).optional(),
    continue: z.boolean().optional(),
    continueKey: z.string().min(1).max(200).optional(),
    orchestratorNodeId: id.optional(),
    teammates: z.array(teammate).max(20).optional(),
    workflowAllowedServers: z.array(z.string().max(200)).max(100).optional(),
  })
  .passthrough()
const executeBody = z
  .object({
    nodes: z.array(node).min(1).max(20_000),
    connections: z.array(connection).max(100_000).optional(),
    /** Saved workflows use `edges`; execution sends `connections` (both accepted). */
    edges: z.array(connection).max(100_000).optional(),
    runtime: runtime.optional(),
    teamRuntime: teamRuntime.optional(),
  })
  .passthrough()
const approvalBody = z.object({ decision: z.enum(['approve', 'reject']), reason: z.string().max(2000).optional() })
const saveBody = z.object({
  name: z.string().min(1).max(200),
  description: z.string().max(5000).optional(),
  nodes: z.array(z.object({ id, type: z.string().min(1).max(100), position: z.object({ x: z.number(), y: z.number() }).optional(), data: data.optional() }).passthrough()).max(20_000),
  edges: z.array(z.object({ id: z.string().max(200).optional(), source: id, target: id }).passthrough()).max(100_000),
})
const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).optional(), offset: z.coerce.number().int().min(0).optional() }).passthrough()

function auth(ctx: { auth: AuthContext | undefined }): AuthContext {
  if (ctx.auth === undefined) throw new ValidationError('Sign in first')
  return ctx.auth
}

/**
 * Streams a run's §9 events: stored events from after `after` (id: = store position),
 * live text deltas of agent nodes, and `data: [DONE]` after run_completed / run_failed.
 * A text delta is held until its node's node_started went out, so the order reads right.
 */
export async function pumpRun(deps: Pick<CanvasRoutesDeps, 'canvas' | 'store' | 'live'>, channel: SseChannel, opts: { runId: string; after: Position }): Promise<void> {
  const queue: { event: { type: string; data: unknown }; id?: bigint }[] = []
  const { wait, notify } = coalescingWake()
  let ended = false
  const started = new Set<string>()
  const held = new Map<string, string[]>()
  const offText = deps.canvas.onText(opts.runId, ({ nodeId, delta }) => {
    if (started.has(nodeId)) queue.push({ event: { type: 'text', data: delta } })
    else held.set(nodeId, [...(held.get(nodeId) ?? []), delta])
    notify()
  })
  const stream = deps.canvas.streamId(opts.runId)
  const abort = new AbortController()
  const onAbort = (): void => {
    abort.abort()
    notify()
  }
  channel.signal.addEventListener('abort', onAbort, { once: true })
  let stop: (() => void) | undefined
  try {
    stop = await followTopic(
      deps.store,
      deps.live,
      [stream],
      (e) => {
        const out = projectCanvasEvent(e)
        if (endsRun(e)) ended = true
        return out
      },
      opts.after,
      ({ position, event }) => {
        queue.push({ event, id: position })
        if (event.type === 'node_started') {
          const nodeId = (event.data as { nodeId: string }).nodeId
          started.add(nodeId)
          for (const d of held.get(nodeId) ?? []) queue.push({ event: { type: 'text', data: d } })
          held.delete(nodeId)
        }
        notify()
      },
      abort.signal,
    )
    for (;;) {
      if (channel.aborted) return
      const last = queue.findIndex(({ event }) => event.type === 'run_completed' || event.type === 'run_failed')
      if (last >= 0 || (ended && queue.length === 0)) return await channel.sendAll(queue.splice(0, last + 1), { done: true })
      if (queue.length > 0) await channel.sendAll(queue.splice(0))
      else await wait()
    }
  } finally {
    stop?.()
    offText()
    abort.abort()
    channel.signal.removeEventListener('abort', onAbort)
  }
}

/** §9 canvas routes: execute (SSE), runs, approvals, resumable events, artifacts, saved workflows. */
export function canvasRoutes(deps: CanvasRoutesDeps): Route[] {
  const { canvas } = deps
  const pingMs = deps.pingMs ?? 15_000
  return [
    {
      method: 'POST',
      path: '/canvas/workflows/execute/stream',
      body: executeBody,
      bodyLimit: 16 * 1024 * 1024,
      handler: async (ctx) => {
        const a = auth(ctx)
        const b = ctx.body as z.infer<typeof executeBody>
        const usesModel = b.nodes.some((n) => {
          const t = normalizeNodeType(n.type, n.data ?? {})
          return t === 'agent' || t === 'agent-team-orchestrator' || t === 'agent-team-teammate'
        })
        // 400 missing_secrets / locked_secrets before anything is recorded (as for chat).
        if (usesModel) await deps.getProviderKey(a.address, 'anthropic')
        const { runId } = await canvas.start({
          wallet: a.address,
          nodes: b.nodes.map((n) => ({ id: n.id, type: n.type, data: n.data ?? {} })),
          edges: (b.connections ?? b.edges ?? []).map((e) => ({ source: e.source, target: e.target })),
          runtime: {
            ...(b.runtime?.mode === undefined ? {} : { mode: b.runtime.mode }),
            ...(b.runtime?.autoApprove === undefined ? {} : { autoApprove: b.runtime.autoApprove }),
            ...(b.runtime?.allowAgentFallback === undefined ? {} : { allowAgentFallback: b.runtime.allowAgentFallback }),
          },
          ...(b.teamRuntime === undefined ? {} : { teamRuntime: JSON.parse(JSON.stringify(b.teamRuntime)) }),
        })
        // The run is committed: run_started (its first stored event) comes first on the stream.
        return sse((channel) => pumpRun(deps, channel, { runId, after: 0n }), { pingMs, headers: { 'x-run-id': runId } })
      },
    },
    {
      method: 'GET',
      path: '/canvas/runs',
      query: listQuery,
      handler: async (ctx) => {
        const a = auth(ctx)
        // Read-your-writes: a run created a moment ago is listed.
        await deps.projections.waitFor(await deps.store.headPosition(), 2000)
        const { rows, total } = deps.projections.list<{ runId: string }>('canvas-runs', a.sub, ctx.query.limit ?? 50, ctx.query.offset ?? 0)
        const runs = []
        for (const r of rows) {
          const s = await canvas.get(r.runId)
          if (s !== undefined) runs.push(runView(s))
        }
        return json({ runs, total })
      },
    },
    {
      method: 'GET',
      path: '/canvas/runs/:runId',
      handler: async (ctx) => json(runView(await canvas.owned(ctx.params.runId ?? '', auth(ctx).address))),
    },
    {
      method: 'POST',
      path: '/canvas/runs/:runId/approvals/:approvalId',
      body: approvalBody,
      handler: async (ctx) => {
        const a = auth(ctx)
        const s = await canvas.approve({
          runId: ctx.params.runId ?? '',
          wallet: a.address,
          approvalId: ctx.params.approvalId ?? '',
          decision: ctx.body.decision,
          ...(ctx.body.reason === undefined ? {} : { reason: ctx.body.reason }),
        })
        const approval = s.approvals.find((x) => x.approvalId === ctx.params.approvalId)
        return json({ success: true, runId: s.runId, approvalId: ctx.params.approvalId, status: approval?.status, decision: ctx.body.decision })
      },
    },
    {
      method: 'GET',
      path: '/canvas/runs/:runId/events',
      handler: async (ctx) => {
        const a = auth(ctx)
        const runId = ctx.params.runId ?? ''
        await canvas.owned(runId, a.address)
        const q = ctx.query as Record<string, string | undefined>
        const raw = ctx.headers['last-event-id'] ?? q.after
        const after = raw !== undefined && /^\d{1,30}$/.test(raw) ? BigInt(raw) : 0n
        return sse((channel) => pumpRun(deps, channel, { runId, after }), { pingMs })
      },
    },
    {
      method: 'GET',
      path: '/canvas/runs/:runId/artifacts/:name',
      handler: async (ctx) => {
        const a = auth(ctx)
        const runId = ctx.params.runId ?? ''
        await canvas.owned(runId, a.address)
        const bytes = await deps.readArtifact(runId, ctx.params.name ?? '')
        if (bytes === undefined) throw new NotFoundError('No such artifact in this run', 'artifact_not_found')
        return {
          kind: 'stream',
          headers: { 'content-type': ctx.params.name?.endsWith('.png') === true ? 'image/png' : 'application/octet-stream', 'cache-control': 'private, no-store' },
          run: async (sink) => {
            await sink.write(bytes)
          },
        }
      },
    },
    {
      method: 'GET',
      path: '/canvas/workflows',
      handler: async (ctx) => {
        const a = auth(ctx)
        await deps.projections.waitFor(await deps.store.headPosition(), 2000)
        const { rows } = deps.projections.list<CanvasWorkflowRow>('canvas-workflows', a.sub, 500, 0)
        return json({ workflows: rows })
      },
    },
    {
      method: 'POST',
      path: '/canvas/workflows',
      body: saveBody,
      bodyLimit: 16 * 1024 * 1024,
      handler: async (ctx) => {
        const a = auth(ctx)
        const r = await saveWorkflow(deps.store, {
          wallet: a.address,
          name: ctx.body.name,
          ...(ctx.body.description === undefined ? {} : { description: ctx.body.description }),
          nodes: ctx.body.nodes,
          edges: ctx.body.edges,
          at: new Date().toISOString(),
        })
        return json({ workflowId: r.workflowId, version: r.version })
      },
    },
  ]
}

/** WebSocket topic `canvas:<runId>` (§13): the run's §9 events; only the owner may subscribe. */
export function canvasTopic(canvas: CanvasService): TopicSpec {
  const runId = (topic: string) => topic.slice('canvas:'.length)
  return {
    matches: (topic) => topic.startsWith('canvas:') && topic.length > 'canvas:'.length,
    authorize: async (topic, a) => {
      await canvas.owned(runId(topic), a.address)
    },
    streams: (topic) => [canvas.streamId(runId(topic))],
    project: (event) => projectCanvasEvent(event),
  }
}

const canvasApproveFrame = z.object({
  type: z.literal('approve'),
  runId: id,
  approvalId: z.string().min(1).max(256),
  decision: z.union([z.enum(['approve', 'reject']), z.boolean()]),
  reason: z.string().max(2000).optional(),
  requestId: z.string().max(128).optional(),
})

/**
 * The WebSocket `approve` frame (§13 `approve {sessionId|runId, approvalId, decision}`): with
 * `runId` it resolves a canvas gate (same rules as the POST: owner only, idempotent, 409 on a
 * different decision); otherwise it goes to the chat handler.
 */
export function canvasAwareApprove(canvas: CanvasService, chatApprove: WsCommandHandler | undefined): WsCommandHandler {
  return async (client, raw) => {
    if (raw.runId === undefined && chatApprove !== undefined) return chatApprove(client, raw)
    const frame = canvasApproveFrame.parse(raw)
    const decision = frame.decision === true || frame.decision === 'approve' ? 'approve' : 'reject'
    await canvas.approve({ runId: frame.runId, wallet: client.auth.address, approvalId: frame.approvalId, decision, ...(frame.reason === undefined ? {} : { reason: frame.reason }) })
    client.send({ type: 'ack', of: 'approve', runId: frame.runId, approvalId: frame.approvalId, decision, ...(frame.requestId === undefined ? {} : { requestId: frame.requestId }) })
  }
}
