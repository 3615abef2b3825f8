import type { SpendBreakdown } from './events.js'
import type { Settings } from './settings.js'
import type { WithdrawalLimits } from './withdrawal-guardrails.js'

/** Idempotent: registers the wallet on its first sign-in, no-op afterwards. */
export interface RegisterWallet {
  type: 'RegisterWallet'
  address: string
}

export interface UpdateSettings {
  type: 'UpdateSettings'
  /** Already validated and normalised (settings.ts). */
  patch: Settings
}

/** Records the deposit address (index from allocateDepositIndex). No-op when one is already assigned. */
export interface AssignDepositAddress {
  type: 'AssignDepositAddress'
  index: number
  address: string
}

/** From the chain watcher, after the confirmation depth. Idempotent by txHash + logIndex. */
export interface ObserveDeposit {
  type: 'ObserveDeposit'
  txHash: string
  logIndex: number
  amount: bigint
  blockNumber: bigint
}

/** balanceOf(depositAddress) AT blockNumber. Ignored unless newer than the last observation. */
export interface ObserveOnChainBalance {
  type: 'ObserveOnChainBalance'
  balance: bigint
  blockNumber: bigint
}

/** Holds up to amount + 10% for an agent before billable work. Idempotent by reservationId. */
export interface ReserveSpend {
  type: 'ReserveSpend'
  reservationId: string
  agentId: string
  amount: bigint
  /** Default DEFAULT_RESERVATION_TTL_MS (10 min). */
  ttlMs?: number
  purpose?: string
  /**
   * The holder will pay this on chain from the deposit key (x402). Such a hold is never
   * released by the TTL: once the authorisation may have been used, only the holder
   * knows (settle with paidOnChain, or release when the authorisation was never used),
   * and releasing it blindly could show more than the address holds.
   */
  onChainPayment?: boolean
}

/** Charges the actual cost (capped at the hold). Idempotent. */
export interface SettleSpend {
  type: 'SettleSpend'
  reservationId: string
  amount: bigint
  breakdown: SpendBreakdown
  /**
   * The spend already left the deposit address on chain (x402 tool payment by EIP-3009
   * from the deposit key), mined in `blockNumber`: it is then an outflow, never part of
   * unsettledSpend (which a settlement sweep would move a second time). Settle only after
   * the receipt. Charged in full: x402 reservations are exact.
   */
  paidOnChain?: { txHash: string; blockNumber: bigint }
}

/** Gives the hold back. Idempotent (also for settled or unknown ids: nothing happens). */
export interface ReleaseSpend {
  type: 'ReleaseSpend'
  reservationId: string
  reason: string
}

/** Releases every reservation whose TTL has passed at ctx.now (timer + start-up). */
export interface ReleaseExpiredReservations {
  type: 'ReleaseExpiredReservations'
}

/** Partial budget change for one agent: undefined keeps, null clears. */
export interface SetBudget {
  type: 'SetBudget'
  agentId: string
  daily?: bigint | null
  weekly?: bigint | null
  monthly?: bigint | null
  minimumBalance?: bigint | null
}

export interface RequestWithdrawal {
  type: 'RequestWithdrawal'
  withdrawalId: string
  idempotencyKey: string
  to: string
  amount: bigint
  /** From config (WITHDRAWAL_MAX, WITHDRAWAL_DAILY_MAX, WITHDRAWAL_PER_HOUR). */
  limits: WithdrawalLimits
  /** True when `to` is any wallet's deposit address (looked up by the caller). */
  destinationIsDepositAddress: boolean
}

export interface WithdrawalBroadcastCommand {
  type: 'WithdrawalBroadcast'
  withdrawalId: string
  txHash: string
}

export interface WithdrawalConfirmedCommand {
  type: 'WithdrawalConfirmed'
  withdrawalId: string
  txHash: string
  blockNumber: bigint
}

export interface WithdrawalFailedCommand {
  type: 'WithdrawalFailed'
  withdrawalId: string
  reason: string
}

/**
 * Starts a sweep of settled spend to the treasury: amount = what is unsettled and not
 * already being swept, capped by what the address holds. No-op below minimumAmount.
 */
export interface RequestSettlement {
  type: 'RequestSettlement'
  settlementId: string
  /** Smallest sweep worth a transaction (default 1 atomic unit). */
  minimumAmount?: bigint
}

export interface SettlementBroadcastCommand {
  type: 'SettlementBroadcast'
  settlementId: string
  txHash: string
}

export interface SettlementConfirmedCommand {
  type: 'SettlementConfirmed'
  settlementId: string
  txHash: string
  blockNumber: bigint
}

export interface SettlementFailedCommand {
  type: 'SettlementFailed'
  settlementId: string
  reason: string
}

export type LedgerCommand =
  | AssignDepositAddress
  | ObserveDeposit
  | ObserveOnChainBalance
  | ReserveSpend
  | SettleSpend
  | ReleaseSpend
  | ReleaseExpiredReservations
  | SetBudget
  | RequestWithdrawal
  | WithdrawalBroadcastCommand
  | WithdrawalConfirmedCommand
  | WithdrawalFailedCommand
  | RequestSettlement
  | SettlementBroadcastCommand
  | SettlementConfirmedCommand
  | SettlementFailedCommand

export type WalletCommand = RegisterWallet | UpdateSettings | LedgerCommand
