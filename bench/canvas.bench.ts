/**
 * Canvas runs, each figure against a baseline measured in the same run:
 *  1. validation + planning of 1,000- and 10,000-node graphs on the main thread vs in the
 *     Piscina pool (time per graph, graphs/s with 4 in flight, and the longest event-loop
 *     stall while they run: the pool's point is that the loop stays free);
 *  2. per-node overhead of one run of 100 text-input → results chains (200 nodes) through
 *     the run actor on SQLite vs the same node work in a plain loop with no store;
 *  3. throughput of 1,000 small runs (text-input → results) vs appending the same events
 *     straight to the store (no decide, no fold, no effects).
 *
 *   npm run bench -- canvas
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expandValidateResult, validateGraph, type CompactValidateResult, type InputEdge, type InputNode } from '../actors/canvas/graph.js'
import { executorFor, type NodeDeps, type NodeRunContext } from '../actors/canvas/nodes.js'
import { CanvasService } from '../actors/canvas/service.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import type { EventStore, NewEvent } from '../store/types.js'
import { createWorkerPool } from '../workers/pool.js'
import { fmt, table } from './lib.js'

const SMALL_RUNS = Number(process.env.BENCH_CANVAS_RUNS ?? 1_000)
const CHAINS = 100

/** A layered DAG: a text input, a gate, then nodes each wired to one or two earlier ones; every 10th a GitHub write (gated through the gate). */
function bigGraph(n: number): { nodes: InputNode[]; edges: InputEdge[] } {
  const nodes: InputNode[] = [
    { id: 'n0', type: 'text-input', data: { value: 'x' } },
    { id: 'n1', type: 'approval-gate', data: {} },
  ]
  const edges: InputEdge[] = [{ source: 'n0', target: 'n1' }]
  let seed = 42
  const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % k)
  // A parent among the earlier non-write nodes (an issue gives nothing another issue takes).
  const parent = (i: number) => {
    const j = 1 + rnd(i - 1)
    return `n${j % 10 === 0 ? j - 1 : j}`
  }
  for (let i = 2; i < n; i++) {
    const write = i % 10 === 0
    nodes.push(write ? { id: `n${i}`, type: 'github-create-issue', data: { title: 't', owner: 'o', repo: 'r' } } : { id: `n${i}`, type: i % 2 === 0 ? 'agentNode' : 'agent', data: {} })
    edges.push({ source: parent(i), target: `n${i}` })
    if (!write && i > 3 && rnd(2) === 0) edges.push({ source: parent(i), target: `n${i}` })
  }
  return { nodes, edges }
}

/** Times `work` and the longest gap between 1 ms ticks of the event loop meanwhile (how long requests would wait). */
async function stall<T>(work: () => Promise<T>): Promise<{ ms: number; maxStallMs: number; out: T }> {
  let last = performance.now()
  let max = 0
  const tick = setInterval(() => {
    const now = performance.now()
    max = Math.max(max, now - last)
    last = now
  }, 1)
  await new Promise((r) => setTimeout(r, 5))
  max = 0
  last = performance.now()
  const t = performance.now()
  // Start on a fresh turn so the ticks see the work's own blocking.
  const out = await new Promise<T>((resolve, reject) => setImmediate(() => work().then(resolve, reject)))
  const ms = performance.now() - t
  await new Promise((r) => setTimeout(r, 5))
  clearInterval(tick)
  return { ms, maxStallMs: max, out }
}

