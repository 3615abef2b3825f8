import type { SessionEvent } from '../session/events.js'

/** How one tool fared in a session, counted from its events (never by the model). */
export interface ToolUsage {
  name: string
  calls: number
  /** Calls that ran and answered an error. */
  errors: number
  /** Calls that never ran (denied by the user, timed out, not allowed). */
  denied: number
  outcome: 'ok' | 'error' | 'mixed' | 'denied'
}

export interface SessionTranscript {
  sessionId: string
  agentId: string
  userMessages: number
  turnsCompleted: number
  turnsFailed: number
  tools: ToolUsage[]
  /** What the model is shown and what every learning must be grounded in. */
  text: string
  deleted: boolean
}

/** Longest transcript sent to the model; the tail is kept (the latest work matters most). */
export const MAX_TRANSCRIPT_CHARS = 48_000
const MAX_TOOL_RESULT_CHARS = 2_000

/** Builds a session's transcript and tool statistics from its events (pure). */
export function sessionTranscript(sessionId: string, events: readonly { type: string; data: unknown }[]): SessionTranscript {
  let agentId = ''
  let userMessages = 0
  let turnsCompleted = 0
  let turnsFailed = 0
  let deleted = false
  const lines: string[] = []
  const tools = new Map<string, ToolUsage>()
  const names = new Map<string, string>()
  for (const raw of events) {
    const e = raw as SessionEvent
    switch (e.type) {
      case 'SessionCreated':
        agentId = e.data.agentId
        break
      case 'UserMessageReceived':
        userMessages++
        lines.push(`user: ${e.data.text}`)
        break
      case 'ModelResponded':
        for (const b of e.data.content) {
          if (b.type === 'text' && b.text.length > 0) lines.push(`assistant: ${b.text}`)
        }
        break
      case 'ToolCallRequested': {
        names.set(e.data.toolUseId, e.data.name)
        lines.push(`tool_call ${e.data.name} ${JSON.stringify(e.data.args)}`)
        const t = tools.get(e.data.name) ?? { name: e.data.name, calls: 0, errors: 0, denied: 0, outcome: 'ok' }
        t.calls++
        tools.set(e.data.name, t)
        break
      }
      case 'ToolCallCompleted': {
        const name = names.get(e.data.toolUseId) ?? e.data.name
        const t = tools.get(name)
        if (t !== undefined) {
          if (!e.data.executed) t.denied++
          else if (e.data.isError) t.errors++
        }
        const result = e.data.result.length > MAX_TOOL_RESULT_CHARS ? `${e.data.result.slice(0, MAX_TOOL_RESULT_CHARS)}…` : e.data.result
        lines.push(`tool_result ${name}${e.data.isError ? ' (error)' : ''}: ${result}`)
        break
      }
      case 'TurnCompleted':
        turnsCompleted++
        break
      case 'TurnFailed':
      case 'TurnInterrupted':
        turnsFailed++
        break
      case 'SessionDeleted':
        deleted = true
        break
      default:
        break
    }
  }
  for (const t of tools.values()) t.outcome = toolOutcome(t)
  let text = lines.join('\n')
  if (text.length > MAX_TRANSCRIPT_CHARS) text = text.slice(text.length - MAX_TRANSCRIPT_CHARS)
  return { sessionId, agentId, userMessages, turnsCompleted, turnsFailed, tools: [...tools.values()].sort((a, b) => a.name.localeCompare(b.name)), text, deleted }
}

function toolOutcome(t: ToolUsage): ToolUsage['outcome'] {
  const ran = t.calls - t.denied
  if (ran === 0) return 'denied'
  if (t.errors === 0) return 'ok'
  return t.errors === ran ? 'error' : 'mixed'
}
