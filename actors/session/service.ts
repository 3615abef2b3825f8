import { createHash, randomUUID } from 'node:crypto'
import type { AgentRegistry } from '../../agents/load-agents.js'
import { resolveModel } from '../../agents/models.js'
import { maxCost } from '../../pricing/price-turn.js'
import { DomainError, NotFoundError } from '../../shared/errors.js'
import type { EventStore, RecordedEvent, SnapshotStore } from '../../store/types.js'
import { estimatePromptTokens } from '../billing/billed-model-call.js'
import type { McpExecutor } from '../billing/tool-port.js'
import { bindEffects } from '../runtime/bind-effects.js'
import { ActorHost } from '../runtime/host.js'
import { commitTogether, type Party } from '../runtime/joint.js'
import type { EffectsOf } from '../runtime/types.js'
import { AgentTools } from './agent-tools.js'
import { ApprovalTimers } from './approval-timers.js'
import type { SessionCommand } from './commands.js'
import { CommitBus } from './commit-bus.js'
import { findRecentTurn, type SessionSnapshot } from './decide.js'
import { sessionDefinition } from './definition.js'
import { DeltaBus } from './deltas.js'
import type { ImageInput, SessionEvent } from './events.js'
import type { SessionLedger } from './ledger-port.js'
import type { ModelMessage, SessionModelCall } from './model-port.js'
import { recoverInterruptedTurns, type OpenTurn } from './recovery.js'
import { TurnEffects } from './turn-effects.js'

export interface SessionServiceParameters {
  store: EventStore
  snapshots?: SnapshotStore
  agents: AgentRegistry
  callModel: SessionModelCall
  /** Undefined when MCP_GATEWAY_URL is unset: agents then run without tools. */
  mcp?: McpExecutor
  ledger: SessionLedger
  /** The vault: the wallet's provider key, or a 400 missing_secrets / locked_secrets error. */
  getProviderKey(address: string, provider: 'anthropic'): Promise<string>
  /** Resent messages within this window attach to their turn (default 10 min). */
  dedupeWindowMs?: number
  now?: () => Date
  newId?: () => string
  onError?: (error: unknown, where: string) => void
  /**
   * HOOK (self-improvement, issue 12): text appended to the agent's system prompt for this
   * wallet (the skills of an opted-in agent); undefined adds nothing. A failure adds nothing.
   */
  systemPromptExtra?: (p: { wallet: string; agentId: string; conversation: readonly ModelMessage[] }) => Promise<string | undefined>
}

export interface StartedTurn {
  turnId: string
  attached: boolean
  /** Revision of the turn's first event, when this call started it: its stream replays from there. */
  fromRevision?: bigint
}

export interface BeginParameters {
  /** Checksummed caller. */
  wallet: string
  agentId: string
  sessionId: string
  message: string
  model?: string
  images?: ImageInput[]
  idempotencyKey?: string
}

export interface StartTurnParameters {
  sessionId: string
  /** Checksummed caller. */
  wallet: string
  text: string
  images?: ImageInput[]
  model: string
  idempotencyKey?: string
}

/**
 * The chat-session runtime: the session ActorHost with its effects bound (turn-effects.ts:
 * the model loop, MCP tool calls, settlement; approval-timers.ts), the operations routes
 * need (create, list, begin a turn, approve), and start-up recovery (recovery.ts).
 *
 * Billing rule: the route reserves the first call's maxCost before the turn starts (402
 * before any stream). Each later model call reserves the exact cost so far + its own
 * maxCost under a new id, then releases the previous hold. The finished turn settles once
 * on the last reservation by the BYOK formula. A failed or interrupted turn settles what
 * its completed model calls and tool calls cost (their usage is recorded) and charges
 * nothing for the call in flight; with nothing completed the hold is released.
 */
export class SessionService {
  readonly host: ActorHost<typeof sessionDefinition.machine, SessionCommand, SessionEvent>
  readonly deltas = new DeltaBus()
  readonly #committed = new CommitBus()
  readonly #p: SessionServiceParameters
  readonly #now: () => Date
  readonly #newId: () => string
  readonly #window: number
  readonly #onError: (error: unknown, where: string) => void
  readonly #agentTools: AgentTools
  readonly #turns: TurnEffects
  readonly #approvals: ApprovalTimers

