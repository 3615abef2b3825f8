import { randomUUID } from 'node:crypto'
import type { CallModel } from '../billing/model-port.js'
import { GatewayError } from '../../shared/errors.js'
import { own } from '../../shared/own.js'
import type { EventStore, SnapshotStore } from '../../store/types.js'
import { billedModelCall } from '../billing/billed-model-call.js'
import { ActorHost } from '../runtime/host.js'
import type { EffectCall, EffectContext } from '../runtime/types.js'
import { indexStream } from '../session/service.js'
import type { SessionLedger } from '../session/ledger-port.js'
import type { ReflectCommand } from './commands.js'
import { reflectDefinition } from './definition.js'
import { slotClaimed } from './decide.js'
import type { Facet, SkillProvenance } from './events.js'
import { groundLearnings, type DroppedLearning } from './grounding.js'
import { mergeLearnings, planSynthesis, type MergedLearning } from './merge.js'
import type { ClaudeMdRecord, ReflectSnapshot, RunSummary, SkillRecord } from './machine.js'
import { FACET_SYSTEM, FACET_TOOL, SKILL_SYSTEM, SKILL_TOOL, facetAnswerSchema, facetPrompt, skillAnswerSchema, skillPrompt, toolInput } from './prompts.js'
import { scanSkill, type SafetyFinding } from './safety.js'
import { agentOptedIn, improvementSettings, inScope, nextRunAt } from './schedule.js'
import { renderSkill, validateSkill } from './skill-format.js'
import { sessionTranscript } from './transcript.js'

/** Budget owner of every self-improvement model call (set a budget for it with PUT /wallet/budgets/self-improvement). */
export const REFLECT_AGENT_ID = 'self-improvement'

export interface ReflectServiceParameters {
  store: EventStore
  snapshots?: SnapshotStore
  ledger: SessionLedger
  callModel: CallModel
  /** The vault: the wallet's key, or a locked_secrets / missing_secrets error (then the run is skipped). */
  getProviderKey(address: string, provider: 'anthropic'): Promise<string>
  /** The wallet's settings as its actor holds them. */
  settings(wallet: string): Promise<Record<string, unknown>>
  /** Model of facet and skill calls. */
  model: string
  /** New or revised skills per run at most. */
  maxSkillsPerRun: number
  /** Sessions a run reads without includeBackfill (the most recent ones). */
  maxSessionsPerRun: number
  /** Model calls in flight at once within one run. */
  concurrency?: number
  now?: () => Date
  newId?: () => string
  onError?: (error: unknown, where: string) => void
}

export interface TriggerResult {
  runId: string
  status: 'started' | 'skipped' | 'already_claimed'
  code?: string
  reason?: string
}

type Host = ActorHost<typeof reflectDefinition.machine, ReflectCommand, any>

/**
 * Self-improvement: the per-wallet reflect ActorHost with its one effect bound (the run
 * pipeline), plus what routes, the scheduler and the chat's system prompt need.
 *
 * Pipeline: per session one facet (cached by the session stream's revision; < 2 user
 * messages skipped), its learnings grounded in the session's own transcript; learnings
 * merged by topic; a lesson seen in ≥ 2 sessions becomes a skill (≤ maxSkillsPerRun a run),
 * validated and safety-scanned; stale reflect skills pruned. Every model call is billed
 * through billedModelCall with a reservation id derived from the run id, so a run resumed
 * after a crash charges each call once.
 */
export class ReflectService {
  readonly host: Host
  readonly #p: ReflectServiceParameters
  readonly #now: () => Date
  readonly #newId: () => string
  /** Runs whose pipeline executes in this process (a resume must not start a second copy). */
  readonly #active = new Set<string>()

