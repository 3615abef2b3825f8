import { assign, setup, type SnapshotFrom } from 'xstate'
import { setOwn, withoutOwn } from '../../shared/own.js'
import type { Learning } from './grounding.js'
import type { ReflectEvent, RunStats, RunTrigger, SkillProvenance } from './events.js'

export interface RunSummary {
  runId: string
  trigger: RunTrigger
  slot: string | null
  agentId: string | null
  includeBackfill: boolean
  status: 'running' | 'completed' | 'failed' | 'skipped'
  startedAt: string
  endedAt: string | null
  /** Why it was skipped or failed (`code` is stable). */
  code: string | null
  reason: string | null
  stats: RunStats
}

/** The facet cache entry of one session: the revision it reflects and its grounded learnings (null = skipped). */
export interface FacetEntry {
  agentId: string
  revision: bigint
  learnings: Learning[] | null
  runId: string
}

export interface SkillRecord {
  name: string
  description: string
  content: string
  contentHash: string
  agentId: string | null
  revision: number
  provenance: SkillProvenance
  createdAt: string
  updatedAt: string
}

/** A wallet's CLAUDE.md of one agent. */
export interface ClaudeMdRecord {
  content: string
  contentHash: string
  updatedAt: string
}

export interface ReflectContext {
  /** Newest last; the oldest are dropped beyond MAX_RUNS_KEPT (their events stay in the stream). */
  runs: RunSummary[]
  current: string | null
  /** The newest slot claimed per calendar schedule ("daily:2026-12-02"); slot ids sort by time. */
  lastSlot: Record<string, string>
  /** after_each slots claimed, by session: the session revision analysed. */
  afterEach: Record<string, string>
  facets: Record<string, FacetEntry>
  skills: Record<string, SkillRecord>
  /** Lessons whose synthesised skill was refused, with the sessions it rested on: not retried until new evidence. */
  rejectedTopics: Record<string, string[]>
  lastRunAt: string | null
  /** CLAUDE.md by agent id (own keys only: shared/own.ts). */
  claudeMd: Record<string, ClaudeMdRecord>
}

export const MAX_RUNS_KEPT = 100

export const emptyStats = (): RunStats => ({
  sessionsAnalysed: 0,
  facetsExtracted: 0,
  facetsCached: 0,
  sessionsSkipped: 0,
  learningsDropped: 0,
  skillsSynthesised: 0,
  skillsRejected: 0,
  skillsPruned: 0,
  cost: 0n,
})

/** Applies `change` to the current run's summary (the newest one). */
function withCurrent(context: ReflectContext, runId: string | null, change: (r: RunSummary) => RunSummary): RunSummary[] {
  if (runId === null || context.current !== runId) return context.runs
  const last = context.runs.at(-1)
  if (last === undefined || last.runId !== runId) return context.runs
  return [...context.runs.slice(0, -1), change(last)]
}

function claim(context: ReflectContext, slot: string | null): Pick<ReflectContext, 'lastSlot' | 'afterEach'> {
  if (slot === null) return { lastSlot: context.lastSlot, afterEach: context.afterEach }
  if (slot.startsWith('after_each:')) {
    const [, sessionId, revision] = slot.split(':')
    return { lastSlot: context.lastSlot, afterEach: { ...context.afterEach, [sessionId!]: revision! } }
  }
  const kind = slot.slice(0, slot.indexOf(':'))
  return { lastSlot: { ...context.lastSlot, [kind]: slot }, afterEach: context.afterEach }
}

const keep = (runs: RunSummary[]): RunSummary[] => (runs.length > MAX_RUNS_KEPT ? runs.slice(runs.length - MAX_RUNS_KEPT) : runs)

/**
 * A wallet's self-improvement actor (stream `reflect-<wallet>`): its runs (one at a time),
 * claimed schedule slots, facet cache and skills. `runPipeline` is the effect of a started
 * or resumed run.
 */
