import { assign, setup } from 'xstate'
import type { WalletEvent } from './events.js'
import { evolveLedger, initialLedger, isLedgerEvent, type Ledger } from './ledger.js'
import { defaultSettings, type Settings } from './settings.js'

export interface WalletContext {
  address: string | null
  registeredAt: string | null
  settings: Settings
  ledger: Ledger
}

/** Params of the `broadcastWithdrawal` effect (the chain connector sends the results back as commands). */
export interface BroadcastWithdrawalParams {
  withdrawalId: string
  depositIndex: number
  to: string
  amount: bigint
}

/** Params of the `broadcastSettlement` effect (sweep to TREASURY_ADDRESS). */
export interface BroadcastSettlementParams {
  settlementId: string
  depositIndex: number
  amount: bigint
}

/**
 * The wallet actor's machine. Its events are the domain events; ledger events fold
 * through the pure evolveLedger. Named actions are effects run by the host only for newly
 * committed events: `broadcastWithdrawal`, `broadcastSettlement`.
 */
export const walletMachine = setup({
  types: {
    context: {} as WalletContext,
    events: {} as WalletEvent,
  },
  actions: {
    fold: assign(({ context, event }) => (isLedgerEvent(event) ? { ledger: evolveLedger(context.ledger, event) } : {})),
    // Bound in main.ts through ActorHost `effects`; these bodies never run.
    broadcastWithdrawal: (_: unknown, _params: BroadcastWithdrawalParams) => {},
    broadcastSettlement: (_: unknown, _params: BroadcastSettlementParams) => {},
  },
}).createMachine({
  id: 'wallet',
  context: { address: null, registeredAt: null, settings: defaultSettings, ledger: initialLedger() },
  initial: 'unregistered',
  // Ledger events are folded in any state: decide only emits them for registered wallets,
  // and replay must never drop an event.
  on: {
    DepositAddressAssigned: { actions: 'fold' },
    DepositDetected: { actions: 'fold' },
    OnChainBalanceObserved: { actions: 'fold' },
    SpendReserved: { actions: 'fold' },
    SpendSettled: { actions: 'fold' },
    SpendReleased: { actions: 'fold' },
    BudgetSet: { actions: 'fold' },
    WithdrawalRequested: {
      actions: [
        'fold',
        {
          type: 'broadcastWithdrawal',
          params: ({ event }) => ({
            withdrawalId: event.data.withdrawalId,
            depositIndex: event.data.depositIndex,
            to: event.data.to,
            amount: event.data.amount,
          }),
        },
      ],
    },
    WithdrawalBroadcast: { actions: 'fold' },
    WithdrawalConfirmed: { actions: 'fold' },
    WithdrawalFailed: { actions: 'fold' },
    SettlementRequested: {
      actions: [
        'fold',
        {
          type: 'broadcastSettlement',
          params: ({ event }) => ({
            settlementId: event.data.settlementId,
            depositIndex: event.data.depositIndex,
            amount: event.data.amount,
          }),
        },
      ],
    },
    SettlementBroadcast: { actions: 'fold' },
    SettlementConfirmed: { actions: 'fold' },
    SettlementFailed: { actions: 'fold' },
  },
  states: {
    unregistered: {
      on: {
        WalletRegistered: {
          target: 'active',
          actions: assign(({ event }) => ({ address: event.data.address, registeredAt: event.data.at })),
        },
      },
    },
    active: {
      on: {
        SettingsUpdated: {
          actions: assign(({ context, event }) => ({ settings: { ...context.settings, ...event.data.patch } })),
        },
      },
    },
  },
})
