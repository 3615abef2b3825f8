import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { assign, setup } from 'xstate'
import { afterEach, describe, expect, it } from 'vitest'
import { DomainError } from '../../shared/errors.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import type { EventStore } from '../../store/types.js'
import { ActorHost } from './host.js'
import { commitTogether, type Party } from './joint.js'
import type { AggregateDefinition } from './types.js'

// An account that may not go below zero: a transfer between two is a joint decision.
type AccountEvent = { type: 'Credited'; data: { amount: bigint } } | { type: 'Debited'; data: { amount: bigint } }
type AccountCommand = { type: 'Credit'; amount: bigint } | { type: 'Debit'; amount: bigint }

const accountMachine = setup({
  types: { context: {} as { balance: bigint }, events: {} as AccountEvent },
  actions: { announce: (_: unknown, _params: { amount: bigint }) => {} },
}).createMachine({
  id: 'account',
  context: { balance: 0n },
  on: {
    Credited: { actions: [assign(({ context, event }) => ({ balance: context.balance + event.data.amount })), { type: 'announce', params: ({ event }) => ({ amount: event.data.amount }) }] },
    Debited: { actions: assign(({ context, event }) => ({ balance: context.balance - event.data.amount })) },
  },
})

const accountDefinition: AggregateDefinition<typeof accountMachine, AccountCommand, AccountEvent> = {
  category: 'account',
  machine: accountMachine,
  version: 1,
  decide(state, command) {
    if (command.type === 'Credit') return [{ type: 'Credited', data: { amount: command.amount } }]
    if (state.context.balance < command.amount) return new DomainError('insufficient_balance', 'Not enough')
    return [{ type: 'Debited', data: { amount: command.amount } }]
  },
}

describe('commitTogether on SQLite', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })
  function file(): string {
    const dir = mkdtempSync(join(tmpdir(), 'joint-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    return join(dir, 'events.db')
  }
  function open(path: string): SqliteEventStore {
    const store = new SqliteEventStore({ file: path })
    cleanups.push(() => store.close())
    return store
  }
  function hostOn(store: EventStore, announced: bigint[] = []) {
    return new ActorHost({ definition: accountDefinition, store, effects: { announce: (action) => void announced.push((action.params as { amount: bigint }).amount) } })
  }
  const transfer = (store: EventStore, host: ActorHost<typeof accountMachine, AccountCommand, AccountEvent>, from: string, to: string, amount: bigint) => {
    const a: Party<typeof accountMachine, AccountCommand> = { host, actorId: from }
    const b: Party<typeof accountMachine, AccountCommand> = { host, actorId: to }
    return commitTogether(store, [a, b], (j) => {
      j.decide(a, { type: 'Debit', amount })
      j.decide(b, { type: 'Credit', amount })
      return j.state(a).snapshot.context.balance
    })
  }

  it('decides each party on its own state and commits both in one transaction, effects after', async () => {
    const store = open(file())
    const announced: bigint[] = []
    const host = hostOn(store, announced)
    await host.send('alice', { type: 'Credit', amount: 10n })
    const tx0 = store.stats.transactions
    const { result, committed } = await transfer(store, host, 'alice', 'bob', 4n)
    expect(result).toBe(6n)
    expect(store.stats.transactions - tx0).toBe(1)
    expect(committed.map((c) => c.events.map((e) => e.type))).toEqual([['Debited'], ['Credited']])
    expect(committed[1]!.events[0]!.position).toBe(committed[0]!.events[0]!.position + 1n)
    expect((await host.read('alice')).snapshot.context.balance).toBe(6n)
    expect((await host.read('bob')).snapshot.context.balance).toBe(4n)
    await new Promise((r) => setTimeout(r, 10))
    expect(announced).toEqual([10n, 4n])
  })

  it('a refusal by one party commits nothing for any', async () => {
    const store = open(file())
    const host = hostOn(store)
    await host.send('alice', { type: 'Credit', amount: 3n })
    await expect(transfer(store, host, 'alice', 'bob', 5n)).rejects.toMatchObject({ code: 'insufficient_balance' })
    expect(await store.readStream('account-bob')).toEqual([])
    expect(await store.readStream('account-alice')).toHaveLength(1)
  })

  it('another process writing one party first: conflict, catch up, decide again on the new state', async () => {
    const path = file()
    const storeA = open(path)
    const storeB = open(path)
    const hostA = hostOn(storeA)
    const hostB = hostOn(storeB)
    await hostA.send('alice', { type: 'Credit', amount: 10n })
    await hostA.read('bob')
    // B (another process) spends 8 of alice's 10: A's cached alice is stale.
    await hostB.send('alice', { type: 'Debit', amount: 8n })
    await expect(transfer(storeA, hostA, 'alice', 'bob', 5n)).rejects.toMatchObject({ code: 'insufficient_balance' })
    const { result } = await transfer(storeA, hostA, 'alice', 'bob', 2n)
    expect(result).toBe(0n)
    expect((await hostB.read('bob')).snapshot.context.balance).toBe(2n)
  })

  it('concurrent transfers in both directions never deadlock and never lose a unit', async () => {
    const store = open(file())
    const host = hostOn(store)
    await host.send('alice', { type: 'Credit', amount: 100n })
    await host.send('bob', { type: 'Credit', amount: 100n })
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? transfer(store, host, 'alice', 'bob', 3n) : transfer(store, host, 'bob', 'alice', 2n))))
    const a = (await host.read('alice')).snapshot.context.balance
    const b = (await host.read('bob')).snapshot.context.balance
    expect(a + b).toBe(200n)
    expect(a).toBe(100n - 20n * 3n + 20n * 2n)
  })
})

describe('ActorHost catch-up', () => {
  it('skips the stream read when the store head has not moved, and still sees another process\'s commit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'catchup-'))
    const storeA = new SqliteEventStore({ file: join(dir, 'events.db') })
    const storeB = new SqliteEventStore({ file: join(dir, 'events.db') })
    try {
      let reads = 0
      const readStream = storeA.readStream.bind(storeA)
      storeA.readStream = (...args) => {
        reads++
        return readStream(...args)
      }
      const host = hostFor(storeA)
      await host.send('alice', { type: 'Credit', amount: 1n })
      const afterSend = reads
      await host.read('alice')
      await host.read('alice')
      expect(reads).toBe(afterSend)
      await hostFor(storeB).send('alice', { type: 'Credit', amount: 5n })
      expect((await host.read('alice')).snapshot.context.balance).toBe(6n)
      expect(reads).toBe(afterSend + 1)
    } finally {
      await storeA.close()
      await storeB.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
  const hostFor = (store: EventStore) => new ActorHost({ definition: accountDefinition, store })
})
