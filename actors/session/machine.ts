import { assign, setup } from 'xstate'
import type { ModelMessage, ModelUsage } from './model-port.js'
import type { SessionEvent, ToolCallCompleted } from './events.js'

export interface PendingTool {
  toolUseId: string
  name: string
  args: unknown
  needsApproval: boolean
  approvalId: string | null
  approvalExpiresAt: string | null
  done: boolean
  isError: boolean
  result: string
}

export interface TurnState {
  turnId: string
  model: string
  idempotencyKey: string
  reservationId: string
  reserved: bigint
  /** Model calls started so far (1-based number of the current one). */
  call: number
  /** Conversation length before the turn: a failed turn is rolled back to it. */
  conversationStart: number
  usage: ModelUsage
  /** Tool calls that reached the MCP gateway (each billed $0.0005). */
  toolCalls: number
  toolCosts: bigint
  text: string
  tools: PendingTool[]
  startedAt: string
}

export interface DisplayMessage {
  role: 'user' | 'assistant'
  content: string
  timestamp: string
}

export interface SessionContext {
  sessionId: string | null
  agentId: string | null
  /** Checksummed owner. */
  wallet: string | null
  model: string | null
  executionEngine: string | null
  createdAt: string | null
  lastActiveAt: string | null
  lastMessageAt: string | null
  messages: DisplayMessage[]
  /** What the model sees (tool_use/tool_result blocks included). */
  conversation: ModelMessage[]
  turn: TurnState | null
  /** Recent messages by idempotency key → turn, for the resend window. */
  recent: { key: string; turnId: string; at: string }[]
  turnsCompleted: number
}

const zeroUsage: ModelUsage = { inputTokens: 0, outputTokens: 0, cacheWriteTokens: 0, cacheReadTokens: 0 }

function addUsage(a: ModelUsage, b: ModelUsage): ModelUsage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
  }
}

/** True when this completion is the last outstanding tool of the current model call. */
function completesCall(turn: TurnState | null, e: ToolCallCompleted): boolean {
  if (turn === null) return false
  const open = turn.tools.filter((t) => !t.done)
  return open.length === 1 && open[0]!.toolUseId === e.data.toolUseId
}

/**
 * The session actor's machine. Its events are the domain events; its named actions are the
 * effects: `callModel` (reserve + stream one model call), `executeTool` (MCP), `requestApproval`
 * (start the approval timer), `settleTurn` (price and settle the finished turn).
 */
