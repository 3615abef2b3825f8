import { transition } from 'xstate'
import { describe, expect, it } from 'vitest'
import { initialSnapshot } from '../runtime/initial-snapshot.js'
import type { SessionCommand } from './commands.js'
import { decide, type SessionSnapshot } from './decide.js'
import type { SessionEvent } from './events.js'
import { sessionMachine } from './machine.js'

let ids = 0
const ctx = (iso = '2026-11-25T12:00:00.000Z') => ({ now: new Date(iso), newId: () => `00000000-0000-4000-8000-${String(++ids).padStart(12, '0')}` })

/** Folds events purely, collecting the named effects each transition returns. */
function fold(events: readonly SessionEvent[], from: SessionSnapshot = initialSnapshot(sessionMachine)) {
  let s = from
  const effects: { type: string; params: any }[] = []
  for (const e of events) {
    const [next, actions] = transition(sessionMachine, s, e as never)
    s = next as SessionSnapshot
    for (const a of actions as { type: string; params: unknown }[]) if (!a.type.startsWith('xstate.')) effects.push({ type: a.type, params: a.params })
  }
  return { state: s, effects }
}

function run(commands: SessionCommand[], iso?: string) {
  let state = initialSnapshot(sessionMachine)
  const all: SessionEvent[] = []
  const effects: { type: string; params: any }[] = []
  for (const c of commands) {
    const out = decide(state, c, ctx(iso))
    if (out instanceof Error) throw out
    const f = fold(out, state)
    state = f.state
    all.push(...out)
    effects.push(...f.effects)
  }
  return { state, events: all, effects }
}

const create: SessionCommand = { type: 'CreateSession', sessionId: 's1', agentId: 'assistant', wallet: '0xA1', model: 'haiku' }
const start = (text = 'hi', key = 'k1'): Extract<SessionCommand, { type: 'StartTurn' }> => ({ type: 'StartTurn', turnId: 't1', text, idempotencyKey: key, model: 'claude-haiku-4-5', reservationId: 't1:1', reserved: 1000n, dedupeWindowMs: 60_000 })
const usage = { inputTokens: 10, outputTokens: 5, cacheWriteTokens: 0, cacheReadTokens: 0 }
const respond = (call: number, content: any[], max = 8): SessionCommand => ({
  type: 'RecordModelResponse',
  turnId: 't1',
  call,
  afterPosition: 7n,
  model: 'claude-haiku-4-5',
  content,
  stopReason: content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn',
  usage,
  maxToolIterations: max,
  toolsNeedingApproval: ['delete_note'],
  approvalTimeoutMs: 5000,
})

