import { describe, expect, it } from 'vitest'
import { DomainError } from '../../shared/errors.js'
import type { SpendBreakdown, WalletEvent } from './events.js'
import { availableBalance, holdFor } from './ledger.js'
import { fold, givenWhen } from '../../test/wallet/fold.js'
import type { WithdrawalLimits } from './withdrawal-guardrails.js'

const AT = '2026-11-25T12:00:00.000Z' // a Wednesday
const ADDR = '0x1111111111111111111111111111111111111111'
const DEPOSIT = '0x2222222222222222222222222222222222222222'
const DEST = '0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045' // valid EIP-55

const registered: WalletEvent[] = [
  { type: 'WalletRegistered', data: { address: ADDR, at: AT } },
  { type: 'DepositAddressAssigned', data: { index: 3, address: DEPOSIT, at: AT } },
]
const funded = (amount: bigint): WalletEvent[] => [
  ...registered,
  { type: 'DepositDetected', data: { txHash: '0xaa', logIndex: 0, amount, blockNumber: 10n, at: AT } },
]
const reserved = (id: string, agentId: string, amount: bigint, at = AT, ttlMs = 600_000): WalletEvent => ({
  type: 'SpendReserved',
  data: { reservationId: id, agentId, amount, hold: holdFor(amount), expiresAt: new Date(Date.parse(at) + ttlMs).toISOString(), at },
})
const breakdown: SpendBreakdown = {
  model: 'claude-haiku-4-5',
  inputTokens: 10,
  outputTokens: 10,
  cacheCreationInputTokens: 0,
  cacheReadInputTokens: 0,
  baseLlmCost: '60',
  toolCalls: 0,
  toolCosts: 0n,
  platformCost: 69n,
  byok: false,
}
const settled = (id: string, agentId: string, amount: bigint, at = AT): WalletEvent => ({
  type: 'SpendSettled',
  data: { reservationId: id, agentId, amount, requested: amount, writtenOff: 0n, breakdown, at },
})
const limits: WithdrawalLimits = { perWithdrawalMax: 1_000_000n, dailyMax: 1_500_000n, perHour: 2 }

function refusal(out: unknown): DomainError {
  expect(out).toBeInstanceOf(DomainError)
  return out as DomainError
}

describe('wallet registration and settings still work', () => {
  it('registers once and merges settings', () => {
    expect(givenWhen([], { type: 'RegisterWallet', address: ADDR })).toEqual([{ type: 'WalletRegistered', data: { address: ADDR, at: AT } }])
    expect(givenWhen(registered, { type: 'RegisterWallet', address: ADDR })).toEqual([])
    expect(givenWhen(registered, { type: 'UpdateSettings', patch: { plan: 'free' } })).toEqual([
      { type: 'SettingsUpdated', data: { patch: { plan: 'free' }, at: AT } },
    ])
    expect(refusal(givenWhen([], { type: 'ReserveSpend', reservationId: 'r', agentId: 'a', amount: 1n })).code).toBe('wallet_not_registered')
  })
})

