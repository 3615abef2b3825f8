import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { MerkleFrontier } from '../ledger-log/merkle.js'
import { LedgerVerifier, type BadEvent, type VerifyResult } from './audit-verify.js'
import type { WorkerReply, WorkerRequest } from './verify-worker.js'

export interface VerifyExportOptions {
  /** 1 verifies on this thread; more runs that many worker threads. */
  threads: number
  /** Tree sizes whose root to record on the way (the checkpoints to check). */
  rootsAt?: readonly number[]
  /** Called with the number of events verified so far (at most every few thousand). */
  onProgress?: (events: number) => void
}

export interface ExportVerification {
  result: VerifyResult
  /** Leaves of the recomputed Merkle log (= events verified, in export order). */
  size: number
  /** MTH of the whole export, and at each requested size it reached. */
  root: Buffer
  roots: Map<number, Buffer>
}

const BATCH = 1024
const IN_FLIGHT_PER_WORKER = 4

/**
 * Verifies an export (every chain, balance and charge through LedgerVerifier) and
 * recomputes the Merkle log over its events in export order (RFC 9162, the leaf being
 * the event's canonical JSON). Streams are independent chains, so with several threads
 * each stream is routed to one worker by a hash of its id; the workers also hash the
 * leaves, and this thread folds them into the frontier in export order as they come back.
 */
export async function verifyExport(lines: AsyncIterable<string> | Iterable<string>, options: VerifyExportOptions): Promise<ExportVerification> {
  const want = new Set(options.rootsAt ?? [])
  const roots = new Map<number, Buffer>()
  const frontier = MerkleFrontier.empty()
  const addLeaf = (leaf: Buffer) => {
    frontier.append(leaf)
    if (want.has(frontier.size)) roots.set(frontier.size, frontier.root())
  }
  if (want.has(0)) roots.set(0, frontier.root())
  if (options.threads <= 1) {
    const v = new LedgerVerifier()
    for await (const line of lines) {
      if (!v.push(line)) break
      if (v.lastLeaf !== undefined) {
        addLeaf(v.lastLeaf)
        if (frontier.size % 4096 === 0) options.onProgress?.(frontier.size)
      }
    }
    options.onProgress?.(frontier.size)
    return { result: v.result(), size: frontier.size, root: frontier.root(), roots }
  }
  return verifyInWorkers(lines, options.threads, addLeaf, frontier, roots, options.onProgress)
}

