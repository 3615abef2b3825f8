/**
 * KurrentDbEventStore through the real @kurrent/kurrentdb-client:
 * - always against the in-process gRPC test double (test/kurrentdb/kurrentdb-double.ts);
 * - also against a real KurrentDB / EventStoreDB when KURRENTDB_CONNECTION_STRING is set,
 *   e.g. `KURRENTDB_CONNECTION_STRING='kurrentdb://127.0.0.1:2113?tls=false' npx vitest run store/kurrentdb`.
 */
import { createServer } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { collect, eventStoreContract } from '../contract.js'
import { ConcurrencyError, StoreUnavailableError } from '../errors.js'
import { verifyChain } from '../hash.js'
import { startKurrentDbDouble, type KurrentDbDouble } from '../../test/kurrentdb/kurrentdb-double.js'
import { KurrentDbEventStore } from './kurrentdb-event-store.js'

let double: KurrentDbDouble | undefined
let appendOnlyDouble: KurrentDbDouble | undefined
/** Advertises BatchAppend like a real server: the client appends through it. */
async function sharedDouble(): Promise<KurrentDbDouble> {
  double ??= await startKurrentDbDouble()
  return double
}
/** Without BatchAppend: the client's fallback path (plain Append). */
async function sharedAppendOnlyDouble(): Promise<KurrentDbDouble> {
  appendOnlyDouble ??= await startKurrentDbDouble({ batchAppend: false })
  return appendOnlyDouble
}
afterAll(async () => {
  await double?.close()
  await appendOnlyDouble?.close()
})

function contractOn(connectionString: () => Promise<string>) {
  return async () => {
    const url = await connectionString()
    let store = new KurrentDbEventStore({ connectionString: url })
    return {
      store,
      // The data lives in the server: a new client on the same server must see all of it.
      reopen: async () => {
        await store.close()
        store = new KurrentDbEventStore({ connectionString: url })
        return store
      },
      cleanup: async () => {
        await store.close()
      },
    }
  }
}

eventStoreContract(
  'kurrentdb (in-process gRPC test double, BatchAppend)',
  contractOn(async () => (await sharedDouble()).connectionString),
)
eventStoreContract(
  'kurrentdb (in-process gRPC test double, Append only)',
  contractOn(async () => (await sharedAppendOnlyDouble()).connectionString),
)

const realServer = process.env.KURRENTDB_CONNECTION_STRING
if (realServer !== undefined && realServer !== '') {
  eventStoreContract('kurrentdb (real server from KURRENTDB_CONNECTION_STRING)', contractOn(async () => realServer))
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  )
}

