import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { assign, setup } from 'xstate'
import { afterEach, describe, expect, it } from 'vitest'
import { DomainError } from '../../shared/errors.js'
import { ConcurrencyError } from '../../store/errors.js'
import { verifyChain } from '../../store/hash.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import type { EventStore, ReadStreamOptions, RecordedEvent, StoredSnapshot } from '../../store/types.js'
import { ActorBusyError, ActorHost, type ActorHostParameters } from './host.js'
import type { AggregateDefinition, EffectCall, EffectContext } from './types.js'

// ---- a small test aggregate: a counter with a named effect ----

type CounterEvent =
  | { type: 'Incremented'; data: { by: bigint } }
  | { type: 'Closed'; data: { at: string } }

type CounterCommand = { type: 'Increment'; by: bigint } | { type: 'Close' } | { type: 'Noop' }

const counterMachine = setup({
  types: { context: {} as { count: bigint; closedAt: string | null }, events: {} as CounterEvent },
  actions: {
    // Effect: bound by the host's `effects`; this body never runs.
    notify: (_: unknown, _params: { by: bigint }) => {},
  },
}).createMachine({
  id: 'counter',
  context: { count: 0n, closedAt: null },
  initial: 'open',
  states: {
    open: {
      on: {
        Incremented: {
          actions: [
            assign(({ context, event }) => ({ count: context.count + event.data.by })),
            { type: 'notify', params: ({ event }) => ({ by: event.data.by }) },
          ],
        },
        Closed: { target: 'closed', actions: assign(({ event }) => ({ closedAt: event.data.at })) },
      },
    },
    closed: {},
  },
})

function counterDefinition(version = 1): AggregateDefinition<typeof counterMachine, CounterCommand, CounterEvent> {
  return {
    category: 'counter',
    machine: counterMachine,
    version,
    decide(state, command, ctx) {
      if (command.type === 'Noop') return []
      if (state.value === 'closed') return new DomainError('counter_closed', 'The counter is closed')
      if (command.type === 'Close') return [{ type: 'Closed', data: { at: ctx.now.toISOString() } }]
      if (command.by <= 0n) return new DomainError('invalid_amount', 'Increment by a positive amount')
      return [{ type: 'Incremented', data: { by: command.by } }]
    },
  }
}

type CounterHost = ActorHost<typeof counterMachine, CounterCommand, CounterEvent>
type Params = ActorHostParameters<typeof counterMachine, CounterCommand, CounterEvent>

/** Delegates to a real store and records readStream calls (which streams were hydrated, from where). */
class SpyStore implements EventStore {
  readonly kind: 'sqlite' | 'kurrentdb'
  readonly reads: { streamId: string; fromRevision: bigint | undefined }[] = []
  failAppends = false
  constructor(readonly inner: EventStore) {
    this.kind = inner.kind
  }
  append(...args: Parameters<EventStore['append']>): ReturnType<EventStore['append']> {
    if (this.failAppends) return Promise.reject(new ConcurrencyError(args[0], args[2]?.expectedRevision ?? 'any', 99n))
    return this.inner.append(...args)
  }
  get atomicMulti(): boolean {
    return this.inner.atomicMulti
  }
  appendMulti(...args: Parameters<EventStore['appendMulti']>): ReturnType<EventStore['appendMulti']> {
    if (this.failAppends) return Promise.reject(new ConcurrencyError(args[0][0]?.streamId ?? '', args[0][0]?.expectedRevision ?? 'any', 99n))
    return this.inner.appendMulti(...args)
  }
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    this.reads.push({ streamId, fromRevision: options?.fromRevision })
    return this.inner.readStream(streamId, options)
  }
  readAll(...args: Parameters<EventStore['readAll']>): ReturnType<EventStore['readAll']> {
    return this.inner.readAll(...args)
  }
  subscribeAll(...args: Parameters<EventStore['subscribeAll']>): ReturnType<EventStore['subscribeAll']> {
    return this.inner.subscribeAll(...args)
  }
  headPosition(): Promise<bigint> {
    return this.inner.headPosition()
  }
  streamChangedSince(streamId: string, position: bigint): { head: bigint; changed: boolean } {
    return this.inner.streamChangedSince?.(streamId, position) ?? { head: position, changed: true }
  }
  close(): Promise<void> {
    return this.inner.close()
  }
}