async function verifyInWorkers(
  lines: AsyncIterable<string> | Iterable<string>,
  threads: number,
  addLeaf: (leaf: Buffer) => void,
  frontier: MerkleFrontier,
  roots: Map<number, Buffer>,
  onProgress: ((events: number) => void) | undefined,
): Promise<ExportVerification> {
  const workers = Array.from({ length: threads }, () => startWorker())
  // Per worker: the batch being filled, replies not yet folded (in order), batches in flight.
  const filling = workers.map(() => ({ lines: [] as string[], lineNumbers: [] as number[] }))
  const replies = workers.map(() => [] as { leaves: Uint8Array; positions: Float64Array; count: number; next: number; failed: boolean }[])
  const inFlight = workers.map(() => 0)
  // Export order: which worker has the i-th event, and its line number.
  let owner = new Uint8Array(1 << 16)
  let lineOf = new Int32Array(1 << 16)
  let dispatched = 0
  let folded = 0
  let lastPosition = -1
  let orderBad: BadEvent | undefined
  let anyFailed = false
  let wake: (() => void) | undefined
  let crashed: Error | undefined

  const fold = () => {
    while (folded < dispatched && orderBad === undefined) {
      const queue = replies[owner[folded]!]!
      const head = queue[0]
      if (head === undefined) break
      if (head.next >= head.count) {
        if (head.failed) break // that worker stopped at its first bad event
        queue.shift()
        continue
      }
      const position = head.positions[head.next]!
      if (position <= lastPosition) {
        orderBad = { line: lineOf[folded]!, streamId: '?', revision: '?', type: '?', reason: `position ${position} not after ${lastPosition}` }
        break
      }
      lastPosition = position
      addLeaf(Buffer.from(head.leaves.buffer, head.leaves.byteOffset + 32 * head.next, 32))
      head.next++
      folded++
      if (folded % 4096 === 0) onProgress?.(folded)
    }
  }

  for (const [w, worker] of workers.entries()) {
    worker.on('message', (m: WorkerReply) => {
      if (m.kind !== 'batch') return
      inFlight[w]!--
      replies[w]!.push({ leaves: m.leaves, positions: m.positions, count: m.count, next: 0, failed: m.failed })
      if (m.failed) anyFailed = true
      fold()
      wake?.()
    })
    worker.on('error', (e) => {
      crashed = e
      wake?.()
    })
  }
  const send = (w: number) => {
    const b = filling[w]!
    if (b.lines.length === 0) return
    inFlight[w]!++
    workers[w]!.postMessage({ kind: 'batch', lines: b.lines, lineNumbers: Int32Array.from(b.lineNumbers) } satisfies WorkerRequest)
    filling[w] = { lines: [], lineNumbers: [] }
  }
  const waitUntil = async (ready: () => boolean) => {
    while (!ready() && crashed === undefined) await new Promise<void>((r) => (wake = r))
    if (crashed !== undefined) throw crashed
  }

  try {
    let lineNumber = 0
    for await (const line of lines) {
      lineNumber++
      if (line.trim() === '') continue
      if (anyFailed || orderBad !== undefined) break
      const w = routeOf(line, threads)
      if (dispatched === owner.length) {
        owner = grow(owner)
        lineOf = grow(lineOf)
      }
      owner[dispatched] = w
      lineOf[dispatched] = lineNumber
      dispatched++
      const b = filling[w]!
      b.lines.push(line)
      b.lineNumbers.push(lineNumber)
      if (b.lines.length >= BATCH) {
        send(w)
        // Backpressure: reading never runs more than a few batches ahead of a worker.
        if (inFlight[w]! >= IN_FLIGHT_PER_WORKER) await waitUntil(() => inFlight[w]! < IN_FLIGHT_PER_WORKER)
      }
    }
    for (let w = 0; w < threads; w++) send(w)
    await waitUntil(() => inFlight.every((n) => n === 0))
    fold()
    onProgress?.(folded)
    const results = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<VerifyResult>((resolve, reject) => {
            worker.on('message', (m: WorkerReply) => m.kind === 'result' && resolve(m.result))
            worker.once('error', reject)
            worker.postMessage({ kind: 'finish' } satisfies WorkerRequest)
          }),
      ),
    )
    const result = mergeResults(results, orderBad)
    return { result, size: frontier.size, root: frontier.root(), roots }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./verify-worker.js', import.meta.url))
  // From TypeScript sources (tsx): `--import tsx` in a worker's execArgv does not take effect
  // on Node 20, so the worker registers tsx's loader itself before importing the task.
  const tsx = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs')).href
  const task = new URL('./verify-worker.ts', import.meta.url).href
  return new Worker(`import(${JSON.stringify(tsx)}).then((t) => t.register()).then(() => import(${JSON.stringify(task)}))`, { eval: true })
}

/** A stream's worker, from its id (the export writes streamId first; anything else goes to worker 0, which reports it). */
function routeOf(line: string, threads: number): number {
  const start = line.indexOf('"streamId":"')
  if (start < 0) return 0
  const from = start + 12
  const end = line.indexOf('"', from)
  let h = 0
  for (let i = from; i < end; i++) h = (h * 31 + line.charCodeAt(i)) | 0
  return (h >>> 0) % threads
}

function grow<T extends Uint8Array | Int32Array>(a: T): T {
  const bigger = new (a.constructor as new (n: number) => T)(a.length * 2)
  bigger.set(a)
  return bigger
}

/** One result from the workers' (disjoint streams); the first bad event is the one on the lowest line. */
function mergeResults(results: VerifyResult[], orderBad: BadEvent | undefined): VerifyResult {
  const bads = [...results.map((r) => r.bad), orderBad].filter((b): b is BadEvent => b !== undefined).sort((a, b) => a.line - b.line)
  const wallets = results.flatMap((r) => r.wallets).sort((a, b) => (a.wallet < b.wallet ? -1 : a.wallet > b.wallet ? 1 : 0))
  const out: VerifyResult = {
    ok: bads.length === 0,
    events: results.reduce((n, r) => n + r.events, 0),
    streams: results.reduce((n, r) => n + r.streams, 0),
    wallets,
  }
  if (bads[0] !== undefined) out.bad = bads[0]
  return out
}
