import type { DroppedLearning, Learning } from './grounding.js'
import type { SafetyFinding } from './safety.js'
import type { ToolUsage } from './transcript.js'

/** What started a run. */
export type RunTrigger = 'manual' | 'schedule'

/** One session's facet: model-written fields plus tool usage counted from the session's events. */
export interface Facet {
  goal: string
  taskType: string
  outcome: 'success' | 'partial' | 'failure' | 'unknown'
  friction: string[]
  /** Only the learnings that passed the grounding check. */
  learnings: Learning[]
  /** Computed from ToolCallRequested / ToolCallCompleted, never by the model. */
  tools: ToolUsage[]
  userMessages: number
}

/** Where a skill came from (stored with every revision). */
export interface SkillProvenance {
  source: 'reflect' | 'user'
  runId: string | null
  /** The merged learning's topic (reflect skills). */
  topic: string | null
  sourceSessions: string[]
  /** The transcript excerpts the skill rests on. */
  evidence: { sessionId: string; excerpt: string }[]
}

/** A run claimed its slot (or was triggered) and starts; `slot` null for a manual trigger. */
export interface RunStarted {
  type: 'RunStarted'
  data: { runId: string; trigger: RunTrigger; slot: string | null; agentId: string | null; includeBackfill: boolean; at: string }
}

/** A run that could not start (e.g. the provider key is locked); it claims its slot and changes nothing else. */
export interface RunSkipped {
  type: 'RunSkipped'
  data: { runId: string; trigger: RunTrigger; slot: string | null; agentId: string | null; code: string; reason: string; at: string }
}

/** A process restarted with this run unfinished and picks it up again. */
export interface RunResumed {
  type: 'RunResumed'
  data: { runId: string; at: string }
}

export interface FacetExtracted {
  type: 'FacetExtracted'
  data: {
    runId: string
    sessionId: string
    agentId: string
    /** The session stream's revision the facet reflects (the cache key). */
    sessionRevision: bigint
    facet: Facet
    dropped: DroppedLearning[]
    reservationId: string
    /** What the ledger charged for this call. */
    cost: bigint
    at: string
  }
}

/** A session not worth a model call (fewer than 2 user messages, deleted); cached like a facet. */
export interface FacetSkipped {
  type: 'FacetSkipped'
  data: { runId: string; sessionId: string; agentId: string; sessionRevision: bigint; reason: string; at: string }
}

export interface SkillStored {
  type: 'SkillStored'
  data: {
    name: string
    description: string
    content: string
    /** sha256 of content (hex). */
    contentHash: string
    /** Agent it belongs to (AgentBuilder); null = every opted-in agent of the wallet. */
    agentId: string | null
    /** 1 for a new skill; a new revision replaces the previous one. */
    revision: number
    provenance: SkillProvenance
    /** Charged for synthesising it (0 for a user's skill). */
    cost: bigint
    at: string
  }
}

export interface SkillRejected {
  type: 'SkillRejected'
  data: { runId: string | null; name: string; topic: string | null; sourceSessions: string[]; problems: string[]; findings: SafetyFinding[]; cost: bigint; at: string }
}

export interface SkillDeleted {
  type: 'SkillDeleted'
  data: { name: string; reason: 'user' | 'stale'; runId: string | null; at: string }
}

/**
 * A wallet's CLAUDE.md for one of its agents (API.md §8, `PUT /wallet/claude-md/:agentId`,
 * written by AgentBuilder): standing instructions added to that agent's system prompt in
 * every chat of this wallet. Empty content clears it.
 */
export interface ClaudeMdStored {
  type: 'ClaudeMdStored'
  data: { agentId: string; content: string; /** sha256 of content (hex). */ contentHash: string; at: string }
}

/** Counts of one run, as history shows them. */
export interface RunStats {
  sessionsAnalysed: number
  facetsExtracted: number
  facetsCached: number
  sessionsSkipped: number
  learningsDropped: number
  skillsSynthesised: number
  skillsRejected: number
  skillsPruned: number
  /** Sum of what the ledger charged for the run's model calls (USDC atomic units). */
  cost: bigint
}

export interface RunCompleted {
  type: 'RunCompleted'
  data: { runId: string; stats: RunStats; at: string }
}

export interface RunFailed {
  type: 'RunFailed'
  data: { runId: string; code: string; message: string; stats: RunStats; at: string }
}

export type ReflectEvent =
  | RunStarted
  | RunSkipped
  | RunResumed
  | FacetExtracted
  | FacetSkipped
  | SkillStored
  | SkillRejected
  | SkillDeleted
  | ClaudeMdStored
  | RunCompleted
  | RunFailed
