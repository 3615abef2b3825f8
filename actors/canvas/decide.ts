import type { SnapshotFrom } from 'xstate'
import { DomainError, NotFoundError } from '../../shared/errors.js'
import type { DecideContext } from '../runtime/types.js'
import type { CanvasCommand } from './commands.js'
import type { CanvasEvent } from './events.js'
import type { canvasMachine } from './machine.js'
import { PURE_NODE_TYPES, pureNodeResult } from './pure-nodes.js'
import { evolve, nodeOf, nodeType, type RunContext } from './run-state.js'

export type CanvasSnapshot = SnapshotFrom<typeof canvasMachine>

/**
 * After `events`, what follows: descendants of failed nodes fail (naming the failed
 * parents), nodes whose parents all completed start (up to maxParallel at once; a gate
 * waiting for approval holds no slot), gates ask for approval (resolved at once with
 * `runtime.autoApprove`), pure nodes (text-input, results) complete at once, and when
 * nothing is left the run completes or fails.
 * Nodes are visited in topological order, so one pass settles everything it can.
 */
function advance(state: RunContext, events: CanvasEvent[], ctx: DecideContext): CanvasEvent[] {
  const at = ctx.now.toISOString()
  let s = state
  for (const e of events) s = evolve(s, e)
  const out = [...events]
  const push = (e: CanvasEvent): void => {
    out.push(e)
    s = evolve(s, e)
  }
  if (s.phase !== 'running') return out
  let running = s.nodes.filter((n) => n.status === 'running').length
  for (const node of s.graph.nodes) {
    if (nodeOf(s, node.id)!.status !== 'pending') continue
    const parents = s.parents[node.id]!
    const failed = parents.filter((p) => nodeOf(s, p)!.status === 'failed')
    if (failed.length > 0) {
      push({
        type: 'NodeFailed',
        data: { nodeId: node.id, nodeType: node.type, code: 'upstream_failed', error: `Upstream node ${failed.join(', ')} failed`, upstreamNodeIds: failed, durationMs: 0, at },
      })
      continue
    }
    if (!parents.every((p) => nodeOf(s, p)!.status === 'completed')) continue
    if (node.type === 'approval-gate') {
      const approvalId = `apr_${ctx.newId().replace(/-/g, '')}`
      const message = typeof node.data.message === 'string' && node.data.message.length > 0 ? node.data.message : `Approve to continue past "${String(node.data.label ?? node.id)}"`
      push({ type: 'NodeStarted', data: { nodeId: node.id, nodeType: node.type, at } })
      push({ type: 'ApprovalRequested', data: { approvalId, nodeId: node.id, message, at } })
      if (s.runtime.autoApprove === true) {
        push({ type: 'ApprovalResolved', data: { approvalId, nodeId: node.id, decision: 'approve', automatic: true, at } })
        push({ type: 'NodeCompleted', data: { nodeId: node.id, nodeType: node.type, result: gateResult(s, node.id, 'approve', true), durationMs: 0, at } })
      }
      continue
    }
    if (PURE_NODE_TYPES.has(node.type)) {
      const result = pureNodeResult(node, parents.map((p) => ({ nodeId: p, result: nodeOf(s, p)!.result })))
      push({ type: 'NodeStarted', data: { nodeId: node.id, nodeType: node.type, at } })
      push({ type: 'NodeCompleted', data: { nodeId: node.id, nodeType: node.type, result, durationMs: 0, at } })
      continue
    }
    if (running >= s.maxParallel) continue
    push({ type: 'NodeStarted', data: { nodeId: node.id, nodeType: node.type, at } })
    running++
  }
  const open = s.nodes.some((n) => n.status === 'pending' || n.status === 'running' || n.status === 'awaiting_approval')
  if (open) return out
  const failedIds = s.graph.nodes.filter((n) => nodeOf(s, n.id)!.status === 'failed').map((n) => n.id)
  if (failedIds.length === 0) {
    const results: Record<string, unknown> = {}
    for (const n of s.graph.nodes) results[n.id] = nodeOf(s, n.id)!.result
    push({ type: 'RunCompleted', data: { results, logs: [...s.logs, 'run completed'], at } })
  } else {
    const first = failedIds.find((id) => nodeOf(s, id)!.error?.startsWith('Upstream node') !== true) ?? failedIds[0]!
    const error = `Node ${first} failed: ${nodeOf(s, first)!.error ?? 'unknown error'}`
    push({ type: 'RunFailed', data: { error, failedNodeIds: failedIds, logs: [...s.logs, `run failed: ${error}`], at } })
  }
  return out
}

/** A gate passes on what reached it, plus the decision. */
function gateResult(s: RunContext, nodeId: string, decision: 'approve' | 'reject', automatic: boolean): unknown {
  const upstream: Record<string, unknown> = {}
  for (const p of s.parents[nodeId] ?? []) upstream[p] = nodeOf(s, p)!.result
  return { decision, automatic, upstream }
}

