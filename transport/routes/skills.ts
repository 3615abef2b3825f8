import { z } from 'zod'
import type { SkillRecord } from '../../actors/reflect/machine.js'
import type { ReflectService } from '../../actors/reflect/service.js'
import { MAX_NAME_CHARS, MAX_SKILL_BYTES, SKILL_NAME } from '../../actors/reflect/skill-format.js'
import { DomainError, NotFoundError, ValidationError } from '../../shared/errors.js'
import { json, type Route } from '../route.js'

export interface SkillsRoutesDeps {
  reflect: ReflectService
}

const AGENT_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/
const putSchema = z.object({
  content: z.string().min(1).max(MAX_SKILL_BYTES * 2),
  agentId: z.string().regex(AGENT_ID, 'must be an agent id').optional(),
})

/** A CLAUDE.md is sent with every chat of its agent: 64 KiB of UTF-8 at most. */
const MAX_CLAUDE_MD_BYTES = 64 * 1024
const claudeMdSchema = z.object({
  content: z.string().refine((s) => Buffer.byteLength(s) <= MAX_CLAUDE_MD_BYTES, `at most ${MAX_CLAUDE_MD_BYTES} bytes`),
})

function agentIdOf(params: Record<string, string>): string {
  const agentId = params.agentId ?? ''
  if (!AGENT_ID.test(agentId)) throw new ValidationError('agent ids are lowercase letters, digits, ".", "_" and "-" (at most 64)')
  return agentId
}

function nameOf(params: Record<string, string>): string {
  const name = params.name ?? ''
  if (name.length > MAX_NAME_CHARS || !SKILL_NAME.test(name)) throw new ValidationError('skill names are lowercase letters, digits and single hyphens (at most 64)')
  return name
}

function view(s: SkillRecord) {
  return {
    name: s.name,
    description: s.description,
    content: s.content,
    version: s.revision,
    updatedAt: s.updatedAt,
    createdAt: s.createdAt,
    agentId: s.agentId,
    contentHash: s.contentHash,
    provenance: s.provenance,
  }
}

/**
 * API.md §8 skills: list, one, PUT (validated and safety-scanned like a synthesised skill),
 * DELETE, per agent; and the wallet's CLAUDE.md of each agent (PUT; GET to read it back).
 */
export function skillsRoutes(deps: SkillsRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/wallet/skills',
      handler: async (ctx) => {
        const skills = (await deps.reflect.skills(ctx.auth!.address)).map(view)
        return json({ skills, total: skills.length })
      },
    },
    {
      method: 'GET',
      path: '/wallet/skills/agent/:agentId',
      handler: async (ctx) => {
        const skills = await deps.reflect.skillsForAgent(ctx.auth!.address, ctx.params.agentId ?? '')
        return json({ skills: skills.map((s) => ({ name: s.name, description: s.description, version: s.revision })), total: skills.length })
      },
    },
    {
      method: 'GET',
      path: '/wallet/skills/:name',
      handler: async (ctx) => {
        const name = nameOf(ctx.params)
        const skill = (await deps.reflect.skills(ctx.auth!.address)).find((s) => s.name === name)
        if (skill === undefined) throw new NotFoundError(`No skill "${name}"`, 'skill_not_found')
        return json(view(skill))
      },
    },
    {
      method: 'PUT',
      path: '/wallet/skills/:name',
      body: putSchema,
      handler: async (ctx) => {
        const name = nameOf(ctx.params)
        const r = await deps.reflect.putSkill(ctx.auth!.address, name, ctx.body.content, ctx.body.agentId ?? null)
        if ('problems' in r) {
          if (r.findings.length > 0) throw new DomainError('skill_unsafe', 'The skill failed the safety scan', { details: { findings: r.findings, problems: r.problems } })
          throw new DomainError('skill_invalid', 'The skill is not a valid Agent Skill', { details: { problems: r.problems } })
        }
        return json({ success: true, name, version: r.revision, changed: r.stored })
      },
    },
    {
      method: 'DELETE',
      path: '/wallet/skills/:name',
      handler: async (ctx) => {
        const name = nameOf(ctx.params)
        await deps.reflect.deleteSkill(ctx.auth!.address, name)
        return json({ success: true, name })
      },
    },
    {
      method: 'PUT',
      path: '/wallet/claude-md/:agentId',
      body: claudeMdSchema,
      handler: async (ctx) => {
        const agentId = agentIdOf(ctx.params)
        const r = await deps.reflect.putClaudeMd(ctx.auth!.address, agentId, ctx.body.content)
        if ('findings' in r) throw new DomainError('claude_md_secret', 'The CLAUDE.md holds what looks like a secret; it is sent to the model with every chat', { details: { findings: r.findings } })
        return json({ success: true, agentId, changed: r.changed, contentHash: r.record?.contentHash ?? null, updatedAt: r.record?.updatedAt ?? null })
      },
    },
    {
      method: 'GET',
      path: '/wallet/claude-md/:agentId',
      handler: async (ctx) => {
        const agentId = agentIdOf(ctx.params)
        const record = await deps.reflect.claudeMd(ctx.auth!.address, agentId)
        if (record === undefined) throw new NotFoundError(`No CLAUDE.md for agent "${agentId}"`, 'claude_md_not_found')
        return json({ agentId, content: record.content, contentHash: record.contentHash, updatedAt: record.updatedAt })
      },
    },
  ]
}
