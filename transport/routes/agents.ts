import type { AgentDefinition } from '../../agents/schema.js'
import type { AgentRegistry } from '../../agents/load-agents.js'
import { NotFoundError } from '../../shared/errors.js'
import { json, type Route } from '../route.js'

export interface AgentRoutesDeps {
  agents: AgentRegistry
}

/** The public summary of GET /agents (API §4). */
export function agentSummary(a: AgentDefinition) {
  return { id: a.id, name: a.name, title: a.title, description: a.description, model: a.model, skillsCount: a.skills.length }
}

/** The unwrapped detail of GET /agents/:id (API §4). */
export function agentDetail(a: AgentDefinition) {
  return {
    id: a.id,
    name: a.name,
    title: a.title,
    description: a.description,
    model: a.model,
    tools: [...a.allowedTools],
    toolsCount: a.allowedTools.length,
    skills: a.skills.map((s) => ({ name: s.name, title: s.title, description: s.description })),
    skillsCount: a.skills.length,
    ...(a.categories === undefined ? {} : { categories: a.categories }),
    mcpServers: [...a.mcpServers],
    ...(a.pricing === undefined ? {} : { pricing: a.pricing }),
  }
}

/** GET /agents and GET /agents/:id. Auth 'optional': a stale Bearer token must not 401 (§4). */
export function agentRoutes(deps: AgentRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/agents',
      auth: 'optional',
      handler: () => json({ agents: deps.agents.list().map(agentSummary) }),
    },
    {
      method: 'GET',
      path: '/agents/:id',
      auth: 'optional',
      handler: (ctx) => {
        const agent = deps.agents.get(ctx.params.id ?? '')
        if (agent === undefined) throw new NotFoundError(`No agent "${(ctx.params.id ?? '').slice(0, 64)}"`, 'agent_not_found')
        return json(agentDetail(agent))
      },
    },
  ]
}
