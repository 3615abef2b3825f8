import type { ModelContentBlock, ModelUsage } from './model-port.js'
import type { ImageInput, TurnCost } from './events.js'

export interface CreateSession {
  type: 'CreateSession'
  sessionId: string
  agentId: string
  wallet: string
  model: string
  executionEngine?: string
}

/** Starts a turn whose first model call is already reserved (the route reserved it). */
export interface StartTurn {
  type: 'StartTurn'
  turnId: string
  text: string
  images?: ImageInput[]
  idempotencyKey: string
  /** Resolved model id for this turn. */
  model: string
  reservationId: string
  reserved: bigint
  /** Dedupe window for resent messages. */
  dedupeWindowMs: number
}

export interface RecordModelCallReserved {
  type: 'RecordModelCallReserved'
  turnId: string
  call: number
  reservationId: string
  reserved: bigint
  releasedReservationId: string
}

export interface RecordModelResponse {
  type: 'RecordModelResponse'
  turnId: string
  call: number
  afterPosition: bigint
  model: string
  content: ModelContentBlock[]
  stopReason: string | null
  usage: ModelUsage
  /** Agent rules, passed in so decide stays pure. */
  maxToolIterations: number
  toolsNeedingApproval: string[]
  approvalTimeoutMs: number
}

export interface ResolveApproval {
  type: 'ResolveApproval'
  approvalId: string
  approved: boolean
  reason: 'user' | 'timeout'
}

export interface RecordToolResult {
  type: 'RecordToolResult'
  turnId: string
  toolUseId: string
  isError: boolean
  result: string
  executed: boolean
  paid?: { amount: bigint; reservationId: string; txHash?: string }
}

export interface CompleteTurn {
  type: 'CompleteTurn'
  turnId: string
  cost: TurnCost
  balanceRemaining: bigint | null
}

export interface FailTurn {
  type: 'FailTurn'
  turnId: string
  code: string
  message: string
  cost: TurnCost | null
}

export interface InterruptTurn {
  type: 'InterruptTurn'
  turnId: string
  reason: string
  cost: TurnCost | null
}

export interface DeleteSession {
  type: 'DeleteSession'
}

export type SessionCommand =
  | CreateSession
  | StartTurn
  | RecordModelCallReserved
  | RecordModelResponse
  | ResolveApproval
  | RecordToolResult
  | CompleteTurn
  | FailTurn
  | InterruptTurn
  | DeleteSession
