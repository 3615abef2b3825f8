import { createHash } from 'node:crypto'
import { DomainError, NotFoundError } from '../../shared/errors.js'
import { own } from '../../shared/own.js'
import type { DecideContext } from '../runtime/types.js'
import type { ReflectCommand } from './commands.js'
import type { ReflectEvent, RunStats } from './events.js'
import type { ReflectSnapshot } from './machine.js'

/** Pure: the events a command produces in this state, or why it is refused. */
export function decide(state: ReflectSnapshot, command: ReflectCommand, ctx: DecideContext): ReflectEvent[] | DomainError {
  const at = ctx.now.toISOString()
  const c = state.context
  switch (command.type) {
    case 'StartRun': {
      if (command.slot !== null && slotClaimed(state, command.slot)) return []
      if (state.value === 'running') {
        // A schedule finding a run in progress waits for its next slot; a user is told.
        if (command.trigger === 'schedule') return []
        return new DomainError('run_in_progress', 'A self-improvement run is already in progress for this wallet', { details: { runId: c.current } })
      }
      const base = { runId: command.runId, trigger: command.trigger, slot: command.slot, agentId: command.agentId }
      if (command.skip !== undefined) return [{ type: 'RunSkipped', data: { ...base, code: command.skip.code, reason: command.skip.reason, at } }]
      return [{ type: 'RunStarted', data: { ...base, includeBackfill: command.includeBackfill, at } }]
    }
    case 'ResumeRun':
      return state.value === 'running' && c.current === command.runId ? [{ type: 'RunResumed', data: { runId: command.runId, at } }] : []
    case 'RecordFacet': {
      if (!isCurrent(state, command.runId)) return []
      if (c.facets[command.sessionId]?.revision === command.sessionRevision) return []
      const { type: _t, ...data } = command
      return [{ type: 'FacetExtracted', data: { ...data, at } }]
    }
    case 'SkipFacet': {
      if (!isCurrent(state, command.runId)) return []
      if (c.facets[command.sessionId]?.revision === command.sessionRevision) return []
      const { type: _t, ...data } = command
      return [{ type: 'FacetSkipped', data: { ...data, at } }]
    }
    case 'StoreSkill': {
      const contentHash = createHash('sha256').update(command.content).digest('hex')
      const previous = c.skills[command.name]
      if (previous !== undefined && previous.contentHash === contentHash && previous.agentId === command.agentId) return []
      const { type: _t, ...data } = command
      return [{ type: 'SkillStored', data: { ...data, contentHash, revision: (previous?.revision ?? 0) + 1, at } }]
    }
    case 'RejectSkill': {
      const { type: _t, ...data } = command
      return [{ type: 'SkillRejected', data: { ...data, at } }]
    }
    case 'DeleteSkill':
      if (c.skills[command.name] === undefined) return command.reason === 'user' ? new NotFoundError(`No skill "${command.name}"`, 'skill_not_found') : []
      return [{ type: 'SkillDeleted', data: { name: command.name, reason: command.reason, runId: command.runId, at } }]
    case 'StoreClaudeMd': {
      const contentHash = createHash('sha256').update(command.content).digest('hex')
      const current = own(c.claudeMd, command.agentId)
      if (command.content.length === 0 ? current === undefined : current?.contentHash === contentHash) return []
      return [{ type: 'ClaudeMdStored', data: { agentId: command.agentId, content: command.content, contentHash, at } }]
    }
    case 'CompleteRun':
      if (!isCurrent(state, command.runId)) return []
      return [{ type: 'RunCompleted', data: { runId: command.runId, stats: finalStats(state, command), at } }]
    case 'FailRun':
      if (!isCurrent(state, command.runId)) return []
      return [{ type: 'RunFailed', data: { runId: command.runId, code: command.code, message: command.message, stats: finalStats(state, command), at } }]
  }
}

/** True when a schedule slot was already claimed (by any process: the claim is an event). */
export function slotClaimed(state: ReflectSnapshot, slot: string): boolean {
  const c = state.context
  if (slot.startsWith('after_each:')) {
    const [, sessionId, revision] = slot.split(':')
    return c.afterEach[sessionId!] !== undefined && BigInt(c.afterEach[sessionId!]!) >= BigInt(revision!)
  }
  const last = c.lastSlot[slot.slice(0, slot.indexOf(':'))]
  return last !== undefined && last >= slot
}

function isCurrent(state: ReflectSnapshot, runId: string): boolean {
  return state.value === 'running' && state.context.current === runId
}

function finalStats(state: ReflectSnapshot, p: { sessionsAnalysed: number; facetsCached: number }): RunStats {
  const run = state.context.runs.at(-1)!
  return { ...run.stats, sessionsAnalysed: p.sessionsAnalysed, facetsCached: p.facetsCached }
}
