import type { SpendBreakdown } from '../wallet/events.js'

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
  return {
    async reserve(p) {
      await wallets.send(p.wallet.toLowerCase(), {
        type: 'ReserveSpend',
        reservationId: p.reservationId,
        agentId: p.agentId,
        amount: p.amount,
        purpose: p.purpose,
        // A hold whose holder died is released after this (config RESERVATION_TTL_MS).
        ...(reservationTtlMs === undefined ? {} : { ttlMs: reservationTtlMs }),
        ...(p.onChainPayment === true ? { onChainPayment: true } : {}),
      })
    },
    async settle(p) {
      const r = await wallets.send(p.wallet.toLowerCase(), {
        type: 'SettleSpend',
        reservationId: p.reservationId,
        amount: p.amount,
        breakdown: p.breakdown,
        ...(p.paidOnChain === undefined ? {} : { paidOnChain: p.paidOnChain }),
      })
      const settled = r.events.find((e) => e.type === 'SpendSettled')
      const ledger = r.snapshot.context.ledger
      return { charged: settled === undefined ? 0n : (settled.data.amount as bigint), balanceRemaining: ledger === undefined ? null : available(ledger) }
    },
    async release(p) {
      await wallets.send(p.wallet.toLowerCase(), { type: 'ReleaseSpend', reservationId: p.reservationId, reason: p.reason })
    },
  }
}
