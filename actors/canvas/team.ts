import type { ModelMessage, ModelTool } from '../billing/model-port.js'
import type { McpExecutor, McpToolInfo } from '../billing/tool-port.js'
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

/** The MCP tools a teammate may use: named in `tools`, or served by one of its `allowedServers` (`<server>__<tool>`). */
function teammateTools(all: McpToolInfo[], mate: Teammate): ModelTool[] {
  const names = new Set(mate.tools ?? [])
  const servers = new Set(mate.allowedServers ?? [])
  return all
    .filter((t) => names.has(t.name) || (t.name.includes('__') && servers.has(t.name.split('__')[0]!)))
    .map((t) => ({ name: t.name, ...(t.description === undefined ? {} : { description: t.description }), input_schema: t.inputSchema }))
}

/**
 * One teammate's agent loop: a billed model call per turn (reservation
 * `canvas:<runId>:<orchestrator>:<teammate>[:<turn>]`), its tool uses run through the MCP
 * executor with a delegated token limited to its tools, results fed back, up to maxTurns.
 */
async function teammateLoop(p: TeamRunnerParameters, c: NodeRunContext, mate: Teammate, task: string, model: string | undefined): Promise<{ text: string; model: string; calls: number; toolCalls: number }> {
  const tools = p.mcp === undefined || ((mate.tools ?? []).length === 0 && (mate.allowedServers ?? []).length === 0) ? [] : teammateTools(await p.mcp.listTools(), mate)
  const messages: ModelMessage[] = [{ role: 'user', content: task }]
  const maxTurns = mate.maxTurns ?? 4
  let toolCalls = 0
  for (let turn = 1; ; turn++) {
    const r = await p.modelCall({
      wallet: c.wallet,
      reservationId: `canvas:${c.runId}:${c.node.id}:${mate.nodeId}${turn === 1 ? '' : `:${turn}`}`,
      ref: { sessionId: c.runId, turnId: `${c.node.id}:${mate.nodeId}` },
      model: mate.model ?? model,
      system: mate.rolePrompt ?? `You are ${mate.teammateName}, a member of a team.`,
      prompt: task,
      messages,
      tools,
      maxTokens: 1024,
      signal: c.signal,
    })
    if (r.text.length > 0) await c.teamEvent({ agentName: mate.teammateName, eventKind: 'agent_message', message: r.text })
    const uses = r.content.flatMap((b) => (b.type === 'tool_use' ? [b] : []))
    if (uses.length === 0 || turn >= maxTurns || p.mcp === undefined) return { text: r.text, model: r.model, calls: turn, toolCalls }
    messages.push({ role: 'assistant', content: r.content })
    const results: { type: 'tool_result'; tool_use_id: string; content: string; is_error?: boolean }[] = []
    for (const u of uses) {
      await c.teamEvent({ agentName: mate.teammateName, eventKind: 'agent_tool_call', message: u.name, detail: { args: u.input } })
      const allowed = tools.some((t) => t.name === u.name)
      const out = allowed
        ? await p.mcp
            .callTool({ claims: { wallet: c.wallet, agent: 'canvas', session: c.runId, tools: tools.map((t) => t.name) }, name: u.name, args: (u.input ?? {}) as Record<string, unknown>, signal: c.signal })
            .catch((e: unknown) => ({ isError: true, text: e instanceof Error ? e.message : 'The tool call failed' }))
        : { isError: true, text: `Tool ${u.name} is not allowed for this teammate.` }
      if (allowed) toolCalls++
      await c.teamEvent({ agentName: mate.teammateName, eventKind: 'agent_tool_result', message: u.name, detail: { isError: out.isError, result: out.text.slice(0, 2000) } })
      results.push({ type: 'tool_result', tool_use_id: u.id, content: out.text, ...(out.isError ? { is_error: true } : {}) })
    }
    messages.push({ role: 'user', content: results })
  }
}

/**
 * Team mode: the orchestrator node plans one subtask per teammate with a billed model
 * call, every teammate (from `teamRuntime.teammates`, not from `nodes`) works its subtask
 * in its own billed agent loop under its role prompt, model and tools, progress is recorded as
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
          const r = await teammateLoop(p, c, mate, [earlier, s.task].filter(Boolean).join('\n\n'), model)
          await c.teamEvent({ agentName: mate.teammateName, eventKind: 'agent_completed', message: r.text, detail: { model: r.model, calls: r.calls, toolCalls: r.toolCalls } })
          return { name: mate.teammateName, nodeId: mate.nodeId, task: s.task, result: r.text, calls: r.calls }
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
