import type { Learning } from './grounding.js'
import type { FacetEntry, SkillRecord } from './machine.js'

/** A lesson merged across sessions by topic, with the evidence from each. */
export interface MergedLearning {
  topic: string
  sessions: string[]
  evidence: { sessionId: string; learning: Learning }[]
}

/** kebab-case topic key: the same lesson in different words merges only when the model names it alike. */
export function topicKey(topic: string): string {
  return topic
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
}

/** Merges every cached facet's learnings by topic; sessions sorted, topics by support then name. */
export function mergeLearnings(facets: Readonly<Record<string, FacetEntry>>, agentFilter?: (agentId: string) => boolean): MergedLearning[] {
  const byTopic = new Map<string, MergedLearning>()
  for (const [sessionId, f] of Object.entries(facets)) {
    if (f.learnings === null || (agentFilter !== undefined && !agentFilter(f.agentId))) continue
    for (const learning of f.learnings) {
      const topic = topicKey(learning.topic)
      if (topic.length === 0) continue
      const m = byTopic.get(topic) ?? { topic, sessions: [], evidence: [] }
      if (!m.sessions.includes(sessionId)) m.sessions.push(sessionId)
      m.evidence.push({ sessionId, learning })
      byTopic.set(topic, m)
    }
  }
  for (const m of byTopic.values()) m.sessions.sort()
  return [...byTopic.values()].sort((a, b) => b.sessions.length - a.sessions.length || a.topic.localeCompare(b.topic))
}

/** At least this many distinct sessions must show a lesson before it may become a skill. */
export const MIN_SESSIONS_PER_SKILL = 2

export interface SynthesisPlan {
  /** Lessons to write skills for, at most `maxNew` of them (new topics and topics with new evidence). */
  write: MergedLearning[]
  /** Reflect skills whose lesson no longer has enough support. */
  prune: SkillRecord[]
}

/**
 * Which skills a run writes and prunes: a lesson seen in ≥ 2 sessions gets a skill unless
 * its skill (or a refused attempt) already rests on exactly these sessions; a reflect skill whose lesson dropped
 * below 2 sessions is stale. User skills are never pruned.
 */
export function planSynthesis(
  merged: readonly MergedLearning[],
  skills: Readonly<Record<string, SkillRecord>>,
  rejected: Readonly<Record<string, readonly string[]>>,
  maxNew: number,
): SynthesisPlan {
  const supported = merged.filter((m) => m.sessions.length >= MIN_SESSIONS_PER_SKILL)
  const reflectSkills = Object.values(skills).filter((s) => s.provenance.source === 'reflect' && s.provenance.topic !== null)
  const byTopic = new Map(reflectSkills.map((s) => [s.provenance.topic!, s]))
  const same = (a: readonly string[] | undefined, b: readonly string[]) => a !== undefined && a.join(',') === b.join(',')
  // Nothing new to say: the skill (or its refusal) already rests on exactly these sessions.
  const write = supported.filter((m) => !same(byTopic.get(m.topic)?.provenance.sourceSessions, m.sessions) && !same(rejected[m.topic], m.sessions)).slice(0, Math.max(0, maxNew))
  const live = new Set(supported.map((m) => m.topic))
  const prune = reflectSkills.filter((s) => !live.has(s.provenance.topic!))
  return { write, prune }
}
