import type { AnyStateMachine } from 'xstate'
import { ActorHost } from '../runtime/host.js'
import type { JointDecision, Party } from '../runtime/joint.js'
import type { DomainEvent } from '../runtime/types.js'
import type { WalletCommand } from '../wallet/commands.js'
import type { SpendBreakdown } from '../wallet/events.js'

export interface ReserveParameters {
  wallet: string
  agentId: string
  reservationId: string
  amount: bigint
  purpose: string
  onChainPayment?: boolean
}

export interface SettleParameters {
  wallet: string
  reservationId: string
  amount: bigint
  breakdown: SpendBreakdown
  /** An x402 payment that already left the deposit address on chain (mined at blockNumber). */
  paidOnChain?: { txHash: string; blockNumber: bigint }
}

export interface Settled {
  charged: bigint
  balanceRemaining: bigint | null
}

/**
 * The wallet as a party to a joint decision (actors/runtime/joint.ts): the hold or the
 * settlement is decided by the wallet actor from its own state, and committed in the same
 * multi-stream append as the caller's events.
 */
export interface JointLedger {
  /** The wallet actor of `wallet`; pass the same object to commitTogether and to reserve/settle. */
  party(wallet: string): Party<AnyStateMachine, never>
  /** Decides the hold; throws the wallet's 402 refusal (insufficient_balance / budget_exceeded). */
  reserve(joint: JointDecision, wallet: Party<AnyStateMachine, never>, p: ReserveParameters): void
  /** Decides the settlement; throws the wallet's refusal (reservation closed or unknown). */
  settle(joint: JointDecision, wallet: Party<AnyStateMachine, never>, p: SettleParameters): Settled
}

/** What the session needs from the wallet actor (bound to ReserveSpend/SettleSpend/ReleaseSpend in main.ts). */
export interface SessionLedger {
  /** Holds `amount` for the agent; throws a 402 DomainError (insufficient_balance / budget_exceeded). Idempotent by id. */
  reserve(p: { wallet: string; agentId: string; reservationId: string; amount: bigint; purpose: string; onChainPayment?: boolean }): Promise<void>
  /** Charges `amount` against the reservation; returns what was charged and the balance left. Idempotent. */
  settle(p: {
    wallet: string
    reservationId: string
    amount: bigint
    breakdown: SpendBreakdown
    /** An x402 payment that already left the deposit address on chain (mined at blockNumber). */
    paidOnChain?: { txHash: string; blockNumber: bigint }
  }): Promise<{ charged: bigint; balanceRemaining: bigint | null }>
  /** Gives the hold back. Idempotent. */
  release(p: { wallet: string; reservationId: string; reason: string }): Promise<void>
  /** Present when the wallet can join a caller's commit (the wallet host is an ActorHost). */
  together?: JointLedger
}

/** Minimal view of the wallet host the adapter needs (ActorHost<walletMachine,…>). */
export interface WalletHostLike {
  send(actorId: string, command: any): Promise<{ snapshot: { context: any }; events: { type: string; data: any }[] }>
}

/**
 * The SessionLedger on the wallet actor: one actor per lower-case address.
 * `available` computes the balance left from the wallet snapshot's ledger (actors/wallet/ledger.ts).
 */
export function walletSessionLedger(wallets: WalletHostLike, available: (ledger: any) => bigint, reservationTtlMs?: number): SessionLedger {
  const reserveCommand = (p: ReserveParameters): WalletCommand => ({
    type: 'ReserveSpend',
    reservationId: p.reservationId,
    agentId: p.agentId,
    amount: p.amount,
    purpose: p.purpose,
    // A hold whose holder died is released after this (config RESERVATION_TTL_MS).
    ...(reservationTtlMs === undefined ? {} : { ttlMs: reservationTtlMs }),
    ...(p.onChainPayment === true ? { onChainPayment: true } : {}),
  })
  const settleCommand = (p: SettleParameters): WalletCommand => ({
    type: 'SettleSpend',
    reservationId: p.reservationId,
    amount: p.amount,
    breakdown: p.breakdown,
    ...(p.paidOnChain === undefined ? {} : { paidOnChain: p.paidOnChain }),
  })
  const settledFrom = (events: readonly DomainEvent[], context: { ledger?: unknown }): Settled => {
    const settled = events.find((e) => e.type === 'SpendSettled') as { data: { amount: bigint } } | undefined
    return { charged: settled === undefined ? 0n : settled.data.amount, balanceRemaining: context.ledger === undefined ? null : available(context.ledger) }
  }
  const together: JointLedger | undefined =
    wallets instanceof ActorHost
      ? {
          party: (wallet) => ({ host: wallets as ActorHost<AnyStateMachine, never, DomainEvent>, actorId: wallet.toLowerCase() }),
          reserve(joint, party, p) {
            joint.decide(party as unknown as Party<AnyStateMachine, WalletCommand>, reserveCommand(p))
          },
          settle(joint, party, p) {
            const before = joint.state(party).events.length
            const t = joint.decide(party as unknown as Party<AnyStateMachine, WalletCommand>, settleCommand(p))
            return settledFrom(t.events.slice(before), (t.snapshot as { context: { ledger?: unknown } }).context)
          },
        }
      : undefined
  return {
    ...(together === undefined ? {} : { together }),
    async reserve(p) {
      await wallets.send(p.wallet.toLowerCase(), reserveCommand(p))
    },
    async settle(p) {
      const r = await wallets.send(p.wallet.toLowerCase(), settleCommand(p))
      return settledFrom(r.events, r.snapshot.context)
    },
    async release(p) {
      await wallets.send(p.wallet.toLowerCase(), { type: 'ReleaseSpend', reservationId: p.reservationId, reason: p.reason })
    },
  }
}
