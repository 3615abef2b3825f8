import type { SnapshotFrom } from 'xstate'
import { DomainError, NotFoundError } from '../../shared/errors.js'
import type { DecideContext } from '../runtime/types.js'
import type { SessionCommand } from './commands.js'
import type { SessionEvent } from './events.js'
import type { sessionMachine, TurnState } from './machine.js'

export type SessionSnapshot = SnapshotFrom<typeof sessionMachine>

/** The turn a resent message belongs to, when it arrived within the window. */
export function findRecentTurn(state: SessionSnapshot, key: string, now: Date, windowMs: number): string | undefined {
  for (let i = state.context.recent.length - 1; i >= 0; i--) {
    const r = state.context.recent[i]!
    if (r.key === key && now.getTime() - Date.parse(r.at) <= windowMs) return r.turnId
  }
  return undefined
}

function currentTurn(state: SessionSnapshot, turnId: string): TurnState | DomainError {
  const turn = state.context.turn
  if (state.value !== 'running' || turn === null || turn.turnId !== turnId) {
    return new DomainError('turn_not_running', 'That turn is not running', { details: { turnId } })
  }
  return turn
}

/** Pure: the events a session command produces, or why it is refused. */
export function decide(state: SessionSnapshot, command: SessionCommand, ctx: DecideContext): SessionEvent[] | DomainError {
  const at = ctx.now.toISOString()
  if (state.value === 'deleted') return command.type === 'DeleteSession' ? [] : new NotFoundError('No such session', 'session_not_found')
  if (state.value === 'new' && command.type !== 'CreateSession') return new NotFoundError('No such session', 'session_not_found')

  switch (command.type) {
    case 'CreateSession': {
      if (state.value !== 'new') return []
      const data = { sessionId: command.sessionId, agentId: command.agentId, wallet: command.wallet, model: command.model, at }
      return [{ type: 'SessionCreated', data: command.executionEngine === undefined ? data : { ...data, executionEngine: command.executionEngine } }]
    }

    case 'StartTurn': {
      // A resend of a recent message attaches to its turn: nothing new, nothing billed.
      if (findRecentTurn(state, command.idempotencyKey, ctx.now, command.dedupeWindowMs) !== undefined) return []
      if (state.value === 'running') {
        return new DomainError('turn_in_progress', 'A reply to another message is still being written in this session; wait for it to finish', {
          details: { turnId: state.context.turn?.turnId },
        })
      }
      const msg = {
        turnId: command.turnId,
        text: command.text,
        idempotencyKey: command.idempotencyKey,
        model: command.model,
        at,
      }
      return [
        { type: 'UserMessageReceived', data: command.images === undefined || command.images.length === 0 ? msg : { ...msg, images: command.images } },
        { type: 'TurnStarted', data: { turnId: command.turnId, reservationId: command.reservationId, reserved: command.reserved, at } },
      ]
    }

    case 'RecordModelCallReserved': {
      const turn = currentTurn(state, command.turnId)
      if (turn instanceof DomainError) return turn
      if (command.call !== turn.call + 1) return []
      return [
        {
          type: 'ModelCallReserved',
          data: { turnId: command.turnId, call: command.call, reservationId: command.reservationId, reserved: command.reserved, releasedReservationId: command.releasedReservationId, at },
        },
      ]
    }

    case 'RecordModelResponse': {
      const turn = currentTurn(state, command.turnId)
      if (turn instanceof DomainError) return turn
      if (command.call !== turn.call) return [] // a duplicate delivery of an older call
      const toolUses = command.content.flatMap((b) => (b.type === 'tool_use' ? [b] : []))
      // The loop stops when the model is done or the agent's limit of follow-up calls is reached.
      const final = toolUses.length === 0 || command.call > command.maxToolIterations
      const events: SessionEvent[] = [
        {
          type: 'ModelResponded',
          data: {
            turnId: command.turnId,
            call: command.call,
            afterPosition: command.afterPosition,
            model: command.model,
            content: command.content,
            stopReason: command.stopReason,
            usage: command.usage,
            final,
            at,
          },
        },
      ]
      if (final) return events
      for (const t of toolUses) {
        const needsApproval = command.toolsNeedingApproval.includes(t.name)
        events.push({ type: 'ToolCallRequested', data: { turnId: command.turnId, call: command.call, toolUseId: t.id, name: t.name, args: t.input, needsApproval, at } })
        if (needsApproval) {
          // Two random UUIDs: the id alone authorises the (token-less) approve call, §6.
          const approvalId = `apr_${ctx.newId().replace(/-/g, '')}${ctx.newId().replace(/-/g, '')}`
          const expiresAt = new Date(ctx.now.getTime() + command.approvalTimeoutMs).toISOString()
          events.push({
            type: 'ToolApprovalRequested',
            data: { turnId: command.turnId, toolUseId: t.id, approvalId, toolName: t.name, args: t.input, timeoutMs: command.approvalTimeoutMs, expiresAt, at },
          })
        }
      }
      return events
    }

    case 'ResolveApproval': {
      const turn = state.context.turn
      const tool = turn?.tools.find((t) => t.approvalId !== null && t.approvalId === command.approvalId)
      if (turn === null || tool === undefined) {
        // Already resolved (a timeout racing the user) is a no-op; unknown ids are 404.
        return command.reason === 'timeout' ? [] : new NotFoundError('No pending approval with that id in this session', 'approval_not_found')
      }
      const events: SessionEvent[] = [
        { type: 'ToolApprovalResolved', data: { turnId: turn.turnId, toolUseId: tool.toolUseId, approvalId: command.approvalId, approved: command.approved, reason: command.reason, at } },
      ]
      if (!command.approved) {
        const result = command.reason === 'timeout' ? 'The user did not approve this tool call in time; it was not run.' : 'The user denied this tool call; it was not run.'
        events.push({ type: 'ToolCallCompleted', data: { turnId: turn.turnId, toolUseId: tool.toolUseId, name: tool.name, isError: true, result, executed: false, at } })
      }
      return events
    }

    case 'RecordToolResult': {
      const turn = currentTurn(state, command.turnId)
      if (turn instanceof DomainError) return turn
      const tool = turn.tools.find((t) => t.toolUseId === command.toolUseId)
      if (tool === undefined || tool.done) return []
      const data = { turnId: command.turnId, toolUseId: command.toolUseId, name: tool.name, isError: command.isError, result: command.result, executed: command.executed, at }
      return [{ type: 'ToolCallCompleted', data: command.paid === undefined ? data : { ...data, paid: command.paid } }]
    }

    case 'CompleteTurn': {
      const turn = currentTurn(state, command.turnId)
      if (turn instanceof DomainError) return turn.code === 'turn_not_running' ? [] : turn
      return [{ type: 'TurnCompleted', data: { turnId: turn.turnId, reservationId: turn.reservationId, cost: command.cost, balanceRemaining: command.balanceRemaining, text: turn.text, at } }]
    }

    case 'FailTurn': {
      const turn = currentTurn(state, command.turnId)
      if (turn instanceof DomainError) return []
      return [{ type: 'TurnFailed', data: { turnId: turn.turnId, code: command.code, message: command.message, cost: command.cost, at } }]
    }

    case 'InterruptTurn': {
      const turn = currentTurn(state, command.turnId)
      if (turn instanceof DomainError) return []
      return [{ type: 'TurnInterrupted', data: { turnId: turn.turnId, reason: command.reason, cost: command.cost, at } }]
    }

    case 'DeleteSession':
      return [{ type: 'SessionDeleted', data: { at } }]
  }
}
