import { assign, setup } from 'xstate'
import type { NodeType } from './graph.js'
import type { CanvasEvent } from './events.js'
import { PURE_NODE_TYPES } from './pure-nodes.js'
import { EMPTY_RUN, evolve, type RunContext } from './run-state.js'

/**
 * The canvas run actor's machine. Its events are the domain events; its one effect is
 * `executeNode` (run a started node that does work: every type but the approval gate,
 * which waits for a decision and needs no effect, so a restart simply keeps waiting, and
 * the pure nodes, which decide completes itself).
 */
export const canvasMachine = setup({
  types: {
    context: {} as RunContext,
    events: {} as CanvasEvent,
  },
  actions: {
    executeNode: (_, _params: { nodeId: string; nodeType: NodeType }) => undefined,
  },
  guards: {
    doesWork: ({ event }) => event.type === 'NodeStarted' && event.data.nodeType !== 'approval-gate' && !PURE_NODE_TYPES.has(event.data.nodeType as NodeType),
  },
}).createMachine({
  id: 'canvas',
  context: EMPTY_RUN,
  initial: 'new',
  states: {
    new: { on: { RunCreated: { target: 'running', actions: assign(({ context, event }) => evolve(context, event)) } } },
    running: {
      on: {
        NodeStarted: [
          {
            guard: 'doesWork',
            actions: [assign(({ context, event }) => evolve(context, event)), { type: 'executeNode', params: ({ event }) => ({ nodeId: event.data.nodeId, nodeType: event.data.nodeType as NodeType }) }],
          },
          { actions: assign(({ context, event }) => evolve(context, event)) },
        ],
        NodeLogged: { actions: assign(({ context, event }) => evolve(context, event)) },
        NodeWriteIntended: { actions: assign(({ context, event }) => evolve(context, event)) },
        NodeCompleted: { actions: assign(({ context, event }) => evolve(context, event)) },
        NodeFailed: { actions: assign(({ context, event }) => evolve(context, event)) },
        ApprovalRequested: { actions: assign(({ context, event }) => evolve(context, event)) },
        ApprovalResolved: { actions: assign(({ context, event }) => evolve(context, event)) },
        TeamAgentEventRecorded: { actions: assign(({ context, event }) => evolve(context, event)) },
        RunCompleted: { target: 'completed', actions: assign(({ context, event }) => evolve(context, event)) },
        RunFailed: { target: 'failed', actions: assign(({ context, event }) => evolve(context, event)) },
      },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
  },
})
