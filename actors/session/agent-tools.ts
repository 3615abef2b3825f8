import type { AgentRegistry } from '../../agents/load-agents.js'
import { toolAllowed, type AgentDefinition } from '../../agents/schema.js'
import { NotFoundError } from '../../shared/errors.js'
import type { McpExecutor } from '../billing/tool-port.js'
import type { ModelTool } from './model-port.js'

/** What a session's agent is and which MCP tools it may offer the model. */
export class AgentTools {
  constructor(
    readonly agents: AgentRegistry,
    /** Undefined when MCP_GATEWAY_URL is unset: agents then run without tools. */
    readonly mcp: McpExecutor | undefined,
    readonly onError: (error: unknown, where: string) => void,
  ) {}

  agent(agentId: string): AgentDefinition {
    const agent = this.agents.get(agentId)
    if (agent === undefined) throw new NotFoundError(`No agent "${agentId.slice(0, 64)}"`, 'agent_not_found')
    return agent
  }

  /** The gateway's tools this agent allows, in the model's shape; none when the gateway fails. */
  async tools(agent: AgentDefinition): Promise<ModelTool[]> {
    if (this.mcp === undefined || agent.allowedTools.length === 0) return []
    try {
      const all = await this.mcp.listTools()
      return all
        .filter((t) => toolAllowed(agent, t.name))
        .map((t) => ({ name: t.name, ...(t.description === undefined ? {} : { description: t.description }), input_schema: t.inputSchema }))
    } catch (error) {
      // The conversation goes on without tools rather than failing the turn.
      this.onError(error, 'listTools')
      return []
    }
  }
}