describe('session decide + machine', () => {
  it('a message starts a turn whose TurnStarted asks for the first model call', () => {
    const r = run([create, start()])
    expect(r.events.map((e) => e.type)).toEqual(['SessionCreated', 'UserMessageReceived', 'TurnStarted'])
    expect(r.state.value).toBe('running')
    expect(r.effects).toEqual([{ type: 'callModel', params: { turnId: 't1', call: 1 } }])
  })

  it('a resend within the window produces nothing; a different message while running is refused', () => {
    const r = run([create, start()])
    expect(decide(r.state, start(), ctx())).toEqual([])
    expect(decide(r.state, { ...start('other', 'k2'), turnId: 't2' }, ctx())).toMatchObject({ code: 'turn_in_progress' })
    // Outside the window the same key is a new message (here refused only because a turn runs).
    expect(decide(r.state, start(), ctx('2026-11-25T12:02:00.000Z'))).toMatchObject({ code: 'turn_in_progress' })
  })

  it('tool_use → executeTool; the last result asks for the next call; end_turn asks for settlement', () => {
    const r = run([create, start(), respond(1, [{ type: 'text', text: 'a' }, { type: 'tool_use', id: 'u1', name: 'add', input: { a: 1 } }, { type: 'tool_use', id: 'u2', name: 'echo', input: {} }])])
    expect(r.effects.slice(1)).toEqual([
      { type: 'executeTool', params: { turnId: 't1', toolUseId: 'u1', name: 'add', args: { a: 1 } } },
      { type: 'executeTool', params: { turnId: 't1', toolUseId: 'u2', name: 'echo', args: {} } },
    ])
    const r2 = fold(decide(r.state, { type: 'RecordToolResult', turnId: 't1', toolUseId: 'u1', isError: false, result: '1', executed: true }, ctx()) as SessionEvent[], r.state)
    expect(r2.effects).toEqual([])
    const r3 = fold(decide(r2.state, { type: 'RecordToolResult', turnId: 't1', toolUseId: 'u2', isError: false, result: 'x', executed: true }, ctx()) as SessionEvent[], r2.state)
    expect(r3.effects).toEqual([{ type: 'callModel', params: { turnId: 't1', call: 2 } }])
    expect(r3.state.context.conversation.at(-1)).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'u1', content: '1' }, { type: 'tool_result', tool_use_id: 'u2', content: 'x' }] })
    expect(r3.state.context.turn!.toolCalls).toBe(2)
    const reserved = fold(decide(r3.state, { type: 'RecordModelCallReserved', turnId: 't1', call: 2, reservationId: 't1:2', reserved: 2000n, releasedReservationId: 't1:1' }, ctx()) as SessionEvent[], r3.state)
    const end = fold(decide(reserved.state, respond(2, [{ type: 'text', text: 'done' }]), ctx()) as SessionEvent[], reserved.state)
    expect(end.effects).toEqual([{ type: 'settleTurn', params: { turnId: 't1' } }])
    expect(end.state.context.turn!.usage).toEqual({ inputTokens: 20, outputTokens: 10, cacheWriteTokens: 0, cacheReadTokens: 0 })
    expect(end.state.context.turn!.text).toBe('adone')
  })

  it('the tool limit ends the loop and keeps no unanswered tool_use in the history', () => {
    const r = run([create, start(), respond(1, [{ type: 'text', text: 'try' }, { type: 'tool_use', id: 'u1', name: 'add', input: {} }], 0)])
    const responded = r.events.find((e) => e.type === 'ModelResponded')!
    expect((responded.data as { final: boolean }).final).toBe(true)
    expect(r.effects.at(-1)).toEqual({ type: 'settleTurn', params: { turnId: 't1' } })
    expect(r.state.context.conversation.at(-1)).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'try' }] })
  })

  it('an approval-gated tool waits with an unguessable id; denial completes it unexecuted; a late timeout is a no-op', () => {
    const r = run([create, start(), respond(1, [{ type: 'tool_use', id: 'u1', name: 'delete_note', input: { id: 'n' } }])])
    const req = r.events.find((e) => e.type === 'ToolApprovalRequested')!.data as { approvalId: string; expiresAt: string }
    expect(req.approvalId).toMatch(/^apr_[0-9a-f]{64}$/)
    expect(req.expiresAt).toBe('2026-11-25T12:00:05.000Z')
    expect(r.effects.map((e) => e.type)).toEqual(['callModel', 'requestApproval'])
    const denied = decide(r.state, { type: 'ResolveApproval', approvalId: req.approvalId, approved: false, reason: 'user' }, ctx()) as SessionEvent[]
    expect(denied.map((e) => e.type)).toEqual(['ToolApprovalResolved', 'ToolCallCompleted'])
    const after = fold(denied, r.state)
    expect(after.effects).toEqual([{ type: 'callModel', params: { turnId: 't1', call: 2 } }])
    expect(after.state.context.turn!.toolCalls).toBe(0)
    expect(decide(after.state, { type: 'ResolveApproval', approvalId: req.approvalId, approved: false, reason: 'timeout' }, ctx())).toEqual([])
    expect(decide(after.state, { type: 'ResolveApproval', approvalId: 'apr_guess', approved: true, reason: 'user' }, ctx())).toMatchObject({ code: 'approval_not_found' })
  })

  it('a failed turn rolls the model history back but keeps the user message on display', () => {
    const r = run([create, start(), { type: 'FailTurn', turnId: 't1', code: 'provider_auth_failed', message: 'bad key', cost: null }])
    expect(r.state.value).toBe('idle')
    expect(r.state.context.conversation).toEqual([])
    expect(r.state.context.messages.map((m) => m.role)).toEqual(['user'])
  })

  it('replay is deterministic: folding the same events twice gives the same context', () => {
    const r = run([create, start(), respond(1, [{ type: 'text', text: 'hello' }])])
    expect(fold(r.events).state.context).toEqual(r.state.context)
  })
})
