import { z } from 'zod'
import type { Route } from './route.js'

type JsonSchema = Record<string, unknown>

/** Converts a zod schema to JSON Schema, or a permissive schema when it cannot be expressed. */
function toJsonSchema(schema: z.ZodType): JsonSchema {
  try {
    return z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as JsonSchema
  } catch {
    return {}
  }
}

/**
 * Named definitions shared by the whole document. zod emits recursive types (the settings'
 * JSON values) as `$defs` with `"$ref": "#/$defs/…"`, which inside an OpenAPI document
 * points at the document's root, where no `$defs` exists: they are hoisted into
 * `components/schemas` (identical definitions once) and their refs rewritten.
 */
class SharedSchemas {
  readonly schemas: Record<string, JsonSchema> = {}
  readonly #byContent = new Map<string, string>()

  /** The schema with its `$defs` hoisted and `$schema` dropped (the document's dialect applies). */
  adopt(schema: JsonSchema): JsonSchema {
    const { $defs, $schema: _dialect, ...rest } = schema as { $defs?: Record<string, JsonSchema>; $schema?: string }
    if ($defs === undefined) return rest
    const names = new Map<string, string>()
    for (const [local, def] of Object.entries($defs)) {
      const key = JSON.stringify(def)
      let name = this.#byContent.get(key)
      if (name === undefined) {
        name = `Shared${this.#byContent.size + 1}`
        this.#byContent.set(key, name)
      }
      names.set(local, name)
    }
    const rewrite = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(rewrite)
      if (value === null || typeof value !== 'object') return value
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => {
          if (k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')) {
            const name = names.get(v.slice('#/$defs/'.length))
            if (name !== undefined) return [k, `#/components/schemas/${name}`]
          }
          return [k, rewrite(v)]
        }),
      )
    }
    for (const [local, def] of Object.entries($defs)) this.schemas[names.get(local)!] ??= rewrite(def) as JsonSchema
    return rewrite(rest) as JsonSchema
  }
}

/** An OpenAPI 3.1 document generated from the routes actually served (never out of date). */
export function buildOpenApi(routes: readonly Route[], info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  const shared = new SharedSchemas()
  const schemaOf = (schema: z.ZodType): JsonSchema => shared.adopt(toJsonSchema(schema))
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
    const params = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }))
    const operation: Record<string, unknown> = {
      operationId: `${route.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_s, c: string | undefined) => (c ?? '').toUpperCase())}`,
      parameters: params,
      responses: {
        '200': { description: 'Success' },
        default: {
          description: 'Error: `{error, message, ...details}` with a stable `error` code',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    }
    if ((route.auth ?? 'required') === 'required') operation.security = [{ bearer: [] }]
    if (route.body !== undefined)
      operation.requestBody = { required: true, content: { 'application/json': { schema: schemaOf(route.body) } } }
    if (route.query !== undefined) {
      const q = schemaOf(route.query) as { properties?: Record<string, unknown>; required?: string[] }
      for (const [name, schema] of Object.entries(q.properties ?? {}))
        (operation.parameters as unknown[]).push({ name, in: 'query', required: q.required?.includes(name) ?? false, schema })
    }
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation }
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: {
        ...shared.schemas,
        Error: {
          type: 'object',
          required: ['error', 'message'],
          properties: { error: { type: 'string' }, message: { type: 'string' } },
          additionalProperties: true,
        },
      },
    },
  }
}