export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
  },
  actions: {
    callModel: (_, _params: { turnId: string; call: number }) => undefined,
    executeTool: (_, _params: { turnId: string; toolUseId: string; name: string; args: unknown }) => undefined,
    requestApproval: (_, _params: { turnId: string; approvalId: string; expiresAt: string }) => undefined,
    settleTurn: (_, _params: { turnId: string }) => undefined,
  },
  guards: {
    completesCall: ({ context, event }) => event.type === 'ToolCallCompleted' && completesCall(context.turn, event),
    isFinal: ({ event }) => event.type === 'ModelResponded' && event.data.final,
    needsNoApproval: ({ event }) => event.type === 'ToolCallRequested' && !event.data.needsApproval,
    approved: ({ event }) => event.type === 'ToolApprovalResolved' && event.data.approved,
  },
}).createMachine({
  id: 'session',
  context: {
    sessionId: null,
    agentId: null,
    wallet: null,
    model: null,
    executionEngine: null,
    createdAt: null,
    lastActiveAt: null,
    lastMessageAt: null,
    messages: [],
    conversation: [],
    turn: null,
    recent: [],
    turnsCompleted: 0,
  },
  initial: 'new',
  states: {
    new: {
      on: {
        SessionCreated: {
          target: 'idle',
          actions: assign(({ event }) => ({
            sessionId: event.data.sessionId,
            agentId: event.data.agentId,
            wallet: event.data.wallet,
            model: event.data.model,
            executionEngine: event.data.executionEngine ?? null,
            createdAt: event.data.at,
            lastActiveAt: event.data.at,
          })),
        },
      },
    },
    idle: {
      on: {
        UserMessageReceived: {
          target: 'running',
          actions: assign(({ context, event }) => {
            const d = event.data
            const content: ModelMessage['content'] =
              d.images === undefined || d.images.length === 0
                ? d.text
                : [...d.images.map((i) => ({ type: 'image' as const, source: { type: 'base64' as const, media_type: i.mediaType, data: i.data } })), { type: 'text' as const, text: d.text }]
            return {
              lastActiveAt: d.at,
              lastMessageAt: d.at,
              messages: [...context.messages, { role: 'user' as const, content: d.text, timestamp: d.at }],
              conversation: [...context.conversation, { role: 'user' as const, content }],
              recent: [...context.recent.slice(-49), { key: d.idempotencyKey, turnId: d.turnId, at: d.at }],
              turn: {
                turnId: d.turnId,
                model: d.model,
                idempotencyKey: d.idempotencyKey,
                reservationId: '',
                reserved: 0n,
                call: 0,
                conversationStart: context.conversation.length,
                usage: zeroUsage,
                toolCalls: 0,
                toolCosts: 0n,
                text: '',
                tools: [],
                startedAt: d.at,
              },
            }
          }),
        },
        SessionDeleted: { target: 'deleted' },
      },
    },
    running: {
      on: {
        TurnStarted: {
          actions: [
            assign(({ context, event }) => ({ turn: { ...context.turn!, reservationId: event.data.reservationId, reserved: event.data.reserved, call: 1 } })),
            { type: 'callModel', params: ({ event }) => ({ turnId: event.data.turnId, call: 1 }) },
          ],
        },
        ModelCallReserved: {
          actions: assign(({ context, event }) => ({ turn: { ...context.turn!, reservationId: event.data.reservationId, reserved: event.data.reserved, call: event.data.call } })),
        },
        ModelResponded: [
          {
            guard: 'isFinal',
            actions: [
              assign(({ context, event }) => respond(context, event)),
              { type: 'settleTurn', params: ({ event }) => ({ turnId: event.data.turnId }) },
            ],
          },
          { actions: assign(({ context, event }) => respond(context, event)) },
        ],
        ToolCallRequested: [
          {
            guard: 'needsNoApproval',
            actions: [
              assign(({ context, event }) => ({ turn: addTool(context.turn!, event.data) })),
              { type: 'executeTool', params: ({ event }) => ({ turnId: event.data.turnId, toolUseId: event.data.toolUseId, name: event.data.name, args: event.data.args }) },
            ],
          },
          { actions: assign(({ context, event }) => ({ turn: addTool(context.turn!, event.data) })) },
        ],
        ToolApprovalRequested: {
          actions: [
            assign(({ context, event }) => ({
              turn: {
                ...context.turn!,
                tools: context.turn!.tools.map((t) => (t.toolUseId === event.data.toolUseId ? { ...t, approvalId: event.data.approvalId, approvalExpiresAt: event.data.expiresAt } : t)),
              },
            })),
            { type: 'requestApproval', params: ({ event }) => ({ turnId: event.data.turnId, approvalId: event.data.approvalId, expiresAt: event.data.expiresAt }) },
          ],
        },
        ToolApprovalResolved: [
          {
            guard: 'approved',
            actions: [
              assign(({ context, event }) => ({ turn: clearApproval(context.turn!, event.data.toolUseId) })),
              {
                type: 'executeTool',
                params: ({ context, event }) => {
                  const t = context.turn!.tools.find((x) => x.toolUseId === event.data.toolUseId)!
                  return { turnId: event.data.turnId, toolUseId: t.toolUseId, name: t.name, args: t.args }
                },
              },
            ],
          },
          { actions: assign(({ context, event }) => ({ turn: clearApproval(context.turn!, event.data.toolUseId) })) },
        ],
        ToolCallCompleted: [
          {
            guard: 'completesCall',
            actions: [
              assign(({ context, event }) => {
                const turn = complete(context.turn!, event)
                const results = turn.tools.map((t) => ({ type: 'tool_result' as const, tool_use_id: t.toolUseId, content: t.result, ...(t.isError ? { is_error: true } : {}) }))
                return { turn: { ...turn, tools: [] }, conversation: [...context.conversation, { role: 'user' as const, content: results }] }
              }),
              { type: 'callModel', params: ({ context }) => ({ turnId: context.turn!.turnId, call: context.turn!.call + 1 }) },
            ],
          },
          { actions: assign(({ context, event }) => ({ turn: complete(context.turn!, event) })) },
        ],
        TurnCompleted: {
          target: 'idle',
          actions: assign(({ context, event }) => ({
            turn: null,
            turnsCompleted: context.turnsCompleted + 1,
            lastActiveAt: event.data.at,
            messages: [...context.messages, { role: 'assistant' as const, content: event.data.text, timestamp: event.data.at }],
          })),
        },
        TurnFailed: { target: 'idle', actions: assign(({ context, event }) => rollback(context, event.data.at)) },
        TurnInterrupted: { target: 'idle', actions: assign(({ context, event }) => rollback(context, event.data.at)) },
        SessionDeleted: { target: 'deleted' },
      },
    },
    deleted: { type: 'final' },
  },
})

function respond(context: SessionContext, event: Extract<SessionEvent, { type: 'ModelResponded' }>): Partial<SessionContext> {
  const d = event.data
  const turn = context.turn!
  const text = d.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('')
  // A final response never leaves a tool_use without its tool_result in the history.
  const kept = d.final ? d.content.filter((b) => b.type === 'text') : d.content
  const conversation = kept.length === 0 ? context.conversation : [...context.conversation, { role: 'assistant' as const, content: kept }]
  return {
    conversation,
    lastActiveAt: d.at,
    turn: { ...turn, usage: addUsage(turn.usage, d.usage), text: turn.text + text },
  }
}

function addTool(turn: TurnState, d: Extract<SessionEvent, { type: 'ToolCallRequested' }>['data']): TurnState {
  return {
    ...turn,
    tools: [...turn.tools, { toolUseId: d.toolUseId, name: d.name, args: d.args, needsApproval: d.needsApproval, approvalId: null, approvalExpiresAt: null, done: false, isError: false, result: '' }],
  }
}

function clearApproval(turn: TurnState, toolUseId: string): TurnState {
  return { ...turn, tools: turn.tools.map((t) => (t.toolUseId === toolUseId ? { ...t, approvalId: null, approvalExpiresAt: null } : t)) }
}

function complete(turn: TurnState, e: ToolCallCompleted): TurnState {
  const d = e.data
  return {
    ...turn,
    toolCalls: turn.toolCalls + (d.executed ? 1 : 0),
    toolCosts: turn.toolCosts + (d.paid?.amount ?? 0n),
    tools: turn.tools.map((t) => (t.toolUseId === d.toolUseId ? { ...t, done: true, isError: d.isError, result: d.result } : t)),
  }
}

function rollback(context: SessionContext, at: string): Partial<SessionContext> {
  const start = context.turn?.conversationStart ?? context.conversation.length
  // The failed turn's user message stays in `messages` (the user saw it) but leaves the
  // model's history, which must not end in an unanswered tool_use.
  return { turn: null, conversation: context.conversation.slice(0, start), lastActiveAt: at }
}
