import type { CallModel, CallModelParameters, CallModelReturnType, ModelUsage } from './model-port.js'
import { maxCost, priceTurn } from '../../pricing/price-turn.js'
import type { SessionLedger } from '../session/ledger-port.js'
import type { TurnCost } from '../session/events.js'
import type { SpendBreakdown } from '../wallet/events.js'

/** The BYOK charge of usage so far (API §15), priced exactly and rounded up once. */
export function turnCost(model: string, usage: ModelUsage, toolCalls: number, toolCosts: bigint, charged: bigint): TurnCost {
  const priced = priceTurn({
    model,
    usage: { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, cacheCreationInputTokens: usage.cacheWriteTokens, cacheReadInputTokens: usage.cacheReadTokens },
    toolCalls,
    toolCosts: 0n,
    byok: true,
  })
  return { model: priced.model, usage, toolCalls, baseLlmCost: priced.baseLlmCost, platformCost: priced.platformCost, toolCosts, total: priced.platformCost + toolCosts, charged, byok: true }
}

/** Rough upper estimate of prompt tokens (≈ 3 characters a token; images at their base64 size / 4). */
export function estimatePromptTokens(parts: unknown[]): number {
  return Math.ceil(jsonLength(parts) / 3) + 64
}

/** JSON lengths of the objects already measured: a conversation's messages are immutable and shared by every later state. */
const measured = new WeakMap<object, number>()

/**
 * `JSON.stringify(value).length`, without building the string of the whole conversation
 * on every turn: arrays are summed element by element, each object measured once.
 */
function jsonLength(value: unknown, inArray = false): number {
  if (Array.isArray(value)) {
    let n = 2 + Math.max(0, value.length - 1)
    for (const item of value) n += jsonLength(item, true)
    return n
  }
  if (typeof value === 'object' && value !== null) {
    let n = measured.get(value)
    if (n === undefined) measured.set(value, (n = JSON.stringify(value)?.length ?? 0))
    return n
  }
  const text = JSON.stringify(value)
  // Where stringify drops a value (undefined, functions), an array writes null.
  return text === undefined ? (inArray ? 4 : 0) : text.length
}

/** The ledger breakdown of a BYOK charge; `sessionId`/`turnId` name what was paid for (a session turn, a canvas node, a reflect run). */
export function spendBreakdown(cost: TurnCost, ref: { sessionId: string; turnId: string }): SpendBreakdown {
  return {
    model: cost.model,
    inputTokens: cost.usage.inputTokens,
    outputTokens: cost.usage.outputTokens,
    cacheCreationInputTokens: cost.usage.cacheWriteTokens,
    cacheReadInputTokens: cost.usage.cacheReadTokens,
    baseLlmCost: cost.baseLlmCost,
    toolCalls: cost.toolCalls,
    toolCosts: 0n,
    platformCost: cost.platformCost,
    byok: true,
    sessionId: ref.sessionId,
    turnId: ref.turnId,
  }
}

export interface BilledModelCallParameters extends Omit<CallModelParameters, 'apiKey'> {
  ledger: SessionLedger
  callModel: CallModel
  /** The wallet's BYOK key (vault), for this call only. */
  apiKey: string
  /** Checksummed or lower-case payer. */
  wallet: string
  agentId: string
  /**
   * Idempotency key of the hold and its settlement: derive it from the caller's durable ids
   * (e.g. `${runId}:${nodeId}`), so a call resumed after a crash is charged once.
   */
  reservationId: string
  purpose: string
  /** What the spend is for, recorded in the breakdown. */
  ref: { sessionId: string; turnId: string }
}

export interface BilledModelCallReturnType {
  result: CallModelReturnType
  cost: TurnCost
  balanceRemaining: bigint | null
}

/**
 * One model call billed exactly like a chat turn: reserve its maximum (402 before the
 * provider is called), call the model, settle the BYOK formula on the recorded usage;
 * a failed call releases the hold and rethrows. Used by canvas agent nodes and
 * self-improvement runs (the chat session runs its own multi-call loop with the same
 * pricing functions).
 */
export async function billedModelCall(p: BilledModelCallParameters): Promise<BilledModelCallReturnType> {
  const { ledger, callModel, wallet, agentId, reservationId, purpose, ref, ...call } = p
  const amount = maxCost({
    model: call.model,
    promptTokens: estimatePromptTokens([call.system ?? '', call.messages, call.tools ?? []]),
    maxTokens: call.maxTokens,
    byok: true,
    maxToolCalls: 0,
  })
  await ledger.reserve({ wallet, agentId, reservationId, amount, purpose })
  let result: CallModelReturnType
  try {
    result = await callModel(call)
  } catch (error) {
    await ledger.release({ wallet, reservationId, reason: 'model call failed' }).catch(() => undefined)
    throw error
  }
  const cost = turnCost(result.model, result.usage, 0, 0n, 0n)
  const settled = await ledger.settle({ wallet, reservationId, amount: cost.platformCost, breakdown: spendBreakdown(cost, ref) })
  return { result, cost: { ...cost, charged: settled.charged }, balanceRemaining: settled.balanceRemaining }
}
