/**
 * worker_threads half of cli/verify-export.ts: one LedgerVerifier over the streams the
 * main thread routes here (a stream's events always come to the same worker, in order).
 * Answers each batch with the events' Merkle leaf hashes and positions, in batch order.
 */
import { parentPort } from 'node:worker_threads'
import { LedgerVerifier } from './audit-verify.js'

export type WorkerRequest = { kind: 'batch'; lines: string[]; lineNumbers: Int32Array } | { kind: 'finish' }
export type WorkerReply =
  | { kind: 'batch'; leaves: Uint8Array; positions: Float64Array; count: number; failed: boolean }
  | { kind: 'result'; result: ReturnType<LedgerVerifier['result']> }

const verifier = new LedgerVerifier({ checkPositions: false })
const port = parentPort!

port.on('message', (m: WorkerRequest) => {
  if (m.kind === 'finish') {
    port.postMessage({ kind: 'result', result: verifier.result() } satisfies WorkerReply)
    return
  }
  const leaves = new Uint8Array(32 * m.lines.length)
  const positions = new Float64Array(m.lines.length)
  let count = 0
  let failed = false
  for (let i = 0; i < m.lines.length; i++) {
    if (!verifier.push(m.lines[i]!, m.lineNumbers[i]!) || verifier.lastLeaf === undefined) {
      failed = true
      break
    }
    leaves.set(verifier.lastLeaf, 32 * i)
    positions[i] = verifier.lastEventPosition
    count++
  }
  port.postMessage({ kind: 'batch', leaves, positions, count, failed } satisfies WorkerReply, [leaves.buffer, positions.buffer])
})
