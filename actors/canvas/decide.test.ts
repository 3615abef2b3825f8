import { initialTransition, transition } from 'xstate'
import { describe, expect, it } from 'vitest'
import type { CanvasCommand } from './commands.js'
import { decide, type CanvasSnapshot } from './decide.js'
import type { CanvasEvent } from './events.js'
import { validateGraph, type InputEdge, type InputNode } from './graph.js'
import { canvasMachine } from './machine.js'
import { nodeOf, runStatus } from './run-state.js'

let ids = 0
const ctx = () => ({ now: new Date('2026-01-01T00:00:00Z'), newId: () => `id-${++ids}` })

/** Given events, when a command, then events: folds through the real machine and collects its actions. */
function run(commands: CanvasCommand[]): { state: CanvasSnapshot; events: CanvasEvent[]; actions: { type: string; params: any }[] } {
  ids = 0
  let [state] = initialTransition(canvasMachine) as unknown as [CanvasSnapshot]
  const events: CanvasEvent[] = []
  const actions: { type: string; params: any }[] = []
  for (const c of commands) {
    const out = decide(state, c, ctx())
    if (out instanceof Error) throw out
    for (const e of out) {
      const [next, acts] = transition(canvasMachine, state, e as never)
      state = next as CanvasSnapshot
      events.push(e)
      for (const a of acts as { type: string; params: any }[]) if (!a.type.startsWith('xstate.')) actions.push({ type: a.type, params: a.params })
    }
  }
  return { state, events, actions }
}

function create(nodes: InputNode[], edges: InputEdge[], runtime: { autoApprove?: boolean } = {}, maxParallel = 4): CanvasCommand {
  const v = validateGraph({ nodes, edges })
  if (!v.ok) throw new Error(JSON.stringify(v.problems))
  const order = new Map(v.plan.order.map((id, i) => [id, i]))
  const graph = { nodes: [...v.graph.nodes].sort((a, b) => order.get(a.id)! - order.get(b.id)!), edges: v.graph.edges }
  return { type: 'CreateRun', runId: 'r1', wallet: '0xAbc', graph, runtime, teamRuntime: null, maxParallel }
}

const gated = (): CanvasCommand =>
  create(
    [
      { id: 'in', type: 'text-input', data: { value: 'x' } },
      { id: 'gate', type: 'approval-gate', data: { message: 'ok?' } },
      { id: 'br', type: 'github-create-branch', data: { branchName: 'b' } },
      { id: 'side', type: 'agent', data: {} },
    ],
    [
      { source: 'in', target: 'gate' },
      { source: 'gate', target: 'br' },
      { source: 'in', target: 'side' },
    ],
  )

