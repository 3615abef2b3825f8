/**
 * The wallet's budget holds when two processes drive the same wallet at once: two actor
 * hosts, each with its own KurrentDB client (its own connections, its own cached actor),
 * on the KurrentDB test double. Only optimistic concurrency stands between them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ActorHost } from '../../actors/runtime/host.js'
import type { WalletCommand } from '../../actors/wallet/commands.js'
import { walletDefinition } from '../../actors/wallet/definition.js'
import { verifyChain } from '../../store/hash.js'
import { KurrentDbEventStore } from '../../store/kurrentdb/kurrentdb-event-store.js'
import { startKurrentDbDouble, type KurrentDbDouble } from './kurrentdb-double.js'

const WALLET = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'
const USDC = 1_000_000n

describe('wallet budget across two hosts on one KurrentDB (test double)', () => {
  let double: KurrentDbDouble
  let stores: KurrentDbEventStore[] = []

  beforeAll(async () => {
    double = await startKurrentDbDouble()
    stores = [0, 1].map(() => new KurrentDbEventStore({ connectionString: double.connectionString }))
  })
  afterAll(async () => {
    for (const s of stores) await s.close()
    await double?.close()
  })

  it('concurrent reservations from both hosts never exceed the daily budget or the balance', async () => {
    const hosts = stores.map(
      (store) => new ActorHost({ definition: walletDefinition, store, snapshots: store.snapshots, snapshotEvery: 4, maxRetries: 100 }),
    )
    const one = hosts[0]!
    const two = hosts[1]!
    const send = (host: (typeof hosts)[number], command: WalletCommand) => host.send(WALLET, command)

    await send(one, { type: 'RegisterWallet', address: '0x70997970C51812dc3A010C7d01b50e0D17dc79C8' })
    await send(two, { type: 'ObserveOnChainBalance', balance: 100n * USDC, blockNumber: 1n })
    // Both hosts have now cached the actor; each copy goes stale as the other writes.
    await send(one, { type: 'SetBudget', agentId: 'agent-1', daily: 10n * USDC })

    // 1 USDC each holds 1.1 USDC against a 10 USDC daily budget: exactly 9 may pass.
    const attempts = 24
    const results = await Promise.allSettled(
      Array.from({ length: attempts }, (_, i) =>
        send(i % 2 === 0 ? one : two, { type: 'ReserveSpend', reservationId: `r-${i}`, agentId: 'agent-1', amount: USDC }),
      ),
    )
    const reserved = results.filter((r) => r.status === 'fulfilled' && r.value.events.length === 1)
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    expect(reserved).toHaveLength(9)
    expect(refused).toHaveLength(attempts - 9)
    for (const r of refused) expect((r.reason as { code?: string }).code).toBe('budget_exceeded')

    // The stream is the truth: nine holds of 1.1 USDC, chain intact, no duplicate reservation.
    const events = await stores[0]!.readStream(`wallet-${WALLET}`)
    expect(verifyChain(events)).toBeUndefined()
    const holds = events.filter((e) => e.type === 'SpendReserved').map((e) => (e.data as { hold: bigint; reservationId: string }))
    expect(holds).toHaveLength(9)
    expect(new Set(holds.map((h) => h.reservationId)).size).toBe(9)
    expect(holds.reduce((sum, h) => sum + h.hold, 0n)).toBeLessThanOrEqual(10n * USDC)
    // Both hosts were racing: some of their appends were refused and retried.
    expect(double.calls.WrongExpectedVersion ?? 0).toBeGreaterThan(0)
  })
})
