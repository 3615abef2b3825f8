import { z } from 'zod'
import type { AgentRegistry } from '../../agents/load-agents.js'
import { resolveModel } from '../../agents/models.js'
import type { SessionSnapshot } from '../../actors/session/decide.js'
import type { SessionService } from '../../actors/session/service.js'
import { parseEventId, projectSessionEvent, SessionWireMerger, type WireEvent } from '../session-wire.js'
import { NotFoundError, ValidationError } from '../../shared/errors.js'
import type { EventStore, RecordedEvent } from '../../store/types.js'
import { json, type AuthContext, type Route } from '../route.js'
import { coalescingWake, sse, type SseChannel } from '../sse.js'
import { replayThenLive, type TopicSpec } from '../topics.js'

export interface SessionRoutesDeps {
  sessions: SessionService
  agents: AgentRegistry
  store: EventStore
  /** The process's live feed (transport/live.ts LiveFeed). */
  live: { onStream(streamId: string, listener: (e: RecordedEvent) => void): () => void }
  /** The vault, checked before any reservation so a missing key is a 400 before the stream. */
  getProviderKey(address: string, provider: 'anthropic'): Promise<string>
  /** SSE ping interval (default 15 s). */
  pingMs?: number
}

const ENGINES = ['claude', 'openclaude', 'codex', 'opencode', 'hermes', 'gemini', 'openrouter-agent', 'kimi-code', 'rickydata-code'] as const

const createBody = z.object({ model: z.string().min(1).max(200).optional(), executionEngine: z.enum(ENGINES).optional() }).passthrough()
const chatBody = z.object({
  message: z.string().min(1, 'message must be a non-empty string').max(200_000),
  model: z.string().min(1).max(200).optional(),
  images: z
    .array(z.object({ data: z.string().min(1).max(8_000_000), mediaType: z.enum(['image/jpeg', 'image/png', 'image/webp']) }))
    .max(10)
    .optional(),
})
const approveBody = z.object({ approvalId: z.string().min(8).max(200), approved: z.boolean(), txHash: z.string().optional() })

function auth(ctx: { auth: AuthContext | undefined }): AuthContext {
  if (ctx.auth === undefined) throw new ValidationError('Sign in first')
  return ctx.auth
}

function agentOr404(agents: AgentRegistry, id: string | undefined) {
  const agent = agents.get(id ?? '')
  if (agent === undefined) throw new NotFoundError(`No agent "${(id ?? '').slice(0, 64)}"`, 'agent_not_found')
  return agent
}

/** §5 session entry. */
function summary(id: string, s: SessionSnapshot) {
  const c = s.context
  const last = c.messages.at(-1)
  return {
    id,
    agentId: c.agentId,
    model: c.model,
    createdAt: c.createdAt,
    ...(c.lastActiveAt === null ? {} : { lastActiveAt: c.lastActiveAt }),
    ...(c.lastMessageAt === null ? {} : { lastMessageAt: c.lastMessageAt }),
    messageCount: c.messages.length,
    ...(last === undefined ? {} : { preview: last.content.slice(0, 120) }),
    persisted: true,
  }
}

/**
 * Streams a session's wire events: replay from the store, then live events and text
 * deltas, merged in order (transport/session-wire.ts). With `turnId`, only that turn, ending
 * after its done/error; otherwise everything until the client leaves.
 */
