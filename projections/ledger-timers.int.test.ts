import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { openReservationsProjection } from './open-reservations.js'
import { ProjectionRunner } from './runner.js'
import { walletBalancesProjection } from './wallet-balances.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import { ActorHost } from '../actors/runtime/host.js'
import { walletDefinition } from '../actors/wallet/definition.js'
import { requestSettlements, startLedgerTimers } from './ledger-timers.js'

const dir = mkdtempSync(join(tmpdir(), 'ledger-timers-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const W = ['0x7777777777777777777777777777777777777777', '0x8888888888888888888888888888888888888888']

it('after a restart, the start-up run releases reservations whose TTL passed while the process was down; sweeps are requested', async () => {
  const file = join(dir, 'events.sqlite')
  let clock = new Date('2026-11-25T12:00:00.000Z')
  const store = await SqliteEventStore.open({ file })
  const host = new ActorHost({ definition: walletDefinition, store, now: () => clock })
  for (const [i, w] of W.entries()) {
    await host.send(w, { type: 'RegisterWallet', address: w })
    await host.send(w, { type: 'AssignDepositAddress', index: i, address: `0x${String(i).repeat(40)}` })
    await host.send(w, { type: 'ObserveDeposit', txHash: `0x${i}`, logIndex: 0, amount: 5_000_000n, blockNumber: 1n })
    await host.send(w, { type: 'ReserveSpend', reservationId: `short-${i}`, agentId: 'a', amount: 1000n, ttlMs: 60_000 })
    await host.send(w, { type: 'ReserveSpend', reservationId: `long-${i}`, agentId: 'a', amount: 1000n, ttlMs: 3_600_000 })
  }
  await host.send(W[0]!, { type: 'ReserveSpend', reservationId: 'spent', agentId: 'a', amount: 2_000_000n })
  await host.send(W[0]!, { type: 'SettleSpend', reservationId: 'spent', amount: 1_500_000n, breakdown: { model: 'm', inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, baseLlmCost: '0', toolCalls: 0, toolCosts: 1_500_000n, platformCost: 0n, byok: true } })
  await store.close()

  // "restart" five minutes later: a new store, host, read models and timers
  clock = new Date('2026-11-25T12:05:00.000Z')
  const store2 = await SqliteEventStore.open({ file })
  const host2 = new ActorHost({ definition: walletDefinition, store: store2, now: () => clock })
  const runner = new ProjectionRunner({ store: store2, file: join(dir, 'proj.sqlite'), projections: [openReservationsProjection, walletBalancesProjection], streamPrefixes: ['wallet-'] })
  runner.start()
  const stop = startLedgerTimers({ wallets: host2, projections: runner, store: store2, now: () => clock, expiryIntervalMs: 50 })
  const deadline = Date.now() + 20_000
  for (;;) {
    const ls = await Promise.all(W.map(async (w) => (await host2.read(w)).snapshot.context.ledger))
    if (ls.every((l, i) => Object.keys(l.reservations).join() === `long-${i}`)) break
    if (Date.now() > deadline) throw new Error(`not released: ${ls.map((l) => Object.keys(l.reservations)).join(' | ')}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  stop()
  expect(await runner.waitFor(await store2.headPosition())).toBe(true)
  expect(runner.all('open-reservations').map((r: any) => Object.keys(r.open))).toEqual([['long-0'], ['long-1']])

  expect(await requestSettlements({ wallets: host2, projections: runner, newId: () => 'sweep-1' })).toBe(1)
  expect((await host2.read(W[0]!)).snapshot.context.ledger.settlements['sweep-1']?.amount).toBe(1_500_000n)
  await runner.close()
  await store2.close()
})
