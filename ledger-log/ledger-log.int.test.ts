import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { canonicalEventJson } from '../store/hash.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import { openCheckpoint, verifierFromJwk } from './checkpoint.js'
import { LedgerLog } from './ledger-log.js'
import { leafHash, rootOfSubtrees, verifyConsistency, verifyInclusion } from './merkle.js'

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' })
let dir: string
let store: SqliteEventStore

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ledger-log-'))
  store = await SqliteEventStore.open({ file: join(dir, 'events.sqlite') })
})
afterAll(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

const open = () => new LedgerLog({ store, file: join(dir, 'log.sqlite'), origin: 'test/ledger', signingKey: key.privateKey })

async function appendSome(from: number, n: number): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      // Non-ledger streams are not leaves.
      i % 5 === 4
        ? store.append(`session-${from + i}`, [{ type: 'Other', data: { i } }])
        : store.append(`wallet-0x${(i % 3).toString().repeat(40)}`, [{ type: 'Noted', data: { n: BigInt(from + i) } }]),
    ),
  )
}

it('two followers of one store sharing one file build one log (each event once, in $all order); a restart resumes from the file', async () => {
  const [a, b] = [open(), open()]
  a.start()
  b.start()
  await appendSome(0, 60)
  let head = await store.headPosition()
  expect(await a.waitFor(head)).toBe(true)
  expect(await b.waitFor(head)).toBe(true)
  const c1 = a.signCheckpoint()
  expect(b.latestCheckpoint()).toEqual(c1) // one note per size, whoever signed it

  // The tree is exactly the RFC 9162 tree over the ledger events in store order.
  const ledger = (await store.readAll({})).filter((e) => e.streamId.startsWith('wallet-'))
  expect(a.head().size).toBe(ledger.length)
  const leaves = ledger.map((e) => leafHash(canonicalEventJson(e)))
  const reference = (n: number) => rootOfSubtrees(leaves.slice(0, n)) // leaves are level-0 subtrees
  expect(a.root(ledger.length).equals(reference(ledger.length))).toBe(true)
  expect(openCheckpoint(c1.note, verifierFromJwk('test/ledger', key.publicKey.export({ format: 'jwk' }))).root.equals(reference(ledger.length))).toBe(true)
  for (const [i, e] of ledger.entries()) {
    const leaf = a.leaf(e.position)!
    expect(leaf).toMatchObject({ leafIndex: i, streamId: e.streamId, revision: e.revision })
    expect(verifyInclusion(leaves[i]!, i, ledger.length, b.inclusionProof(i, ledger.length), reference(ledger.length))).toBe(true)
  }

  // Stop both, append while nobody follows, restart one: it resumes from the file.
  await a.close()
  await b.close()
  await appendSome(60, 40)
  const c = open()
  c.start()
  head = await store.headPosition()
  expect(await c.waitFor(head)).toBe(true)
  const all = (await store.readAll({})).filter((e) => e.streamId.startsWith('wallet-'))
  const allLeaves = all.map((e) => leafHash(canonicalEventJson(e)))
  expect(c.head().size).toBe(all.length)
  expect(c.root(all.length).equals(rootOfSubtrees(allLeaves))).toBe(true)
  const proof = c.consistencyProof(c1.size, all.length)
  expect(verifyConsistency(c1.size, all.length, reference(c1.size), rootOfSubtrees(allLeaves), proof)).toBe(true)
  expect(() => c.inclusionProof(0, all.length + 1)).toThrow(RangeError)
  await c.close()
})

it('live events are logged in batches, but every read first logs what was delivered: the head and a leaf are there right after the commit', async () => {
  const log = new LedgerLog({ store, file: join(dir, 'live-log.sqlite'), origin: 'test/ledger', signingKey: key.privateKey })
  log.start()
  await appendSome(1_000, 5)
  expect(await log.waitFor(await store.headPosition())).toBe(true)
  const sizeBefore = log.head().size
  const written = await store.append('wallet-0x' + '7'.repeat(40), [{ type: 'Noted', data: { n: 1n } }])
  await new Promise((resolve) => setImmediate(resolve)) // delivered to the follower, not yet flushed by its timer
  expect(log.head()).toEqual({ size: sizeBefore + 1, position: written.position })
  expect(log.leaf(written.position)?.leafIndex).toBe(sizeBefore)
  await log.close()
})
