import fc from 'fast-check'
import { DomainError } from '../../shared/errors.js'
import type { WalletCommand } from '../../actors/wallet/commands.js'
import { toolOnlyBreakdown } from './breakdown.js'
import { availableBalance, holdFor, type Ledger } from '../../actors/wallet/ledger.js'
import type { WithdrawalLimits } from '../../actors/wallet/withdrawal-guardrails.js'
import { windowKey, WINDOW_KINDS } from '../../actors/wallet/windows.js'

/**
 * A random-interleaving model of one wallet against a simulated chain, shared by the
 * pure property test and the ActorHost-on-SQLite one. The simulator plays the chain
 * watcher and connector: transfers are mined at a block, and reported (or not, or late,
 * or twice) afterwards, so every order of "observed" and "confirmed" happens.
 */
export type Op =
  | { k: 'deposit'; amount: bigint }
  | { k: 'reportDeposit'; pick: number }
  | { k: 'mine' }
  | { k: 'observe'; back: number }
  | { k: 'reserve'; agent: number; amount: bigint; ttl: number }
  | { k: 'settle'; pick: number; pct: number }
  | { k: 'release'; pick: number }
  | { k: 'tick'; ms: number }
  | { k: 'withdraw'; amount: bigint; key: number }
  | { k: 'mineWithdrawal'; pick: number; fail: boolean }
  | { k: 'confirmWithdrawal'; pick: number }
  | { k: 'sweep' }
  | { k: 'mineSweep'; pick: number }
  | { k: 'confirmSweep'; pick: number }
  | { k: 'crash' }
  | { k: 'x402Pay'; agent: number; amount: bigint }
  | { k: 'x402Settle'; pick: number }

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('deposit' as const), amount: fc.bigInt({ min: 1n, max: 20_000n }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('reportDeposit' as const), pick: fc.nat(50) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('mine' as const) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('observe' as const), back: fc.nat(4) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('reserve' as const), agent: fc.nat(2), amount: fc.bigInt({ min: 1n, max: 6_000n }), ttl: fc.integer({ min: 1_000, max: 7_200_000 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('settle' as const), pick: fc.nat(50), pct: fc.integer({ min: 0, max: 150 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('release' as const), pick: fc.nat(50) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 12 * 3_600_000 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('withdraw' as const), amount: fc.bigInt({ min: 1n, max: 8_000n }), key: fc.nat(8) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('mineWithdrawal' as const), pick: fc.nat(20), fail: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('confirmWithdrawal' as const), pick: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('sweep' as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('mineSweep' as const), pick: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('confirmSweep' as const), pick: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('crash' as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('x402Pay' as const), agent: fc.nat(2), amount: fc.bigInt({ min: 1n, max: 3_000n }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('x402Settle' as const), pick: fc.nat(20) }) },
)

export interface Executor {
  send(command: WalletCommand, now: Date): Promise<void | DomainError>
  ledger(): Promise<Ledger>
  crash(): Promise<void>
}

export const LIMITS: WithdrawalLimits = { perWithdrawalMax: 7_000n, dailyMax: 20_000n, perHour: 3 }
/** Budgets set before anything else: agent 0 daily, agent 1 weekly + monthly, agent 2 none. */
export const BUDGETS: WalletCommand[] = [
  { type: 'SetBudget', agentId: 'agent-0', daily: 9_000n },
  { type: 'SetBudget', agentId: 'agent-1', weekly: 15_000n, monthly: 25_000n, minimumBalance: 2_000n },
]
export const DEST = '0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045'

interface Transfer {
  id: string
  amount: bigint
  block?: bigint
  reported: boolean
  failed?: boolean
}

/** Runs ops against an executor, checking every invariant after each step. */
export async function simulate(ops: readonly Op[], ex: Executor, start = new Date('2026-11-28T22:00:00.000Z')): Promise<void> {
  let now = start
  let head = 1n
  let seq = 0
  const chain: { block: bigint; delta: bigint }[] = []
  const balanceAt = (b: bigint) => chain.filter((t) => t.block <= b).reduce((s, t) => s + t.delta, 0n)
  const deposits: (Transfer & { logIndex: number })[] = []
  const withdrawals: Transfer[] = []
  const sweeps: Transfer[] = []
  const open: { id: string; agent: string; amount: bigint; hold: bigint }[] = []
  // Settled charges per agent per window key (the independent model of the windows).
  const charged = new Map<string, bigint>()
  let settledTotal = 0n
  let sweptOnChain = 0n
  let paidSettled = 0n
  // x402 payments mined from the deposit address, not yet settled in the ledger (their hold covers them)
  const paid: { id: string; agent: string; amount: bigint; hold: bigint; block: bigint }[] = []

  const send = async (c: WalletCommand) => ex.send(c, now)
  await send({ type: 'RegisterWallet', address: '0x1111111111111111111111111111111111111111' })
  await send({ type: 'AssignDepositAddress', index: 0, address: '0x2222222222222222222222222222222222222222' })
  for (const b of BUDGETS) await send(b)
  // opening balance, so most sequences spend near the limits rather than at zero
  head++
  chain.push({ block: head, delta: 10_000n })
  deposits.push({ id: '0xdep0', amount: 10_000n, block: head, reported: true, logIndex: 0 })
  await send({ type: 'ObserveDeposit', txHash: '0xdep0', logIndex: 0, amount: 10_000n, blockNumber: head })

  const pick = <T>(list: T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length])

  for (const op of ops) {
    switch (op.k) {
      case 'deposit': {
        head++
        const d = { id: `0xdep${++seq}`, amount: op.amount, block: head, reported: false, logIndex: seq % 3 }
        deposits.push(d)
        chain.push({ block: head, delta: op.amount })
        break
      }
      case 'reportDeposit': {
        const d = pick(deposits, op.pick)
        if (d === undefined) break
        // reported possibly twice: idempotent by tx hash + log index
        await send({ type: 'ObserveDeposit', txHash: d.id, logIndex: d.logIndex, amount: d.amount, blockNumber: d.block! })
        d.reported = true
        break
      }
      case 'mine':
        head++
        break
      case 'observe': {
        const b = head - BigInt(op.back) < 0n ? 0n : head - BigInt(op.back)
        await send({ type: 'ObserveOnChainBalance', balance: balanceAt(b), blockNumber: b })
        break
      }
      case 'reserve': {
        const id = `r${++seq}`
        const agent = `agent-${op.agent}`
        const out = await send({ type: 'ReserveSpend', reservationId: id, agentId: agent, amount: op.amount, ttlMs: op.ttl })
        if (out instanceof DomainError) {
          if (!['insufficient_balance', 'budget_exceeded'].includes(out.code)) throw out
          break
        }
        open.push({ id, agent, amount: op.amount, hold: holdFor(op.amount) })
        // the sum held never exceeds what was spendable
        const after = await ex.ledger()
        if (availableBalance(after) - after.reserved < 0n) throw new Error('reservation took more than was spendable')
        // a retried reserve changes nothing
        await send({ type: 'ReserveSpend', reservationId: id, agentId: agent, amount: op.amount, ttlMs: op.ttl })
        break
      }
      case 'settle': {
        const r = pick(open, op.pick)
        if (r === undefined) break
        const cost = (r.amount * BigInt(op.pct)) / 100n
        const out = await send({ type: 'SettleSpend', reservationId: r.id, amount: cost, breakdown: toolOnlyBreakdown(cost) })
        open.splice(open.indexOf(r), 1)
        if (out instanceof DomainError) {
          // only possible when the TTL released it first
          if (out.code !== 'reservation_closed') throw out
          break
        }
        const charge = cost < r.hold ? cost : r.hold
        // the stated bound: a charge never exceeds the reservation by more than 10% (rounded up)
        if (charge > holdFor(r.amount)) throw new Error('charge beyond the bound')
        for (const kind of WINDOW_KINDS) {
          const key = `${r.agent}|${windowKey(kind, now)}`
          charged.set(key, (charged.get(key) ?? 0n) + charge)
        }
        settledTotal += charge
        // settling twice is a no-op
        const again = await send({ type: 'SettleSpend', reservationId: r.id, amount: cost, breakdown: toolOnlyBreakdown(cost) })
        if (again instanceof DomainError) throw again
        break
      }
      case 'release': {
        const r = pick(open, op.pick)
        if (r === undefined) break
        await send({ type: 'ReleaseSpend', reservationId: r.id, reason: 'cancelled' })
        open.splice(open.indexOf(r), 1)
        break
      }
      case 'tick': {
        now = new Date(now.getTime() + op.ms)
        await send({ type: 'ReleaseExpiredReservations' })
        const l = await ex.ledger()
        for (const r of [...open]) if (l.reservations[r.id] === undefined) open.splice(open.indexOf(r), 1)
        break
      }
      case 'withdraw': {
        const id = `w${++seq}`
        const out = await send({
          type: 'RequestWithdrawal',
          withdrawalId: id,
          idempotencyKey: `k${seq}`,
          to: DEST,
          amount: op.amount,
          limits: LIMITS,
          destinationIsDepositAddress: false,
        })
        if (out instanceof DomainError) {
          if (!['insufficient_balance', 'withdrawal_limit'].includes(out.code)) throw out
          break
        }
        withdrawals.push({ id, amount: op.amount, reported: false })
        const after = await ex.ledger()
        if (availableBalance(after) - after.reserved < 0n) throw new Error('withdrawal took more than was spendable')
        break
      }
      case 'mineWithdrawal': {
        const w = pick(withdrawals.filter((x) => x.block === undefined && !x.failed), op.pick)
        if (w === undefined) break
        head++
        if (op.fail) {
          w.failed = true
          await send({ type: 'WithdrawalFailed', withdrawalId: w.id, reason: 'reverted' })
          w.reported = true
        } else {
          await send({ type: 'WithdrawalBroadcast', withdrawalId: w.id, txHash: `0xtx${w.id}` })
          w.block = head
          chain.push({ block: head, delta: -w.amount })
        }
        break
      }
      case 'confirmWithdrawal': {
        const w = pick(withdrawals.filter((x) => x.block !== undefined && !x.reported), op.pick)
        if (w === undefined) break
        await send({ type: 'WithdrawalConfirmed', withdrawalId: w.id, txHash: `0xtx${w.id}`, blockNumber: w.block! })
        w.reported = true
        break
      }
      case 'sweep': {
        const id = `s${++seq}`
        await send({ type: 'RequestSettlement', settlementId: id })
        const s = (await ex.ledger()).settlements[id]
        if (s !== undefined) sweeps.push({ id, amount: s.amount, reported: false })
        break
      }
      case 'mineSweep': {
        const s = pick(sweeps.filter((x) => x.block === undefined), op.pick)
        if (s === undefined) break
        head++
        s.block = head
        chain.push({ block: head, delta: -s.amount })
        sweptOnChain += s.amount
        break
      }
      case 'confirmSweep': {
        const s = pick(sweeps.filter((x) => x.block !== undefined && !x.reported), op.pick)
        if (s === undefined) break
        await send({ type: 'SettlementConfirmed', settlementId: s.id, txHash: `0xtx${s.id}`, blockNumber: s.block! })
        s.reported = true
        break
      }
      case 'crash':
        await ex.crash()
        break
      case 'x402Pay': {
        const id = `x${++seq}`
        const agent = `agent-${op.agent}`
        const out = await send({ type: 'ReserveSpend', reservationId: id, agentId: agent, amount: op.amount, onChainPayment: true })
        if (out instanceof DomainError) {
          if (!['insufficient_balance', 'budget_exceeded'].includes(out.code)) throw out
          break
        }
        head++
        chain.push({ block: head, delta: -op.amount })
        paid.push({ id, agent, amount: op.amount, hold: holdFor(op.amount), block: head })
        break
      }
      case 'x402Settle': {
        const x = pick(paid, op.pick)
        if (x === undefined) break
        const out = await send({ type: 'SettleSpend', reservationId: x.id, amount: x.amount, breakdown: toolOnlyBreakdown(x.amount), paidOnChain: { txHash: `0xpay${x.id}`, blockNumber: x.block } })
        paid.splice(paid.indexOf(x), 1)
        if (out instanceof DomainError) throw out // on-chain payment holds never expire
        for (const kind of WINDOW_KINDS) {
          const key = `${x.agent}|${windowKey(kind, now)}`
          charged.set(key, (charged.get(key) ?? 0n) + x.amount)
        }
        settledTotal += x.amount
        paidSettled += x.amount
        break
      }
    }

    // ── invariants ──
    const l = await ex.ledger()
    const truthPending = withdrawals.filter((w) => w.block === undefined && !w.failed).reduce((s, w) => s + w.amount, 0n)
    const truthAvailable = balanceAt(head) - (settledTotal - paidSettled - sweptOnChain) - truthPending
    // an x402 payment mined but not yet settled is covered by its hold (available excludes holds by definition)
    const inFlight = paid.reduce((s, x) => {
      if (l.reservations[x.id] === undefined) throw new Error(`on-chain payment hold ${x.id} released before its settlement`)
      return s + x.hold
    }, 0n)
    if (availableBalance(l) - inFlight > truthAvailable)
      throw new Error(`available ${availableBalance(l)} above the truth ${truthAvailable} after ${JSON.stringify(op, (_, v) => (typeof v === 'bigint' ? `${v}` : v))}`)
    const holds = Object.values(l.reservations).reduce((s, r) => s + r.hold, 0n)
    if (holds !== l.reserved) throw new Error('reserved ≠ Σ holds')
    if (l.unsettledSpend !== l.totals.settled - l.totals.paidOnChain - l.totals.swept) throw new Error('unsettled ≠ settled − paid on chain − swept')
    const pend = Object.values(l.withdrawals).filter((w) => w.status === 'requested' || w.status === 'broadcast').reduce((s, w) => s + w.amount, 0n)
    if (pend !== l.pendingWithdrawals) throw new Error('pending ≠ Σ open withdrawals')
    if (l.totals.settled !== settledTotal) throw new Error(`settled ${l.totals.settled} ≠ model ${settledTotal}`)
    // windows: settled + holds never above the budget (reservations hold the overrun allowance)
    for (const [key, spent] of charged) {
      const [agent, wk] = key.split('|') as [string, string]
      const kind = wk.startsWith('W') ? 'weekly' : wk.length === 7 ? 'monthly' : 'daily'
      const limit = agent === 'agent-0' ? (kind === 'daily' ? 9_000n : null) : agent === 'agent-1' ? (kind === 'weekly' ? 15_000n : kind === 'monthly' ? 25_000n : null) : null
      if (limit !== null && spent > limit) throw new Error(`${key} spent ${spent} > ${limit}`)
    }
    if (l.onChainBalance < 0n || l.unsettledSpend < 0n || l.pendingWithdrawals < 0n || l.reserved < 0n) throw new Error('negative figure')
  }
}