export const reflectMachine = setup({
  types: { context: {} as ReflectContext, events: {} as ReflectEvent },
  actions: {
    runPipeline: (_, _params: { runId: string }) => {},
  },
}).createMachine({
  id: 'reflect',
  initial: 'idle',
  context: { runs: [], current: null, lastSlot: {}, afterEach: {}, facets: {}, skills: {}, rejectedTopics: {}, lastRunAt: null, claudeMd: {} },
  on: {
    FacetExtracted: {
      actions: assign(({ context, event }) => ({
        facets: { ...context.facets, [event.data.sessionId]: { agentId: event.data.agentId, revision: event.data.sessionRevision, learnings: event.data.facet.learnings, runId: event.data.runId } },
        runs: withCurrent(context, event.data.runId, (r) => ({
          ...r,
          stats: { ...r.stats, facetsExtracted: r.stats.facetsExtracted + 1, learningsDropped: r.stats.learningsDropped + event.data.dropped.length, cost: r.stats.cost + event.data.cost },
        })),
      })),
    },
    FacetSkipped: {
      actions: assign(({ context, event }) => ({
        facets: { ...context.facets, [event.data.sessionId]: { agentId: event.data.agentId, revision: event.data.sessionRevision, learnings: null, runId: event.data.runId } },
        runs: withCurrent(context, event.data.runId, (r) => ({ ...r, stats: { ...r.stats, sessionsSkipped: r.stats.sessionsSkipped + 1 } })),
      })),
    },
    SkillStored: {
      actions: assign(({ context, event }) => {
        const d = event.data
        const previous = context.skills[d.name]
        const record: SkillRecord = {
          name: d.name,
          description: d.description,
          content: d.content,
          contentHash: d.contentHash,
          agentId: d.agentId,
          revision: d.revision,
          provenance: d.provenance,
          createdAt: previous?.createdAt ?? d.at,
          updatedAt: d.at,
        }
        return {
          skills: { ...context.skills, [d.name]: record },
          runs: withCurrent(context, d.provenance.runId, (r) => ({ ...r, stats: { ...r.stats, skillsSynthesised: r.stats.skillsSynthesised + 1, cost: r.stats.cost + d.cost } })),
        }
      }),
    },
    ClaudeMdStored: {
      actions: assign(({ context, event }) => {
        const { agentId, content, contentHash, at } = event.data
        const claudeMd = withoutOwn(context.claudeMd, agentId)
        if (content.length > 0) setOwn(claudeMd, agentId, { content, contentHash, updatedAt: at })
        return { claudeMd }
      }),
    },
    SkillRejected: {
      actions: assign(({ context, event }) => ({
        rejectedTopics: event.data.topic === null ? context.rejectedTopics : { ...context.rejectedTopics, [event.data.topic]: event.data.sourceSessions },
        runs: withCurrent(context, event.data.runId, (r) => ({ ...r, stats: { ...r.stats, skillsRejected: r.stats.skillsRejected + 1, cost: r.stats.cost + event.data.cost } })),
      })),
    },
    SkillDeleted: {
      actions: assign(({ context, event }) => {
        const { [event.data.name]: _gone, ...skills } = context.skills
        return {
          skills,
          runs: event.data.reason === 'stale' ? withCurrent(context, event.data.runId, (r) => ({ ...r, stats: { ...r.stats, skillsPruned: r.stats.skillsPruned + 1 } })) : context.runs,
        }
      }),
    },
  },
  states: {
    idle: {
      on: {
        RunStarted: {
          target: 'running',
          actions: [
            assign(({ context, event }) => ({
              ...claim(context, event.data.slot),
              current: event.data.runId,
              lastRunAt: event.data.at,
              runs: keep([
                ...context.runs,
                {
                  runId: event.data.runId,
                  trigger: event.data.trigger,
                  slot: event.data.slot,
                  agentId: event.data.agentId,
                  includeBackfill: event.data.includeBackfill,
                  status: 'running',
                  startedAt: event.data.at,
                  endedAt: null,
                  code: null,
                  reason: null,
                  stats: emptyStats(),
                },
              ]),
            })),
            { type: 'runPipeline', params: ({ event }) => ({ runId: event.data.runId }) },
          ],
        },
        RunSkipped: {
          actions: assign(({ context, event }) => ({
            ...claim(context, event.data.slot),
            lastRunAt: event.data.at,
            runs: keep([
              ...context.runs,
              {
                runId: event.data.runId,
                trigger: event.data.trigger,
                slot: event.data.slot,
                agentId: event.data.agentId,
                includeBackfill: false,
                status: 'skipped',
                startedAt: event.data.at,
                endedAt: event.data.at,
                code: event.data.code,
                reason: event.data.reason,
                stats: emptyStats(),
              },
            ]),
          })),
        },
      },
    },
    running: {
      on: {
        RunResumed: { actions: { type: 'runPipeline', params: ({ event }) => ({ runId: event.data.runId }) } },
        RunCompleted: {
          target: 'idle',
          actions: assign(({ context, event }) => ({
            current: null,
            runs: withCurrent(context, event.data.runId, (r) => ({ ...r, status: 'completed', endedAt: event.data.at, stats: event.data.stats })),
          })),
        },
        RunFailed: {
          target: 'idle',
          actions: assign(({ context, event }) => ({
            current: null,
            runs: withCurrent(context, event.data.runId, (r) => ({ ...r, status: 'failed', endedAt: event.data.at, code: event.data.code, reason: event.data.message, stats: event.data.stats })),
          })),
        },
      },
    },
  },
})

export type ReflectSnapshot = SnapshotFrom<typeof reflectMachine>