export async function pumpSession(
  deps: Pick<SessionRoutesDeps, 'sessions' | 'store' | 'live'>,
  channel: SseChannel,
  opts: { sessionId: string; turnId?: string; after?: { position: bigint; chars: number }; fromRevision?: bigint },
): Promise<void> {
  const queue: { event: WireEvent; id: string }[] = []
  const { wait, notify, notifyNow } = coalescingWake()
  const merger = new SessionWireMerger(
    (event, id) => {
      queue.push({ event, id })
      // The turn's last event goes out at once (the merger marks itself ended right after this call).
      if (event.type === 'done' || event.type === 'error') queueMicrotask(notifyNow)
      else notify()
    },
    {
      ...(opts.turnId === undefined ? {} : { turnId: opts.turnId }),
      ...(opts.after === undefined ? {} : { after: opts.after }),
      ...(opts.fromRevision === undefined ? {} : { fromRevision: opts.fromRevision }),
    },
  )
  const streamId = deps.sessions.streamId(opts.sessionId)
  const offDeltas = deps.sessions.deltas.on(opts.sessionId, (d) => merger.delta(d))
  const onAbort = (): void => notify()
  channel.signal.addEventListener('abort', onAbort, { once: true })
  let stopStored: (() => void) | undefined
  try {
    // The merger takes each revision once, whichever source (live feed, local commits, replay) brings it first.
    stopStored = await replayThenLive({
      listen: (onEvent) => {
        const offLive = deps.live.onStream(streamId, onEvent)
        const offLocal = deps.sessions.onCommitted(opts.sessionId, onEvent)
        return () => {
          offLive()
          offLocal()
        }
      },
      // From the turn's first event when known: a turn's cost must not grow with the session's history.
      replay: () => deps.store.readStream(streamId, opts.fromRevision === undefined ? {} : { fromRevision: opts.fromRevision }),
      deliver: (e) => merger.stored(e),
    })
    // Events committed between our read and the live feed's delivery arrive through it.
    for (;;) {
      if (channel.aborted) return
      // After `done`/`error`: `[DONE]` ends the React client's loop (chat() skips it), then we close.
      if (merger.ended) return await channel.sendAll(queue.splice(0), { done: true })
      if (queue.length > 0) await channel.sendAll(queue.splice(0))
      else await wait()
    }
  } finally {
    stopStored?.()
    offDeltas()
    channel.signal.removeEventListener('abort', onAbort)
  }
}

export interface BeginChatParameters {
  auth: AuthContext
  agentId: string
  sessionId: string
  message: string
  model?: string
  images?: { data: string; mediaType: 'image/jpeg' | 'image/png' | 'image/webp' }[]
  /** Idempotency-Key header, or the WebSocket frame's requestId. */
  idempotencyKey?: string
}

/**
 * Everything a chat does before its stream starts (shared by POST …/chat and the
 * WebSocket `chat` frame): the session service's `begin` (actors/session/service.ts).
 */
export async function beginChat(
  deps: Pick<SessionRoutesDeps, 'sessions'>,
  p: BeginChatParameters,
): Promise<{ sessionId: string; turnId: string; fromRevision?: bigint }> {
  const { auth: a, ...rest } = p
  return deps.sessions.begin({ ...rest, wallet: a.address })
}

