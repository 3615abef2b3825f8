import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { agentDefinitionSchema, type AgentDefinition } from './schema.js'

/**
 * The folder of the agents shipped with the gateway: beside this module under tsx, or
 * the source tree's copy when running the compiled dist/ (tsc does not copy JSON).
 */
export const DEFAULT_AGENTS_DIR = ((): string => {
  const beside = fileURLToPath(new URL('./definitions/', import.meta.url))
  return existsSync(beside) ? beside : join(process.cwd(), 'agents', 'definitions')
})()

/** The agents known to this gateway, by id, in file-name order. */
export interface AgentRegistry {
  list(): AgentDefinition[]
  get(id: string): AgentDefinition | undefined
}

/** Builds a registry from already-parsed definitions (tests, main.ts). Duplicate ids throw. */
export function agentRegistry(definitions: AgentDefinition[]): AgentRegistry {
  const byId = new Map<string, AgentDefinition>()
  for (const d of definitions) {
    if (byId.has(d.id)) throw new Error(`Duplicate agent id "${d.id}"`)
    byId.set(d.id, d)
  }
  const list = [...byId.values()]
  return { list: () => list, get: (id) => byId.get(id) }
}

/**
 * Reads every `*.json` agent definition in the folders given (default: the shipped
 * ones) and validates it; a bad file fails start-up with its name and the zod issues.
 */
export async function loadAgents(dirs: string[] = [DEFAULT_AGENTS_DIR]): Promise<AgentRegistry> {
  const defs: AgentDefinition[] = []
  for (const dir of dirs) {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()
    for (const f of files) {
      const path = join(dir, f)
      let raw: unknown
      try {
        raw = JSON.parse(await readFile(path, 'utf8'))
      } catch (e) {
        throw new Error(`Agent file ${path} is not valid JSON: ${(e as Error).message}`)
      }
      const parsed = agentDefinitionSchema.safeParse(raw)
      if (!parsed.success) {
        throw new Error(`Agent file ${path} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
      }
      defs.push(parsed.data)
    }
  }
  return agentRegistry(defs)
}