describe('canvas run decide', () => {
  it('creating a run completes pure roots at once, asks for approval at the gate, and executes working nodes', () => {
    const r = run([gated()])
    expect(r.events.map((e) => [e.type, (e.data as any).nodeId])).toEqual([
      ['RunCreated', undefined],
      ['NodeStarted', 'in'],
      ['NodeCompleted', 'in'],
      ['NodeStarted', 'gate'],
      ['ApprovalRequested', 'gate'],
      ['NodeStarted', 'side'],
    ])
    expect(r.events[2]!.data).toMatchObject({ result: 'x' })
    // No effect for the text input (pure) or the gate (a restart simply keeps waiting).
    expect(r.actions).toEqual([{ type: 'executeNode', params: { nodeId: 'side', nodeType: 'agent' } }])
  })

  it('a gate pauses only what depends on it; an independent branch runs on', () => {
    const side = run([gated(), { type: 'CompleteNode', nodeId: 'side', result: 'done', durationMs: 1 }])
    expect(side.events.at(-1)).toMatchObject({ type: 'NodeCompleted', data: { nodeId: 'side' } })
    expect(runStatus(side.state.context)).toBe('awaiting_approval')
    expect(nodeOf(side.state.context, 'br')!.status).toBe('pending')
  })

  it('approving resumes the gate’s dependents; the same decision again is a no-op, a different one 409', () => {
    const base: CanvasCommand[] = [gated()]
    const approvalId = (run(base).events.find((e) => e.type === 'ApprovalRequested')!.data as any).approvalId as string
    const r = run([...base, { type: 'ResolveApproval', approvalId, decision: 'approve', reason: 'lgtm' }])
    expect(r.events.slice(-3).map((e) => [e.type, (e.data as any).nodeId])).toEqual([
      ['ApprovalResolved', 'gate'],
      ['NodeCompleted', 'gate'],
      ['NodeStarted', 'br'],
    ])
    expect(r.events.find((e) => e.type === 'ApprovalResolved')!.data).toMatchObject({ decision: 'approve', reason: 'lgtm', automatic: false })
    expect(r.actions.at(-1)).toEqual({ type: 'executeNode', params: { nodeId: 'br', nodeType: 'github-create-branch' } })
    expect(decide(r.state, { type: 'ResolveApproval', approvalId, decision: 'approve' }, ctx())).toEqual([])
    const other = decide(r.state, { type: 'ResolveApproval', approvalId, decision: 'reject' }, ctx())
    expect(other).toBeInstanceOf(Error)
    expect((other as any).code).toBe('approval_already_resolved')
    expect(decide(r.state, { type: 'ResolveApproval', approvalId: 'apr_nope', decision: 'approve' }, ctx())).toMatchObject({ code: 'approval_not_found' })
  })

  it('rejecting fails the gate and its descendants (naming the failed parent) while the other branch finishes; then the run fails', () => {
    const base: CanvasCommand[] = [gated()]
    const approvalId = (run(base).events.find((e) => e.type === 'ApprovalRequested')!.data as any).approvalId as string
    const r = run([...base, { type: 'ResolveApproval', approvalId, decision: 'reject' }, { type: 'CompleteNode', nodeId: 'side', result: 's', durationMs: 1 }])
    const failed = r.events.filter((e) => e.type === 'NodeFailed').map((e) => e.data as any)
    expect(failed.map((f) => [f.nodeId, f.upstreamNodeIds])).toEqual([
      ['gate', undefined],
      ['br', ['gate']],
    ])
    expect(r.events.at(-1)).toMatchObject({ type: 'RunFailed', data: { failedNodeIds: ['gate', 'br'] } })
    expect(r.state.value).toBe('failed')
  })

  it('autoApprove resolves a gate at once and records that it was automatic', () => {
    const c = gated() as Extract<CanvasCommand, { type: 'CreateRun' }>
    const r = run([{ ...c, runtime: { autoApprove: true } }])
    expect(r.events.find((e) => e.type === 'ApprovalResolved')!.data).toMatchObject({ decision: 'approve', automatic: true })
    expect(r.actions.map((a) => a.params.nodeId)).toEqual(['side', 'br'])
  })

  it('runs at most maxParallel working nodes at once; a finished node is never re-entered', () => {
    const nodes: InputNode[] = [{ id: 'a', type: 'agent', data: {} }, { id: 'b', type: 'agent', data: {} }, { id: 'c', type: 'agent', data: {} }, { id: 'out', type: 'results', data: {} }]
    const edges = ['a', 'b', 'c'].map((s) => ({ source: s, target: 'out' }))
    const r = run([create(nodes, edges, {}, 2)])
    expect(r.actions.map((a) => a.params.nodeId)).toEqual(['a', 'b'])
    const r2 = run([create(nodes, edges, {}, 2), { type: 'CompleteNode', nodeId: 'a', result: 1, durationMs: 1 }])
    expect(r2.actions.map((a) => a.params.nodeId)).toEqual(['a', 'b', 'c'])
    // A duplicate completion (a resumed node reporting twice) changes nothing.
    expect(decide(r2.state, { type: 'CompleteNode', nodeId: 'a', result: 2, durationMs: 1 }, ctx())).toEqual([])
    const done = run([
      create(nodes, edges, {}, 2),
      { type: 'CompleteNode', nodeId: 'a', result: 1, durationMs: 1 },
      { type: 'CompleteNode', nodeId: 'b', result: 2, durationMs: 1 },
      { type: 'CompleteNode', nodeId: 'c', result: 3, durationMs: 1 },
    ])
    expect(done.events.at(-1)).toMatchObject({ type: 'RunCompleted', data: { results: { a: 1, b: 2, c: 3, out: { a: 1, b: 2, c: 3 } }, at: '2026-01-01T00:00:00.000Z' } })
    expect((done.events.at(-1)!.data as any).logs.at(-1)).toBe('run completed')
    expect(done.state.value).toBe('completed')
  })

  it('records a write key once; another key for the same write is refused', () => {
    const r = run([gated()])
    const first = decide(r.state, { type: 'IntendWrite', nodeId: 'side', operation: 'createBranch', key: 'k1' }, ctx()) as CanvasEvent[]
    expect(first.map((e) => e.type)).toEqual(['NodeWriteIntended'])
    const [after] = transition(canvasMachine, r.state, first[0] as never)
    expect(decide(after as CanvasSnapshot, { type: 'IntendWrite', nodeId: 'side', operation: 'createBranch', key: 'k1' }, ctx())).toEqual([])
    expect(decide(after as CanvasSnapshot, { type: 'IntendWrite', nodeId: 'side', operation: 'createBranch', key: 'k2' }, ctx())).toMatchObject({ code: 'idempotency_key_reused' })
    expect(decide(after as CanvasSnapshot, { type: 'IntendWrite', nodeId: 'in', operation: 'createBranch', key: 'k1' }, ctx())).toMatchObject({ code: 'node_not_running' })
  })
})
