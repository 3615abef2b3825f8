import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import { ProjectionRunner } from './runner.js'
import type { Projection } from './types.js'
import { walletTransactionsProjection, type TransactionRow } from './wallet-transactions.js'
import { walletBalancesProjection, type BalanceRow } from './wallet-balances.js'
import { openTurnsProjection, type OpenTurnRow } from './open-turns.js'

const dir = mkdtempSync(join(tmpdir(), 'runner-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const AT = '2026-11-25T12:00:00.000Z'

it('two runners can share one projections file (same result, no lock errors); a restarted runner resumes from the checkpoint', async () => {
  const store = await SqliteEventStore.open({ file: join(dir, 'events.sqlite') })
  const file = join(dir, 'proj.sqlite')
  const projections = [walletBalancesProjection, walletTransactionsProjection]
  const a = new ProjectionRunner({ store, file, projections, streamPrefixes: ['wallet-'] })
  const b = new ProjectionRunner({ store, file, projections, streamPrefixes: ['wallet-'] })
  a.start()
  b.start()
  const w = '0x' + 'c'.repeat(40)
  for (let i = 0; i < 50; i++) {
    await store.append(`wallet-${w}`, [{ type: 'DepositDetected', data: { txHash: `0x${i}`, logIndex: 0, amount: 10n, blockNumber: BigInt(i + 1), at: AT } }])
    await store.append('session-x', [{ type: 'Other', data: {} }])
  }
  const head = await store.headPosition()
  expect(await a.waitFor(head)).toBe(true)
  expect(await b.waitFor(head)).toBe(true)
  expect(a.get<BalanceRow>('wallet-balances', w)?.ledger.onChainBalance).toBe(500n)
  expect(a.list<TransactionRow>('wallet-transactions', w, 100, 0).total).toBe(50)
  await b.close()
  await a.close()
  // restart: resumes after the stored checkpoint, nothing applied twice
  await store.append(`wallet-${w}`, [{ type: 'DepositDetected', data: { txHash: '0xlast', logIndex: 0, amount: 1n, blockNumber: 99n, at: AT } }])
  const c = new ProjectionRunner({ store, file, projections, streamPrefixes: ['wallet-'] })
  c.start()
  expect(await c.waitFor(await store.headPosition())).toBe(true)
  expect(c.get<BalanceRow>('wallet-balances', w)?.ledger.onChainBalance).toBe(501n)
  await c.close()
  await store.close()
})

it('a projection added to a file that already has a checkpoint rebuilds the read models from the first event', async () => {
  const store = await SqliteEventStore.open({ file: join(dir, 'events-added.sqlite') })
  const file = join(dir, 'proj-added.sqlite')
  const w = '0x' + 'd'.repeat(40)
  for (let i = 0; i < 5; i++) await store.append(`wallet-${w}`, [{ type: 'DepositDetected', data: { txHash: `0x${i}`, logIndex: 0, amount: 10n, blockNumber: BigInt(i + 1), at: AT } }])
  const first = new ProjectionRunner({ store, file, projections: [walletBalancesProjection], streamPrefixes: ['wallet-'] })
  first.start()
  expect(await first.waitFor(await store.headPosition())).toBe(true)
  await first.close()
  // Restarted with one more read model: it must see the deposits made before it existed.
  const second = new ProjectionRunner({ store, file, projections: [walletBalancesProjection, walletTransactionsProjection], streamPrefixes: ['wallet-'] })
  second.start()
  expect(await second.waitFor(await store.headPosition())).toBe(true)
  expect(second.list<TransactionRow>('wallet-transactions', w, 100, 0).total).toBe(5)
  expect(second.get<BalanceRow>('wallet-balances', w)?.ledger.onChainBalance).toBe(50n)
  await second.close()
  // The same set again: no rebuild (the checkpoint is kept).
  const third = new ProjectionRunner({ store, file, projections: [walletBalancesProjection, walletTransactionsProjection], streamPrefixes: ['wallet-'] })
  expect(third.checkpoint).toBe(await store.headPosition())
  await third.close()
  await store.close()
})

it('a runner whose streams are rare stores its checkpoint past the events it skipped: a restart starts near the head', async () => {
  const store = await SqliteEventStore.open({ file: join(dir, 'events-skipped.sqlite') })
  const file = join(dir, 'proj-skipped.sqlite')
  const w = '0x' + 'e'.repeat(40)
  await store.append(`wallet-${w}`, [{ type: 'DepositDetected', data: { txHash: '0x1', logIndex: 0, amount: 7n, blockNumber: 1n, at: AT } }])
  for (let i = 0; i < 30; i++) await store.append('session-noise', Array.from({ length: 100 }, () => ({ type: 'Other', data: {} })))
  const first = new ProjectionRunner({ store, file, projections: [walletBalancesProjection], streamPrefixes: ['wallet-'] })
  first.start()
  const head = await store.headPosition()
  expect(await first.waitFor(head)).toBe(true)
  await first.close()
  // Reopened: the stored checkpoint is the head, not the one wallet event 3,000 events back.
  const second = new ProjectionRunner({ store, file, projections: [walletBalancesProjection], streamPrefixes: ['wallet-'] })
  expect(second.checkpoint).toBe(head)
  expect(second.get<BalanceRow>('wallet-balances', w)?.ledger.onChainBalance).toBe(7n)
  await second.close()
  await store.close()
})

it('a batch folds each row once and ends where applying its events one by one ends (rows, owners, sort order, deletes and re-creates)', async () => {
  const counter: Projection<{ key: string; n: number }> = {
    name: 'counter',
    canHandle: (e) => e.streamId.startsWith('wallet-'),
    keyOf: (e) => ({ key: e.streamId.slice('wallet-'.length), owner: 'o' }),
    evolve: (current, e) => (e.type === 'Drop' ? undefined : { key: e.streamId.slice('wallet-'.length), n: (current?.n ?? 0) + 1 }),
  }
  const script: [string, string][] = [
    ['a', 'Inc'], ['b', 'Inc'], ['a', 'Inc'], ['c', 'Inc'], ['b', 'Drop'], ['a', 'Drop'], ['a', 'Inc'], ['b', 'Inc'], ['d', 'Inc'], ['d', 'Drop'], ['c', 'Inc'],
  ]
  const run = async (name: string, batched: boolean) => {
    const store = await SqliteEventStore.open({ file: join(dir, `events-${name}.sqlite`) })
    const file = join(dir, `proj-${name}.sqlite`)
    // Rows stored before the batch, so deletes and re-creates hit stored rows.
    const seed = new ProjectionRunner({ store, file, projections: [counter], streamPrefixes: ['wallet-'] })
    seed.start()
    await store.append('wallet-a', [{ type: 'Inc', data: {} }])
    await store.append('wallet-b', [{ type: 'Inc', data: {} }])
    expect(await seed.waitFor(await store.headPosition())).toBe(true)
    await seed.close()
    const runner = new ProjectionRunner({ store, file, projections: [counter], streamPrefixes: ['wallet-'] })
    // Batched: every event is stored before the runner starts, so its catch-up applies them in one transaction.
    if (!batched) runner.start()
    for (const [k, type] of script) {
      await store.append(`wallet-${k}`, [{ type, data: {} }])
      if (!batched) expect(await runner.waitFor(await store.headPosition())).toBe(true)
    }
    if (batched) runner.start()
    expect(await runner.waitFor(await store.headPosition())).toBe(true)
    const out = { all: runner.all<{ key: string; n: number }>('counter'), list: runner.list<{ key: string; n: number }>('counter', 'o', 100, 0) }
    await runner.close()
    await store.close()
    return out
  }
  const one = await run('one-by-one', false)
  const batch = await run('batched', true)
  expect(batch).toEqual(one)
  expect(one.all).toEqual([
    { key: 'a', n: 1 },
    { key: 'b', n: 1 },
    { key: 'c', n: 2 },
  ])
  // Re-created rows sort as new: b (re-created last) first, then a, then c (never deleted).
  expect(one.list.rows.map((r) => r.key)).toEqual(['b', 'a', 'c'])
})

it('live events wait to be applied together, but a read applies what was delivered first: a turn opened and closed is seen both ways', async () => {
  const store = await SqliteEventStore.open({ file: join(dir, 'live.sqlite') })
  const runner = new ProjectionRunner({ store, file: ':memory:', projections: [openTurnsProjection] })
  runner.start()
  const delivered = () => new Promise((resolve) => setImmediate(resolve))
  await store.append('session-s1', [{ type: 'UserMessageReceived', data: { turnId: 't1', text: 'hi', idempotencyKey: 'k', model: 'm', at: AT } }])
  await delivered()
  expect(runner.get<OpenTurnRow>('open-turns', 's1')).toEqual({ sessionId: 's1', turnId: 't1' })
  await store.append('session-s1', [{ type: 'TurnCompleted', data: { turnId: 't1', at: AT } }])
  await delivered()
  expect(runner.all<OpenTurnRow>('open-turns')).toEqual([])
  expect(runner.checkpoint).toBe(await store.headPosition())
  await runner.close()
  await store.close()
})
