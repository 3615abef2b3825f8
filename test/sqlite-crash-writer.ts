/**
 * Child process of store/sqlite/crash.int.test.ts: appends K-event batches to several
 * streams concurrently (so group commits hold many appends) and prints `ack <batchId>`
 * once each append has resolved. It runs until killed.
 *
 * Usage: node --import tsx test/sqlite-crash-writer.ts <file> <runId> <streams> <k> <worker|inline>
 */
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'

const [file, runId = 'r', streamsArg = '6', kArg = '4', writerMode = 'worker'] = process.argv.slice(2)
if (file === undefined) throw new Error('usage: sqlite-crash-writer <file> <runId> <streams> <k>')
const streams = Number(streamsArg)
const k = Number(kArg)
const store = new SqliteEventStore({ file, writer: writerMode === 'inline' ? 'inline' : 'worker' })

async function writer(s: number): Promise<void> {
  const streamId = `crash-${s}`
  const [last] = await store.readStream(streamId, { direction: 'backwards', maxCount: 1 })
  let revision = last?.revision ?? -1n
  for (let n = 0; ; n++) {
    const batchId = `${runId}.${s}.${n}`
    const events = Array.from({ length: k }, (_, i) => ({ type: 'CrashPart', data: { batchId, i, k, big: 2n ** 65n + BigInt(n) } }))
    const r = await store.append(streamId, events, { expectedRevision: revision === -1n ? 'no_stream' : revision })
    revision = r.nextExpectedRevision
    process.stdout.write(`ack ${batchId} ${r.position}\n`)
  }
}

process.stdout.write('ready\n')
await Promise.all(Array.from({ length: streams }, (_, s) => writer(s)))
