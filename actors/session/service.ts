import { createHash, randomUUID } from 'node:crypto'
import type { AgentRegistry } from '../../agents/load-agents.js'
import { resolveModel } from '../../agents/models.js'
import { toolAllowed, type AgentDefinition } from '../../agents/schema.js'
import type { ModelMessage, ModelTool, SessionModelCall } from './model-port.js'
import type { McpExecutor } from '../billing/tool-port.js'
import { maxCost } from '../../pricing/price-turn.js'
import { estimatePromptTokens, spendBreakdown, turnCost } from '../billing/billed-model-call.js'
import { DomainError, GatewayError, NotFoundError } from '../../shared/errors.js'
import type { EventStore, RecordedEvent, SnapshotStore } from '../../store/types.js'
import { ActorHost } from '../runtime/host.js'
import { commitTogether, type Party } from '../runtime/joint.js'
import type { EffectCall, EffectContext } from '../runtime/types.js'
import type { SessionCommand } from './commands.js'
import { findRecentTurn, type SessionSnapshot } from './decide.js'
import { sessionDefinition } from './definition.js'
import { CommitBus } from './commit-bus.js'
import { DeltaBus } from './deltas.js'
import type { ImageInput, SessionEvent, TurnCost } from './events.js'
import type { SessionLedger, Settled } from './ledger-port.js'
import type { TurnState } from './machine.js'

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