describe('ReserveSpend', () => {
  it('holds amount + 10% and sets the expiry from ctx.now', () => {
    expect(givenWhen(funded(1_000_000n), { type: 'ReserveSpend', reservationId: 'r1', agentId: 'a', amount: 1000n, ttlMs: 60_000 })).toEqual([
      { type: 'SpendReserved', data: { reservationId: 'r1', agentId: 'a', amount: 1000n, hold: 1100n, expiresAt: '2026-11-25T12:01:00.000Z', at: AT } },
    ])
    expect(holdFor(1n)).toBe(2n) // the allowance is rounded up
  })
  it('is idempotent by reservation id, also after settlement or release', () => {
    const given = [...funded(1_000_000n), reserved('r1', 'a', 1000n)]
    expect(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r1', agentId: 'a', amount: 1000n })).toEqual([])
    expect(refusal(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r1', agentId: 'a', amount: 2000n })).code).toBe('idempotency_key_reused')
    expect(givenWhen([...given, settled('r1', 'a', 900n)], { type: 'ReserveSpend', reservationId: 'r1', agentId: 'a', amount: 1000n })).toEqual([])
  })
  it('refuses what exceeds available − open holds, naming the balance limit', () => {
    const given = [...funded(10_000n), reserved('r1', 'a', 5000n)] // holds 5,500
    const e = refusal(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r2', agentId: 'b', amount: 4100n })) // hold 4,510 > 4,500
    expect(e.code).toBe('insufficient_balance')
    expect(e.details).toMatchObject({ limit: 'balance', agentId: 'b', spendable: '4500', requested: '4100', hold: '4510' })
    expect(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r2', agentId: 'b', amount: 4090n })).toHaveLength(1) // hold 4,499
  })
  it('keeps the minimum balance', () => {
    const given = [...funded(10_000n), { type: 'BudgetSet', data: { agentId: 'a', daily: null, weekly: null, monthly: null, minimumBalance: 8000n, at: AT } } as WalletEvent]
    const e = refusal(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r', agentId: 'a', amount: 2000n }))
    expect(e.code).toBe('insufficient_balance')
    expect(e.details).toMatchObject({ limit: 'minimumBalance', spendable: '2000' })
    expect(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r', agentId: 'a', amount: 1800n })).toHaveLength(1) // hold 1,980
    // another agent is not bound by a's minimum
    expect(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r', agentId: 'b', amount: 5000n })).toHaveLength(1)
  })
  it('counts settled spend in the window plus open holds against each window', () => {
    const budget: WalletEvent = { type: 'BudgetSet', data: { agentId: 'a', daily: 10_000n, weekly: 12_000n, monthly: null, minimumBalance: null, at: AT } }
    const given = [...funded(1_000_000n), budget, reserved('r1', 'a', 3000n), settled('r1', 'a', 3000n), reserved('r2', 'a', 2000n)]
    // used today: 3,000 settled + 2,200 held = 5,200; a hold of 4,950 fits (10,150 > 10,000? no: 5,200 + 4,950 = 10,150 > 10,000)
    const e = refusal(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r3', agentId: 'a', amount: 4500n }))
    expect(e.code).toBe('budget_exceeded')
    expect(e.details).toMatchObject({ limit: 'daily', used: '5200', budget: '10000', spendable: '4800' })
    expect(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r3', agentId: 'a', amount: 4300n })).toHaveLength(1) // hold 4,730
    // tomorrow (Thursday) the day resets (only the 2,200 hold counts) but the ISO week does not: 3,000 + 2,200 + hold ≤ 12,000
    const thu = '2026-11-26T00:00:00.000Z'
    expect(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r3', agentId: 'a', amount: 6000n }, thu)).toHaveLength(1) // hold 6,600 → 11,800
    expect(refusal(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r3', agentId: 'a', amount: 6500n }, thu)).details).toMatchObject({ limit: 'weekly' })
    // next Monday both reset (only r2's hold remains)
    expect(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r3', agentId: 'a', amount: 7000n }, '2026-11-30T00:00:00.000Z')).toHaveLength(1)
    // other agents are not limited by a's budget
    expect(givenWhen(given, { type: 'ReserveSpend', reservationId: 'r3', agentId: 'b', amount: 50_000n })).toHaveLength(1)
  })
})

describe('SettleSpend / ReleaseSpend / ReleaseExpiredReservations', () => {
  const given = [...funded(1_000_000n), reserved('r1', 'a', 1000n, AT, 60_000)]
  it('charges the actual cost, capped at the hold (excess written off)', () => {
    expect(givenWhen(given, { type: 'SettleSpend', reservationId: 'r1', amount: 1050n, breakdown })).toEqual([
      { type: 'SpendSettled', data: { reservationId: 'r1', agentId: 'a', amount: 1050n, requested: 1050n, writtenOff: 0n, breakdown, at: AT } },
    ])
    const [e] = givenWhen(given, { type: 'SettleSpend', reservationId: 'r1', amount: 5000n, breakdown }) as WalletEvent[]
    expect(e).toMatchObject({ data: { amount: 1100n, requested: 5000n, writtenOff: 3900n } })
  })
  it('is idempotent, refuses after release, and names unknown ids', () => {
    expect(givenWhen([...given, settled('r1', 'a', 10n)], { type: 'SettleSpend', reservationId: 'r1', amount: 10n, breakdown })).toEqual([])
    const released: WalletEvent = { type: 'SpendReleased', data: { reservationId: 'r1', agentId: 'a', reason: 'expired', at: AT } }
    expect(refusal(givenWhen([...given, released], { type: 'SettleSpend', reservationId: 'r1', amount: 10n, breakdown })).code).toBe('reservation_closed')
    expect(refusal(givenWhen(given, { type: 'SettleSpend', reservationId: 'zz', amount: 10n, breakdown })).code).toBe('reservation_unknown')
    expect(givenWhen([...given, released], { type: 'ReleaseSpend', reservationId: 'r1', reason: 'again' })).toEqual([])
    expect(givenWhen(given, { type: 'ReleaseSpend', reservationId: 'nope', reason: 'x' })).toEqual([])
  })
  it('releases exactly the expired reservations at ctx.now', () => {
    const g = [...given, reserved('r2', 'b', 10n, AT, 120_000)]
    expect(givenWhen(g, { type: 'ReleaseExpiredReservations' }, '2026-11-25T12:00:59.999Z')).toEqual([])
    expect(givenWhen(g, { type: 'ReleaseExpiredReservations' }, '2026-11-25T12:01:00.000Z')).toEqual([
      { type: 'SpendReleased', data: { reservationId: 'r1', agentId: 'a', reason: 'expired', at: '2026-11-25T12:01:00.000Z' } },
    ])
  })
  it('moves the settled amount into unsettled spend and agentSpends', () => {
    const l = fold([...given, settled('r1', 'a', 700n)]).snapshot.context.ledger
    expect(l.reserved).toBe(0n)
    expect(l.unsettledSpend).toBe(700n)
    expect(l.agentSpends).toEqual({ a: { totalSpent: 700n } })
    expect(availableBalance(l)).toBe(999_300n)
  })
})

describe('withdrawals', () => {
  const g = funded(2_000_000n)
  const req = (over: Partial<{ to: string; amount: bigint; key: string; id: string; dep: boolean }> = {}) => ({
    type: 'RequestWithdrawal' as const,
    withdrawalId: over.id ?? 'w1',
    idempotencyKey: over.key ?? 'k1',
    to: over.to ?? DEST,
    amount: over.amount ?? 100n,
    limits,
    destinationIsDepositAddress: over.dep ?? false,
  })
  it('requests and names the broadcast effect', () => {
    const out = givenWhen(g, req()) as WalletEvent[]
    expect(out).toEqual([{ type: 'WithdrawalRequested', data: { withdrawalId: 'w1', idempotencyKey: 'k1', to: DEST, amount: 100n, depositIndex: 3, at: AT } }])
    const { snapshot, actions } = fold([...g, ...out])
    expect(actions).toEqual([{ type: 'broadcastWithdrawal', params: { withdrawalId: 'w1', depositIndex: 3, to: DEST, amount: 100n } }])
    expect(snapshot.context.ledger.pendingWithdrawals).toBe(100n)
  })
  it('refuses each guardrail by name', () => {
    const rule = (c: ReturnType<typeof req>, gv = g) => {
      const e = refusal(givenWhen(gv, c))
      return e.code === 'withdrawal_limit' ? e.details.rule : e.code
    }
    expect(rule(req({ amount: 0n }))).toBe('amount_invalid')
    expect(rule(req({ to: DEST.replace('d8dA', 'd8Da') }))).toBe('destination_invalid')
    expect(rule(req({ to: '0x1234' }))).toBe('destination_invalid')
    expect(rule(req({ to: '0x0000000000000000000000000000000000000000' }))).toBe('destination_zero')
    expect(rule(req({ to: DEPOSIT }))).toBe('destination_deposit_address')
    expect(rule(req({ dep: true }))).toBe('destination_deposit_address')
    expect(rule(req({ amount: 1_000_001n }))).toBe('per_withdrawal_max')
    const w = (id: string, amount: bigint, at = AT): WalletEvent => ({
      type: 'WithdrawalRequested',
      data: { withdrawalId: id, idempotencyKey: id, to: DEST, amount, depositIndex: 3, at },
    })
    const earlier = '2026-11-25T10:00:00.000Z'
    expect(rule(req({ amount: 600_000n }), [...g, w('a', 1_000_000n, earlier)])).toBe('daily_max')
    expect(rule(req(), [...g, w('a', 1n), w('b', 1n)])).toBe('per_hour')
    // all lower-case is accepted
    expect(givenWhen(g, req({ to: DEST.toLowerCase() }))).toHaveLength(1)
    expect(rule(req({ amount: 1_000_000n }), funded(999_999n))).toBe('insufficient_balance')
  })
  it('is idempotent by key; a reused key with other parameters is refused', () => {
    const given = [...g, ...(givenWhen(g, req()) as WalletEvent[])]
    expect(givenWhen(given, req({ id: 'w2' }))).toEqual([])
    expect(refusal(givenWhen(given, req({ id: 'w2', amount: 5n }))).code).toBe('idempotency_key_reused')
  })
  it('broadcast → confirmed removes it from pending and moves the chain balance', () => {
    const given = [...g, ...(givenWhen(g, req()) as WalletEvent[])]
    const b = givenWhen(given, { type: 'WithdrawalBroadcast', withdrawalId: 'w1', txHash: '0xbb' }) as WalletEvent[]
    const c = givenWhen([...given, ...b], { type: 'WithdrawalConfirmed', withdrawalId: 'w1', txHash: '0xbb', blockNumber: 20n }) as WalletEvent[]
    const l = fold([...given, ...b, ...c]).snapshot.context.ledger
    expect(l.pendingWithdrawals).toBe(0n)
    expect(l.onChainBalance).toBe(1_999_900n)
    expect(l.withdrawals.w1?.status).toBe('confirmed')
    expect(givenWhen([...given, ...b, ...c], { type: 'WithdrawalFailed', withdrawalId: 'w1', reason: 'late' })).toEqual([])
  })
})

describe('settlement sweeps', () => {
  it('sweeps unsettled spend not already in flight, and names the effect', () => {
    const given = [...funded(1_000_000n), reserved('r1', 'a', 1000n), settled('r1', 'a', 800n)]
    const out = givenWhen(given, { type: 'RequestSettlement', settlementId: 's1' }) as WalletEvent[]
    expect(out).toEqual([{ type: 'SettlementRequested', data: { settlementId: 's1', amount: 800n, depositIndex: 3, at: AT } }])
    expect(fold([...given, ...out]).actions).toEqual([{ type: 'broadcastSettlement', params: { settlementId: 's1', depositIndex: 3, amount: 800n } }])
    expect(givenWhen([...given, ...out], { type: 'RequestSettlement', settlementId: 's2' })).toEqual([])
    expect(givenWhen(given, { type: 'RequestSettlement', settlementId: 's2', minimumAmount: 801n })).toEqual([])
  })
  it('confirmation lowers unsettled spend and on-chain balance by the same amount', () => {
    const given = [...funded(1_000_000n), reserved('r1', 'a', 1000n), settled('r1', 'a', 800n)]
    const s: WalletEvent[] = [
      { type: 'SettlementRequested', data: { settlementId: 's1', amount: 800n, depositIndex: 3, at: AT } },
      { type: 'SettlementConfirmed', data: { settlementId: 's1', txHash: '0xcc', blockNumber: 30n, at: AT } },
    ]
    const before = fold(given).snapshot.context.ledger
    const after = fold([...given, ...s]).snapshot.context.ledger
    expect(before.onChainBalance - after.onChainBalance).toBe(800n)
    expect(before.unsettledSpend - after.unsettledSpend).toBe(800n)
    expect(availableBalance(after)).toBe(availableBalance(before))
  })
})

describe('chain observations (THE BALANCE RULE)', () => {
  it('ignores observations at or below the last observed block; a deposit already inside an observation is not added again', () => {
    const obs = (balance: bigint, blockNumber: bigint): WalletEvent => ({ type: 'OnChainBalanceObserved', data: { balance, blockNumber, at: AT } })
    const given = [...registered, obs(500n, 12n)]
    expect(givenWhen(given, { type: 'ObserveOnChainBalance', balance: 900n, blockNumber: 11n })).toEqual([])
    // deposit of 500 mined at block 10 ≤ 12: already in the observed 500
    const l = fold([...given, { type: 'DepositDetected', data: { txHash: '0x1', logIndex: 0, amount: 500n, blockNumber: 10n, at: AT } }]).snapshot.context.ledger
    expect(l.onChainBalance).toBe(500n)
    // a newer deposit is added until an observation absorbs it
    const l2 = fold([...given, { type: 'DepositDetected', data: { txHash: '0x2', logIndex: 1, amount: 300n, blockNumber: 13n, at: AT } }]).snapshot.context.ledger
    expect(l2.onChainBalance).toBe(800n)
    const l3 = fold([obs(800n, 13n)], fold([...given, { type: 'DepositDetected', data: { txHash: '0x2', logIndex: 1, amount: 300n, blockNumber: 13n, at: AT } }]).snapshot).snapshot.context.ledger
    expect(l3.onChainBalance).toBe(800n)
    expect(l3.movements).toEqual([])
  })
  it('deposits stay idempotent beyond the newest 64 (archived keys)', () => {
    const many: WalletEvent[] = Array.from({ length: 200 }, (_, i) => ({
      type: 'DepositDetected',
      data: { txHash: `0x${i}`, logIndex: 0, amount: 1n, blockNumber: 10n + BigInt(i), at: AT },
    }))
    const l = fold([...registered, ...many]).snapshot.context.ledger
    expect(l.depositArchive).toHaveLength(3)
    expect(l.onChainBalance).toBe(200n)
    expect(givenWhen([...registered, ...many], { type: 'ObserveDeposit', txHash: '0x0', logIndex: 0, amount: 1n, blockNumber: 10n })).toEqual([])
    expect(givenWhen([...registered, ...many], { type: 'ObserveDeposit', txHash: '0x199', logIndex: 0, amount: 1n, blockNumber: 209n })).toEqual([])
  })
  it('deposits are idempotent by tx hash + log index', () => {
    const given = funded(100n)
    expect(givenWhen(given, { type: 'ObserveDeposit', txHash: '0xaa', logIndex: 0, amount: 100n, blockNumber: 10n })).toEqual([])
    expect(givenWhen(given, { type: 'ObserveDeposit', txHash: '0xaa', logIndex: 1, amount: 100n, blockNumber: 10n })).toHaveLength(1)
  })
})