  constructor(p: SessionServiceParameters) {
    this.#p = p
    this.#now = p.now ?? (() => new Date())
    this.#newId = p.newId ?? randomUUID
    this.#window = p.dedupeWindowMs ?? 10 * 60_000
    this.#onError = (error, where) => p.onError?.(error, where)
    this.#agentTools = new AgentTools(p.agents, p.mcp, this.#onError)
    this.#approvals = new ApprovalTimers(this.#now, this.#onError)
    this.#turns = new TurnEffects({
      store: p.store,
      session: {
        read: async (sessionId) => (await this.host.read(sessionId)).snapshot,
        send: (sessionId, command) => this.#send(sessionId, command),
        party: (sessionId) => this.#party(sessionId),
        publish: (sessionId, committed) => this.#publish(sessionId, committed),
      },
      agentTools: this.#agentTools,
      callModel: p.callModel,
      ledger: p.ledger,
      getProviderKey: p.getProviderKey,
      deltas: this.deltas,
      systemPromptExtra: p.systemPromptExtra,
      onError: this.#onError,
    })
    const effects: EffectsOf<typeof sessionDefinition.machine, SessionCommand> = {
      callModel: (params, ctx) => this.#turns.callModel(params, ctx),
      executeTool: (params, ctx) => this.#turns.executeTool(params, ctx),
      requestApproval: (params, ctx) => this.#approvals.request(params, ctx),
      settleTurn: (params, ctx) => this.#turns.settleTurn(params, ctx),
    }
    this.host = new ActorHost({
      definition: sessionDefinition,
      store: p.store,
      ...(p.snapshots === undefined ? {} : { snapshots: p.snapshots }),
      now: this.#now,
      newId: this.#newId,
      effects: bindEffects(effects, (ctx) => ({
        ...ctx,
        // What an effect commits reaches this process's listeners at once.
        send: async (command, metadata) => {
          const r = (await ctx.send(command, metadata)) as { events: readonly RecordedEvent[] }
          this.#publish(ctx.actorId, r)
          return r
        },
      }), this.#onError),
      onEffectError: (e) => this.#onError(e, 'effect'),
    })
  }

  streamId(sessionId: string): string {
    return this.host.streamId(sessionId)
  }

  /** Events this process committed to a session, delivered at once (actors/session/commit-bus.ts). */
  onCommitted(sessionId: string, listener: (e: RecordedEvent) => void): () => void {
    return this.#committed.on(sessionId, listener)
  }

  #publish(sessionId: string, result: { events: readonly RecordedEvent[] } | undefined): void {
    this.#committed.publish(sessionId, result?.events)
  }

  async #send(sessionId: string, command: SessionCommand): Promise<Awaited<ReturnType<typeof this.host.send>>> {
    const r = await this.host.send(sessionId, command)
    this.#publish(sessionId, r)
    return r
  }

  /** The session's state; `undefined` when it does not exist (or was deleted). */
  async get(sessionId: string): Promise<SessionSnapshot | undefined> {
    const { snapshot } = await this.host.read(sessionId)
    return snapshot.value === 'new' || snapshot.value === 'deleted' ? undefined : snapshot
  }

  /** The session when it exists and belongs to `wallet` (case-insensitive); else 404. */
  async owned(sessionId: string, wallet: string, agentId?: string): Promise<SessionSnapshot> {
    return ownedOr404(await this.get(sessionId), wallet, agentId)
  }

  /** Creates a session (an id may be given: §11.4 re-creates an unknown cached id for its owner). */
  async create(p: { sessionId?: string; agentId: string; wallet: string; model: string; executionEngine?: string }): Promise<SessionSnapshot> {
    const sessionId = p.sessionId ?? this.#newId()
    const cmd: SessionCommand = { type: 'CreateSession', sessionId, agentId: p.agentId, wallet: p.wallet, model: p.model, ...(p.executionEngine === undefined ? {} : { executionEngine: p.executionEngine }) }
    const r = await this.host.send(sessionId, cmd)
    if (r.snapshot.context.wallet?.toLowerCase() !== p.wallet.toLowerCase()) throw new NotFoundError('No such session', 'session_not_found')
    if (r.events.length > 0) await this.#p.store.append(indexStream(p.wallet), [{ type: 'SessionIndexed', data: { sessionId, agentId: p.agentId, at: this.#now().toISOString() } }], { expectedRevision: 'any' })
    return r.snapshot
  }

  /** The wallet's sessions for an agent, newest first. */
  async list(wallet: string, agentId: string): Promise<{ id: string; snapshot: SessionSnapshot }[]> {
    const index = await this.#p.store.readStream(indexStream(wallet))
    const ids = [...new Set(index.filter((e) => (e.data as { agentId: string }).agentId === agentId).map((e) => (e.data as { sessionId: string }).sessionId))]
    const out: { id: string; snapshot: SessionSnapshot }[] = []
    for (const id of ids.reverse()) {
      const s = await this.get(id)
      if (s !== undefined) out.push({ id, snapshot: s })
    }
    return out
  }

  async delete(sessionId: string): Promise<void> {
    await this.host.send(sessionId, { type: 'DeleteSession' })
  }

  /**
   * Everything a chat does before its stream starts: the session (re-created for its
   * owner when a cached id is unknown, §11.4), the model, the provider key (400
   * missing/locked_secrets before anything is reserved), and the turn with its first
   * reservation (402), or the running/recent turn a resend attaches to.
   */
  async begin(p: BeginParameters): Promise<{ sessionId: string } & StartedTurn> {
    const agent = this.#agentTools.agent(p.agentId)
    const sid = p.sessionId
    // One look at the session for the whole chat, handed on, not read again. The joint
    // commit's expected revision re-checks it: a state another process moved on is decided again.
    let raw = (await this.host.peek(sid)).snapshot
    if (raw.value === 'new') {
      if (!/^[A-Za-z0-9_-]{8,128}$/.test(sid)) throw new NotFoundError('No such session', 'session_not_found')
      raw = await this.create({ sessionId: sid, agentId: agent.id, wallet: p.wallet, model: p.model ?? 'haiku' })
    }
    const session = ownedOr404(raw.value === 'deleted' ? undefined : raw, p.wallet, agent.id)
    const model = resolveModel(p.model ?? session.context.model ?? undefined, agent)
    await this.#p.getProviderKey(p.wallet, 'anthropic')
    const started = await this.#startTurn(session, {
      sessionId: sid,
      wallet: p.wallet,
      text: p.message,
      model,
      ...(p.images === undefined ? {} : { images: p.images }),
      ...(p.idempotencyKey === undefined ? {} : { idempotencyKey: p.idempotencyKey }),
    })
    return { sessionId: sid, ...started }
  }

  /**
   * Starts a turn, or attaches a resent message to its turn. Reserves the first model
   * call's maxCost first, so a wallet without balance or budget gets a 402 before any stream.
   */
  async startTurn(p: StartTurnParameters): Promise<StartedTurn> {
    return this.#startTurn(await this.owned(p.sessionId, p.wallet), p)
  }

  /** startTurn on the session's state as the caller just read it (joint commit's expected revision guards it). */
  async #startTurn(state: SessionSnapshot, p: StartTurnParameters): Promise<StartedTurn> {
    const key = p.idempotencyKey !== undefined && p.idempotencyKey.length > 0 ? `k:${p.idempotencyKey}` : `m:${createHash('sha256').update(p.text).update('\0').update(p.model).digest('base64url')}`
    const recent = findRecentTurn(state, key, this.#now(), this.#window)
    if (recent !== undefined) return { turnId: recent, attached: true }
    if (state.value === 'running') {
      throw new DomainError('turn_in_progress', 'A reply to another message is still being written in this session; wait for it to finish')
    }
    const agent = this.#agentTools.agent(state.context.agentId!)
    const tools = await this.#agentTools.tools(agent)
    const amount = maxCost({
      model: p.model,
      promptTokens: estimatePromptTokens([agent.systemPrompt, state.context.conversation, p.text, p.images ?? [], tools]),
      maxTokens: agent.maxTokens,
      byok: true,
      maxToolCalls: 0,
    })
    const turnId = this.#newId()
    const reservationId = `${turnId}:1`
    const start: SessionCommand = {
      type: 'StartTurn',
      turnId,
      text: p.text,
      ...(p.images === undefined ? {} : { images: p.images }),
      idempotencyKey: key,
      model: p.model,
      reservationId,
      reserved: amount,
      dedupeWindowMs: this.#window,
    }
    const reservation = { wallet: p.wallet, agentId: agent.id, reservationId, amount, purpose: `chat turn ${turnId}` }
    const joint = this.#p.ledger.together
    if (joint !== undefined) {
      // One commit: the wallet decides the hold from its own state (402 refuses both), the
      // session records the message and the turn; the reservation part goes first (KurrentDB order).
      const wallet = joint.party(p.wallet)
      const session = this.#party(p.sessionId)
      const { result, committed } = await commitTogether(this.#p.store, [wallet, session], (j) => {
        const t = j.decide(session, start)
        // Raced with the same message: attach to the turn that won, reserve nothing.
        if (t.events.length === 0) return findRecentTurn(t.snapshot, key, this.#now(), this.#window) ?? turnId
        joint.reserve(j, wallet, reservation)
        return undefined
      })
      this.#publish(p.sessionId, committed[1])
      if (result !== undefined) return { turnId: result, attached: true }
      const first = committed[1]?.events[0]
      return { turnId, attached: false, ...(first === undefined ? {} : { fromRevision: first.revision }) }
    }
    await this.#p.ledger.reserve(reservation)
    try {
      const r = await this.#send(p.sessionId, start)
      if (r.events.length === 0) {
        // Raced with the same message: attach to the turn that won.
        await this.#p.ledger.release({ wallet: p.wallet, reservationId, reason: 'duplicate message' })
        return { turnId: findRecentTurn(r.snapshot, key, this.#now(), this.#window) ?? turnId, attached: true }
      }
      return { turnId, attached: false, fromRevision: r.events[0]!.revision }
    } catch (error) {
      await this.#p.ledger.release({ wallet: p.wallet, reservationId, reason: 'turn refused' }).catch(() => undefined)
      throw error
    }
  }

  #party(sessionId: string): Party<typeof sessionDefinition.machine, SessionCommand> {
    return { host: this.host as unknown as Party<typeof sessionDefinition.machine, SessionCommand>['host'], actorId: sessionId }
  }

  /** Resolves a pending approval of this session (authorised by the unguessable id alone, §6). */
  async approve(sessionId: string, approvalId: string, approved: boolean): Promise<void> {
    if ((await this.get(sessionId)) === undefined) throw new NotFoundError('No pending approval with that id in this session', 'approval_not_found')
    this.#approvals.cancel(approvalId)
    await this.#send(sessionId, { type: 'ResolveApproval', approvalId, approved, reason: 'user' })
  }

  /**
   * Start-up recovery (recovery.ts): every turn left running by a stopped process is marked
   * interrupted; its completed calls are settled, the call in flight is not charged (rule above).
   */
  recoverInterrupted(open?: Iterable<OpenTurn>): Promise<number> {
    return recoverInterruptedTurns({
      store: this.#p.store,
      open,
      endTurn: (sessionId, turnId) => this.#turns.endTurn(sessionId, turnId, 'interrupted', 'turn_interrupted', 'The gateway restarted while this reply was being written; send the message again'),
      onError: this.#onError,
    })
  }

  /** Stops approval timers (shutdown). */
  close(): void {
    this.#approvals.close()
  }
}

/** Per-wallet index of sessions (lower-case address), for GET /agents/:id/sessions. */
export function indexStream(wallet: string): string {
  return `sessionindex-${wallet.toLowerCase()}`
}

/** `session` when it exists and belongs to `wallet` (and `agentId`, when given); else 404. */
function ownedOr404(session: SessionSnapshot | undefined, wallet: string, agentId?: string): SessionSnapshot {
  if (session === undefined || session.context.wallet?.toLowerCase() !== wallet.toLowerCase() || (agentId !== undefined && session.context.agentId !== agentId)) {
    throw new NotFoundError('No such session', 'session_not_found')
  }
  return session
}
