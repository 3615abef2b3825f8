import type { McpExecutor } from '../../connectors/mcp/executor.js'
import type { TeamRuntime } from './events.js'
import { resultText, type CanvasModelCall, type NodeRunContext } from './nodes.js'
import type { RunContext } from './run-state.js'

type Teammate = NonNullable<TeamRuntime['teammates']>[number]

export interface TeamRunnerParameters {
  modelCall: CanvasModelCall
  mcp?: McpExecutor
  /** The wallet's earlier run of the team with this continueKey (not `selfRunId`). */
  previousRun(wallet: string, continueKey: string, selfRunId: string): Promise<RunContext | undefined>
}

interface Subtask {
  teammate: string
  task: string
}

/** Reads the orchestrator's plan: `{"subtasks":[{"teammate","task"}]}` anywhere in its answer; undefined when unusable. */
export function parsePlan(text: string, names: string[]): Subtask[] | undefined {
  const m = /\{[\s\S]*\}/.exec(text)
  if (m === null) return undefined
  try {
    const parsed = JSON.parse(m[0]) as { subtasks?: unknown }
    if (!Array.isArray(parsed.subtasks)) return undefined
    const out = parsed.subtasks.filter(
      (s): s is Subtask => s !== null && typeof s === 'object' && typeof (s as Subtask).teammate === 'string' && typeof (s as Subtask).task === 'string' && names.includes((s as Subtask).teammate),
    )
    return out.length === 0 ? undefined : out
  } catch {
    return undefined
  }
}

/**
 * Team mode: the orchestrator node plans one subtask per teammate with a billed model
 * call, every teammate (from `teamRuntime.teammates`, not from `nodes`) works its subtask
 * with its own billed model call under its role prompt and model, progress is recorded as
 * team events (agent_started … agent_completed with the findings), and the orchestrator
 * merges the findings into its result. `continue` + `continueKey` feed the earlier run's
 * findings back in.
 */
export function createTeamRunner(p: TeamRunnerParameters): (c: NodeRunContext) => Promise<unknown> {
  return async (c) => {
    const team = c.teamRuntime ?? {}
    const teammates: Teammate[] = team.teammates ?? []
    const d = c.node.data
    const task = [typeof d.prompt === 'string' ? d.prompt : '', ...c.inputs.map((i) => resultText(i.result))].filter((t) => t.length > 0).join('\n\n')
    let earlier = ''
    const continueKey = team.continueKey ?? (typeof d.continueKey === 'string' ? d.continueKey : undefined)
    if (team.continue === true && continueKey !== undefined) {
      const prev = await p.previousRun(c.wallet, continueKey, c.runId)
      const prevResult = prev === undefined ? undefined : prev.nodes.find((n) => n.result !== null && typeof n.result === 'object' && 'teammates' in (n.result as object))?.result
      if (prevResult !== undefined) earlier = `Findings of the team's earlier run (${prev!.runId}):\n${resultText((prevResult as { summary?: string }).summary ?? prevResult)}`
    }
    const model = typeof d.model === 'string' ? d.model : undefined
    if (teammates.length === 0) {
      const r = await p.modelCall({ wallet: c.wallet, reservationId: `canvas:${c.runId}:${c.node.id}`, ref: { sessionId: c.runId, turnId: c.node.id }, model, system: 'You lead a team of one.', prompt: [earlier, task].filter(Boolean).join('\n\n'), maxTokens: 1024, onText: c.text, signal: c.signal })
      return { launched: true, teammates: [], summary: r.text, cost: r.cost }
    }
    const names = teammates.map((t) => t.teammateName)
    const plan = await p.modelCall({
      wallet: c.wallet,
      reservationId: `canvas:${c.runId}:${c.node.id}:plan`,
      ref: { sessionId: c.runId, turnId: `${c.node.id}:plan` },
      model,
      system: 'You are the orchestrator of a team. Split the task into one subtask per teammate. Answer only JSON: {"subtasks":[{"teammate":"<name>","task":"<what to do>"}]}.',
      prompt: `Teammates:\n${teammates.map((t) => `- ${t.teammateName}: ${t.rolePrompt ?? 'generalist'}`).join('\n')}\n\nTask:\n${task}${earlier === '' ? '' : `\n\n${earlier}`}`,
      maxTokens: 1024,
      signal: c.signal,
    })
    const subtasks = parsePlan(plan.text, names) ?? teammates.map((t) => ({ teammate: t.teammateName, task }))
    await c.log(`orchestrator planned ${subtasks.length} subtask(s)`)
    const results = await Promise.all(
      subtasks.map(async (s) => {
        const mate = teammates.find((t) => t.teammateName === s.teammate)!
        await c.teamEvent({ agentName: mate.teammateName, eventKind: 'agent_started', message: s.task })
        try {
          const r = await p.modelCall({
            wallet: c.wallet,
            reservationId: `canvas:${c.runId}:${c.node.id}:${mate.nodeId}`,
            ref: { sessionId: c.runId, turnId: `${c.node.id}:${mate.nodeId}` },
            model: mate.model ?? model,
            system: mate.rolePrompt ?? `You are ${mate.teammateName}, a member of a team.`,
            prompt: [earlier, s.task].filter(Boolean).join('\n\n'),
            maxTokens: 1024,
            signal: c.signal,
          })
          await c.teamEvent({ agentName: mate.teammateName, eventKind: 'agent_message', message: r.text })
          await c.teamEvent({ agentName: mate.teammateName, eventKind: 'agent_completed', message: r.text, detail: { model: r.model, cost: r.cost, costRaw: r.costRaw.toString() } })
          return { name: mate.teammateName, nodeId: mate.nodeId, task: s.task, result: r.text, cost: r.cost }
        } catch (error) {
          await c.teamEvent({ agentName: mate.teammateName, eventKind: 'agent_completed', message: 'failed', detail: { error: error instanceof Error ? error.message : String(error) } })
          throw error
        }
      }),
    )
    const summary = results.map((r) => `## ${r.name}\n${r.result}`).join('\n\n')
    return { launched: true, teammates: results, summary, plan: subtasks, ...(continueKey === undefined ? {} : { continueKey }) }
  }
}