function runningNode(s: RunContext, nodeId: string): DomainError | undefined {
  const n = nodeOf(s, nodeId)
  if (n === undefined) return new NotFoundError(`No node "${nodeId}" in this run`, 'node_not_found')
  if (n.status !== 'running') return new DomainError('node_not_running', `Node "${nodeId}" is not running`, { details: { nodeId, status: n.status } })
  return undefined
}

/** Pure: the events a canvas command produces, or why it is refused. */
export function decide(state: CanvasSnapshot, command: CanvasCommand, ctx: DecideContext): CanvasEvent[] | DomainError {
  const s = state.context
  const at = ctx.now.toISOString()
  if (command.type === 'CreateRun') {
    if (state.value !== 'new') return [] // a retried create is a no-op
    return advance(s, [
      {
        type: 'RunCreated',
        data: { runId: command.runId, wallet: command.wallet, graph: command.graph, runtime: command.runtime, teamRuntime: command.teamRuntime, maxParallel: command.maxParallel, at },
      },
    ], ctx)
  }
  if (state.value === 'new') return new NotFoundError('No such run', 'run_not_found')

  switch (command.type) {
    case 'LogNode':
      if (state.value !== 'running' || nodeOf(s, command.nodeId) === undefined) return []
      return [{ type: 'NodeLogged', data: { nodeId: command.nodeId, nodeType: nodeType(s, command.nodeId), message: command.message, at } }]

    case 'IntendWrite': {
      const refused = runningNode(s, command.nodeId)
      if (refused !== undefined) return refused
      const known = nodeOf(s, command.nodeId)!.writeKeys[command.operation]
      if (known === command.key) return []
      if (known !== undefined) return new DomainError('idempotency_key_reused', `Node "${command.nodeId}" already recorded another key for ${command.operation}`)
      return [{ type: 'NodeWriteIntended', data: { nodeId: command.nodeId, operation: command.operation, key: command.key, at } }]
    }

    case 'CompleteNode': {
      // A late or duplicate report (a resumed node finishing twice) changes nothing.
      if (runningNode(s, command.nodeId) !== undefined || nodeType(s, command.nodeId) === 'approval-gate') return []
      return advance(s, [{ type: 'NodeCompleted', data: { nodeId: command.nodeId, nodeType: nodeType(s, command.nodeId), result: command.result, durationMs: command.durationMs, at } }], ctx)
    }

    case 'FailNode': {
      if (runningNode(s, command.nodeId) !== undefined || nodeType(s, command.nodeId) === 'approval-gate') return []
      return advance(
        s,
        [{ type: 'NodeFailed', data: { nodeId: command.nodeId, nodeType: nodeType(s, command.nodeId), code: command.code, error: command.error, durationMs: command.durationMs, at } }],
        ctx,
      )
    }

    case 'ResolveApproval': {
      const a = s.approvals.find((x) => x.approvalId === command.approvalId)
      if (a === undefined) return new NotFoundError('No such approval in this run', 'approval_not_found')
      if (a.status !== 'pending') {
        const same = (a.status === 'approved') === (command.decision === 'approve')
        if (same) return [] // the same decision twice is a no-op
        return new DomainError('approval_already_resolved', `This approval was already ${a.status}`, { details: { approvalId: a.approvalId, status: a.status } })
      }
      const resolved: CanvasEvent = {
        type: 'ApprovalResolved',
        data: { approvalId: a.approvalId, nodeId: a.nodeId, decision: command.decision, automatic: false, at, ...(command.reason === undefined ? {} : { reason: command.reason }) },
      }
      const startedAt = Date.parse(nodeOf(s, a.nodeId)!.startedAt ?? at)
      const durationMs = Math.max(0, ctx.now.getTime() - startedAt)
      const outcome: CanvasEvent =
        command.decision === 'approve'
          ? { type: 'NodeCompleted', data: { nodeId: a.nodeId, nodeType: 'approval-gate', result: gateResult(s, a.nodeId, 'approve', false), durationMs, at } }
          : {
              type: 'NodeFailed',
              data: { nodeId: a.nodeId, nodeType: 'approval-gate', code: 'approval_rejected', error: `Rejected${command.reason === undefined ? '' : `: ${command.reason}`}`, durationMs, at },
            }
      return advance(s, [resolved, outcome], ctx)
    }

    case 'RecordTeamEvent': {
      if (state.value !== 'running' || nodeOf(s, command.nodeId) === undefined) return []
      return [
        {
          type: 'TeamAgentEventRecorded',
          data: {
            nodeId: command.nodeId,
            agentName: command.agentName,
            eventKind: command.eventKind,
            ...(command.message === undefined ? {} : { message: command.message }),
            ...(command.detail === undefined ? {} : { detail: command.detail }),
            at,
          },
        },
      ]
    }
  }
}