describe('KurrentDbEventStore specifics (test double)', () => {
  it('goes through the real client to the double: BatchAppend when advertised, else Append', async () => {
    for (const [d, method] of [
      [await sharedDouble(), 'BatchAppend'],
      [await sharedAppendOnlyDouble(), 'Append'],
    ] as const) {
      const store = new KurrentDbEventStore({ connectionString: d.connectionString })
      try {
        const before = { BatchAppend: d.calls.BatchAppend ?? 0, Append: d.calls.Append ?? 0 }
        const stream = `spec-calls-${method}-${Date.now()}`
        // A fresh client opens its own BatchAppend call (one per client, reused).
        await store.append(stream, [{ type: 'A', data: {} }])
        await store.append(stream, [{ type: 'B', data: {} }], { expectedRevision: 0n })
        const other = method === 'BatchAppend' ? 'Append' : 'BatchAppend'
        expect(d.calls[method] ?? 0).toBeGreaterThan(before[method])
        expect(d.calls[other] ?? 0).toBe(before[other])
        expect(d.log.filter((e) => e.streamId === stream).map((e) => e.type)).toEqual(['A', 'B'])
      } finally {
        await store.close()
      }
    }
  })

  it('stores JSON readable by other tools: tagged bigint, $correlationId/$causationId, chain fields', async () => {
    const d = await sharedDouble()
    const store = new KurrentDbEventStore({ connectionString: d.connectionString })
    try {
      const stream = `spec-json-${Date.now()}`
      await store.append(stream, [
        { type: 'Charged', data: { amount: 2n ** 70n, note: 'x' }, metadata: { correlationId: 'c-1', causationId: 'k-1' } },
      ])
      const raw = d.log.find((e) => e.streamId === stream)!
      expect(raw.contentType).toBe('application/json')
      expect(JSON.parse(Buffer.from(raw.data).toString('utf8'))).toEqual({
        amount: { $bigint: (2n ** 70n).toString() },
        note: 'x',
      })
      const meta = JSON.parse(Buffer.from(raw.customMetadata).toString('utf8')) as Record<string, unknown>
      expect(meta.$correlationId).toBe('c-1')
      expect(meta.$causationId).toBe('k-1')
      expect(meta.prevHash).toBe('')
      expect(meta.hash).toMatch(/^[0-9a-f]{64}$/)
      const [read] = await store.readStream(stream)
      expect(read?.hash).toBe(meta.hash)
      expect(read?.recordedAt).toBe(meta.recordedAt)
      // Our Position is the event's log position (commit == prepare).
      expect(read?.position).toBe(raw.position)
    } finally {
      await store.close()
    }
  })

  it('keeps non-UUID event ids (KurrentDB ids must be UUIDs)', async () => {
    const d = await sharedDouble()
    const store = new KurrentDbEventStore({ connectionString: d.connectionString })
    try {
      const stream = `spec-ids-${Date.now()}`
      await store.append(stream, [{ id: 'turn-42:settle', type: 'A', data: {} }, { id: 'ABCDEF', type: 'B', data: {} }])
      const events = await store.readStream(stream)
      expect(events.map((e) => e.id)).toEqual(['turn-42:settle', 'ABCDEF'])
      const raw = d.log.filter((e) => e.streamId === stream)
      for (const r of raw) expect(r.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    } finally {
      await store.close()
    }
  })

  it('leaves system events and $-streams out of readAll, subscribeAll and headPosition', async () => {
    const d = await sharedDouble()
    const store = new KurrentDbEventStore({ connectionString: d.connectionString })
    try {
      const start = await store.headPosition()
      const stream = `spec-sys-${Date.now()}`
      const sub = store.subscribeAll({ fromPosition: start })
      const received = collect(sub, 2)
      await store.append(stream, [{ type: 'Ours1', data: {} }])
      d.appendSystemEvent('$stats-127.0.0.1:2113', '$statsCollected')
      d.appendSystemEvent('$$' + stream, '$metadata')
      const second = await store.append(stream, [{ type: 'Ours2', data: {} }])
      d.appendSystemEvent('$stats-127.0.0.1:2113', '$statsCollected')
      const all = await store.readAll({ fromPosition: start })
      expect(all.map((e) => e.type)).toEqual(['Ours1', 'Ours2'])
      expect((await received).map((e) => e.type)).toEqual(['Ours1', 'Ours2'])
      // The newest event is a system one: the head is still our last event.
      expect(d.log[d.log.length - 1]!.streamId.startsWith('$')).toBe(true)
      expect(await store.headPosition()).toBe(second.position)
      // Paging with maxCount still skips them.
      expect((await store.readAll({ fromPosition: start, maxCount: 1 })).map((e) => e.type)).toEqual(['Ours1'])
    } finally {
      await store.close()
    }
  })

  it('two processes appending with any never fork the chain (lost races re-read the head)', async () => {
    const d = await sharedDouble()
    const a = new KurrentDbEventStore({ connectionString: d.connectionString })
    const b = new KurrentDbEventStore({ connectionString: d.connectionString })
    try {
      const stream = `spec-fork-${Date.now()}`
      await a.append(stream, [{ type: 'Init', data: {} }])
      // a's cached head is now stale once b writes: a's next append must notice.
      await b.append(stream, [{ type: 'FromB', data: {} }])
      await a.append(stream, [{ type: 'FromA', data: {} }])
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).append(stream, [{ type: 'Race', data: { i } }, { type: 'Tail', data: { i } }])),
      )
      const events = await a.readStream(stream)
      expect(events).toHaveLength(23)
      expect(verifyChain(events)).toBeUndefined()
      // Exact revisions from both: exactly one wins.
      const head = events[events.length - 1]!.revision
      const results = await Promise.allSettled([a, b].map((s) => s.append(stream, [{ type: 'X', data: {} }], { expectedRevision: head })))
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      const lost = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      expect(lost?.reason).toBeInstanceOf(ConcurrencyError)
      expect((lost?.reason as ConcurrencyError).actual).toBe(head + 1n)
      expect(verifyChain(await b.readStream(stream))).toBeUndefined()
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('server down: calls fail with StoreUnavailableError, health is not ok; back up: both recover', async () => {
    const d = await startKurrentDbDouble()
    const store = new KurrentDbEventStore({ connectionString: d.connectionString, readAttempts: 2, healthTimeoutMs: 3000 })
    try {
      await store.append('down-1', [{ type: 'A', data: {} }])
      expect(await store.health()).toEqual({ ok: true })
      await d.stop()
      const failures = [
        await rejection(store.append('down-1', [{ type: 'B', data: {} }])),
        await rejection(store.append('down-2', [{ type: 'B', data: {} }], { expectedRevision: 'no_stream' })),
        await rejection(store.readStream('down-1')),
        await rejection(store.readAll()),
        await rejection(store.headPosition()),
      ]
      for (const f of failures) {
        expect(f).toBeInstanceOf(StoreUnavailableError)
        expect((f as StoreUnavailableError).code).toBe('store_unavailable')
      }
      const health = await store.health()
      expect(health.ok).toBe(false)
      expect(health.reason).toBeTruthy()
      // Nothing was half-written while it was down.
      expect(d.log.filter((e) => e.streamId.startsWith('down-')).map((e) => e.type)).toEqual(['A'])
      await d.start()
      let recovered = false
      for (let i = 0; i < 50 && !recovered; i++) {
        recovered = (await store.health()).ok
        if (!recovered) await new Promise((r) => setTimeout(r, 100))
      }
      expect(recovered).toBe(true)
      await store.append('down-1', [{ type: 'C', data: {} }], { expectedRevision: 0n })
      const events = await store.readStream('down-1')
      expect(events.map((e) => e.type)).toEqual(['A', 'C'])
      expect(verifyChain(events)).toBeUndefined()
    } finally {
      await store.close()
      await d.close()
    }
  })

  it('unreachable server: StoreUnavailableError and health not ok (no hang)', async () => {
    const store = new KurrentDbEventStore({
      connectionString: `kurrentdb://127.0.0.1:${await deadPort()}?tls=false&discoveryInterval=20`,
      readAttempts: 1,
      healthTimeoutMs: 3000,
    })
    try {
      expect(await rejection(store.append('u', [{ type: 'A', data: {} }], { expectedRevision: 'no_stream' }))).toBeInstanceOf(
        StoreUnavailableError,
      )
      expect(await rejection(store.readStream('u'))).toBeInstanceOf(StoreUnavailableError)
      expect((await store.health()).ok).toBe(false)
    } finally {
      await store.close()
    }
  })

  it('a subscription outlives an outage: resumes after its last event, no gap, no duplicate', async () => {
    const d = await startKurrentDbDouble()
    const store = new KurrentDbEventStore({ connectionString: d.connectionString, resubscribeDelayMs: 20 })
    const writer = new KurrentDbEventStore({ connectionString: d.connectionString })
    try {
      await writer.append('out-1', [0, 1, 2].map((i) => ({ type: 'E', data: { i } })))
      const sub = store.subscribeAll({ streamPrefixes: ['out-'] })
      const received = collect(sub, 6, 20_000)
      // Let it catch up, then cut the server.
      for (let i = 0; i < 100 && (d.calls.Subscribe ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 20))
      await new Promise((r) => setTimeout(r, 100))
      await d.stop()
      await new Promise((r) => setTimeout(r, 200))
      await d.start()
      for (let i = 3; i < 6; i++) {
        for (let attempt = 0; ; attempt++) {
          try {
            await writer.append('out-1', [{ type: 'E', data: { i } }])
            break
          } catch (error) {
            if (!(error instanceof StoreUnavailableError) || attempt > 50) throw error
            await new Promise((r) => setTimeout(r, 50))
          }
        }
      }
      const got = await received
      expect(got.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5])
      // It really was cut and resubscribed.
      expect(d.calls.Subscribe).toBeGreaterThanOrEqual(2)
    } finally {
      await store.close()
      await writer.close()
      await d.close()
    }
  })

  it('snapshots: msgpack in snapshot-<stream>, newest wins, capped by $maxCount, invisible to readAll/subscribe/head', async () => {
    const d = await sharedDouble()
    const store = new KurrentDbEventStore({ connectionString: d.connectionString })
    try {
      const stream = `spec-snap-${Date.now()}`
      expect(await store.snapshots.load(stream)).toBeUndefined()
      const start = await store.headPosition()
      const sub = store.subscribeAll({ fromPosition: start })
      const received = collect(sub, 1)
      const appended = await store.append(stream, [{ type: 'A', data: {} }])
      await store.snapshots.save(stream, { version: 1, revision: 0n, snapshot: { balance: 2n ** 70n, tags: new Map([['k', 1]]) } })
      const bytes = await store.snapshots.save(stream, { version: 1, revision: 5n, snapshot: { balance: 7n } })
      expect(bytes).toBeGreaterThan(0)
      expect(await store.snapshots.load(stream)).toEqual({ version: 1, revision: 5n, snapshot: { balance: 7n }, bytes })
      // Snapshots are a cache, not events: nothing but our one event shows up.
      expect((await store.readAll({ fromPosition: start })).map((e) => e.streamId)).toEqual([stream])
      expect(await store.headPosition()).toBe(appended.position)
      expect((await received).map((e) => e.streamId)).toEqual([stream])
      // The snapshot stream carries $maxCount so the server keeps only the newest.
      const meta = d.log.find((e) => e.streamId === `$$snapshot-${stream}`)
      expect(meta?.type).toBe('$metadata')
      expect(JSON.parse(Buffer.from(meta!.data).toString('utf8'))).toMatchObject({ $maxCount: 2 })
      await expect(store.append(`snapshot-${stream}`, [{ type: 'X', data: {} }])).rejects.toThrow(/reserved/)
    } finally {
      await store.close()
    }
  })
})
