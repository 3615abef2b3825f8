import { toolAllowed } from '../../agents/schema.js'
import { maxCost } from '../../pricing/price-turn.js'
import { GatewayError } from '../../shared/errors.js'
import type { EventStore, RecordedEvent } from '../../store/types.js'
import { estimatePromptTokens, spendBreakdown, turnCost } from '../billing/billed-model-call.js'
import { commitTogether, type Party } from '../runtime/joint.js'
import type { EffectContext } from '../runtime/types.js'
import type { AgentTools } from './agent-tools.js'
import type { SessionCommand } from './commands.js'
import type { SessionSnapshot } from './decide.js'
import type { DeltaBus } from './deltas.js'
import type { TurnCost } from './events.js'
import type { SessionLedger, Settled } from './ledger-port.js'
import type { sessionMachine, TurnState } from './machine.js'
import type { ModelMessage, SessionModelCall } from './model-port.js'

type SessionEffectContext = EffectContext<SessionCommand, SessionSnapshot>

/** The session actor as its effects reach it. */
export interface SessionPort {
  /** The actor's current state (for work that no committed snapshot was handed to). */
  read(sessionId: string): Promise<SessionSnapshot>
  /** Sends a command and hands what it committed to this process's listeners. */
  send(sessionId: string, command: SessionCommand): Promise<unknown>
  /** The session as a party of a joint commit. */
  party(sessionId: string): Party<typeof sessionMachine, SessionCommand>
  /** Hands events a joint commit recorded for the session to this process's listeners. */
  publish(sessionId: string, committed: { events: readonly RecordedEvent[] } | undefined): void
}

export interface TurnEffectsParameters {
  store: EventStore
  session: SessionPort
  agentTools: AgentTools
  callModel: SessionModelCall
  ledger: SessionLedger
  getProviderKey(address: string, provider: 'anthropic'): Promise<string>
  deltas: DeltaBus
  systemPromptExtra?: ((p: { wallet: string; agentId: string; conversation: readonly ModelMessage[] }) => Promise<string | undefined>) | undefined
  onError(error: unknown, where: string): void
}

/**
 * A turn's effects: the model call (its reservation, its stream of deltas, the response),
 * the MCP tool call, the settlement of a finished turn, and the end of one that failed or
 * was interrupted. The billing rule they keep is SessionService's (service.ts).
 */
export class TurnEffects {
  readonly #p: TurnEffectsParameters

  constructor(p: TurnEffectsParameters) {
    this.#p = p
  }

  /** The running turn `turnId`, from the snapshot an effect was handed, else the actor's current state. */
  async #turn(sessionId: string, turnId: string, committed?: SessionSnapshot): Promise<{ state: SessionSnapshot; turn: TurnState } | undefined> {
    const snapshot = committed ?? (await this.#p.session.read(sessionId))
    const turn = snapshot.context.turn
    if (snapshot.value !== 'running' || turn === null || turn.turnId !== turnId) return undefined
    return { state: snapshot, turn }
  }

