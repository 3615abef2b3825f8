import { describe, expect, it } from 'vitest'
import { initialSnapshot } from '../runtime/initial-snapshot.js'
import { transition } from 'xstate'
import { decide } from './decide.js'
import { reflectMachine, type ReflectSnapshot } from './machine.js'
import { improvementSettings, inScope, agentOptedIn, nextRunAt, slotAt } from './schedule.js'
import type { ReflectCommand } from './commands.js'

describe('schedule slots', () => {
  it('daily, weekly (ISO Monday) and biweekly slots are calendar UTC', () => {
    const at = new Date('2026-12-02T17:00:00Z') // a Wednesday
    expect(slotAt('daily', at)).toEqual({ id: 'daily:2026-12-02', start: new Date('2026-12-02T00:00:00Z'), end: new Date('2026-12-03T00:00:00Z') })
    expect(slotAt('weekly', at).id).toBe('weekly:2026-11-30')
    const b = slotAt('biweekly', at)
    expect(b.end.getTime() - b.start.getTime()).toBe(14 * 86_400_000)
    expect(slotAt('biweekly', new Date(b.end.getTime() - 1)).id).toBe(b.id)
    expect(slotAt('biweekly', b.end).id).not.toBe(b.id)
  })

  it('next run: now while the slot is unclaimed, else the next slot start', () => {
    const now = new Date('2026-12-02T17:00:00Z')
    expect(nextRunAt('daily', undefined, now)).toEqual(now)
    expect(nextRunAt('daily', 'daily:2026-12-01', now)).toEqual(now)
    expect(nextRunAt('daily', 'daily:2026-12-02', now)).toEqual(new Date('2026-12-03T00:00:00Z'))
  })

  it('reads either schedule key, scope and agent opt-in', () => {
    expect(improvementSettings({ autoImprove: true, selfImprovementSchedule: 'weekly' })).toMatchObject({ enabled: true, schedule: 'weekly', scope: { kind: 'all' } })
    expect(improvementSettings({ improveSchedule: 'off' }).schedule).toBeNull()
    const s = improvementSettings({ agentAutoImprove: { assistant: true, other: false }, selfImprovementScope: 'opted_in' })
    expect(agentOptedIn(s, 'assistant')).toBe(true)
    expect(agentOptedIn(s, 'other')).toBe(false)
    expect(inScope(s, 'other')).toBe(false)
    expect(inScope(improvementSettings({ selfImprovementScope: ['x'] }), 'x')).toBe(true)
  })
})

describe('reflect decide: slots claimed once, one run at a time', () => {
  const ctx = { now: new Date('2026-12-02T10:00:00Z'), newId: () => 'id' }
  const apply = (s: ReflectSnapshot, c: ReflectCommand): ReflectSnapshot => {
    const events = decide(s, c, ctx)
    if (events instanceof Error) throw events
    for (const e of events) s = transition(reflectMachine, s, e as never)[0] as ReflectSnapshot
    return s
  }
  const start = (runId: string, slot: string | null, trigger: 'manual' | 'schedule' = 'schedule'): ReflectCommand => ({ type: 'StartRun', runId, trigger, slot, agentId: null, includeBackfill: false })

  it('a claimed slot (started or skipped) is never started again; a run in progress blocks', () => {
    let s = initialSnapshot(reflectMachine)
    s = apply(s, start('r1', 'daily:2026-12-02'))
    expect(s.value).toBe('running')
    expect(decide(s, start('r2', 'daily:2026-12-02'), ctx)).toEqual([])
    expect(decide(s, start('r2', 'daily:2026-12-03'), ctx)).toEqual([])
    expect((decide(s, start('r2', null, 'manual'), ctx) as Error & { code: string }).code).toBe('run_in_progress')
    s = apply(s, { type: 'CompleteRun', runId: 'r1', sessionsAnalysed: 0, facetsCached: 0 })
    expect(decide(s, start('r3', 'daily:2026-12-02'), ctx)).toEqual([])
    s = apply(s, { ...start('r3', 'daily:2026-12-03'), skip: { code: 'locked_secrets', reason: 'locked' } } as ReflectCommand)
    expect(s.context.runs.at(-1)).toMatchObject({ runId: 'r3', status: 'skipped', code: 'locked_secrets' })
    expect(decide(s, start('r4', 'daily:2026-12-03'), ctx)).toEqual([])
  })

  it('a started or resumed run names the runPipeline effect; replaying ignores nothing else', () => {
    const s = initialSnapshot(reflectMachine)
    const [e] = decide(s, start('r1', null, 'manual'), ctx) as { type: string; data: unknown }[]
    const [next, actions] = transition(reflectMachine, s, e as never)
    expect(actions.map((a) => a.type)).toContain('runPipeline')
    const [resumed] = decide(next as ReflectSnapshot, { type: 'ResumeRun', runId: 'r1' }, ctx) as { type: string }[]
    expect(transition(reflectMachine, next, resumed as never)[1].map((a) => a.type)).toContain('runPipeline')
  })
})
