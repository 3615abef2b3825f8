import { expect, it } from 'vitest'
import type { EventStore } from '../store/types.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import { eventsAfter } from './topics.js'

it('a resume reads back only to the position it missed from: every later event once, in order, whatever the stream length', async () => {
  const inner = await SqliteEventStore.open({ file: ':memory:' })
  let rowsRead = 0
  // The store as eventsAfter sees it, counting the rows each read returns.
  const store = { readStream: async (...args: Parameters<EventStore['readStream']>) => {
    const rows = await inner.readStream(...args)
    rowsRead += rows.length
    return rows
  } } as unknown as EventStore
  for (let i = 0; i < 1_200; i++) {
    await inner.append('session-long', [{ type: 'Note', data: { i } }])
    if (i % 3 === 0) await inner.append('session-other', [{ type: 'Note', data: { i } }])
  }
  const all = await inner.readStream('session-long')
  const head = await inner.headPosition()
  for (const missed of [0, 1, 5, 255, 256, 257, 700, 1_199, 1_200]) {
    const after = missed === 1_200 ? 0n : all[all.length - missed - 1]!.position
    const before = rowsRead
    const got = await eventsAfter(store, 'session-long', missed === 1_200 ? -1n : after, head)
    expect(got.map((e) => e.revision)).toEqual(all.slice(all.length - missed).map((e) => e.revision))
    // Rows read: what was missed plus at most one page, not the whole stream.
    expect(rowsRead - before).toBeLessThanOrEqual(missed + 256)
  }
  // Events after `head` (committed after the resume read it) are left to the live part.
  expect(await eventsAfter(store, 'session-long', all.at(-3)!.position, all.at(-2)!.position)).toEqual([all.at(-2)])
  await inner.close()
})