async function planning(): Promise<string[][]> {
  const pool = createWorkerPool({ threads: 2 })
  const rows: string[][] = []
  try {
    for (const n of [1_000, 10_000]) {
      const g = bigGraph(n)
      const check = validateGraph(g)
      if (!check.ok) throw new Error(`bench graph is invalid: ${JSON.stringify(check.problems.slice(0, 3))}`)
      // Warm both workers (each loads its modules on first use).
      await Promise.all(Array.from({ length: 4 }, () => pool.run('plan-canvas-graph', { ...g, options: {} })))
      const reps = n === 1_000 ? 20 : 4
      // One graph per event-loop turn, as requests would come.
      const main1 = await stall(async () => {
        for (let i = 0; i < reps; i++) {
          validateGraph(g)
          await new Promise((r) => setImmediate(r))
        }
      })
      // What CanvasService.validate does: the verdict comes back compact and is expanded here.
      const inPool = async () => expandValidateResult(g, await pool.run('plan-canvas-graph', { ...g, options: {} }))
      const pool1 = await stall(async () => {
        for (let i = 0; i < reps; i++) await inPool()
      })
      const main4 = await stall(async () => {
        await Promise.all(Array.from({ length: 4 }, async () => validateGraph(g)))
      })
      const pool4 = await stall(() => Promise.all(Array.from({ length: 4 }, inPool)))
      rows.push([
        fmt(n),
        `${fmt(main1.ms / reps, 1)} ms`,
        `${fmt(pool1.ms / reps, 1)} ms`,
        `${fmt(main1.ms / pool1.ms, 2)}×`,
        `${fmt(4000 / main4.ms, 1)} / ${fmt(4000 / pool4.ms, 1)}`,
        `${fmt(main4.maxStallMs, 0)} / ${fmt(pool4.maxStallMs, 0)} ms`,
      ])
    }
  } finally {
    await pool.destroy()
  }
  return rows
}

/** A store wrapper that resolves when a run's RunCompleted is appended. */
function watching(store: EventStore): { store: EventStore; completed(runId: string): Promise<void> } {
  const waiters = new Map<string, () => void>()
  const done = new Set<string>()
  const wrapped: EventStore = {
    kind: store.kind,
    readStream: (s, o) => store.readStream(s, o),
    readAll: (o) => store.readAll(o),
    subscribeAll: (o) => store.subscribeAll(o),
    headPosition: () => store.headPosition(),
    close: () => store.close(),
    append: (s, e, o) => store.append(s, e, o),
    appendMulti: (parts) => store.appendMulti(parts),
    atomicMulti: store.atomicMulti,
  }
  wrapped.append = async (streamId: string, events: readonly NewEvent[], options) => {
    const r = await store.append(streamId, events, options)
    if (events.some((e) => e.type === 'RunCompleted' || e.type === 'RunFailed')) {
      const id = streamId.slice('canvas-'.length)
      done.add(id)
      waiters.get(id)?.()
    }
    return r
  }
  return {
    store: wrapped,
    completed: (runId) => (done.has(runId) ? Promise.resolve() : new Promise<void>((r) => waiters.set(runId, r))),
  }
}

const noDeps: NodeDeps = {
  modelCall: () => Promise.reject(new Error('no model in this bench')),
  githubToken: () => Promise.reject(new Error('no GitHub in this bench')),
  saveArtifact: () => Promise.reject(new Error('no artifacts in this bench')),
}

function chains(k: number): { nodes: InputNode[]; edges: InputEdge[] } {
  const nodes: InputNode[] = []
  const edges: InputEdge[] = []
  for (let i = 0; i < k; i++) {
    nodes.push({ id: `in${i}`, type: 'text-input', data: { value: `v${i}` } }, { id: `out${i}`, type: 'results', data: {} })
    edges.push({ source: `in${i}`, target: `out${i}` })
  }
  return { nodes, edges }
}

