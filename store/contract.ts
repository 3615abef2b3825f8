import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ConcurrencyError } from './errors.js'
import { verifyChain } from './hash.js'
import type { EventStore, ExpectedRevision, NewEvent, Position, RecordedEvent, Subscription } from './types.js'

/** What an adapter's test file hands the contract for each test. */
export interface ContractFixture {
  store: EventStore
  /** Closes `store` and opens a new instance on the same data (persistent adapters). */
  reopen?: () => Promise<EventStore>
  /** Closes whatever is open and removes the data. */
  cleanup: () => Promise<void>
}

/**
 * The behaviour every EventStore adapter must have. Adapter-neutral: it never assumes an
 * empty store (each test uses its own stream prefix and starts from the current head) and
 * never assumes positions are dense.
 */
export function eventStoreContract(name: string, open: () => Promise<ContractFixture>): void {
  describe(`EventStore contract: ${name}`, () => {
    let fx: ContractFixture
    let store: EventStore
    let prefix: string
    let start: Position

    beforeEach(async () => {
      fx = await open()
      store = fx.store
      prefix = `c${randomUUID().replaceAll('-', '')}`
      start = await store.headPosition()
    })

    afterEach(async () => {
      await fx.cleanup()
    })

    const sid = (name: string): string => `${prefix}-${name}`
    const ev = (type: string, data: unknown = {}): NewEvent => ({ type, data })

    async function conflict(stream: string, expected: ExpectedRevision): Promise<ConcurrencyError> {
      const error = await store.append(stream, [ev('Nope')], { expectedRevision: expected }).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(ConcurrencyError)
      return error as ConcurrencyError
    }

    /** Our events in global order, read from `start`. */
    async function ours(): Promise<RecordedEvent[]> {
      return (await store.readAll({ fromPosition: start })).filter((e) => e.streamId.startsWith(prefix))
    }

    describe('expected revision', () => {
      it('no_stream succeeds on a new stream and fails once it exists', async () => {
        const s = sid('a')
        const r = await store.append(s, [ev('A')], { expectedRevision: 'no_stream' })
        expect(r.nextExpectedRevision).toBe(0n)
        const e = await conflict(s, 'no_stream')
        expect(e.expected).toBe('no_stream')
        expect(e.actual).toBe(0n)
        expect(e.streamId).toBe(s)
        expect(await store.readStream(s)).toHaveLength(1)
      })

      it('stream_exists fails on a missing stream and succeeds on an existing one', async () => {
        const s = sid('a')
        const e = await conflict(s, 'stream_exists')
        expect(e.expected).toBe('stream_exists')
        expect(e.actual).toBe('no_stream')
        expect(await store.readStream(s)).toEqual([])
        await store.append(s, [ev('A')])
        const r = await store.append(s, [ev('B')], { expectedRevision: 'stream_exists' })
        expect(r.nextExpectedRevision).toBe(1n)
      })

      it('an exact revision succeeds when it matches and reports the actual one when it does not', async () => {
        const s = sid('a')
        const missing = await conflict(s, 0n)
        expect(missing.expected).toBe(0n)
        expect(missing.actual).toBe('no_stream')
        const first = await store.append(s, [ev('A'), ev('B')], { expectedRevision: 'no_stream' })
        expect(first.nextExpectedRevision).toBe(1n)
        const second = await store.append(s, [ev('C')], { expectedRevision: first.nextExpectedRevision })
        expect(second.nextExpectedRevision).toBe(2n)
        const stale = await conflict(s, 1n)
        expect(stale.expected).toBe(1n)
        expect(stale.actual).toBe(2n)
        const ahead = await conflict(s, 5n)
        expect(ahead.actual).toBe(2n)
        expect((await store.readStream(s)).map((e) => e.type)).toEqual(['A', 'B', 'C'])
      })

      it('any never conflicts, on a missing or an existing stream', async () => {
        const s = sid('a')
        expect((await store.append(s, [ev('A')], { expectedRevision: 'any' })).nextExpectedRevision).toBe(0n)
        expect((await store.append(s, [ev('B')])).nextExpectedRevision).toBe(1n)
        expect((await store.append(s, [ev('C')], { expectedRevision: 'any' })).nextExpectedRevision).toBe(2n)
      })

      it('of N concurrent appends with the same expected revision exactly one wins', async () => {
        const s = sid('race')
        const base = await store.append(s, [ev('Base')])
        const n = 20
        const results = await Promise.allSettled(
          Array.from({ length: n }, (_, i) =>
            store.append(s, [ev('Racer', { i }), ev('RacerTail', { i })], { expectedRevision: base.nextExpectedRevision }),
          ),
        )
        const won = results.filter((r) => r.status === 'fulfilled')
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
        expect(won).toHaveLength(1)
        expect(lost).toHaveLength(n - 1)
        for (const l of lost) {
          expect(l.reason).toBeInstanceOf(ConcurrencyError)
          expect((l.reason as ConcurrencyError).expected).toBe(0n)
          expect((l.reason as ConcurrencyError).actual).toBe(2n)
        }
        const events = await store.readStream(s)
        expect(events.map((e) => e.type)).toEqual(['Base', 'Racer', 'RacerTail'])
        expect((events[1]?.data as { i: number }).i).toBe((events[2]?.data as { i: number }).i)
      })

      it('of N concurrent no_stream appends exactly one creates the stream', async () => {
        const s = sid('create')
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => store.append(s, [ev('Created', { i })], { expectedRevision: 'no_stream' })),
        )
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
        expect(await store.readStream(s)).toHaveLength(1)
      })
    })

    describe('append', () => {
      it('appends several events atomically: consecutive revisions, increasing positions, never interleaved', async () => {
        const k = 5
        const streams = ['a', 'b', 'c'].map(sid)
        const results = await Promise.all(
          streams.flatMap((s) =>
            [0, 1, 2].map((batch) =>
              store.append(
                s,
                Array.from({ length: k }, (_, i) => ev('Part', { batch: `${s}/${batch}`, i })),
              ),
            ),
          ),
        )
        const all = await ours()
        expect(all).toHaveLength(streams.length * 3 * k)
        // Global order: each batch's k events are adjacent and in order.
        for (let i = 0; i < all.length; i += k) {
          const group = all.slice(i, i + k)
          const batchId = (group[0]?.data as { batch: string }).batch
          expect(group.map((e) => (e.data as { batch: string }).batch)).toEqual(Array(k).fill(batchId))
          expect(group.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4])
          const first = group[0]?.revision ?? -1n
          expect(group.map((e) => e.revision)).toEqual(Array.from({ length: k }, (_, j) => first + BigInt(j)))
          expect(first % BigInt(k)).toBe(0n)
        }
        for (let i = 1; i < all.length; i++) expect(all[i]!.position > all[i - 1]!.position).toBe(true)
        // The result names the last event appended.
        for (const r of results) {
          const last = all.find((e) => e.position === r.position)
          expect(last).toBeDefined()
          expect(last?.revision).toBe(r.nextExpectedRevision)
          expect((last?.data as { i: number }).i).toBe(k - 1)
        }
      })

      it('returns what it recorded: the events exactly as a read returns them', async () => {
        const s = sid('rec')
        await store.append(s, [ev('Zero')])
        const r = await store.append(s, [ev('One', { n: 1n, t: 'x' })], { expectedRevision: 0n })
        const [read] = await store.readStream(s, { fromRevision: 1n })
        expect(read).toBeDefined()
        // Adapters that cannot know every position (KurrentDB, multi-event) may omit it; one event they know.
        expect(r.recorded).toEqual([read])
        const many = await store.append(s, [ev('Two', { n: 2 }), ev('Three', { n: 3 })], { expectedRevision: 1n })
        if (many.recorded !== undefined) expect(many.recorded).toEqual(await store.readStream(s, { fromRevision: 2n }))
      })

      it('appendMulti writes several streams, one result per part, each checked on its own revision', async () => {
        const a = sid('ma')
        const b = sid('mb')
        await store.append(a, [ev('A0')])
        const [ra, rb] = await store.appendMulti([
          { streamId: a, events: [ev('A1')], expectedRevision: 0n },
          { streamId: b, events: [ev('B0'), ev('B1')], expectedRevision: 'no_stream' },
        ])
        expect(ra?.nextExpectedRevision).toBe(1n)
        expect(rb?.nextExpectedRevision).toBe(1n)
        expect((await store.readStream(a)).map((e) => e.type)).toEqual(['A0', 'A1'])
        expect((await store.readStream(b)).map((e) => e.type)).toEqual(['B0', 'B1'])
        expect(ra!.position < rb!.position).toBe(true)
        // A stale revision on the second part: a ConcurrencyError naming that stream.
        const error = await store
          .appendMulti([
            { streamId: a, events: [ev('A2')], expectedRevision: 1n },
            { streamId: b, events: [ev('B2')], expectedRevision: 0n },
          ])
          .catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ConcurrencyError)
        expect((error as ConcurrencyError).streamId).toBe(b)
        const aTypes = (await store.readStream(a)).map((e) => e.type)
        // Atomic adapters wrote nothing; sequential ones (KurrentDB) wrote the earlier part.
        expect(aTypes).toEqual(store.atomicMulti ? ['A0', 'A1'] : ['A0', 'A1', 'A2'])
        expect((await store.readStream(b)).map((e) => e.type)).toEqual(['B0', 'B1'])
        await expect(store.appendMulti([{ streamId: a, events: [ev('X')] }, { streamId: a, events: [ev('Y')] }])).rejects.toThrow(/once/)
      })

      it('gives strictly increasing global positions across streams, in append order', async () => {
        const order = ['a', 'b', 'a', 'c', 'b', 'a'].map(sid)
        const positions: Position[] = []
        for (const [i, s] of order.entries()) positions.push((await store.append(s, [ev('E', { i })])).position)
        for (let i = 1; i < positions.length; i++) expect(positions[i]! > positions[i - 1]!).toBe(true)
        expect(positions[0]! > start).toBe(true)
        const all = await ours()
        expect(all.map((e) => e.streamId)).toEqual(order)
        expect(all.map((e) => e.position)).toEqual(positions)
        expect(all.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5])
      })

      it('keeps ids, metadata (correlation, causation) and recordedAt', async () => {
        const s = sid('meta')
        const id = randomUUID()
        const before = Date.now()
        await store.append(s, [
          { id, type: 'WithMeta', data: { x: 1 }, metadata: { correlationId: 'corr-1', causationId: 'cause-1' } },
          { type: 'NoMeta', data: null },
        ])
        const [a, b] = await store.readStream(s)
        expect(a?.id).toBe(id)
        expect(a?.metadata).toEqual({ correlationId: 'corr-1', causationId: 'cause-1' })
        expect(b?.metadata).toEqual({})
        expect(b?.data).toBeNull()
        expect(typeof b?.id).toBe('string')
        expect(b?.id).not.toBe(id)
        for (const e of [a, b]) {
          expect(e?.recordedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/)
          const t = Date.parse(e?.recordedAt ?? '')
          // Generous bounds: this checks "the store's clock at append", not speed.
          expect(t).toBeGreaterThanOrEqual(before - 60_000)
          expect(t).toBeLessThanOrEqual(Date.now() + 60_000)
        }
        const [fromAll] = (await ours()).filter((e) => e.id === id)
        expect(fromAll?.metadata).toEqual({ correlationId: 'corr-1', causationId: 'cause-1' })
      })

      it('round-trips bigint beyond 2^64 and plain data exactly', async () => {
        const s = sid('big')
        const data = {
          huge: 2n ** 70n + 12345n,
          negative: -(2n ** 65n) - 1n,
          small: 5n,
          zero: 0n,
          nested: [1n, { atomic: 1_000_000_000_000_000_000_000n }],
          text: 'héllo ✓',
          float: 1.5,
          int: 42,
          flag: true,
          nil: null,
        }
        await store.append(s, [ev('Big', data)])
        const [e] = await store.readStream(s)
        expect(e?.data).toEqual(data)
        expect(typeof (e?.data as { huge: unknown }).huge).toBe('bigint')
        expect(verifyChain(await store.readStream(s))).toBeUndefined()
      })
    })

    describe('readStream', () => {
      const fill = async (s: string): Promise<void> => {
        await store.append(s, [0, 1, 2].map((i) => ev(`E${i}`)))
        await store.append(s, [3, 4, 5].map((i) => ev(`E${i}`)))
      }
      const types = (events: RecordedEvent[]): string[] => events.map((e) => e.type)

      it('reads forwards, from a revision (inclusive), with a max count', async () => {
        const s = sid('r')
        await fill(s)
        expect(types(await store.readStream(s))).toEqual(['E0', 'E1', 'E2', 'E3', 'E4', 'E5'])
        expect(types(await store.readStream(s, { fromRevision: 2n }))).toEqual(['E2', 'E3', 'E4', 'E5'])
        expect(types(await store.readStream(s, { fromRevision: 2n, maxCount: 2 }))).toEqual(['E2', 'E3'])
        expect(types(await store.readStream(s, { maxCount: 1 }))).toEqual(['E0'])
        expect(await store.readStream(s, { fromRevision: 6n })).toEqual([])
        const events = await store.readStream(s)
        expect(events.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n, 4n, 5n])
        expect(events.every((e) => e.streamId === s)).toBe(true)
      })

      it('reads backwards, from the end or a revision (inclusive), with a max count', async () => {
        const s = sid('r')
        await fill(s)
        expect(types(await store.readStream(s, { direction: 'backwards' }))).toEqual(['E5', 'E4', 'E3', 'E2', 'E1', 'E0'])
        expect(types(await store.readStream(s, { direction: 'backwards', maxCount: 2 }))).toEqual(['E5', 'E4'])
        expect(types(await store.readStream(s, { direction: 'backwards', fromRevision: 3n }))).toEqual(['E3', 'E2', 'E1', 'E0'])
        expect(types(await store.readStream(s, { direction: 'backwards', fromRevision: 3n, maxCount: 2 }))).toEqual(['E3', 'E2'])
      })

      it('returns [] for a missing stream, both directions', async () => {
        expect(await store.readStream(sid('missing'))).toEqual([])
        expect(await store.readStream(sid('missing'), { direction: 'backwards' })).toEqual([])
      })

      it('does not confuse streams sharing a prefix', async () => {
        await store.append(sid('x'), [ev('X')])
        await store.append(sid('x1'), [ev('X1')])
        expect(types(await store.readStream(sid('x')))).toEqual(['X'])
      })
    })

    describe('readAll', () => {
      it('pages from an exclusive position in global order', async () => {
        for (let i = 0; i < 7; i++) await store.append(sid(i % 2 === 0 ? 'even' : 'odd'), [ev('P', { i })])
        const everything = await ours()
        expect(everything.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5, 6])
        const paged: RecordedEvent[] = []
        let from = start
        for (;;) {
          const page = await store.readAll({ fromPosition: from, maxCount: 3 })
          expect(page.length).toBeLessThanOrEqual(3)
          if (page.length === 0) break
          for (const e of page) expect(e.position > from).toBe(true)
          paged.push(...page)
          from = page[page.length - 1]!.position
        }
        expect(paged.filter((e) => e.streamId.startsWith(prefix))).toEqual(everything)
        // Exclusive: starting at the third event's position returns the fourth onwards.
        const third = everything[2]!
        const rest = (await store.readAll({ fromPosition: third.position })).filter((e) => e.streamId.startsWith(prefix))
        expect(rest.map((e) => (e.data as { i: number }).i)).toEqual([3, 4, 5, 6])
      })

      it('headPosition is the newest position', async () => {
        const before = await store.headPosition()
        const r = await store.append(sid('h'), [ev('A'), ev('B')])
        const after = await store.headPosition()
        expect(after >= r.position).toBe(true)
        expect(after > before).toBe(true)
        const [last] = await store.readStream(sid('h'), { direction: 'backwards', maxCount: 1 })
        expect(last?.position).toBe(r.position)
      })
    })

    describe('hash chain', () => {
      it('links every event to the previous one of its stream and verifies', async () => {
        const s = sid('chain')
        await store.append(s, [ev('A', { n: 1n }), ev('B')])
        await store.append(sid('other'), [ev('Other')])
        await store.append(s, [ev('C', { nested: { v: [1, 2n] } })])
        await Promise.all([store.append(s, [ev('D')]), store.append(s, [ev('E'), ev('F')])])
        const events = await store.readStream(s)
        expect(events).toHaveLength(6)
        expect(events[0]?.prevHash).toBe('')
        for (let i = 1; i < events.length; i++) expect(events[i]?.prevHash).toBe(events[i - 1]?.hash)
        expect(new Set(events.map((e) => e.hash)).size).toBe(6)
        for (const e of events) expect(e.hash).toMatch(/^[0-9a-f]{64}$/)
        expect(verifyChain(events)).toBeUndefined()
        const [other] = await store.readStream(sid('other'))
        expect(other?.prevHash).toBe('')
        // A tampered copy is detected (the chain is over what the store returned).
        const tampered = events.map((e, i) => (i === 2 ? { ...e, data: { nested: { v: [1, 3n] } } } : e))
        expect(verifyChain(tampered)?.revision).toBe(2n)
      })
    })

    describe('subscribeAll', () => {
      it('catches up, then goes live with appends racing the switch: no gap, no duplicate, position order', async () => {
        const s1 = sid('s1')
        const s2 = sid('s2')
        for (let i = 0; i < 10; i++) await store.append(i % 2 === 0 ? s1 : s2, [ev('Before', { i })])
        const sub = store.subscribeAll({ fromPosition: start, streamPrefixes: [prefix] })
        const total = 40
        const received = collect(sub, total)
        // Writers start right away, so some appends land during catch-up and some after.
        const writers = Promise.all(
          [s1, s2].map(async (s, w) => {
            for (let i = 0; i < 15; i++) {
              await store.append(s, [ev('During', { w, i })])
              if (i % 5 === 0) await new Promise((r) => setTimeout(r, 1))
            }
          }),
        )
        await writers
        const got = await received
        expect(got).toHaveLength(total)
        const stored = await ours()
        expect(stored).toHaveLength(total)
        expect(got.map((e) => e.id)).toEqual(stored.map((e) => e.id))
        expect(new Set(got.map((e) => e.id)).size).toBe(total)
        for (let i = 1; i < got.length; i++) expect(got[i]!.position > got[i - 1]!.position).toBe(true)
        expect(got[0]?.data).toEqual({ i: 0 })
      })

      it('starts strictly after fromPosition and delivers complete events', async () => {
        const s = sid('from')
        await store.append(s, [ev('A'), ev('B'), ev('C', { amount: 2n ** 80n })], {})
        const [, b] = await store.readStream(s)
        const sub = store.subscribeAll({ fromPosition: b!.position, streamPrefixes: [prefix] })
        const [c] = await collect(sub, 1)
        expect(c).toEqual((await store.readStream(s))[2])
      })

      it('keeps only the given stream prefixes', async () => {
        const sub = store.subscribeAll({ fromPosition: start, streamPrefixes: [sid('keep'), sid('also-')] })
        const received = collect(sub, 4)
        await store.append(sid('drop'), [ev('X')])
        await store.append(sid('keep'), [ev('K1')])
        await store.append(sid('also-1'), [ev('K2')])
        await store.append(sid('dropped-too'), [ev('X')])
        await store.append(sid('keep'), [ev('K3')])
        await store.append(sid('also-2'), [ev('K4')])
        const got = await received
        expect(got.map((e) => e.type)).toEqual(['K1', 'K2', 'K3', 'K4'])
      })

      it('ends the iteration on close', async () => {
        const sub = store.subscribeAll({ fromPosition: await store.headPosition(), streamPrefixes: [prefix] })
        const iterator = sub[Symbol.asyncIterator]()
        const next = iterator.next()
        await new Promise((r) => setTimeout(r, 20))
        await sub.close()
        await expect(withTimeout(next, 5_000, 'close did not end the subscription')).resolves.toMatchObject({ done: true })
      })
    })

    describe('persistence', () => {
      it('reopening keeps every event, position and hash, and the chains continue', async (ctx) => {
        if (fx.reopen === undefined) {
          ctx.skip()
          return
        }
        const s = sid('p')
        await store.append(s, [ev('A', { v: 2n ** 66n }), ev('B')], { expectedRevision: 'no_stream' })
        await store.append(sid('q'), [{ type: 'Q', data: {}, metadata: { correlationId: 'c' } }])
        const before = await ours()
        const head = await store.headPosition()
        store = await fx.reopen()
        expect(await ours()).toEqual(before)
        expect(await store.headPosition()).toBe(head)
        const r = await store.append(s, [ev('C')], { expectedRevision: 1n })
        expect(r.nextExpectedRevision).toBe(2n)
        expect(r.position > head).toBe(true)
        const events = await store.readStream(s)
        expect(verifyChain(events)).toBeUndefined()
        expect(events[2]?.prevHash).toBe(events[1]?.hash)
      })
    })
  })
}

/** Reads `n` events from a subscription (fails instead of hanging), then closes it. */
export async function collect(sub: Subscription, n: number, timeoutMs = 15_000): Promise<RecordedEvent[]> {
  const got: RecordedEvent[] = []
  const run = (async () => {
    if (n === 0) return
    for await (const e of sub) {
      got.push(e)
      if (got.length >= n) break
    }
  })()
  try {
    await withTimeout(run, timeoutMs, () => `subscription delivered ${got.length} of ${n} events`)
  } finally {
    await sub.close()
  }
  return got
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(typeof message === 'string' ? message : message())), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