describe('ActorHost on SQLite', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  function tempFile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'actor-host-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    return join(dir, 'events.db')
  }
  function openStore(file = tempFile(), writer: 'inline' | 'worker' = 'inline'): SqliteEventStore {
    const store = new SqliteEventStore({ file, writer })
    cleanups.push(() => store.close())
    return store
  }

  interface Harness {
    host: CounterHost
    effects: { action: EffectCall; ctx: EffectContext<CounterCommand> }[]
  }
  function makeHost(store: EventStore, extra: Partial<Params> = {}): Harness {
    const effects: Harness['effects'] = []
    const host = new ActorHost<typeof counterMachine, CounterCommand, CounterEvent>({
      definition: counterDefinition(),
      store,
      effects: {
        notify: (action, ctx) => {
          effects.push({ action, ctx })
        },
      },
      now: () => new Date('2026-01-02T03:04:05.000Z'),
      ...extra,
    })
    return { host, effects }
  }
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 10))
  const inc = (by: bigint): CounterCommand => ({ type: 'Increment', by })

  it('hydrates by folding the stream and runs no effects for stored events', async () => {
    const store = openStore()
    await store.append('counter-a', [1n, 2n, 3n].map((by) => ({ type: 'Incremented', data: { by } })))
    const { host, effects } = makeHost(store)
    const state = await host.read('a')
    expect(state.snapshot.context.count).toBe(6n)
    expect(state.revision).toBe(2n)
    const missing = await host.read('nobody')
    expect(missing.revision).toBe(-1n)
    expect(missing.snapshot.value).toBe('open')
    await settle()
    expect(effects).toHaveLength(0)
  })

  it('send: decide → append → transition; effects run once, only for the new events', async () => {
    const store = openStore()
    await store.append('counter-a', [{ type: 'Incremented', data: { by: 10n } }])
    const { host, effects } = makeHost(store)
    const result = await host.send('a', inc(5n), { correlationId: 'corr-1' })
    expect(result.snapshot.context.count).toBe(15n)
    expect(result.revision).toBe(1n)
    expect(result.events).toHaveLength(1)
    expect(result.events[0]).toMatchObject({ streamId: 'counter-a', revision: 1n, type: 'Incremented', data: { by: 5n } })
    expect(result.events[0]?.metadata).toEqual({ correlationId: 'corr-1' })
    await settle()
    expect(effects.map((e) => e.action)).toEqual([{ type: 'notify', params: { by: 5n } }])
    expect(effects[0]?.ctx.actorId).toBe('a')
    expect(effects[0]?.ctx.event.id).toBe(result.events[0]?.id)
    // Rehydrating (cache dropped, or a second host) folds without running effects again.
    host.clear()
    expect((await host.read('a')).snapshot.context.count).toBe(15n)
    const other = makeHost(store)
    expect((await other.host.read('a')).snapshot.context.count).toBe(15n)
    await settle()
    expect(effects).toHaveLength(1)
    expect(other.effects).toHaveLength(0)
  })

  it('an effect that sends a command back gets causation metadata and its own effect run', async () => {
    const store = openStore()
    const seen: bigint[] = []
    let host!: CounterHost
    ;({ host } = makeHost(store, {
      effects: {
        notify: async (action, ctx) => {
          const { by } = action.params as { by: bigint }
          seen.push(by)
          if (by === 7n) await ctx.send(inc(1n))
        },
      },
    }))
    const first = await host.send('e', inc(7n))
    await new Promise((r) => setTimeout(r, 50))
    const events = await store.readStream('counter-e')
    expect(events.map((e) => (e.data as { by: bigint }).by)).toEqual([7n, 1n])
    expect(events[1]?.metadata.causationId).toBe(first.events[0]?.id)
    expect(seen).toEqual([7n, 1n])
  })

  it('decide refusals surface as errors and append nothing; an empty decision appends nothing', async () => {
    const store = openStore()
    const { host, effects } = makeHost(store)
    await expect(host.send('r', inc(0n))).rejects.toMatchObject({ code: 'invalid_amount' })
    expect(await store.readStream('counter-r')).toEqual([])
    const noop = await host.send('r', { type: 'Noop' })
    expect(noop.events).toEqual([])
    expect(noop.revision).toBe(-1n)
    await host.send('r', inc(1n))
    await host.send('r', { type: 'Close' })
    const refused = await host.send('r', inc(1n)).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(refused).toBeInstanceOf(DomainError)
    expect((refused as DomainError).code).toBe('counter_closed')
    const events = await store.readStream('counter-r')
    expect(events.map((e) => e.type)).toEqual(['Incremented', 'Closed'])
    expect(events[1]?.data).toEqual({ at: '2026-01-02T03:04:05.000Z' })
    // The mailbox keeps working after a refusal.
    expect((await host.read('r')).snapshot.value).toBe('closed')
    await settle()
    expect(effects).toHaveLength(1)
  })

  it('the mailbox serialises concurrent sends to one actor (no conflicts, FIFO)', async () => {
    const store = openStore()
    const { host } = makeHost(store)
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => host.send('m', inc(BigInt(i + 1)))))
    expect(results.map((r) => r.revision)).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i)))
    expect(results.map((r) => r.snapshot.context.count)).toEqual(
      Array.from({ length: 50 }, (_, i) => BigInt(((i + 1) * (i + 2)) / 2)),
    )
    expect(store.stats.conflicts).toBe(0)
    // Different actors proceed in parallel and share group commits.
    const before = store.stats.transactions
    await Promise.all(Array.from({ length: 40 }, (_, i) => host.send(`p${i}`, inc(1n))))
    expect(store.stats.transactions - before).toBeLessThan(40)
  })

  it('on a ConcurrencyError it folds what the other writer appended and decides again', async () => {
    const store = openStore()
    const { host, effects } = makeHost(store)
    await host.send('c', inc(1n))
    // Behind the cached actor's back (another process).
    await store.append('counter-c', [{ type: 'Incremented', data: { by: 100n } }], { expectedRevision: 0n })
    const result = await host.send('c', inc(2n))
    expect(result.snapshot.context.count).toBe(103n)
    expect(result.revision).toBe(2n)
    expect(store.stats.conflicts).toBe(1)
    await settle()
    // The foreign event's effect is the other writer's business.
    expect(effects.map((e) => (e.action.params as { by: bigint }).by)).toEqual([1n, 2n])
    // A foreign Close makes the retried decision a refusal.
    await store.append('counter-c', [{ type: 'Closed', data: { at: 'x' } }])
    await expect(host.send('c', inc(1n))).rejects.toMatchObject({ code: 'counter_closed' })
  })

  it('gives up with ActorBusyError after maxRetries conflicts', async () => {
    const spy = new SpyStore(openStore())
    const { host } = makeHost(spy, { maxRetries: 3 })
    spy.failAppends = true
    const error = await host.send('busy', inc(1n)).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(ActorBusyError)
    expect((error as ActorBusyError).code).toBe('actor_busy')
    spy.failAppends = false
    expect((await host.send('busy', inc(1n))).snapshot.context.count).toBe(1n)
  })

  it('peek answers the last committed state at once, while the actor is held by a decision still under way', async () => {
    const store = openStore()
    const { host } = makeHost(store)
    await host.send('p', inc(5n))
    let release!: () => void
    const held = host.hold('p', () => new Promise<void>((r) => (release = r)))
    await new Promise((r) => setImmediate(r))
    const peeked = await Promise.race([host.peek('p'), new Promise<'waited'>((r) => setTimeout(() => r('waited'), 200))])
    expect(peeked).toMatchObject({ revision: 0n, snapshot: { context: { count: 5n } } })
    // A read still takes its turn on the mailbox.
    let read = false
    const reading = host.read('p').then(() => (read = true))
    await new Promise((r) => setTimeout(r, 20))
    expect(read).toBe(false)
    release()
    await held
    await reading
    expect(read).toBe(true)
  })

  it('a read skips the catch-up while nothing was committed to its stream, and folds what was (another stream\'s commits do not count)', async () => {
    const spy = new SpyStore(openStore())
    const { host } = makeHost(spy)
    await host.send('a', inc(1n))
    await host.send('b', inc(2n))
    await spy.append('other-stream', [{ type: 'Noise', data: {} }])
    spy.reads.length = 0
    expect((await host.read('a')).snapshot.context.count).toBe(1n)
    expect(spy.reads).toEqual([])
    // Behind the host's back, in this process: the read folds it.
    await spy.append('counter-a', [{ type: 'Incremented', data: { by: 10n } }], { expectedRevision: 0n })
    expect((await host.read('a')).snapshot.context.count).toBe(11n)
    expect(spy.reads).toEqual([{ streamId: 'counter-a', fromRevision: 1n }])
    spy.reads.length = 0
    expect((await host.read('a')).snapshot.context.count).toBe(11n)
    expect(spy.reads).toEqual([])
  })

  it('evicts the least recently used idle actors and rehydrates them on demand', async () => {
    const spy = new SpyStore(openStore())
    const { host } = makeHost(spy, { cacheSize: 2 })
    await host.send('a', inc(1n))
    await host.send('b', inc(2n))
    await host.read('a') // a is now more recently used than b
    await host.send('c', inc(3n))
    expect(host.size).toBe(2)
    const hydrations = (): string[] => spy.reads.filter((r) => r.fromRevision === undefined).map((r) => r.streamId)
    spy.reads.length = 0
    await host.read('a')
    await host.read('c')
    expect(hydrations()).toEqual([]) // both still cached
    expect((await host.read('b')).snapshot.context.count).toBe(2n)
    expect(hydrations()).toEqual(['counter-b']) // b had been evicted
    expect(host.size).toBe(2)
    // Busy actors are not evicted: many concurrent actors exceed the cache only while busy.
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => host.send(`x${i}`, inc(BigInt(i)))).map((p) => p.catch((e: unknown) => e)))
    expect(results.filter((r) => r instanceof Error)).toHaveLength(1) // x0: increment by 0 refused
    expect(host.size).toBe(2)
  })

  it('under eviction pressure one host never races itself (one mailbox per actor id)', async () => {
    const store = openStore()
    const { host } = makeHost(store, { cacheSize: 1 })
    const actors = ['a', 'b', 'c', 'd', 'e']
    // Concurrent chains: each completion immediately sends the next command (as effects and
    // request handlers do), so hydrations, evictions and completions interleave.
    await Promise.all(
      Array.from({ length: 8 }, async (_, chain) => {
        for (let k = 0; k < 25; k++) await host.send(actors[(chain * 3 + k * 2) % actors.length]!, inc(1n))
      }),
    )
    // A conflict here would mean two in-memory copies of one actor decided concurrently.
    expect(store.stats.conflicts).toBe(0)
    let total = 0n
    for (const id of actors) total += (await host.read(id)).snapshot.context.count
    expect(total).toBe(200n)
  })

  describe('snapshots', () => {
    const plainState = (s: { snapshot: { value: unknown; context: unknown }; revision: bigint }): unknown => ({
      value: s.snapshot.value,
      context: s.snapshot.context,
      revision: s.revision,
    })

    it('snapshot + tail equals the full fold; deleting snapshots changes nothing; a version bump ignores them', async () => {
      const file = tempFile()
      const store = openStore(file)
      const { host } = makeHost(store, { snapshots: store.snapshots, snapshotEvery: 5 })
      for (let i = 1; i <= 23; i++) await host.send('s', inc(BigInt(i)))
      await host.send('s', { type: 'Close' })
      const stored = await store.snapshots.load('counter-s')
      expect(stored?.version).toBe(1)
      expect(stored?.revision).toBe(19n)

      // Full fold, no snapshots at all.
      const full = await makeHost(store).host.read('s')
      expect(full.snapshot.context.count).toBe(276n)
      expect(full.snapshot.value).toBe('closed')

      // From the snapshot plus the tail (revisions 20..23 only).
      const spy = new SpyStore(store)
      const fromSnapshot = await makeHost(spy, { snapshots: store.snapshots }).host.read('s')
      expect(spy.reads[0]).toEqual({ streamId: 'counter-s', fromRevision: 20n })
      expect(plainState(fromSnapshot)).toEqual(plainState(full))
      // The restored actor keeps working (decides on the restored state).
      await expect(makeHost(store, { snapshots: store.snapshots }).host.send('s', inc(1n))).rejects.toMatchObject({
        code: 'counter_closed',
      })

      // Deleting every snapshot changes nothing.
      await store.snapshots.clear()
      const spy2 = new SpyStore(store)
      const afterClear = await makeHost(spy2, { snapshots: store.snapshots }).host.read('s')
      expect(spy2.reads[0]).toEqual({ streamId: 'counter-s', fromRevision: undefined })
      expect(plainState(afterClear)).toEqual(plainState(full))
    })

    it('a snapshot is really used, and a version bump ignores it', async () => {
      const store = openStore()
      const { host } = makeHost(store)
      for (let i = 0; i < 3; i++) await host.send('v', inc(1n))
      // Plant a snapshot whose state differs from the fold, so we can tell which was used.
      const persisted = counterMachine.getPersistedSnapshot(
        counterMachine.resolveState({ value: 'open', context: { count: 1000n, closedAt: null } }),
      )
      await store.snapshots.save('counter-v', { version: 1, revision: 2n, snapshot: persisted })
      const v1 = makeHost(store, { snapshots: store.snapshots })
      expect((await v1.host.read('v')).snapshot.context.count).toBe(1000n)
      const v2 = new ActorHost<typeof counterMachine, CounterCommand, CounterEvent>({
        definition: counterDefinition(2),
        store,
        snapshots: store.snapshots,
      })
      const state = await v2.read('v')
      expect(state.snapshot.context.count).toBe(3n)
      expect(state.revision).toBe(2n)
    })

    it('snapshots are spaced by their size: a big state is snapshotted every size/1 KiB events, also after a restart', async () => {
      const store = openStore(tempFile())
      const saves: bigint[] = []
      // The real snapshot table underneath; the reported size stands for a state of 5 KiB.
      const sized = {
        load: async (id: string) => {
          const s = await store.snapshots.load(id)
          return s === undefined ? undefined : { ...s, bytes: 5 * 1024 }
        },
        save: async (id: string, snap: StoredSnapshot) => {
          saves.push(snap.revision)
          await store.snapshots.save(id, snap)
          return 5 * 1024
        },
      }
      const first = makeHost(store, { snapshots: sized, snapshotEvery: 2 })
      for (let i = 0; i < 12; i++) await first.host.send('big', inc(1n))
      // Every 2 events until the first snapshot's size is known, then every 5.
      expect(saves).toEqual([1n, 6n, 11n])
      const restarted = makeHost(store, { snapshots: sized, snapshotEvery: 2 })
      for (let i = 0; i < 5; i++) await restarted.host.send('big', inc(1n))
      expect(saves).toEqual([1n, 6n, 11n, 16n])
      expect((await restarted.host.read('big')).snapshot.context.count).toBe(17n)
    })

    it('a failing snapshot store fails neither hydration nor a committed command', async () => {
      const store = openStore()
      const broken = {
        load: () => Promise.reject(new Error('disk gone')),
        save: () => Promise.reject(new Error('disk gone')),
      }
      const { host } = makeHost(store, { snapshots: broken, snapshotEvery: 1 })
      await host.send('f', inc(1n))
      const r = await host.send('f', inc(2n))
      expect(r.snapshot.context.count).toBe(3n)
      expect(await store.readStream('counter-f')).toHaveLength(2)
    })
  })

  it('two hosts on one SQLite file (two store instances) racing 200 increments on one actor lose nothing', async () => {
    const file = tempFile()
    // As two gateway processes would: separate connections, one with its writer thread.
    const storeA = openStore(file, 'worker')
    const storeB = openStore(file, 'inline')
    const a = makeHost(storeA)
    const b = makeHost(storeB)
    const sends = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a.host : b.host).send('race', inc(1n)))
    const results = await Promise.all(sends)
    // The race really happened: some appends lost and were decided again.
    expect(storeA.stats.conflicts + storeB.stats.conflicts).toBeGreaterThan(0)
    expect(new Set(results.map((r) => r.revision)).size).toBe(200)
    expect((await a.host.read('race')).snapshot.context.count).toBe(200n)
    expect((await b.host.read('race')).snapshot.context.count).toBe(200n)
    const events = await storeB.readStream('counter-race')
    expect(events).toHaveLength(200)
    expect(verifyChain(events)).toBeUndefined()
    const fresh = makeHost(openStore(file))
    expect((await fresh.host.read('race')).snapshot.context.count).toBe(200n)
    await settle()
    // Each committed event's effect ran exactly once, in the host that committed it.
    expect(a.effects.length + b.effects.length).toBe(200)
    expect(new Set([...a.effects, ...b.effects].map((e) => e.ctx.event.id)).size).toBe(200)
  })
})
