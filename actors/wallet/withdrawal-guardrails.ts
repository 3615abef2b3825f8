import { getAddress, isAddress } from 'viem'

/** Configured limits (config.ts WITHDRAWAL_MAX, WITHDRAWAL_DAILY_MAX, WITHDRAWAL_PER_HOUR). */
export interface WithdrawalLimits {
  /** Largest single withdrawal (atomic units). */
  perWithdrawalMax: bigint
  /** Largest total over the last 24 hours, failed withdrawals excluded. */
  dailyMax: bigint
  /** Most requests in the last hour (failed ones included: they still cost a relayer transaction). */
  perHour: number
}

/** The rule a refused withdrawal broke; each maps to one HTTP status (withdrawalRuleStatus). */
export type WithdrawalRule =
  | 'amount_invalid'
  | 'destination_invalid'
  | 'destination_zero'
  | 'destination_deposit_address'
  | 'per_withdrawal_max'
  | 'daily_max'
  | 'per_hour'

export interface WithdrawalRefusal {
  rule: WithdrawalRule
  message: string
  details: Record<string, string>
}

export interface CheckWithdrawalParameters {
  limits: WithdrawalLimits
  to: string
  amount: bigint
  now: Date
  /** Earlier withdrawals of this wallet. */
  history: readonly { requestedAt: string; amount: bigint; status: string }[]
  /** `to` is some wallet's deposit address (including this one's). */
  destinationIsDepositAddress: boolean
}

const HOUR_MS = 3_600_000

/** 429 for rules that pass again later (rates), 422 for the request itself (amount, destination). */
export function withdrawalRuleStatus(rule: WithdrawalRule): 422 | 429 {
  return rule === 'per_hour' || rule === 'daily_max' ? 429 : 422
}

/**
 * Pure guardrails of a withdrawal request, in order: amount, destination (EIP-55
 * checksum or all lower-case, not the zero address, not a deposit address), per-withdrawal
 * maximum, rolling 24-hour amount, rolling 1-hour request count. Returns the first broken rule.
 */
export function checkWithdrawal(p: CheckWithdrawalParameters): WithdrawalRefusal | undefined {
  const { limits, to, amount, now } = p
  if (amount <= 0n) return { rule: 'amount_invalid', message: 'Withdrawal amount must be positive', details: { amount: amount.toString() } }
  // strict: a mixed-case address must carry a valid EIP-55 checksum; all lower-case is accepted.
  const lower = /^0x[0-9a-f]{40}$/.test(to)
  if (!lower && !isAddress(to, { strict: true }))
    return { rule: 'destination_invalid', message: 'Destination is not a valid address (bad EIP-55 checksum?)', details: { to } }
  if (/^0x0{40}$/i.test(to)) return { rule: 'destination_zero', message: 'Destination is the zero address', details: { to } }
  if (p.destinationIsDepositAddress)
    return { rule: 'destination_deposit_address', message: 'Destination is a gateway deposit address', details: { to: getAddress(to) } }
  if (amount > limits.perWithdrawalMax)
    return {
      rule: 'per_withdrawal_max',
      message: `A single withdrawal may be at most ${limits.perWithdrawalMax} atomic units`,
      details: { limit: limits.perWithdrawalMax.toString(), requested: amount.toString() },
    }
  const t = now.getTime()
  let day = 0n
  let hour = 0
  for (const w of p.history) {
    const at = Date.parse(w.requestedAt)
    if (t - at < 24 * HOUR_MS && w.status !== 'failed') day += w.amount
    if (t - at < HOUR_MS) hour++
  }
  if (day + amount > limits.dailyMax)
    return {
      rule: 'daily_max',
      message: `Withdrawals over 24 hours may total at most ${limits.dailyMax} atomic units`,
      details: { limit: limits.dailyMax.toString(), used: day.toString(), requested: amount.toString() },
    }
  if (hour + 1 > limits.perHour)
    return {
      rule: 'per_hour',
      message: `At most ${limits.perHour} withdrawal requests per hour`,
      details: { limit: String(limits.perHour), used: String(hour) },
    }
  return undefined
}
