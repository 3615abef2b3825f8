import { windowStart } from '../wallet/windows.js'

/** How often runs are started (API.md §7 `improveSchedule` / `selfImprovementSchedule`). */
export type ImproveSchedule = 'after_each' | 'daily' | 'weekly' | 'biweekly'
export type CalendarSchedule = Exclude<ImproveSchedule, 'after_each'>

/** Which sessions a run reads: every agent's, only opted-in agents', or the listed agents'. */
export type ImproveScope = { kind: 'all' } | { kind: 'opted_in' } | { kind: 'agents'; agentIds: string[] }

/** The self-improvement view of a wallet's settings (unknown values fall back to the defaults). */
export interface ImprovementSettings {
  /** `autoImprove`: scheduled runs are on. */
  enabled: boolean
  schedule: ImproveSchedule | null
  scope: ImproveScope
  /** `agentAutoImprove`: `true` for every agent, or the agent ids that receive the wallet's skills. */
  agentOptIn: true | string[]
}

const DAY_MS = 86_400_000
const SCHEDULES: readonly string[] = ['after_each', 'daily', 'weekly', 'biweekly']
/** Biweekly periods are pairs of ISO weeks counted from Monday 1970-01-05. */
const BIWEEKLY_EPOCH = Date.UTC(1970, 0, 5)

/** Reads the self-improvement keys of wallet settings; `improveSchedule` wins over `selfImprovementSchedule`. */
export function improvementSettings(settings: Record<string, unknown>): ImprovementSettings {
  const raw = settings.improveSchedule ?? settings.selfImprovementSchedule
  const schedule = typeof raw === 'string' && SCHEDULES.includes(raw) ? (raw as ImproveSchedule) : null
  return {
    enabled: settings.autoImprove === true,
    schedule,
    scope: scopeOf(settings.selfImprovementScope),
    agentOptIn: optInOf(settings.agentAutoImprove),
  }
}

function scopeOf(v: unknown): ImproveScope {
  if (v === 'opted_in' || v === 'agents') return { kind: 'opted_in' }
  if (Array.isArray(v)) return { kind: 'agents', agentIds: v.filter((x): x is string => typeof x === 'string') }
  if (typeof v === 'object' && v !== null && Array.isArray((v as { agentIds?: unknown }).agentIds)) {
    return { kind: 'agents', agentIds: ((v as { agentIds: unknown[] }).agentIds).filter((x): x is string => typeof x === 'string') }
  }
  return { kind: 'all' }
}

function optInOf(v: unknown): true | string[] {
  if (v === true) return true
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string')
  if (typeof v === 'object' && v !== null) return Object.entries(v).filter(([, on]) => on === true).map(([id]) => id)
  return []
}

/** True when the agent opted in to receive the wallet's skills in its system prompt. */
export function agentOptedIn(s: ImprovementSettings, agentId: string): boolean {
  return s.agentOptIn === true || s.agentOptIn.includes(agentId)
}

/** True when a run with this scope reads the agent's sessions. */
export function inScope(s: ImprovementSettings, agentId: string): boolean {
  if (s.scope.kind === 'all') return true
  if (s.scope.kind === 'opted_in') return agentOptedIn(s, agentId)
  return s.scope.agentIds.includes(agentId)
}

/** The calendar slot (UTC day, ISO week, pair of ISO weeks) containing `at`: its id, start and end. */
export function slotAt(schedule: CalendarSchedule, at: Date): { id: string; start: Date; end: Date } {
  let start: number
  let length: number
  if (schedule === 'daily') {
    start = windowStart('daily', at).getTime()
    length = DAY_MS
  } else if (schedule === 'weekly') {
    start = windowStart('weekly', at).getTime()
    length = 7 * DAY_MS
  } else {
    const monday = windowStart('weekly', at).getTime()
    const weeks = Math.floor((monday - BIWEEKLY_EPOCH) / (7 * DAY_MS))
    start = monday - (((weeks % 2) + 2) % 2) * 7 * DAY_MS
    length = 14 * DAY_MS
  }
  // Ids sort by time within one schedule: "daily:2026-12-02".
  return { id: `${schedule}:${new Date(start).toISOString().slice(0, 10)}`, start: new Date(start), end: new Date(start + length) }
}

/**
 * When the next scheduled run is due, derived from the last slot claimed (an event):
 * now when the current slot is still unclaimed, else the start of the next slot.
 */
export function nextRunAt(schedule: CalendarSchedule, lastClaimedSlot: string | undefined, now: Date): Date {
  const slot = slotAt(schedule, now)
  return lastClaimedSlot !== undefined && lastClaimedSlot >= slot.id ? slot.end : now
}

/** The slot id an `after_each` run claims: one per session revision, so an idle session is analysed once. */
export function afterEachSlot(sessionId: string, revision: bigint): string {
  return `after_each:${sessionId}:${revision}`
}

/** The schedule kind a slot id belongs to. */
export function slotKind(slot: string): ImproveSchedule {
  return slot.slice(0, slot.indexOf(':')) as ImproveSchedule
}
