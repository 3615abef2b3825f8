import { z } from 'zod'

const skill = z.object({ name: z.string().min(1), title: z.string().min(1), description: z.string() })

/** One agent definition file (agents/definitions/<id>.json). */
export const agentDefinitionSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a lower-case slug'),
    name: z.string().min(1),
    title: z.string().min(1),
    description: z.string(),
    /** The Anthropic model id used when the session does not name a Claude model. */
    model: z.string().min(1),
    systemPrompt: z.string(),
    /** MCP servers (names on the MCP gateway) whose tools this agent may use. */
    mcpServers: z.array(z.string().min(1)).default([]),
    /** Tool names the agent may call; "*" allows every tool of its servers. */
    allowedTools: z.array(z.string().min(1)).default([]),
    /** Tool names that pause for the user's approval before they run. */
    toolsNeedingApproval: z.array(z.string().min(1)).default([]),
    /** Model calls per turn that may follow tool results (the loop's bound). */
    maxToolIterations: z.number().int().min(0).max(64).default(8),
    /** max_tokens of each model call (also bounds the reservation). */
    maxTokens: z.number().int().min(1).max(64_000).default(4096),
    /** How long an approval request waits before it is denied. */
    approvalTimeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
    skills: z.array(skill).default([]),
    categories: z.array(z.string()).optional(),
    pricing: z.object({ type: z.string(), amount: z.string(), currency: z.string(), description: z.string() }).optional(),
  })
  .strict()

export type AgentDefinition = z.output<typeof agentDefinitionSchema>

/** True when the agent may call the tool (allow-list or "*"). */
export function toolAllowed(agent: AgentDefinition, tool: string): boolean {
  return agent.allowedTools.includes('*') || agent.allowedTools.includes(tool)
}