  constructor(p: ReflectServiceParameters) {
    this.#p = p
    this.#now = p.now ?? (() => new Date())
    this.#newId = p.newId ?? randomUUID
    this.host = new ActorHost({
      definition: reflectDefinition,
      store: p.store,
      ...(p.snapshots === undefined ? {} : { snapshots: p.snapshots }),
      now: this.#now,
      newId: this.#newId,
      effects: {
        runPipeline: (action: EffectCall, ctx: EffectContext<ReflectCommand>) => this.#runPipeline((action.params as { runId: string }).runId, ctx.actorId),
      },
      onEffectError: (e) => this.#p.onError?.(e, 'effect'),
    })
  }

  /** The wallet's folded self-improvement state. */
  async state(wallet: string): Promise<ReflectSnapshot> {
    return (await this.host.read(wallet.toLowerCase())).snapshot
  }

  /** POST /wallet/self-improvement/trigger: starts a run now (or records why it cannot). */
  async trigger(wallet: string, p: { agentId?: string; includeBackfill?: boolean }): Promise<TriggerResult> {
    return this.#start(wallet, { trigger: 'manual', slot: null, agentId: p.agentId ?? null, includeBackfill: p.includeBackfill === true })
  }

  /** The scheduler's claim of a slot: at most one run per slot across every process sharing the store. */
  async startScheduled(wallet: string, slot: string): Promise<TriggerResult> {
    const state = await this.state(wallet)
    if (slotClaimed(state, slot)) return { runId: '', status: 'already_claimed' }
    return this.#start(wallet, { trigger: 'schedule', slot, agentId: null, includeBackfill: false })
  }

