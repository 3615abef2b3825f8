import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { budgetsView } from '../../transport/routes/wallet-ledger.js'
import { initialSnapshot } from '../runtime/initial-snapshot.js'
import type { WalletEvent } from './events.js'
import { fold, run } from '../../test/wallet/fold.js'
import { walletMachine } from './machine.js'
import { HOSTILE_NAMES } from '../../test/hostile-names.js'
import { DomainError } from '../../shared/errors.js'
import { UNSTORABLE_NAME } from '../../shared/own.js'
import { decide } from './decide.js'
import { ctxAt } from '../../test/wallet/fold.js'

const AT = '2026-11-25T12:00:00.000Z'
const ADDR = '0x1111111111111111111111111111111111111111'
const DEST = '0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045'
const limits = { perWithdrawalMax: 10_000_000n, dailyMax: 10_000_000n, perHour: 100 }

/** A registered, funded wallet folded from events. */
function fundedWallet() {
  let snapshot = initialSnapshot(walletMachine)
  snapshot = run(snapshot, { type: 'RegisterWallet', address: ADDR }, AT).snapshot
  snapshot = run(snapshot, { type: 'AssignDepositAddress', index: 1, address: '0x2222222222222222222222222222222222222222' }, AT).snapshot
  const deposit: WalletEvent = { type: 'DepositDetected', data: { txHash: '0xaa', logIndex: 0, amount: 5_000_000n, blockNumber: 1n, at: AT } }
  return fold([deposit], snapshot).snapshot
}

const name = fc.oneof(fc.constantFrom(...HOSTILE_NAMES), fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/)).filter((n) => n !== UNSTORABLE_NAME)

describe('names are data, never object keys', () => {
  it('budgets, spends and withdrawals under any agent id or idempotency key behave like any other name', () => {
    fc.assert(
      fc.property(name, name, (agentId, idempotencyKey) => {
        let snapshot = fundedWallet()
        // A first budget for the name is a new budget, not an inherited Object member.
        const set = run(snapshot, { type: 'SetBudget', agentId, daily: 5_000_000n }, AT)
        expect(set.events).toHaveLength(1)
        snapshot = set.snapshot
        const view = budgetsView(snapshot.context.ledger, new Date(AT))
        expect(Object.keys(view)).toEqual([agentId])
        expect(Object.getOwnPropertyDescriptor(view, agentId)?.value).toMatchObject({ daily: { limit: '5000000', spent: '0' } })
        // Reserve and settle under the name; the window counts it.
        snapshot = run(snapshot, { type: 'ReserveSpend', reservationId: agentId, agentId, amount: 1_000_000n }, AT).snapshot
        snapshot = run(
          snapshot,
          {
            type: 'SettleSpend',
            reservationId: agentId,
            amount: 1_000_000n,
            breakdown: { model: 'm', inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, baseLlmCost: '0', toolCalls: 0, toolCosts: 0n, platformCost: 1_000_000n, byok: false },
          },
          AT,
        ).snapshot
        const after = budgetsView(snapshot.context.ledger, new Date(AT))
        expect(Object.getOwnPropertyDescriptor(after, agentId)?.value).toMatchObject({ daily: { spent: '1000000', left: '4000000' } })
        // A first withdrawal with the key is accepted, its retry is idempotent.
        const w = run(snapshot, { type: 'RequestWithdrawal', withdrawalId: 'w-1', idempotencyKey, to: DEST, amount: 100n, limits, destinationIsDepositAddress: false }, AT)
        expect(w.events.map((e) => e.type)).toEqual(['WithdrawalRequested'])
        const retry = run(w.snapshot, { type: 'RequestWithdrawal', withdrawalId: 'w-2', idempotencyKey, to: DEST, amount: 100n, limits, destinationIsDepositAddress: false }, AT)
        expect(retry.events).toEqual([])
        // Clearing the budget removes it and nothing else.
        const cleared = run(w.snapshot, { type: 'SetBudget', agentId, daily: null }, AT).snapshot
        expect(Object.keys(budgetsView(cleared.context.ledger, new Date(AT)))).toEqual([])
        expect(Object.getPrototypeOf(cleared.context.ledger.budgets)).toBe(Object.prototype)
      }),
      { seed: 13, numRuns: 200 },
    )
  })

  it('"__proto__", which msgpack snapshots cannot keep as a key, is refused where it would become one', () => {
    const snapshot = fundedWallet()
    const refused = [
      decide(snapshot, { type: 'SetBudget', agentId: UNSTORABLE_NAME, daily: 1n }, ctxAt(AT)),
      decide(snapshot, { type: 'ReserveSpend', reservationId: 'r', agentId: UNSTORABLE_NAME, amount: 1n }, ctxAt(AT)),
      decide(snapshot, { type: 'RequestWithdrawal', withdrawalId: 'w', idempotencyKey: UNSTORABLE_NAME, to: DEST, amount: 1n, limits, destinationIsDepositAddress: false }, ctxAt(AT)),
      decide(snapshot, { type: 'UpdateSettings', patch: JSON.parse('{"__proto__": 1}') as Record<string, unknown> }, ctxAt(AT)),
    ]
    for (const r of refused) expect(r).toBeInstanceOf(DomainError)
  })

  it('a settings patch with any key names merges as data', () => {
    fc.assert(
      fc.property(name, fc.integer(), (key, value) => {
        let snapshot = fundedWallet()
        const out = run(snapshot, { type: 'UpdateSettings', patch: { [key]: value } }, AT)
        expect(out.events).toHaveLength(1)
        snapshot = out.snapshot
        expect(Object.getOwnPropertyDescriptor(snapshot.context.settings, key)?.value).toBe(value)
      }),
      { seed: 13, numRuns: 100 },
    )
  })
})
