import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { DomainError } from '../../shared/errors.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import { ActorHost } from '../runtime/host.js'
import { ProjectionRunner } from '../../projections/runner.js'
import { comparableLedger, walletBalancesProjection, type BalanceRow } from '../../projections/wallet-balances.js'
import { walletTransactionsProjection } from '../../projections/wallet-transactions.js'
import { walletDefinition } from './definition.js'
import { allocateDepositIndex } from './deposit-index.js'
import { fold } from '../../test/wallet/fold.js'
import { opArb, simulate, type Executor } from '../../test/wallet/simulation.js'
import type { WalletEvent } from './events.js'

const dir = mkdtempSync(join(tmpdir(), 'ledger-int-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let fileNo = 0
const WALLET = '0x1111111111111111111111111111111111111111'

describe('wallet actor on SQLite: random interleavings with crashes', () => {
  it('keeps every invariant across restarts; projection equals actor state; rebuild is identical; replay deterministic', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 7 }), async (ops, snapshotEvery) => {
        const file = join(dir, `events-${++fileNo}.sqlite`)
        let store = await SqliteEventStore.open({ file })
        let clock = new Date()
        const makeHost = (s: SqliteEventStore) =>
          new ActorHost({ definition: walletDefinition, store: s, snapshots: s.snapshots, snapshotEvery, now: () => clock })
        let host = makeHost(store)
        const ex: Executor = {
          async send(command, now) {
            clock = now
            try {
              await host.send(WALLET, command)
            } catch (error) {
              if (error instanceof DomainError) return error
              throw error
            }
          },
          async ledger() {
            return (await host.read(WALLET)).snapshot.context.ledger
          },
          async crash() {
            // the process dies: memory is gone, a new host rehydrates from snapshot + tail
            await store.close()
            store = await SqliteEventStore.open({ file })
            host = makeHost(store)
          },
        }
        await simulate(ops, ex)
        const actor = await ex.ledger()

        // replay: the whole stream folded from scratch (no snapshot) gives the same state
        const events = await store.readStream(`wallet-${WALLET}`)
        const replayed = fold(events.map((e) => ({ type: e.type, data: e.data }) as WalletEvent)).snapshot.context.ledger
        expect(comparableLedger(replayed)).toEqual(comparableLedger(actor))

        // projection fed by subscribeAll equals the actor's state
        const runner = new ProjectionRunner({ store, file: join(dir, `proj-${fileNo}.sqlite`), projections: [walletBalancesProjection, walletTransactionsProjection], streamPrefixes: ['wallet-'] })
        runner.start()
        expect(await runner.waitFor(events.at(-1)!.position)).toBe(true)
        expect(runner.get<BalanceRow>('wallet-balances', WALLET)?.ledger).toEqual(comparableLedger(actor))
        const first = runner.dump()
        await runner.rebuild()
        expect(await runner.waitFor(events.at(-1)!.position)).toBe(true)
        expect(runner.dump()).toEqual(first)
        await runner.close()
        await store.close()
      }),
      { numRuns: 10 },
    )
  })
})

describe('deposit index allocation', () => {
  it('gives unique indexes to concurrent allocators on two store instances of one file', async () => {
    const file = join(dir, 'alloc.sqlite')
    const a = await SqliteEventStore.open({ file })
    const b = await SqliteEventStore.open({ file })
    const got = await Promise.all(Array.from({ length: 40 }, (_, i) => allocateDepositIndex(i % 2 === 0 ? a : b, `w${i}`)))
    expect(new Set(got).size).toBe(40)
    expect([...got].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i))
    await a.close()
    await b.close()
  })
})
