import { z } from 'zod'
import type { Route } from './route.js'

/** Converts a zod schema to JSON Schema, or a permissive schema when it cannot be expressed. */
function schemaOf(schema: z.ZodType): Record<string, unknown> {
  try {
    return z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as Record<string, unknown>
  } catch {
    return {}
  }
}

/** An OpenAPI 3.1 document generated from the routes actually served (never out of date). */
export function buildOpenApi(routes: readonly Route[], info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
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
