/**
 * Worker-thread entry of the SQLite store's writer: the group-commit transaction (hashing,
 * inserts, fsync) runs here so it never blocks the gateway's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { BatchWriter, openDatabase, type WireOp } from './batch-writer.js'

export interface WriterWorkerData {
  file: string
  busyTimeoutMs: number
  maxBatchEvents: number
}

export type ToWorker = { kind: 'ops'; ops: WireOp[] } | { kind: 'close' }

const port = parentPort
if (port === null) throw new Error('writer-worker must run in a worker thread')
const { file, busyTimeoutMs, maxBatchEvents } = workerData as WriterWorkerData
// Throws into the parent's 'error' handler if the file cannot be opened.
const db = openDatabase(file, busyTimeoutMs)
const writer = new BatchWriter(db, {
  maxBatchEvents,
  onDone: (outcomes, delta) => port.postMessage({ kind: 'done', outcomes, delta }),
})

port.on('message', (message: ToWorker) => {
  if (message.kind === 'ops') {
    writer.submit(message.ops)
    return
  }
  writer.drain()
  db.close()
  port.postMessage({ kind: 'closed' })
  port.close()
})