/** §5 sessions and §6 chat routes (SSE), approvals, and the resumable events stream. */
export function sessionRoutes(deps: SessionRoutesDeps): Route[] {
  const { sessions, agents } = deps
  const pingMs = deps.pingMs ?? 15_000
  return [
    {
      method: 'POST',
      path: '/agents/:id/sessions',
      body: createBody,
      handler: async (ctx) => {
        const a = auth(ctx)
        const agent = agentOr404(agents, ctx.params.id)
        const model = ctx.body.model ?? 'haiku'
        resolveModel(model, agent) // refuse unpriced models now, not at the first message
        const s = await sessions.create({ agentId: agent.id, wallet: a.address, model, ...(ctx.body.executionEngine === undefined ? {} : { executionEngine: ctx.body.executionEngine }) })
        const c = s.context
        return json({ id: c.sessionId, agentId: c.agentId, model: c.model, createdAt: c.createdAt, ...(c.executionEngine === null ? {} : { executionEngine: c.executionEngine }) }, 201)
      },
    },
    {
      method: 'GET',
      path: '/agents/:id/sessions',
      handler: async (ctx) => {
        const a = auth(ctx)
        const agent = agentOr404(agents, ctx.params.id)
        const list = await sessions.list(a.address, agent.id)
        return json({ sessions: list.map(({ id, snapshot }) => summary(id, snapshot)) })
      },
    },
    {
      method: 'GET',
      path: '/agents/:id/sessions/:sid',
      handler: async (ctx) => {
        const a = auth(ctx)
        const s = await sessions.owned(ctx.params.sid ?? '', a.address, ctx.params.id)
        const c = s.context
        return json({
          id: c.sessionId,
          agentId: c.agentId,
          model: c.model,
          ...(c.executionEngine === null ? {} : { executionEngine: c.executionEngine }),
          messages: c.messages.map((m) => ({ role: m.role, content: m.content, timestamp: m.timestamp })),
          createdAt: c.createdAt,
          ...(c.lastActiveAt === null ? {} : { lastActiveAt: c.lastActiveAt }),
          status: s.value === 'running' ? 'running' : 'idle',
        })
      },
    },
    {
      method: 'DELETE',
      path: '/agents/:id/sessions/:sid',
      handler: async (ctx) => {
        const a = auth(ctx)
        await sessions.owned(ctx.params.sid ?? '', a.address, ctx.params.id)
        await sessions.delete(ctx.params.sid ?? '')
        return json({ success: true, deleted: true })
      },
    },
    {
      method: 'POST',
      path: '/agents/:id/sessions/:sid/chat',
      body: chatBody,
      // Up to 10 images in base64 ride in the body.
      bodyLimit: 16 * 1024 * 1024,
      handler: async (ctx) => {
        const a = auth(ctx)
        const idem = ctx.headers['idempotency-key']
        const { sessionId: sid, turnId, fromRevision } = await beginChat(deps, {
          auth: a,
          agentId: ctx.params.id ?? '',
          sessionId: ctx.params.sid ?? '',
          message: ctx.body.message,
          ...(ctx.body.model === undefined ? {} : { model: ctx.body.model }),
          ...(ctx.body.images === undefined || ctx.body.images.length === 0 ? {} : { images: ctx.body.images }),
          ...(idem === undefined ? {} : { idempotencyKey: idem }),
        })
        return sse((channel) => pumpSession(deps, channel, { sessionId: sid, turnId, ...(fromRevision === undefined ? {} : { fromRevision }) }), {
          pingMs,
          headers: { 'x-turn-id': turnId },
        })
      },
    },
    {
      method: 'POST',
      path: '/agents/:id/sessions/:sid/approve',
      // §6 hook bug: the React client never sends a token; the unguessable approvalId authorises.
      auth: 'none',
      body: approveBody,
      handler: async (ctx) => {
        await sessions.approve(ctx.params.sid ?? '', ctx.body.approvalId, ctx.body.approved)
        return json({ success: true, approvalId: ctx.body.approvalId, approved: ctx.body.approved })
      },
    },
    {
      method: 'GET',
      path: '/agents/:id/sessions/:sid/events',
      handler: async (ctx) => {
        const a = auth(ctx)
        const sid = ctx.params.sid ?? ''
        await sessions.owned(sid, a.address, ctx.params.id)
        const q = ctx.query as Record<string, string | undefined>
        const after = parseEventId(ctx.headers['last-event-id'] ?? q.after)
        return sse((channel) => pumpSession(deps, channel, { sessionId: sid, ...(after === undefined ? {} : { after }) }), { pingMs })
      },
    },
  ]
}

/**
 * WebSocket topic `session:<id>` (API §13): the session's stored events as wire events
 * (text per model response; live deltas are SSE-only). Only the owner may subscribe.
 */
export function sessionTopic(sessions: SessionService): TopicSpec {
  const id = (topic: string) => topic.slice('session:'.length)
  return {
    matches: (topic) => topic.startsWith('session:') && topic.length > 'session:'.length,
    authorize: async (topic, a) => {
      await sessions.owned(id(topic), a.address)
    },
    streams: (topic) => [sessions.streamId(id(topic))],
    project: (event) => projectSessionEvent(event),
  }
}