  async #start(wallet: string, p: { trigger: 'manual' | 'schedule'; slot: string | null; agentId: string | null; includeBackfill: boolean }): Promise<TriggerResult> {
    const actorId = wallet.toLowerCase()
    const runId = this.#newId()
    // A run needs the key unlocked in this process's memory; without it nothing is read or charged.
    const skip = await this.#p.getProviderKey(actorId, 'anthropic').then(
      () => undefined,
      (e: unknown) => ({ code: e instanceof GatewayError ? e.code : 'provider_key_unavailable', reason: e instanceof GatewayError ? e.shortMessage : 'The provider key is not available' }),
    )
    const r = await this.host.send(actorId, { type: 'StartRun', runId, ...p, ...(skip === undefined ? {} : { skip }) })
    const e = r.events[0]
    if (e === undefined) return { runId: '', status: 'already_claimed' }
    if (e.type === 'RunSkipped') return { runId, status: 'skipped', code: skip!.code, reason: skip!.reason }
    return { runId, status: 'started' }
  }

  /**
   * Start-up: resumes the runs a stopped process left running (their facets so far are
   * events, the rest is redone; a call that was in flight reuses its reservation id).
   */
  async resume(wallets: Iterable<string>): Promise<number> {
    let n = 0
    for (const wallet of wallets) {
      const state = await this.state(wallet)
      if (state.value !== 'running' || state.context.current === null || this.#active.has(state.context.current)) continue
      const r = await this.host.send(wallet.toLowerCase(), { type: 'ResumeRun', runId: state.context.current })
      n += r.events.length
    }
    return n
  }

  /** GET /wallet/self-improvement/status. */
  async status(wallet: string): Promise<Record<string, unknown>> {
    const [state, raw] = await Promise.all([this.state(wallet), this.#p.settings(wallet)])
    const s = improvementSettings(raw)
    const c = state.context
    const calendar = s.schedule !== null && s.schedule !== 'after_each' ? s.schedule : null
    return {
      walletAddress: wallet,
      enabled: s.enabled,
      running: state.value === 'running',
      currentRunId: c.current,
      schedule: s.schedule === null ? null : { type: s.schedule, enabled: s.enabled, scope: s.scope.kind === 'agents' ? s.scope.agentIds : s.scope.kind, agentAutoImprove: s.agentOptIn },
      lastRunAt: c.lastRunAt,
      nextRunAt: s.enabled && calendar !== null ? nextRunAt(calendar, c.lastSlot[calendar], this.#now()).toISOString() : null,
      facetCount: Object.values(c.facets).filter((f) => f.learnings !== null).length,
      skillCount: Object.keys(c.skills).length,
      history: c.runs.slice(-10).map(runView),
    }
  }

  /** GET /wallet/self-improvement/history: `{runs}`, newest last. */
  async history(wallet: string): Promise<{ runs: Record<string, unknown>[] }> {
    return { runs: (await this.state(wallet)).context.runs.map(runView) }
  }

  async skills(wallet: string): Promise<SkillRecord[]> {
    return sortedSkills(await this.state(wallet))
  }

  /** Skills an agent receives: the wallet-wide ones and those attached to it. */
  async skillsForAgent(wallet: string, agentId: string): Promise<SkillRecord[]> {
    return skillsOfAgent(await this.state(wallet), agentId)
  }

  /** A user's PUT: the same validation and safety scan as a synthesised skill. */
  async putSkill(wallet: string, name: string, content: string, agentId: string | null): Promise<{ stored: boolean; revision: number } | { problems: string[]; findings: SafetyFinding[] }> {
    const v = validateSkill(content, name)
    const findings = scanSkill(content)
    if (!v.ok || findings.length > 0) return { problems: v.ok ? [] : v.problems, findings }
    const provenance: SkillProvenance = { source: 'user', runId: null, topic: null, sourceSessions: [], evidence: [] }
    const r = await this.host.send(wallet.toLowerCase(), { type: 'StoreSkill', name, description: v.skill.description, content, agentId, provenance, cost: 0n })
    return { stored: r.events.length > 0, revision: r.snapshot.context.skills[name]!.revision }
  }

  /**
   * `PUT /wallet/claude-md/:agentId`: the agent's standing instructions for this wallet (empty
   * clears them). Refused when it holds a secret (the skills' secret rules): it is stored as an
   * event and sent to the provider with every chat.
   */
  async putClaudeMd(wallet: string, agentId: string, content: string): Promise<{ changed: boolean; record: ClaudeMdRecord | undefined } | { findings: SafetyFinding[] }> {
    const findings = scanSkill(content).filter((f) => f.rule.startsWith('secret:'))
    if (findings.length > 0) return { findings }
    const r = await this.host.send(wallet.toLowerCase(), { type: 'StoreClaudeMd', agentId, content })
    return { changed: r.events.length > 0, record: own(r.snapshot.context.claudeMd, agentId) }
  }

  /** The agent's CLAUDE.md for this wallet, if one is set. */
  async claudeMd(wallet: string, agentId: string): Promise<ClaudeMdRecord | undefined> {
    return own((await this.state(wallet)).context.claudeMd, agentId)
  }

  async deleteSkill(wallet: string, name: string): Promise<void> {
    await this.host.send(wallet.toLowerCase(), { type: 'DeleteSkill', name, reason: 'user', runId: null })
  }

  /**
   * The chat hook: what an agent's system prompt gains — the wallet's CLAUDE.md for it, and
   * for an opted-in agent every skill's name and description, and the body of those whose
   * name words occur in the user's latest message.
   */
  async systemPromptExtra(wallet: string, agentId: string, lastUserText: string): Promise<string | undefined> {
    const state = await this.state(wallet)
    const claudeMd = own(state.context.claudeMd, agentId)
    const skills = await this.#skillsExtra(wallet, state, agentId, lastUserText)
    const parts = [...(claudeMd === undefined ? [] : [`## CLAUDE.md\n\n${claudeMd.content.trim()}`]), ...(skills === undefined ? [] : [skills])]
    return parts.length === 0 ? undefined : parts.join('\n\n')
  }

  async #skillsExtra(wallet: string, state: ReflectSnapshot, agentId: string, lastUserText: string): Promise<string | undefined> {
    const s = improvementSettings(await this.#p.settings(wallet))
    if (!agentOptedIn(s, agentId)) return undefined
    const skills = skillsOfAgent(state, agentId)
    if (skills.length === 0) return undefined
    const text = lastUserText.toLowerCase()
    const lines = ['## Skills learned from your earlier sessions', 'Follow a skill when the task matches its description.', '']
    for (const k of skills) lines.push(`- ${k.name}: ${k.description}`)
    let budget = 8 * 1024
    for (const k of skills) {
      const relevant = k.name.split('-').some((w) => w.length >= 4 && text.includes(w))
      if (!relevant || k.content.length > budget) continue
      budget -= k.content.length
      lines.push('', `<skill name="${k.name}">`, k.content.replace(/^---[\s\S]*?---\n/, '').trim(), '</skill>')
    }
    return lines.join('\n')
  }

  // ---- the pipeline (the runPipeline effect) ----

  async #runPipeline(runId: string, actorId: string): Promise<void> {
    if (this.#active.has(runId)) return
    this.#active.add(runId)
    const counts = { sessionsAnalysed: 0, facetsCached: 0 }
    try {
      const apiKey = await this.#p.getProviderKey(actorId, 'anthropic')
      const settings = improvementSettings(await this.#p.settings(actorId))
      let state = await this.state(actorId)
      const run = state.context.runs.at(-1)!
      const wanted = (agentId: string) => (run.agentId !== null ? agentId === run.agentId : inScope(settings, agentId))
      const sessions = (await this.#sessionsOf(actorId)).filter((s) => wanted(s.agentId))
      const picked = run.includeBackfill ? sessions : sessions.slice(-this.#p.maxSessionsPerRun)
      await this.#facets(runId, actorId, apiKey, picked, state, counts)
      state = await this.state(actorId)
      await this.#synthesise(runId, actorId, apiKey, state, (agentId) => wanted(agentId))
      await this.host.send(actorId, { type: 'CompleteRun', runId, ...counts })
    } catch (error) {
      const e = error instanceof GatewayError ? error : new GatewayError('reflect_failed', 'The self-improvement run failed', { cause: error })
      this.#p.onError?.(error, 'runPipeline')
      await this.host.send(actorId, { type: 'FailRun', runId, code: e.code, message: e.shortMessage, ...counts })
    } finally {
      this.#active.delete(runId)
    }
  }

  /** The wallet's sessions (from the session index), oldest first, once each. */
  async #sessionsOf(wallet: string): Promise<{ sessionId: string; agentId: string }[]> {
    const seen = new Map<string, string>()
    for (const e of await this.#p.store.readStream(indexStream(wallet))) {
      const d = e.data as { sessionId: string; agentId: string }
      if (!seen.has(d.sessionId)) seen.set(d.sessionId, d.agentId)
    }
    return [...seen].map(([sessionId, agentId]) => ({ sessionId, agentId }))
  }

  async #facets(runId: string, wallet: string, apiKey: string, sessions: { sessionId: string; agentId: string }[], state: ReflectSnapshot, counts: { sessionsAnalysed: number; facetsCached: number }): Promise<void> {
    const queue = [...sessions]
    let failure: { error: unknown } | undefined
    // After a failure (e.g. 402) no new call starts, but calls in flight finish and are recorded, so the run's cost is complete.
    const worker = async (): Promise<void> => {
      for (let s = queue.shift(); s !== undefined && failure === undefined; s = queue.shift()) {
        await this.#facet(runId, wallet, apiKey, s, state, counts).catch((error: unknown) => void (failure ??= { error }))
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, this.#p.concurrency ?? 4) }, worker))
    if (failure !== undefined) throw failure.error
  }

  async #facet(runId: string, wallet: string, apiKey: string, s: { sessionId: string; agentId: string }, state: ReflectSnapshot, counts: { sessionsAnalysed: number; facetsCached: number }): Promise<void> {
    const streamId = `session-${s.sessionId}`
    // The cache check reads one event: an unchanged session is not re-read.
    const last = await this.#p.store.readStream(streamId, { direction: 'backwards', maxCount: 1 })
    if (last[0] === undefined) return
    const revision = last[0].revision
    if (state.context.facets[s.sessionId]?.revision === revision) {
      counts.facetsCached++
      return
    }
    const t = sessionTranscript(s.sessionId, await this.#p.store.readStream(streamId, { maxCount: Number(revision) + 1 }))
    const base = { runId, sessionId: s.sessionId, agentId: t.agentId || s.agentId, sessionRevision: revision }
    if (t.deleted || t.userMessages < 2) {
      await this.host.send(wallet, { type: 'SkipFacet', ...base, reason: t.deleted ? 'session deleted' : 'fewer than 2 user messages' })
      return
    }
    counts.sessionsAnalysed++
    const reservationId = `reflect:${runId}:facet:${s.sessionId}:${revision}`
    const { result, cost } = await billedModelCall({
      ledger: this.#p.ledger,
      callModel: this.#p.callModel,
      apiKey,
      wallet,
      agentId: REFLECT_AGENT_ID,
      reservationId,
      purpose: `self-improvement run ${runId}: facet of session ${s.sessionId}`,
      ref: { sessionId: s.sessionId, turnId: `reflect:${runId}` },
      model: this.#p.model,
      system: FACET_SYSTEM,
      messages: [{ role: 'user', content: facetPrompt(t) }],
      tools: [FACET_TOOL],
      toolChoice: { type: 'tool', name: FACET_TOOL.name },
      maxTokens: 2048,
    })
    const answer = facetAnswerSchema.safeParse(toolInput(result.content, FACET_TOOL.name))
    const dropped: DroppedLearning[] = []
    let learnings = answer.success ? answer.data.learnings : []
    if (!answer.success) dropped.push({ topic: '*', reason: 'malformed facet answer' })
    const grounded = groundLearnings(learnings, t.text, t.tools.map((x) => x.name))
    dropped.push(...grounded.dropped)
    // A learning that would carry a secret into the store or a prompt is dropped too.
    learnings = grounded.kept.filter((l) => {
      const secret = scanSkill(`${l.text}\n${l.excerpt}`).find((f) => f.rule.startsWith('secret:'))
      if (secret !== undefined) dropped.push({ topic: l.topic, reason: `contains a secret (${secret.rule})` })
      return secret === undefined
    })
    const facet: Facet = {
      goal: answer.success ? answer.data.goal : '',
      taskType: answer.success ? answer.data.taskType : '',
      outcome: answer.success ? answer.data.outcome : 'unknown',
      friction: answer.success ? answer.data.friction : [],
      learnings,
      tools: t.tools,
      userMessages: t.userMessages,
    }
    await this.host.send(wallet, { type: 'RecordFacet', ...base, facet, dropped, reservationId, cost: cost.charged })
  }

  async #synthesise(runId: string, wallet: string, apiKey: string, state: ReflectSnapshot, wanted: (agentId: string) => boolean): Promise<void> {
    const plan = planSynthesis(mergeLearnings(state.context.facets, wanted), state.context.skills, state.context.rejectedTopics, this.#p.maxSkillsPerRun)
    for (const m of plan.write) await this.#writeSkill(runId, wallet, apiKey, m, state.context.skills)
    for (const stale of plan.prune) await this.host.send(wallet, { type: 'DeleteSkill', name: stale.name, reason: 'stale', runId })
  }

  async #writeSkill(runId: string, wallet: string, apiKey: string, m: MergedLearning, skills: Readonly<Record<string, SkillRecord>>): Promise<void> {
    const { result, cost } = await billedModelCall({
      ledger: this.#p.ledger,
      callModel: this.#p.callModel,
      apiKey,
      wallet,
      agentId: REFLECT_AGENT_ID,
      reservationId: `reflect:${runId}:skill:${m.topic}`,
      purpose: `self-improvement run ${runId}: skill ${m.topic}`,
      ref: { sessionId: m.sessions[0]!, turnId: `reflect:${runId}` },
      model: this.#p.model,
      system: SKILL_SYSTEM,
      messages: [{ role: 'user', content: skillPrompt(m.topic, m.evidence) }],
      tools: [SKILL_TOOL],
      toolChoice: { type: 'tool', name: SKILL_TOOL.name },
      maxTokens: 2048,
    })
    const answer = skillAnswerSchema.safeParse(toolInput(result.content, SKILL_TOOL.name))
    const reject = (name: string, problems: string[], findings: SafetyFinding[]) =>
      this.host.send(wallet, { type: 'RejectSkill', runId, name, topic: m.topic, sourceSessions: m.sessions, problems, findings, cost: cost.charged })
    if (!answer.success) return void (await reject(m.topic, ['malformed skill answer'], []))
    // A revision keeps its skill's name, so it replaces the old one.
    const existing = Object.values(skills).find((s) => s.provenance.topic === m.topic)
    const name = existing?.name ?? answer.data.name
    const taken = skills[name]
    if (taken !== undefined && taken.provenance.topic !== m.topic) return void (await reject(name, [`name "${name}" belongs to another skill`], []))
    const content = renderSkill({ name, description: answer.data.description, whenToUse: answer.data.whenToUse, steps: answer.data.steps })
    const v = validateSkill(content, name)
    const findings = scanSkill(content)
    if (!v.ok || findings.length > 0) return void (await reject(name, v.ok ? [] : v.problems, findings))
    const provenance: SkillProvenance = {
      source: 'reflect',
      runId,
      topic: m.topic,
      sourceSessions: m.sessions,
      evidence: m.evidence.map((e) => ({ sessionId: e.sessionId, excerpt: e.learning.excerpt })),
    }
    await this.host.send(wallet, { type: 'StoreSkill', name, description: v.skill.description, content, agentId: existing?.agentId ?? null, provenance, cost: cost.charged })
  }
}

/** One run as history and status show it (`sessions`/`facets`/`skills`/`cost` as the docs name them). */
export function runView(r: RunSummary): Record<string, unknown> {
  return {
    runId: r.runId,
    timestamp: r.startedAt,
    endedAt: r.endedAt,
    trigger: r.trigger,
    slot: r.slot,
    agentId: r.agentId,
    status: r.status,
    sessions: r.stats.sessionsAnalysed,
    facets: r.stats.facetsExtracted,
    facetsCached: r.stats.facetsCached,
    sessionsSkipped: r.stats.sessionsSkipped,
    learningsDropped: r.stats.learningsDropped,
    skills: r.stats.skillsSynthesised,
    skillsRejected: r.stats.skillsRejected,
    skillsPruned: r.stats.skillsPruned,
    cost: usd(r.stats.cost),
    costRaw: r.stats.cost.toString(),
    ...(r.status === 'skipped' ? { skipReason: r.reason, skipCode: r.code } : {}),
    ...(r.status === 'failed' ? { error: r.code, message: r.reason } : {}),
  }
}

function usd(atomic: bigint): string {
  const whole = atomic / 1_000_000n
  const frac = (atomic % 1_000_000n).toString().padStart(6, '0')
  return `$${whole}.${frac}`
}

function sortedSkills(state: ReflectSnapshot): SkillRecord[] {
  return Object.values(state.context.skills).sort((a, b) => a.name.localeCompare(b.name))
}

/** The wallet-wide skills and those attached to `agentId`, by name. */
function skillsOfAgent(state: ReflectSnapshot, agentId: string): SkillRecord[] {
  return sortedSkills(state).filter((s) => s.agentId === null || s.agentId === agentId)
}
