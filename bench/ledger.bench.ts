/**
 * Reservation + settlement pairs per second through the wallet ActorHost on SQLite, for
 * one wallet and for 1,000 wallets, against a baseline measured in the same run: the raw
 * store appends of the same two events per pair (same streams, same expected-revision
 * checks, no decide, no fold, no read-back).
 *
 *   npx tsx bench/ledger.bench.ts
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ActorHost } from '../actors/runtime/host.js'
import { walletDefinition } from '../actors/wallet/definition.js'
import type { SpendBreakdown } from '../actors/wallet/events.js'
import { holdFor } from '../actors/wallet/ledger.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import type { EventStore } from '../store/types.js'
import { fmt, table } from './lib.js'

const PAIRS_ONE = Number(process.env.BENCH_PAIRS_ONE ?? 2_000)
const WALLETS = 1_000
const PAIRS_EACH = Number(process.env.BENCH_PAIRS_EACH ?? 3)
const AT = '2026-11-25T12:00:00.000Z'
const breakdown: SpendBreakdown = {
  model: 'claude-haiku-4-5',
  inputTokens: 1000,
  outputTokens: 200,
  cacheCreationInputTokens: 0,
  cacheReadInputTokens: 0,
  baseLlmCost: '2000',
  toolCalls: 0,
  toolCosts: 0n,
  platformCost: 2300n,
  byok: false,
}
const wallet = (i: number) => `0x${i.toString(16).padStart(40, '0')}`

async function seed(store: EventStore, n: number): Promise<void> {
  const host = new ActorHost({ definition: walletDefinition, store })
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const w = wallet(i)
      await host.send(w, { type: 'RegisterWallet', address: w })
      await host.send(w, { type: 'AssignDepositAddress', index: i, address: w })
      await host.send(w, { type: 'ObserveDeposit', txHash: `0x${i}`, logIndex: 0, amount: 10n ** 12n, blockNumber: 1n })
    }),
  )
}

/** Baseline: the same two events per pair appended directly, with the expected revision. */
async function rawPairs(store: EventStore, wallets: number, pairs: number): Promise<number> {
  const start = performance.now()
  await Promise.all(
    Array.from({ length: wallets }, async (_, i) => {
      const streamId = `wallet-${wallet(i)}`
      const [last] = await store.readStream(streamId, { direction: 'backwards', maxCount: 1 })
      let rev = last!.revision
      for (let k = 0; k < pairs; k++) {
        const id = `raw-${i}-${k}`
        await store.append(streamId, [{ type: 'SpendReserved', data: { reservationId: id, agentId: 'a', amount: 2300n, hold: holdFor(2300n), expiresAt: AT, at: AT } }], { expectedRevision: rev })
        rev++
        await store.append(streamId, [{ type: 'SpendSettled', data: { reservationId: id, agentId: 'a', amount: 2300n, requested: 2300n, writtenOff: 0n, breakdown, at: AT } }], { expectedRevision: rev })
        rev++
      }
    }),
  )
  return ((wallets * pairs) / (performance.now() - start)) * 1000
}

/** Through the actor host: decide (balance, budgets), append, read back, fold. */
async function hostPairs(store: EventStore, wallets: number, pairs: number, concurrentPerWallet: boolean): Promise<number> {
  const host = new ActorHost({ definition: walletDefinition, store, snapshots: (store as SqliteEventStore).snapshots })
  // warm the actor cache (hydration is not what this measures)
  await Promise.all(Array.from({ length: wallets }, (_, i) => host.read(wallet(i))))
  const pair = async (w: string, id: string) => {
    await host.send(w, { type: 'ReserveSpend', reservationId: id, agentId: 'a', amount: 2300n })
    await host.send(w, { type: 'SettleSpend', reservationId: id, amount: 2300n, breakdown })
  }
  const start = performance.now()
  await Promise.all(
    Array.from({ length: wallets }, async (_, i) => {
      const w = wallet(i)
      if (concurrentPerWallet) {
        // 16 turns in flight at once (a busy wallet), not thousands of open reservations
        let next = 0
        await Promise.all(Array.from({ length: 16 }, async () => {
          while (next < pairs) await pair(w, `h-${i}-${next++}`)
        }))
      } else for (let k = 0; k < pairs; k++) await pair(w, `h-${i}-${k}`)
    }),
  )
  return ((wallets * pairs) / (performance.now() - start)) * 1000
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-'))
  try {
    const rows: (string | number)[][] = []
    for (const [label, wallets, pairs, concurrent] of [
      ['1 wallet, 16 turns in flight', 1, PAIRS_ONE, true],
      [`${WALLETS} wallets × ${PAIRS_EACH} pairs`, WALLETS, PAIRS_EACH, false],
    ] as const) {
      const rawStore = await SqliteEventStore.open({ file: join(dir, `raw-${wallets}.sqlite`) })
      await seed(rawStore, wallets)
      const raw = await rawPairs(rawStore, wallets, pairs)
      await rawStore.close()
      const hostStore = await SqliteEventStore.open({ file: join(dir, `host-${wallets}.sqlite`) })
      await seed(hostStore, wallets)
      const viaHost = await hostPairs(hostStore, wallets, pairs, concurrent)
      await hostStore.close()
      rows.push([label, fmt(viaHost), fmt(raw), `${(viaHost / raw).toFixed(2)}×`])
    }
    console.log('### Ledger: reservation + settlement pairs per second (SQLite, synchronous=FULL)\n')
    console.log(table(['scenario', 'ActorHost pairs/s', 'baseline: raw appends pairs/s', 'ratio'], rows))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
