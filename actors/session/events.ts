import type { ModelContentBlock, ModelUsage } from './model-port.js'

export interface ImageInput {
  data: string
  mediaType: 'image/jpeg' | 'image/png' | 'image/webp'
}

export interface SessionCreated {
  type: 'SessionCreated'
  data: { sessionId: string; agentId: string; wallet: string; model: string; executionEngine?: string; at: string }
}

/** A user message accepted as the start of turn `turnId`. */
export interface UserMessageReceived {
  type: 'UserMessageReceived'
  data: { turnId: string; text: string; images?: ImageInput[]; idempotencyKey: string; model: string; at: string }
}

/** The turn's first model call has its reservation (reserved before this event). */
export interface TurnStarted {
  type: 'TurnStarted'
  data: { turnId: string; reservationId: string; reserved: bigint; at: string }
}

/** A later model call of the turn has its (cumulative) reservation; the previous one is released. */
export interface ModelCallReserved {
  type: 'ModelCallReserved'
  data: { turnId: string; call: number; reservationId: string; reserved: bigint; releasedReservationId: string; at: string }
}

export interface ModelResponded {
  type: 'ModelResponded'
  data: {
    turnId: string
    /** 1-based model call within the turn. */
    call: number
    /** Store position of the event that started this call (deltas streamed live are keyed by it). */
    afterPosition: bigint
    model: string
    content: ModelContentBlock[]
    stopReason: string | null
    usage: ModelUsage
    /** No further call: the turn ends after this response (end_turn or the tool limit). */
    final: boolean
    at: string
  }
}

export interface ToolCallRequested {
  type: 'ToolCallRequested'
  data: { turnId: string; call: number; toolUseId: string; name: string; args: unknown; needsApproval: boolean; at: string }
}

export interface ToolApprovalRequested {
  type: 'ToolApprovalRequested'
  data: { turnId: string; toolUseId: string; approvalId: string; toolName: string; args: unknown; timeoutMs: number; expiresAt: string; at: string }
}

export interface ToolApprovalResolved {
  type: 'ToolApprovalResolved'
  data: { turnId: string; toolUseId: string; approvalId: string; approved: boolean; reason: 'user' | 'timeout'; at: string }
}

export interface ToolCallCompleted {
  type: 'ToolCallCompleted'
  data: {
    turnId: string
    toolUseId: string
    name: string
    isError: boolean
    result: string
    /** False when the call never reached the MCP gateway (denied, not allowed): no fee. */
    executed: boolean
    /** x402 payment made for this call, settled as its own spend. */
    paid?: { amount: bigint; reservationId: string; txHash?: string }
    at: string
  }
}

/** What the turn cost (API §15), as settled on the wallet's ledger. */
export interface TurnCost {
  model: string
  usage: ModelUsage
  toolCalls: number
  baseLlmCost: string
  platformCost: bigint
  /** x402 payments (each settled as its own spend). */
  toolCosts: bigint
  /** platformCost + toolCosts. */
  total: bigint
  /** What the ledger actually charged for the turn's own spend (≤ platformCost, capped at the hold). */
  charged: bigint
  byok: boolean
}

export interface TurnCompleted {
  type: 'TurnCompleted'
  data: { turnId: string; reservationId: string; cost: TurnCost; balanceRemaining: bigint | null; text: string; at: string }
}

export interface TurnFailed {
  type: 'TurnFailed'
  data: { turnId: string; code: string; message: string; cost: TurnCost | null; at: string }
}

/** The process hosting the turn stopped mid-turn; found on restart. */
export interface TurnInterrupted {
  type: 'TurnInterrupted'
  data: { turnId: string; reason: string; cost: TurnCost | null; at: string }
}

export interface SessionDeleted {
  type: 'SessionDeleted'
  data: { at: string }
}

export type SessionEvent =
  | SessionCreated
  | UserMessageReceived
  | TurnStarted
  | ModelCallReserved
  | ModelResponded
  | ToolCallRequested
  | ToolApprovalRequested
  | ToolApprovalResolved
  | ToolCallCompleted
  | TurnCompleted
  | TurnFailed
  | TurnInterrupted
  | SessionDeleted