  async callModel(params: { turnId: string; call: number }, ctx: SessionEffectContext): Promise<void> {
    const sessionId = ctx.actorId
    const found = await this.#turn(sessionId, params.turnId, ctx.snapshot)
    if (found === undefined) return
    const { state } = found
    let { turn } = found
    const wallet = state.context.wallet!
    try {
      const agent = this.#p.agentTools.agent(state.context.agentId!)
      const tools = await this.#p.agentTools.tools(agent)
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
      const extra = await this.#p.systemPromptExtra?.({ wallet, agentId: agent.id, conversation: state.context.conversation }).catch((e: unknown) => (this.#p.onError(e, 'systemPromptExtra'), undefined))
      let offset = 0
      const result = await this.#p.callModel({
        apiKey,
        model: turn.model,
        system: extra === undefined ? agent.systemPrompt : `${agent.systemPrompt}\n\n${extra}`,
        messages: state.context.conversation,
        tools,
        maxTokens: agent.maxTokens,
        onText: (text) => {
          this.#p.deltas.publish({ sessionId, turnId: turn.turnId, afterPosition: ctx.event.position, offset, text })
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
      const session = this.#p.session.party(sessionId)
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
      if (settleError !== undefined) this.#p.onError(settleError, 'settleTurn')
      this.#p.session.publish(sessionId, committed[1])
    } catch (error) {
      const e = error instanceof GatewayError ? error : new GatewayError('model_call_failed', 'The model call failed', { cause: error })
      await this.endTurn(sessionId, turn.turnId, 'failed', e.code, e.shortMessage)
    }
  }

  async executeTool(params: { turnId: string; toolUseId: string; name: string; args: unknown }, ctx: SessionEffectContext): Promise<void> {
    const found = await this.#turn(ctx.actorId, params.turnId, ctx.snapshot)
    if (found === undefined) return
    const { state } = found
    const { mcp } = this.#p.agentTools
    const agent = this.#p.agentTools.agent(state.context.agentId!)
    const record = (isError: boolean, result: string, executed: boolean, paid?: { amount: bigint; reservationId: string; txHash?: string }) =>
      ctx.send({ type: 'RecordToolResult', turnId: params.turnId, toolUseId: params.toolUseId, isError, result, executed, ...(paid === undefined ? {} : { paid }) })
    if (!toolAllowed(agent, params.name)) return void (await record(true, `Tool ${params.name} is not allowed for this agent.`, false))
    if (mcp === undefined) return void (await record(true, 'No MCP gateway is configured on this server.', false))
    const args = typeof params.args === 'object' && params.args !== null ? (params.args as Record<string, unknown>) : {}
    try {
      const r = await mcp.callTool({
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

  async settleTurn(params: { turnId: string }, ctx: SessionEffectContext): Promise<void> {
    // Joined to the response's commit (the turn already completed there), this finds nothing to do.
    const found = await this.#turn(ctx.actorId, params.turnId, ctx.snapshot)
    if (found === undefined) return
    const { state, turn } = found
    const wallet = state.context.wallet!
    const cost = turnCost(turn.model, turn.usage, turn.toolCalls, turn.toolCosts, 0n)
    let settled: Settled = { charged: 0n, balanceRemaining: null }
    try {
      settled = await this.#p.ledger.settle({ wallet, reservationId: turn.reservationId, amount: cost.platformCost, breakdown: spendBreakdown(cost, { sessionId: ctx.actorId, turnId: turn.turnId }) })
    } catch (error) {
      // The reply was delivered; a lost hold (expired) is the operator's loss, not the user's error.
      this.#p.onError(error, 'settleTurn')
    }
    await ctx.send({ type: 'CompleteTurn', turnId: turn.turnId, cost: { ...cost, charged: settled.charged }, balanceRemaining: settled.balanceRemaining })
  }

  /** Ends a turn that did not complete: settle what completed, release otherwise, then record it. False when it was not running. */
  async endTurn(sessionId: string, turnId: string, how: 'failed' | 'interrupted', code: string, message: string): Promise<boolean> {
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
          .catch((e: unknown) => (this.#p.onError(e, 'endTurn.settle'), { charged: 0n }))
        cost = { ...c, charged: s.charged }
      } else {
        await this.#p.ledger.release({ wallet, reservationId: turn.reservationId, reason: how === 'failed' ? `turn failed: ${code}` : 'turn interrupted' }).catch((e: unknown) => this.#p.onError(e, 'endTurn.release'))
      }
    }
    if (how === 'failed') await this.#p.session.send(sessionId, { type: 'FailTurn', turnId, code, message, cost })
    else await this.#p.session.send(sessionId, { type: 'InterruptTurn', turnId, reason: message, cost })
    return true
  }
}

/** Metadata of commands an effect sends: caused by the event that asked for the effect. */
function causedBy(event: RecordedEvent): { causationId: string; correlationId?: string } {
  return { causationId: event.id, ...(event.metadata.correlationId === undefined ? {} : { correlationId: event.metadata.correlationId }) }
}
