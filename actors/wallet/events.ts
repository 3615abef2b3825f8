import type { Settings } from './settings.js'

export interface WalletRegistered {
  type: 'WalletRegistered'
  /** Checksummed address. */
  data: { address: string; at: string }
}

export interface SettingsUpdated {
  type: 'SettingsUpdated'
  /** Only the keys that changed (a partial merge). */
  data: { patch: Settings; at: string }
}

/** The wallet's deposit address: BIP-44 index `index` of DEPOSIT_MNEMONIC (index unique across wallets). */
export interface DepositAddressAssigned {
  type: 'DepositAddressAssigned'
  data: { index: number; address: string; at: string }
}

/** A confirmed USDC Transfer into the deposit address. Unique by (txHash, logIndex). */
export interface DepositDetected {
  type: 'DepositDetected'
  data: { txHash: string; logIndex: number; amount: bigint; blockNumber: bigint; at: string }
}

/** balanceOf(depositAddress) read AT `blockNumber` (a confirmed block). */
export interface OnChainBalanceObserved {
  type: 'OnChainBalanceObserved'
  data: { balance: bigint; blockNumber: bigint; at: string }
}

/**
 * Everything an auditor needs to recompute a charge (API.md §15). `baseLlmCost` is the
 * exact provider cost in atomic units as a decimal string (or "n/d"), not rounded.
 */
export interface SpendBreakdown {
  model: string
  inputTokens: number
  outputTokens: number
  cacheCreationInputTokens: number
  cacheReadInputTokens: number
  baseLlmCost: string
  toolCalls: number
  toolCosts: bigint
  platformCost: bigint
  byok: boolean
  /** Per-million-token prices used (pricing/prices.json at the time), when known. */
  prices?: { input: string; output: string; cacheWrite: string; cacheRead: string }
  sessionId?: string
  turnId?: string
}

export interface SpendReserved {
  type: 'SpendReserved'
  data: {
    reservationId: string
    agentId: string
    /** What the caller asked to reserve (its maxCost estimate). */
    amount: bigint
    /** amount + 10% overrun allowance: held against balance and budget windows. */
    hold: bigint
    expiresAt: string
    purpose?: string
    /** Paid on chain by the holder (x402): exempt from TTL expiry. */
    onChainPayment?: boolean
    at: string
  }
}

export interface SpendSettled {
  type: 'SpendSettled'
  data: {
    reservationId: string
    agentId: string
    /** What the wallet was charged: min(requested, hold). */
    amount: bigint
    /** The turn's actual cost as priced (breakdown total). */
    requested: bigint
    /** requested − amount: cost beyond the hold, absorbed by the operator, never charged. */
    writtenOff: bigint
    breakdown: SpendBreakdown
    /** Paid from the deposit address on chain (x402): an outflow at blockNumber, not unsettled spend. */
    paidOnChain?: { txHash: string; blockNumber: bigint }
    at: string
  }
}

export interface SpendReleased {
  type: 'SpendReleased'
  data: { reservationId: string; agentId: string; reason: string; at: string }
}

/** The agent's whole budget after the change (null = no limit). */
export interface BudgetSet {
  type: 'BudgetSet'
  data: {
    agentId: string
    daily: bigint | null
    weekly: bigint | null
    monthly: bigint | null
    minimumBalance: bigint | null
    at: string
  }
}

export interface WithdrawalRequested {
  type: 'WithdrawalRequested'
  data: { withdrawalId: string; idempotencyKey: string; to: string; amount: bigint; depositIndex: number; at: string }
}

export interface WithdrawalBroadcast {
  type: 'WithdrawalBroadcast'
  data: { withdrawalId: string; txHash: string; at: string }
}

export interface WithdrawalConfirmed {
  type: 'WithdrawalConfirmed'
  data: { withdrawalId: string; txHash: string; blockNumber: bigint; at: string }
}

export interface WithdrawalFailed {
  type: 'WithdrawalFailed'
  data: { withdrawalId: string; reason: string; at: string }
}

/** A sweep of settled spend from the deposit address to the treasury. */
export interface SettlementRequested {
  type: 'SettlementRequested'
  data: { settlementId: string; amount: bigint; depositIndex: number; at: string }
}

export interface SettlementBroadcast {
  type: 'SettlementBroadcast'
  data: { settlementId: string; txHash: string; at: string }
}

export interface SettlementConfirmed {
  type: 'SettlementConfirmed'
  data: { settlementId: string; txHash: string; blockNumber: bigint; at: string }
}

export interface SettlementFailed {
  type: 'SettlementFailed'
  data: { settlementId: string; reason: string; at: string }
}

export type LedgerEvent =
  | DepositAddressAssigned
  | DepositDetected
  | OnChainBalanceObserved
  | SpendReserved
  | SpendSettled
  | SpendReleased
  | BudgetSet
  | WithdrawalRequested
  | WithdrawalBroadcast
  | WithdrawalConfirmed
  | WithdrawalFailed
  | SettlementRequested
  | SettlementBroadcast
  | SettlementConfirmed
  | SettlementFailed

export type WalletEvent = WalletRegistered | SettingsUpdated | LedgerEvent
