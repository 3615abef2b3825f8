import type { ProjectionRunner } from './runner.js'
import type { OpenReservationsRow } from './open-reservations.js'
import type { BalanceRow } from './wallet-balances.js'
import type { EventStore } from '../store/types.js'
import type { WalletHost } from '../actors/wallet/deposit-index.js'

export interface LedgerTimersParameters {
  wallets: WalletHost
  /** When given, the start-up run first waits for the read models to catch up with the store head. */
  store?: EventStore
  /** Runner holding openReservationsProjection (and walletBalancesProjection for sweeps). */
  projections: ProjectionRunner
  /** How often expired reservations are released. Default 15 s. */
  expiryIntervalMs?: number
  /** How often settled spend is swept to the treasury; 0 disables (no chain). Default 0. */
  sweepIntervalMs?: number
  /** Smallest sweep worth a relayer transaction (atomic units). Default 1 USDC. */
  sweepMinimum?: bigint
  now?: () => Date
  newId?: () => string
  onError?: (error: unknown, wallet: string) => void
}

/**
 * Sends ReleaseExpiredReservations to every wallet whose reservations have expired.
 * The read model only says where to look; the actor decides from its own state at
 * ctx.now, so a lagging projection can delay a release, never cause a wrong one.
 */
export async function releaseExpiredReservations(p: LedgerTimersParameters): Promise<number> {
  const now = (p.now ?? (() => new Date()))().getTime()
  let sent = 0
  for (const row of p.projections.all<OpenReservationsRow>('open-reservations')) {
    if (!Object.values(row.open).some((expiresAt) => Date.parse(expiresAt) <= now)) continue
    try {
      await p.wallets.send(row.wallet, { type: 'ReleaseExpiredReservations' })
      sent++
    } catch (error) {
      p.onError?.(error, row.wallet)
    }
  }
  return sent
}

/** Sends RequestSettlement to every wallet with at least `sweepMinimum` unswept settled spend. */
export async function requestSettlements(p: LedgerTimersParameters): Promise<number> {
  const minimum = p.sweepMinimum ?? 1_000_000n
  const newId = p.newId ?? (() => crypto.randomUUID())
  let sent = 0
  for (const row of p.projections.all<BalanceRow>('wallet-balances')) {
    const l = row.ledger
    if (l.depositIndex === null || l.unsettledSpend - l.sweeping < minimum) continue
    try {
      await p.wallets.send(row.wallet, { type: 'RequestSettlement', settlementId: newId(), minimumAmount: minimum })
      sent++
    } catch (error) {
      p.onError?.(error, row.wallet)
    }
  }
  return sent
}

/**
 * Runs the ledger's timers: expired reservations at start-up (after a restart the TTL of
 * a crashed holder's reservation is honoured) and every `expiryIntervalMs`; settlement
 * sweeps every `sweepIntervalMs` when enabled. Returns stop().
 */
export function startLedgerTimers(p: LedgerTimersParameters): () => void {
  let stopped = false
  let running = false
  const guard = (work: () => Promise<unknown>) => async () => {
    if (stopped || running) return
    running = true
    try {
      await work()
    } finally {
      running = false
    }
  }
  const expiry = guard(() => releaseExpiredReservations(p))
  void guard(async () => {
    if (p.store !== undefined) await p.projections.waitFor(await p.store.headPosition(), 60_000)
    await releaseExpiredReservations(p)
  })()
  const timers = [setInterval(expiry, p.expiryIntervalMs ?? 15_000)]
  if ((p.sweepIntervalMs ?? 0) > 0) timers.push(setInterval(guard(() => requestSettlements(p)), p.sweepIntervalMs))
  for (const t of timers) t.unref()
  return () => {
    stopped = true
    for (const t of timers) clearInterval(t)
  }
}
