import { describe, expect, it } from 'vitest'
import type { RecordedEvent } from '../store/types.js'
import { depositAddressesProjection } from './deposit-addresses.js'
import { openReservationsProjection } from './open-reservations.js'
import { evolveBalance, walletBalancesProjection } from './wallet-balances.js'
import { walletTransactionsProjection } from './wallet-transactions.js'
import type { Projection } from './types.js'

const W = '0xabcabcabcabcabcabcabcabcabcabcabcabcabca'
const AT = '2026-11-25T12:00:00.000Z'
let pos = 0n
const ev = (type: string, data: object): RecordedEvent => ({
  id: `e${pos}`,
  streamId: `wallet-${W}`,
  revision: pos,
  position: ++pos,
  type,
  data: { at: AT, ...data },
  metadata: {},
  recordedAt: AT,
  prevHash: '',
  hash: '',
})

/** Folds events into a key → row map, as the runner does. */
function run<Row>(p: Projection<Row>, events: RecordedEvent[]): Map<string, Row> {
  const rows = new Map<string, Row>()
  for (const e of events) {
    if (!p.canHandle(e)) continue
    const { key } = p.keyOf(e)
    const next = p.evolve(rows.get(key), e)
    if (next === undefined) rows.delete(key)
    else rows.set(key, next)
  }
  return rows
}

const b = { model: 'claude-haiku-4-5', inputTokens: 10, outputTokens: 5, cacheCreationInputTokens: 2, cacheReadInputTokens: 3, baseLlmCost: '1', toolCalls: 4, toolCosts: 0n, platformCost: 2n, byok: true }
const events = [
  ev('WalletRegistered', { address: '0xAbcAbc' }),
  ev('DepositAddressAssigned', { index: 7, address: '0xDEADdeadDEADdeadDEADdeadDEADdeadDEADdead' }),
  ev('DepositDetected', { txHash: '0x1', logIndex: 2, amount: 500n, blockNumber: 3n }),
  ev('SpendReserved', { reservationId: 'r1', agentId: 'a', amount: 10n, hold: 11n, expiresAt: AT }),
  ev('SpendReserved', { reservationId: 'r2', agentId: 'a', amount: 10n, hold: 11n, expiresAt: AT }),
  ev('SpendSettled', { reservationId: 'r1', agentId: 'a', amount: 9n, requested: 9n, writtenOff: 0n, breakdown: b }),
  ev('WithdrawalRequested', { withdrawalId: 'w1', idempotencyKey: 'k', to: '0x2', amount: 100n, depositIndex: 7 }),
  ev('WithdrawalBroadcast', { withdrawalId: 'w1', txHash: '0xw' }),
  ev('WithdrawalConfirmed', { withdrawalId: 'w1', txHash: '0xw', blockNumber: 9n }),
  ev('SettingsUpdated', { patch: { plan: 'free' } }),
]

describe('projections (pure evolve)', () => {
  it('transactions: one row per deposit, spend and withdrawal; updates follow the withdrawal', () => {
    const rows = [...run(walletTransactionsProjection, events).values()]
    expect(rows.map((r) => [r.type, r.amount, r.status])).toEqual([
      ['deposit', '500', 'confirmed'],
      ['spend', '9', undefined],
      ['withdrawal', '100', 'confirmed'],
    ])
    expect(rows[1]).toMatchObject({ agentId: 'a', toolCallCount: 4, inputTokens: 15, outputTokens: 5 })
    expect(rows[2]).toMatchObject({ txHash: '0xw', blockNumber: '9' })
  })
  it('balances: the ledger fold; deposit addresses and open reservations index by key', () => {
    const bal = run(walletBalancesProjection, events).get(W)!
    expect(bal.address).toBe('0xAbcAbc')
    expect(bal.ledger).toMatchObject({ onChainBalance: 400n, unsettledSpend: 9n, pendingWithdrawals: 0n, reserved: 11n, closed: [] })
    expect(evolveBalance(undefined, events[9]!)).toMatchObject({ wallet: W, address: null })
    expect([...run(depositAddressesProjection, events).entries()]).toEqual([['0xdeaddeaddeaddeaddeaddeaddeaddeaddeaddead', { address: '0xdeaddeaddeaddeaddeaddeaddeaddeaddeaddead', wallet: W, index: 7 }]])
    expect(run(openReservationsProjection, events).get(W)).toEqual({ wallet: W, open: { r2: AT } })
    const released = run(openReservationsProjection, [...events, ev('SpendReleased', { reservationId: 'r2', agentId: 'a', reason: 'x' })])
    expect(released.size).toBe(0)
  })
})