type SessionEffectContext = EffectContext<SessionCommand, SessionSnapshot>

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
 * The chat-session runtime: the session ActorHost with its effects bound (the model loop,
 * MCP tool calls, approval timers, settlement), plus the operations routes need.
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
  readonly #timers = new Map<string, NodeJS.Timeout>()

  constructor(p: SessionServiceParameters) {
    this.#p = p
    this.#now = p.now ?? (() => new Date())
    this.#newId = p.newId ?? randomUUID
    this.#window = p.dedupeWindowMs ?? 10 * 60_000
    // The machine's action params are its effect's parameters (machine.ts names both).
    const bind =
      <Params>(fn: (params: Params, ctx: SessionEffectContext) => Promise<void>, where: string) =>
      (action: EffectCall, ctx: SessionEffectContext) => {
        const publishing: SessionEffectContext = {
          ...ctx,
          send: async (command, metadata) => {
            const r = (await ctx.send(command, metadata)) as { events: readonly RecordedEvent[] }
            this.#publish(ctx.actorId, r)
            return r
          },
        }
        return fn.call(this, action.params as Params, publishing).catch((e: unknown) => this.#p.onError?.(e, where))
      }
    this.host = new ActorHost({
      definition: sessionDefinition,
      store: p.store,
      ...(p.snapshots === undefined ? {} : { snapshots: p.snapshots }),
      now: this.#now,
      newId: this.#newId,
      effects: {
        callModel: bind(this.#callModel, 'callModel'),
        executeTool: bind(this.#executeTool, 'executeTool'),
        requestApproval: bind(this.#requestApproval, 'requestApproval'),
        settleTurn: bind(this.#settleTurn, 'settleTurn'),
      },
      onEffectError: (e) => this.#p.onError?.(e, 'effect'),
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
    const agent = this.#p.agents.get(p.agentId)
    if (agent === undefined) throw new NotFoundError(`No agent "${p.agentId.slice(0, 64)}"`, 'agent_not_found')
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
    const agent = this.#agent(state.context.agentId!)
    const tools = await this.#tools(agent)
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
    clearTimeout(this.#timers.get(approvalId))
    this.#timers.delete(approvalId)
    await this.#send(sessionId, { type: 'ResolveApproval', approvalId, approved, reason: 'user' })
  }

  /**
   * Start-up recovery: every turn left running by a stopped process is marked interrupted;
   * its completed calls are settled, the call in flight is not charged (rule above).
   * `open` lists the candidates (the open-turns projection: what is open, not what was ever
   * written); each is checked against the session's own state. Without it (tools, tests)
   * the store is scanned.
   */
  async recoverInterrupted(open?: Iterable<{ sessionId: string; turnId: string }>): Promise<number> {
    const running = new Map<string, string>()
    if (open !== undefined) for (const t of open) running.set(t.sessionId, t.turnId)
    else await this.#scanForRunningTurns(running)
    let interrupted = 0
    for (const [sessionId, turnId] of running) {
      const ended = await this.#endTurn(sessionId, turnId, 'interrupted', 'turn_interrupted', 'The gateway restarted while this reply was being written; send the message again').catch((e: unknown) => {
        this.#p.onError?.(e, 'recoverInterrupted')
        return false
      })
      if (ended) interrupted++
    }
    return interrupted
  }

  async #scanForRunningTurns(running: Map<string, string>): Promise<void> {
    let from: bigint | undefined
    for (;;) {
      const batch = await this.#p.store.readAll(from === undefined ? { maxCount: 1000 } : { fromPosition: from, maxCount: 1000 })
      if (batch.length === 0) break
      for (const e of batch) {
        from = e.position
        if (!e.streamId.startsWith('session-')) continue
        const id = e.streamId.slice('session-'.length)
        if (e.type === 'UserMessageReceived') running.set(id, (e.data as { turnId: string }).turnId)
        else if (e.type === 'TurnCompleted' || e.type === 'TurnFailed' || e.type === 'TurnInterrupted' || e.type === 'SessionDeleted') running.delete(id)
      }
      if (batch.length < 1000) break
    }
  }

  /** Stops approval timers (shutdown). */
  close(): void {
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
  }

  #agent(agentId: string): AgentDefinition {
    const agent = this.#p.agents.get(agentId)
    if (agent === undefined) throw new NotFoundError(`No agent "${agentId}"`, 'agent_not_found')
    return agent
  }

  async #tools(agent: AgentDefinition): Promise<ModelTool[]> {
    if (this.#p.mcp === undefined || agent.allowedTools.length === 0) return []
    try {
      const all = await this.#p.mcp.listTools()
      return all
        .filter((t) => toolAllowed(agent, t.name))
        .map((t) => ({ name: t.name, ...(t.description === undefined ? {} : { description: t.description }), input_schema: t.inputSchema }))
    } catch (error) {
      // The conversation goes on without tools rather than failing the turn.
      this.#p.onError?.(error, 'listTools')
      return []
    }
  }

  /** The running turn `turnId`, from the snapshot an effect was handed, else the actor's current state. */
  async #turn(sessionId: string, turnId: string, committed?: SessionSnapshot): Promise<{ state: SessionSnapshot; turn: TurnState } | undefined> {
    const snapshot = committed ?? (await this.host.read(sessionId)).snapshot
    const turn = snapshot.context.turn
    if (snapshot.value !== 'running' || turn === null || turn.turnId !== turnId) return undefined
    return { state: snapshot, turn }
  }

  async #callModel(params: { turnId: string; call: number }, ctx: SessionEffectContext): Promise<void> {
    const sessionId = ctx.actorId
    const found = await this.#turn(sessionId, params.turnId, ctx.snapshot)
    if (found === undefined) return
    const { state } = found
    let { turn } = found
    const wallet = state.context.wallet!
    try {
      const agent = this.#agent(state.context.agentId!)
      const tools = await this.#tools(agent)
      if (params.call > 1) {
        // Cumulative hold: what the turn has cost so far + this call's maximum.
        const sofar = turnCost(turn.model, turn.usage, turn.toolCalls, 0n, 0n).platformCost
        const amount =
          sofar +
          maxCost({ model: turn.model, promptTokens: estimatePromptTokens([agent.systemPrompt, state.context.conversation, tools]), maxTokens: agent.maxTokens, byok: true, maxToolCalls: 0 })
        const reservationId = `${turn.turnId}:${params.call}`
        await this.#p.ledger.reserve({ wallet, agentId: agent.id, reservationId, amount, purpose: `chat turn ${turn.turnId} call ${params.call}` })
        const r = await ctx.send({ type: 'RecordModelCallReserved', turnId: turn.turnId, call: params.call, reservationId, reserved: amount, releasedReservationId: turn.reservationId })
        await this.#p.ledger.release({ wallet, reservationId: turn.reservationId, reason: 'superseded by the next model call' })
        const next = (r as { snapshot: SessionSnapshot }).snapshot.context.turn
        if (next === null || next.turnId !== turn.turnId) return
        turn = next
      }
      const apiKey = await this.#p.getProviderKey(wallet, 'anthropic')
      // HOOK (self-improvement, issue 12): the wallet's skills for an opted-in agent.
      const extra = await this.#p.systemPromptExtra?.({ wallet, agentId: agent.id, conversation: state.context.conversation }).catch((e: unknown) => (this.#p.onError?.(e, 'systemPromptExtra'), undefined))
      let offset = 0
      const result = await this.#p.callModel({
        apiKey,
        model: turn.model,
        system: extra === undefined ? agent.systemPrompt : `${agent.systemPrompt}\n\n${extra}`,
        messages: state.context.conversation,
        tools,
        maxTokens: agent.maxTokens,
        onText: (text) => {
          this.deltas.publish({ sessionId, turnId: turn.turnId, afterPosition: ctx.event.position, offset, text })
          offset += text.length
        },
      })
      const response: SessionCommand = {
        type: 'RecordModelResponse',
        turnId: turn.turnId,
        call: params.call,
        afterPosition: ctx.event.position,
        model: result.model,
        content: result.content,
        stopReason: result.stopReason,
        usage: result.usage,
        maxToolIterations: agent.maxToolIterations,
        toolsNeedingApproval: agent.toolsNeedingApproval,
        approvalTimeoutMs: agent.approvalTimeoutMs,
      }
      const joint = this.#p.ledger.together
      if (joint === undefined) {
        await ctx.send(response)
        return
      }
      // One commit after the call: the response, and when it is the last one the
      // settlement (decided by the wallet) and the turn's completion.
      const walletParty = joint.party(wallet)
      const session = this.#party(sessionId)
      let settleError: unknown
      const { committed } = await commitTogether(
        this.#p.store,
        [walletParty, session],
        (j) => {
          settleError = undefined
          const t = j.decide(session, response)
          const responded = t.events[0]
          if (responded === undefined || !(responded.data as { final: boolean }).final) return
          const done = t.snapshot.context.turn
          if (done === null) return
          const cost = turnCost(done.model, done.usage, done.toolCalls, done.toolCosts, 0n)
          let settled: Settled = { charged: 0n, balanceRemaining: null }
          try {
            settled = joint.settle(j, walletParty, {
              wallet,
              reservationId: done.reservationId,
              amount: cost.platformCost,
              breakdown: spendBreakdown(cost, { sessionId, turnId: done.turnId }),
            })
          } catch (error) {
            // The reply was delivered; a lost hold (expired) is the operator's loss, not the user's error.
            settleError = error
          }
          j.decide(session, { type: 'CompleteTurn', turnId: done.turnId, cost: { ...cost, charged: settled.charged }, balanceRemaining: settled.balanceRemaining })
        },
        { metadata: causedBy(ctx.event) },
      )
      if (settleError !== undefined) this.#p.onError?.(settleError, 'settleTurn')
      this.#publish(sessionId, committed[1])
    } catch (error) {
      const e = error instanceof GatewayError ? error : new GatewayError('model_call_failed', 'The model call failed', { cause: error })
      await this.#endTurn(sessionId, turn.turnId, 'failed', e.code, e.shortMessage)
    }
  }

  async #executeTool(params: { turnId: string; toolUseId: string; name: string; args: unknown }, ctx: SessionEffectContext): Promise<void> {
    const found = await this.#turn(ctx.actorId, params.turnId, ctx.snapshot)
    if (found === undefined) return
    const { state } = found
    const agent = this.#agent(state.context.agentId!)
    const record = (isError: boolean, result: string, executed: boolean, paid?: { amount: bigint; reservationId: string; txHash?: string }) =>
      ctx.send({ type: 'RecordToolResult', turnId: params.turnId, toolUseId: params.toolUseId, isError, result, executed, ...(paid === undefined ? {} : { paid }) })
    if (!toolAllowed(agent, params.name)) return void (await record(true, `Tool ${params.name} is not allowed for this agent.`, false))
    if (this.#p.mcp === undefined) return void (await record(true, 'No MCP gateway is configured on this server.', false))
    const args = typeof params.args === 'object' && params.args !== null ? (params.args as Record<string, unknown>) : {}
    try {
      const r = await this.#p.mcp.callTool({
        claims: { wallet: state.context.wallet!, agent: agent.id, session: ctx.actorId, tools: agent.allowedTools },
        name: params.name,
        args,
      })
      const text = r.text.length > 100_000 ? `${r.text.slice(0, 100_000)}…[truncated]` : r.text
      await record(r.isError, text, true, r.paid === undefined ? undefined : { amount: r.paid.amount, reservationId: r.paid.reservationId, ...(r.paid.txHash === undefined ? {} : { txHash: r.paid.txHash }) })
    } catch (error) {
      const msg = error instanceof GatewayError ? error.shortMessage : 'The tool call failed'
      await record(true, msg, false)
    }
  }

  async #requestApproval(params: { turnId: string; approvalId: string; expiresAt: string }, ctx: SessionEffectContext): Promise<void> {
    const wait = Math.max(0, Date.parse(params.expiresAt) - this.#now().getTime())
    const timer = setTimeout(() => {
      this.#timers.delete(params.approvalId)
      ctx.send({ type: 'ResolveApproval', approvalId: params.approvalId, approved: false, reason: 'timeout' }).catch((e: unknown) => this.#p.onError?.(e, 'approvalTimeout'))
    }, wait)
    timer.unref()
    this.#timers.set(params.approvalId, timer)
  }

  async #settleTurn(params: { turnId: string }, ctx: SessionEffectContext): Promise<void> {
    // Joined to the response's commit (the turn already completed there), this finds nothing to do.
    const found = await this.#turn(ctx.actorId, params.turnId, ctx.snapshot)
    if (found === undefined) return
    const { state, turn } = found
    const wallet = state.context.wallet!
    const cost = turnCost(turn.model, turn.usage, turn.toolCalls, turn.toolCosts, 0n)
    let settled: { charged: bigint; balanceRemaining: bigint | null } = { charged: 0n, balanceRemaining: null }
    try {
      settled = await this.#p.ledger.settle({ wallet, reservationId: turn.reservationId, amount: cost.platformCost, breakdown: spendBreakdown(cost, { sessionId: ctx.actorId, turnId: turn.turnId }) })
    } catch (error) {
      // The reply was delivered; a lost hold (expired) is the operator's loss, not the user's error.
      this.#p.onError?.(error, 'settleTurn')
    }
    await ctx.send({ type: 'CompleteTurn', turnId: turn.turnId, cost: { ...cost, charged: settled.charged }, balanceRemaining: settled.balanceRemaining })
  }

  /** Ends a turn that did not complete: settle what completed, release otherwise, then record it. False when it was not running. */
  async #endTurn(sessionId: string, turnId: string, how: 'failed' | 'interrupted', code: string, message: string): Promise<boolean> {
    const found = await this.#turn(sessionId, turnId)
    if (found === undefined) return false
    const { state, turn } = found
    const wallet = state.context.wallet!
    const used = turn.usage.inputTokens + turn.usage.outputTokens + turn.usage.cacheReadTokens + turn.usage.cacheWriteTokens > 0 || turn.toolCalls > 0
    let cost: TurnCost | null = null
    if (turn.reservationId !== '') {
      if (used) {
        const c = turnCost(turn.model, turn.usage, turn.toolCalls, turn.toolCosts, 0n)
        const s = await this.#p.ledger
          .settle({ wallet, reservationId: turn.reservationId, amount: c.platformCost, breakdown: spendBreakdown(c, { sessionId, turnId }) })
          .catch((e: unknown) => (this.#p.onError?.(e, 'endTurn.settle'), { charged: 0n }))
        cost = { ...c, charged: s.charged }
      } else {
        await this.#p.ledger.release({ wallet, reservationId: turn.reservationId, reason: how === 'failed' ? `turn failed: ${code}` : 'turn interrupted' }).catch((e: unknown) => this.#p.onError?.(e, 'endTurn.release'))
      }
    }
    if (how === 'failed') await this.#send(sessionId, { type: 'FailTurn', turnId, code, message, cost })
    else await this.#send(sessionId, { type: 'InterruptTurn', turnId, reason: message, cost })
    return true
  }
}

/** Metadata of commands an effect sends: caused by the event that asked for the effect. */
function causedBy(event: RecordedEvent): { causationId: string; correlationId?: string } {
  return { causationId: event.id, ...(event.metadata.correlationId === undefined ? {} : { correlationId: event.metadata.correlationId }) }
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
