import type { DroppedLearning } from './grounding.js'
import type { Facet, RunTrigger, SkillProvenance } from './events.js'
import type { SafetyFinding } from './safety.js'

/** Starts a run, or records it as skipped; a slot already claimed (or a run in progress) makes a scheduled start a no-op. */
export interface StartRun {
  type: 'StartRun'
  runId: string
  trigger: RunTrigger
  slot: string | null
  agentId: string | null
  includeBackfill: boolean
  /** Set when the run cannot do its work (no unlocked key): it is recorded as skipped. */
  skip?: { code: string; reason: string }
}

export interface ResumeRun {
  type: 'ResumeRun'
  runId: string
}

export interface RecordFacet {
  type: 'RecordFacet'
  runId: string
  sessionId: string
  agentId: string
  sessionRevision: bigint
  facet: Facet
  dropped: DroppedLearning[]
  reservationId: string
  cost: bigint
}

export interface SkipFacet {
  type: 'SkipFacet'
  runId: string
  sessionId: string
  agentId: string
  sessionRevision: bigint
  reason: string
}

/** Stores a validated, scanned skill (a run's or a user's): a new revision when the content changed. */
export interface StoreSkill {
  type: 'StoreSkill'
  name: string
  description: string
  content: string
  agentId: string | null
  provenance: SkillProvenance
  cost: bigint
}

export interface RejectSkill {
  type: 'RejectSkill'
  runId: string | null
  name: string
  topic: string | null
  sourceSessions: string[]
  problems: string[]
  findings: SafetyFinding[]
  cost: bigint
}

export interface DeleteSkill {
  type: 'DeleteSkill'
  name: string
  reason: 'user' | 'stale'
  runId: string | null
}

/** Ends the run; the other counts and the cost are folded from the run's own events. */
export interface CompleteRun {
  type: 'CompleteRun'
  runId: string
  sessionsAnalysed: number
  facetsCached: number
}

export interface FailRun {
  type: 'FailRun'
  runId: string
  code: string
  message: string
  sessionsAnalysed: number
  facetsCached: number
}

/** Sets (empty content: clears) the wallet's CLAUDE.md of one agent; unchanged content records nothing. */
export interface StoreClaudeMd {
  type: 'StoreClaudeMd'
  agentId: string
  content: string
}

export type ReflectCommand = StartRun | ResumeRun | RecordFacet | SkipFacet | StoreSkill | RejectSkill | DeleteSkill | StoreClaudeMd | CompleteRun | FailRun