/** The same node work as a run, in a plain loop: validate, then each node's executor in order, results in a Map. */
async function plainLoop(g: { nodes: InputNode[]; edges: InputEdge[] }): Promise<void> {
  const v = validateGraph(g)
  if (!v.ok) throw new Error('invalid')
  const results = new Map<string, unknown>()
  const parents = new Map<string, string[]>()
  for (const e of v.graph.edges) parents.set(e.target, [...(parents.get(e.target) ?? []), e.source])
  const byId = new Map(v.graph.nodes.map((n) => [n.id, n]))
  for (const id of v.plan.order) {
    const node = byId.get(id)!
    const inputs = (parents.get(id) ?? []).map((p) => ({ nodeId: p, nodeType: byId.get(p)!.type, result: results.get(p) }))
    const ctx = { runId: 'r', wallet: '0x', node, teamRuntime: null, inputs, ancestors: inputs, signal: new AbortController().signal, log: async () => {}, intendWrite: async () => {}, text: () => {}, teamEvent: async () => {} } as NodeRunContext
    results.set(id, await executorFor(node.type)(ctx, noDeps))
  }
}

async function runs(): Promise<string[][]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-canvas-'))
  const raw = new SqliteEventStore({ file: join(dir, 'events.sqlite'), writer: 'worker' })
  const w = watching(raw)
  const canvas = new CanvasService({ store: w.store, deps: noDeps, maxParallel: 8, nodeTimeoutMs: 60_000, teamMode: false })
  const rows: string[][] = []
  try {
    // 2. One run of 100 chains (200 nodes) vs the plain loop.
    const g = chains(CHAINS)
    await plainLoop(g)
    const t0 = performance.now()
    for (let i = 0; i < 5; i++) await plainLoop(g)
    const loopMs = (performance.now() - t0) / 5
    const { runId: warm } = await canvas.start({ wallet: '0xBench', ...g, runtime: {} })
    await w.completed(warm)
    const t1 = performance.now()
    const reps = 3
    for (let i = 0; i < reps; i++) {
      const { runId } = await canvas.start({ wallet: '0xBench', ...g, runtime: {} })
      await w.completed(runId)
    }
    const runMs = (performance.now() - t1) / reps
    const nodes = g.nodes.length
    rows.push([`one run of ${CHAINS} text-input → results chains (${nodes} nodes)`, `${fmt(runMs, 1)} ms (${fmt((runMs * 1000) / nodes, 0)} µs/node)`, `${fmt(loopMs, 2)} ms (${fmt((loopMs * 1000) / nodes, 1)} µs/node)`, `${fmt(runMs / loopMs, 0)}× (+${fmt(((runMs - loopMs) * 1000) / nodes, 0)} µs/node)`])

    // 3. 1,000 small runs, 50 in flight, vs the same events appended straight to the store.
    const small = chains(1)
    const t2 = performance.now()
    let next = 0
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < SMALL_RUNS) {
          next++
          const { runId } = await canvas.start({ wallet: '0xBench', ...small, runtime: {} })
          await w.completed(runId)
        }
      }),
    )
    const actorS = (performance.now() - t2) / 1000
    // A small run is one commit (its nodes are pure): the baseline appends the same six events in one commit too.
    const probe = await raw.readStream(canvas.streamId((await canvas.start({ wallet: '0xBench', ...small, runtime: {} })).runId))
    const t3 = performance.now()
    let k = 0
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (k < SMALL_RUNS) {
          const s = `canvasraw-${k++}`
          await raw.append(s, probe.map((e) => ({ type: e.type, data: e.data })), { expectedRevision: 'no_stream' })
        }
      }),
    )
    const rawS = (performance.now() - t3) / 1000
    rows.push([`${fmt(SMALL_RUNS)} small runs (text-input → results, ${probe.length} events, 1 commit), 50 in flight`, `${fmt(SMALL_RUNS / actorS, 0)} runs/s`, `${fmt(SMALL_RUNS / rawS, 0)} runs/s (raw appends of the same events)`, `${fmt(rawS / actorS, 2)}×`])
  } finally {
    canvas.close()
    await raw.close()
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}

const plan = await planning()
console.log(table(['graph nodes', 'main thread / graph', 'pool / graph', 'main ÷ pool', 'graphs/s, 4 in flight (main / pool)', 'longest event-loop stall (main / pool)'], plan))
console.log()
console.log(table(['canvas runs', 'run actor on SQLite', 'baseline', 'ratio'], await runs()))
