import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'

/** Agent Skills limits (agentskills.io specification) plus ours: required sections and a size cap. */
export const SKILL_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/
export const MAX_NAME_CHARS = 64
export const MAX_DESCRIPTION_CHARS = 1024
export const MAX_SKILL_BYTES = 16 * 1024
export const REQUIRED_SECTIONS = ['When to use', 'Steps'] as const

export interface ParsedSkill {
  name: string
  description: string
  body: string
}

/** Renders a SKILL.md: YAML front matter (name, description), a title and the required sections. */
export function renderSkill(p: { name: string; description: string; whenToUse: string; steps: string[] }): string {
  const front = stringifyYaml({ name: p.name, description: p.description }, { lineWidth: 0 }).trimEnd()
  const steps = p.steps.map((s, i) => `${i + 1}. ${s.trim()}`).join('\n')
  return `---\n${front}\n---\n\n# ${p.name}\n\n## When to use\n\n${p.whenToUse.trim()}\n\n## Steps\n\n${steps}\n`
}

/**
 * Parses and validates a SKILL.md. Returns the skill or every problem found, so a
 * refusal says all that is wrong at once.
 */
export function validateSkill(content: string, expectedName?: string): { ok: true; skill: ParsedSkill } | { ok: false; problems: string[] } {
  const problems: string[] = []
  if (Buffer.byteLength(content, 'utf8') > MAX_SKILL_BYTES) problems.push(`larger than ${MAX_SKILL_BYTES} bytes`)
  const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/.exec(content)
  if (m === null) return { ok: false, problems: [...problems, 'missing YAML front matter (--- name/description ---)'] }
  let front: unknown
  try {
    front = parseYaml(m[1]!)
  } catch {
    return { ok: false, problems: [...problems, 'front matter is not valid YAML'] }
  }
  const f = (typeof front === 'object' && front !== null ? front : {}) as Record<string, unknown>
  const name = typeof f.name === 'string' ? f.name : ''
  const description = typeof f.description === 'string' ? f.description.trim() : ''
  if (name.length === 0) problems.push('front matter needs a name')
  else {
    if (name.length > MAX_NAME_CHARS) problems.push(`name longer than ${MAX_NAME_CHARS} characters`)
    if (!SKILL_NAME.test(name)) problems.push('name must be lowercase letters, digits and single hyphens')
    if (expectedName !== undefined && name !== expectedName) problems.push(`front matter name "${name}" differs from "${expectedName}"`)
  }
  if (description.length === 0) problems.push('front matter needs a description')
  else if (description.length > MAX_DESCRIPTION_CHARS) problems.push(`description longer than ${MAX_DESCRIPTION_CHARS} characters`)
  const body = m[2]!
  for (const section of REQUIRED_SECTIONS) {
    if (!new RegExp(`^##\\s+${section}\\s*$`, 'mi').test(body)) problems.push(`missing section "## ${section}"`)
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, skill: { name, description, body } }
}
