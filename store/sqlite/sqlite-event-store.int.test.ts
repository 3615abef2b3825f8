import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { collect, eventStoreContract } from '../contract.js'
import { ConcurrencyError, StoreUnavailableError } from '../errors.js'
import { verifyChain } from '../hash.js'
import { SqliteEventStore } from './sqlite-event-store.js'
import Database from 'better-sqlite3'

function tempFile(): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-store-'))
  return { file: join(dir, 'nested', 'events.db'), remove: () => rmSync(dir, { recursive: true, force: true }) }
}

for (const writer of ['worker', 'inline'] as const) {
  eventStoreContract(`sqlite (${writer} writer)`, async () => {
    const { file, remove } = tempFile()
    let current = new SqliteEventStore({ file, writer })
    return {
      store: current,
      reopen: async () => {
        await current.close()
        current = new SqliteEventStore({ file, writer })
        return current
      },
      cleanup: async () => {
        await current.close()
        remove()
      },
    }
  })
}

describe.each(['worker', 'inline'] as const)('SqliteEventStore (SQLite specifics, %s writer)', (writer) => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })
  function open(file: string, options: Partial<ConstructorParameters<typeof SqliteEventStore>[0]> = {}): SqliteEventStore {
    const store = new SqliteEventStore({ file, writer, ...options })
    cleanups.push(() => store.close())
    return store
  }
  function temp(): string {
    const t = tempFile()
    cleanups.push(t.remove)
    return t.file
  }

  it('creates the parent folder, uses WAL and synchronous=FULL, returns bigint positions', async () => {
    const file = temp()
    const store = open(file)
    const r = await store.append('s-1', [{ type: 'A', data: {} }])
    expect(typeof r.position).toBe('bigint')
    const raw = new Database(file, { readonly: true })
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal')
    } finally {
      raw.close()
    }
  })

  it('group commit: concurrent appends share transactions, each checked on its own', async () => {
    const store = open(temp())
    const before = store.stats.transactions
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => store.append(`g-${i % 10}`, [{ type: 'G', data: { i } }], { expectedRevision: 'any' })),
    )
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true)
    const used = store.stats.transactions - before
    expect(used).toBeGreaterThanOrEqual(1)
    expect(used).toBeLessThan(10)
    expect(store.stats.appends).toBe(100)
    // Same batch, same stream: later appends see the earlier ones (revisions 0..9 per stream).
    for (let s = 0; s < 10; s++) {
      const events = await store.readStream(`g-${s}`)
      expect(events.map((e) => e.revision)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i)))
      expect(verifyChain(events)).toBeUndefined()
    }
  })

  it('a conflict inside a batch rejects only that append', async () => {
    const store = open(temp())
    const before = store.stats.transactions
    const [a, b, c, d] = await Promise.allSettled([
      store.append('x', [{ type: 'A', data: {} }], { expectedRevision: 'no_stream' }),
      store.append('x', [{ type: 'B', data: {} }], { expectedRevision: 'no_stream' }), // loses to a (same batch)
      store.append('x', [{ type: 'C', data: {} }], { expectedRevision: 0n }), // sees a's event
      store.append('y', [{ type: 'D', data: {} }], { expectedRevision: 3n }),
    ])
    expect(store.stats.transactions - before).toBe(1)
    expect(a.status).toBe('fulfilled')
    expect(b.status).toBe('rejected')
    expect((b as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError)
    expect(((b as PromiseRejectedResult).reason as ConcurrencyError).actual).toBe(0n)
    expect(c.status).toBe('fulfilled')
    expect((c as PromiseFulfilledResult<{ nextExpectedRevision: bigint }>).value.nextExpectedRevision).toBe(1n)
    expect(((d as PromiseRejectedResult).reason as ConcurrencyError).actual).toBe('no_stream')
    expect((await store.readStream('x')).map((e) => e.type)).toEqual(['A', 'C'])
    expect(store.stats.conflicts).toBe(2)
  })

  it('a duplicate event id rejects only its own append, atomically', async () => {
    const store = open(temp())
    await store.append('d', [{ id: 'dup', type: 'A', data: {} }])
    const [bad, good] = await Promise.allSettled([
      store.append('e', [{ type: 'B1', data: {} }, { id: 'dup', type: 'B2', data: {} }]),
      store.append('e', [{ type: 'C', data: {} }]),
    ])
    expect(bad.status).toBe('rejected')
    expect(good.status).toBe('fulfilled')
    expect((await store.readStream('e')).map((e) => e.type)).toEqual(['C'])
  })

  it('two instances on one file (as two processes): live subscription sees the other writer', async () => {
    const file = temp()
    const a = open(file)
    const b = open(file)
    await a.append('pre-1', [{ type: 'Pre', data: {} }])
    const sub = a.subscribeAll({ streamPrefixes: ['pre-', 'other-'] })
    const received = collect(sub, 21)
    // Let the subscription drain its catch-up and wait live: b's commits are not local to a.
    await new Promise((r) => setTimeout(r, 50))
    for (let i = 0; i < 20; i++) await b.append(`other-${i % 3}`, [{ type: 'FromB', data: { i } }])
    const got = await received
    expect(got.map((e) => e.type)).toEqual(['Pre', ...Array(20).fill('FromB')])
    expect(got.slice(1).map((e) => (e.data as { i: number }).i)).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })

  it('local commits reach every live subscriber from the writer result, with no read of the file', async () => {
    const store = open(temp())
    await store.append('warm', [{ type: 'Warm', data: {} }])
    const subs = [store.subscribeAll(), store.subscribeAll(), store.subscribeAll({ streamPrefixes: ['fan-'] })]
    const got: string[][] = subs.map(() => [])
    const loops = subs.map(async (sub, i) => {
      for await (const e of sub) got[i]!.push(`${e.streamId}@${e.position}`)
    })
    await new Promise((r) => setTimeout(r, 50))
    let pages = 0
    const pageAfter = store.pageAfter.bind(store)
    store.pageAfter = (position) => {
      pages++
      return pageAfter(position)
    }
    const [r1, r2] = await store.appendMulti([
      { streamId: 'fan-a', events: [{ type: 'A', data: {} }] },
      { streamId: 'fan-b', events: [{ type: 'B', data: {} }] },
    ])
    // Handed over with the writer's answer: one turn later every subscriber has it.
    await new Promise((r) => setImmediate(r))
    const expected = [`fan-a@${r1!.position}`, `fan-b@${r2!.position}`]
    expect(got[0]).toEqual(['warm@1', ...expected])
    expect(got[1]).toEqual(['warm@1', ...expected])
    expect(got[2]).toEqual(expected)
    expect(r1!.recorded?.[0]).toEqual((await store.readStream('fan-a'))[0])
    // The worker's commit moves data_version; at most the one shared poll looks (and finds nothing new).
    await new Promise((r) => setTimeout(r, 80))
    expect(pages).toBeLessThanOrEqual(writer === 'worker' ? 1 : 0)
    for (const sub of subs) await sub.close()
    await Promise.all(loops)
  })

  it('two instances: a local commit after another process\'s is delivered after it, in position order, with no gap', async () => {
    const file = temp()
    const a = open(file, { pollIntervalMs: 60_000 }) // no poll: only the local commit can reveal b's event
    const b = open(file)
    await a.append('x', [{ type: 'Pre', data: {} }])
    const sub = a.subscribeAll()
    const received = collect(sub, 4)
    await new Promise((r) => setTimeout(r, 50))
    await b.append('y', [{ type: 'FromB', data: {} }])
    await b.append('y', [{ type: 'FromB2', data: {} }])
    await a.append('x', [{ type: 'FromA', data: {} }])
    const got = await received
    expect(got.map((e) => e.type)).toEqual(['Pre', 'FromB', 'FromB2', 'FromA'])
    expect(got.map((e) => e.position)).toEqual([1n, 2n, 3n, 4n])
  })

  it('streamChangedSince is certain only about what this process dispatched: other writers make it read until their commits are delivered', async () => {
    const file = temp()
    // No poll during the test (it could deliver b's commit at any moment): a's next local
    // commit is what reveals b's, read from the file in order.
    const a = open(file, { pollIntervalMs: 60_000 })
    const b = open(file)
    const x1 = await a.append('x', [{ type: 'X1', data: {} }])
    const y1 = await a.append('y', [{ type: 'Y1', data: {} }])
    // a's own commits: x has nothing after x1, y's first event is after x1.
    expect(a.streamChangedSince('x', x1.position)).toEqual({ head: y1.position, changed: false })
    expect(a.streamChangedSince('y', x1.position)).toEqual({ head: y1.position, changed: true })
    expect(a.streamChangedSince('never-written', x1.position)).toEqual({ head: y1.position, changed: false })
    // What a store opened later did not see written, it cannot vouch for.
    expect(open(file).streamChangedSince('x', x1.position)).toEqual({ head: y1.position, changed: true })
    // Another process writes x: until a has seen it, a cannot vouch for any stream.
    const x2 = await b.append('x', [{ type: 'X2', data: {} }])
    expect(a.streamChangedSince('y', y1.position)).toEqual({ head: x2.position, changed: true })
    expect(a.streamChangedSince('x', y1.position)).toEqual({ head: x2.position, changed: true })
    const z1 = await a.append('z', [{ type: 'Z1', data: {} }])
    // Delivered (with a's own commit after it): x changed after y1, y did not.
    expect(a.streamChangedSince('x', y1.position)).toEqual({ head: z1.position, changed: true })
    expect(a.streamChangedSince('y', y1.position)).toEqual({ head: z1.position, changed: false })
    expect(a.streamChangedSince('x', x2.position)).toEqual({ head: z1.position, changed: false })
  })

  it('a consumer that falls far behind the live feed reads the rest from the file, missing nothing', async () => {
    const store = open(temp())
    await store.append('warm', [{ type: 'Warm', data: {} }])
    const sub = store.subscribeAll()
    const it = sub[Symbol.asyncIterator]()
    expect((await it.next()).value?.type).toBe('Warm')
    // 12,000 events committed while the consumer does not pull (more than it may queue).
    for (let i = 0; i < 12; i++) await store.append(`many-${i}`, Array.from({ length: 1000 }, (_, j) => ({ type: 'Many', data: { n: i * 1000 + j } })))
    const seen: number[] = []
    for (let k = 0; k < 12_000; k++) seen.push(((await it.next()).value!.data as { n: number }).n)
    expect(seen).toEqual(Array.from({ length: 12_000 }, (_, n) => n))
    await sub.close()
  })

  it('two instances on one file: optimistic concurrency holds across them', async () => {
    const file = temp()
    const a = open(file)
    const b = open(file)
    await a.append('shared', [{ type: 'Base', data: {} }])
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).append('shared', [{ type: 'Race', data: { i } }], { expectedRevision: 0n })),
    )
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    // Every other one failed with a conflict (not a lock error).
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConcurrencyError)
    expect(await a.readStream('shared')).toHaveLength(2)
    expect(await b.readStream('shared')).toEqual(await a.readStream('shared'))
    // Interleaved appends with 'any' from both keep one chain.
    await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).append('shared', [{ type: 'Any', data: { i } }])))
    const events = await b.readStream('shared')
    expect(events).toHaveLength(32)
    expect(verifyChain(events)).toBeUndefined()
  })

  it('a write lock held too long by another connection → StoreUnavailableError, nothing written', async () => {
    const file = temp()
    const store = open(file, { busyTimeoutMs: 50 })
    await store.append('s', [{ type: 'A', data: {} }])
    const blocker = new Database(file)
    blocker.pragma('busy_timeout = 0')
    blocker.exec('BEGIN IMMEDIATE')
    try {
      const error = await store.append('s', [{ type: 'B', data: {} }, { type: 'C', data: {} }]).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(StoreUnavailableError)
    } finally {
      blocker.exec('ROLLBACK')
      blocker.close()
    }
    expect((await store.readStream('s')).map((e) => e.type)).toEqual(['A'])
    // Once the lock is gone the store works again.
    expect((await store.append('s', [{ type: 'D', data: {} }], { expectedRevision: 0n })).nextExpectedRevision).toBe(1n)
  })

  it('close() writes queued appends first, then refuses new ones', async () => {
    const file = temp()
    const store = new SqliteEventStore({ file, writer })
    const pending = Array.from({ length: 5 }, (_, i) => store.append('c', [{ type: 'Q', data: { i } }]))
    await store.close()
    await expect(Promise.all(pending)).resolves.toHaveLength(5)
    await expect(store.append('c', [{ type: 'Late', data: {} }])).rejects.toBeInstanceOf(StoreUnavailableError)
    const reopened = open(file)
    expect(await reopened.readStream('c')).toHaveLength(5)
  })

  it('subscription reads only when pulled (backpressure) and resumes from its checkpoint', async () => {
    const store = open(temp())
    // Queued in order within one turn: one group commit, positions follow i.
    await Promise.all(Array.from({ length: 1200 }, (_, i) => store.append(`b-${i % 7}`, [{ type: 'B', data: { i } }])))
    const sub = store.subscribeAll()
    const it = sub[Symbol.asyncIterator]()
    const first = await it.next()
    expect((first.value as { data: { i: number } }).data.i).toBe(0)
    // Writing more while the consumer is idle must not make anything skip or repeat.
    await store.append('b-late', [{ type: 'Late', data: { i: 1200 } }])
    const seen: number[] = [0]
    for (;;) {
      const r = await it.next()
      if (r.done === true) break
      seen.push((r.value.data as { i: number }).i)
      if (seen.length === 1201) break
    }
    await sub.close()
    expect(seen).toEqual(Array.from({ length: 1201 }, (_, i) => i))
  })

  it('snapshots: save rides the group commit and answers its encoded size, newer revision wins, clear empties', async () => {
    const file = temp()
    const store = open(file)
    const snaps = store.snapshots
    expect(await snaps.load('w-1')).toBeUndefined()
    const before = store.stats.transactions
    const [, savedBytes] = await Promise.all([
      store.append('w-1', [{ type: 'A', data: {} }]),
      snaps.save('w-1', { version: 1, revision: 5n, snapshot: { context: { n: 2n ** 70n } } }),
    ])
    expect(savedBytes).toBeGreaterThan(0)
    expect(store.stats.transactions - before).toBe(1)
    await snaps.save('w-1', { version: 1, revision: 3n, snapshot: { stale: true } })
    expect(await snaps.load('w-1')).toEqual({ version: 1, revision: 5n, snapshot: { context: { n: 2n ** 70n } }, bytes: savedBytes })
    const bumpedBytes = await snaps.save('w-1', { version: 2, revision: 1n, snapshot: { bumped: true } })
    expect(await snaps.load('w-1')).toEqual({ version: 2, revision: 1n, snapshot: { bumped: true }, bytes: bumpedBytes })
    await snaps.clear()
    expect(await snaps.load('w-1')).toBeUndefined()
  })
})
