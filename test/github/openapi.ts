import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'

/**
 * GitHub's official OpenAPI description (from @octokit/openapi) as a checker: finds the
 * operation a request addresses and validates its path/query parameters, its JSON body and
 * the response we are about to send against the operation's schemas. The fixture server
 * runs every exchange through this, so it cannot drift from what api.github.com accepts
 * and answers.
 */

type Json = Record<string, unknown>

interface ParameterObject {
  name: string
  in: 'path' | 'query' | 'header' | 'cookie'
  required?: boolean
  schema?: Json
}

interface Operation {
  operationId: string
  method: string
  template: string
  parameters: ParameterObject[]
  requestBody?: Json
  responses: Record<string, Json>
}

export interface MatchedOperation {
  operationId: string
  template: string
  pathParams: Record<string, string>
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
const SPEC_ID = 'github-openapi'

function loadSpec(): Json {
  // index.js of @octokit/openapi requires all ten descriptions (≈ 400 MB); read only the one we need.
  const require = createRequire(import.meta.url)
  const file = require.resolve('@octokit/openapi/generated/api.github.com.json')
  return JSON.parse(readFileSync(file, 'utf8')) as Json
}

function pointer(doc: Json, ref: string): Json {
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`)
  let node: unknown = doc
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    node = (node as Json)[key]
    if (node === undefined) throw new Error(`dangling $ref ${ref}`)
  }
  return node as Json
}

/** Rewrites local `#/…` refs inside a schema so they resolve against the whole spec added to Ajv. */
function schemaRef(ref: string): Json {
  return { $ref: `${SPEC_ID}${ref}` }
}

/**
 * OpenAPI 3.0 allows `nullable: true` beside `oneOf`/`allOf` without a `type`; Ajv only
 * understands `nullable` next to `type`. Such schemas become `anyOf: [schema, null]`,
 * which means the same. Rewrites in place (the parsed description is ours alone).
 */
function typeNullables(node: Json): Json {
  const walk = (n: unknown): unknown => {
    if (Array.isArray(n)) {
      n.forEach((v, i) => (n[i] = walk(v)))
      return n
    }
    if (typeof n !== 'object' || n === null) return n
    const o = n as Json
    for (const k of Object.keys(o)) o[k] = walk(o[k])
    if (o.nullable === true && o.type === undefined) {
      const { nullable: _drop, ...rest } = o
      return { anyOf: [rest, { type: 'null' }] }
    }
    return o
  }
  return walk(node) as Json
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

export class GitHubOpenApi {
  private readonly spec: Json
  private readonly ajv: Ajv
  private readonly ops: { method: string; regex: RegExp; names: string[]; literalLength: number; op: Operation }[] = []
  private readonly byId = new Map<string, Operation>()
  private readonly cache = new Map<string, ValidateFunction>()

  constructor(spec: Json = loadSpec()) {
    this.spec = typeNullables(spec)
    // OpenAPI 3.0 schemas: `nullable` is understood by Ajv; `example`, `discriminator` and other
    // annotations are ignored (strict: false). The spec itself is not re-validated as a JSON schema.
    this.ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, logger: false })
    addFormats(this.ajv)
    this.ajv.addSchema(this.spec, SPEC_ID)
    const paths = this.spec.paths as Record<string, Record<string, Json>>
    for (const [template, item] of Object.entries(paths)) {
      const shared = (item.parameters as Json[] | undefined) ?? []
      for (const [method, raw] of Object.entries(item)) {
        if (!['get', 'post', 'put', 'patch', 'delete', 'head'].includes(method)) continue
        const parameters = [...shared, ...((raw.parameters as Json[] | undefined) ?? [])].map((p) =>
          (typeof p.$ref === 'string' ? pointer(spec, p.$ref) : p) as unknown as ParameterObject,
        )
        const op: Operation = {
          operationId: raw.operationId as string,
          method: method.toUpperCase(),
          template,
          parameters,
          responses: raw.responses as Record<string, Json>,
        }
        if (raw.requestBody !== undefined) op.requestBody = raw.requestBody as Json
        const names: string[] = []
        // A `{ref}` may hold slashes (heads/feature/x) whether or not the client encoded them.
        const source = template
          .split('/')
          .map((seg) => {
            const m = /^\{(.+)\}$/.exec(seg)
            if (m === null) return escapeRegExp(seg)
            names.push(m[1]!)
            return m[1] === 'ref' ? '(.+)' : '([^/]+)'
          })
          .join('/')
        const literalLength = template.replace(/\{[^}]+\}/g, '').length
        this.ops.push({ method: op.method, regex: new RegExp(`^${source}$`), names, literalLength, op })
        this.byId.set(op.operationId, op)
      }
    }
    // The most specific template wins (`/repos/{owner}/{repo}/pulls` before `/repos/{owner}/{repo}`).
    this.ops.sort((a, b) => b.literalLength - a.literalLength)
  }

  /** The operation a method + path addresses in GitHub's API, or null if GitHub has none. */
  match(method: string, path: string): MatchedOperation | null {
    for (const { method: m, regex, names, op } of this.ops) {
      if (m !== method) continue
      const hit = regex.exec(path)
      if (hit === null) continue
      const pathParams: Record<string, string> = {}
      names.forEach((n, i) => (pathParams[n] = decodeURIComponent(hit[i + 1]!)))
      return { operationId: op.operationId, template: op.template, pathParams }
    }
    return null
  }

  /**
   * Problems with a request's parameters and body (empty = valid). Parameters and body fields
   * GitHub does not define count as problems too: GitHub would silently ignore them, which is
   * exactly how a client comes to believe a field works when it does not.
   */
  checkRequest(
    operationId: string,
    pathParams: Record<string, string>,
    query: URLSearchParams,
    body: unknown,
  ): string[] {
    const op = this.operation(operationId)
    const problems: string[] = []
    for (const where of ['path', 'query'] as const) {
      const given: Record<string, string> = where === 'path' ? pathParams : Object.fromEntries(query)
      const declared = op.parameters.filter((p) => p.in === where)
      const v = this.compile(`${operationId} ${where}`, () => ({
        type: 'object',
        properties: Object.fromEntries(declared.map((p) => [p.name, p.schema ?? {}])),
        required: declared.filter((p) => p.required === true).map((p) => p.name),
        additionalProperties: false,
      }), true)
      const coerced: Record<string, unknown> = { ...given }
      if (!v(coerced)) problems.push(...this.describe(`${where} parameters`, v))
    }
    const content = (op.requestBody?.content as Record<string, Json> | undefined)?.['application/json']
    if (content === undefined) {
      if (body !== undefined) problems.push('request body: this operation takes none')
    } else if (body === undefined) {
      if (op.requestBody?.required === true) problems.push('request body: required')
    } else {
      const v = this.compile(`${operationId} body`, () => this.closed(content.schema as Json))
      if (!v(body)) problems.push(...this.describe('request body', v))
    }
    return problems
  }

  /** Problems with a response GitHub would send for this operation (empty = valid). */
  checkResponse(operationId: string, status: number, body: unknown): string[] {
    const op = this.operation(operationId)
    let response = op.responses[String(status)]
    if (response === undefined) {
      // GitHub answers any operation with 401 (bad credentials) and the generic error body,
      // although most operations do not list it. Other undeclared statuses are drift.
      if (status === 401) return this.validate('basic-error', schemaRef('#/components/schemas/basic-error'), body)
      return [`response status ${status} is not declared for ${operationId}`]
    }
    if (typeof response.$ref === 'string') response = pointer(this.spec, response.$ref)
    const content = (response.content as Record<string, Json> | undefined)?.['application/json']
    if (content === undefined) return body === undefined ? [] : [`response ${status}: GitHub sends no body`]
    return this.validate(`${operationId} ${status}`, content.schema as Json, body)
  }

  private validate(key: string, schema: Json, body: unknown): string[] {
    const v = this.compile(`response ${key}`, () => schema)
    return v(body) ? [] : this.describe('response body', v)
  }

  private operation(operationId: string): Operation {
    const op = this.byId.get(operationId)
    if (op === undefined) throw new Error(`GitHub has no operation ${operationId}`)
    return op
  }

  /** The schema with local refs pointed at the spec and, at the top, no unknown properties. */
  private closed(schema: Json): Json {
    const resolved = typeof schema.$ref === 'string' ? pointer(this.spec, schema.$ref) : schema
    return this.rebase(resolved.type === 'object' && resolved.additionalProperties === undefined ? { ...resolved, additionalProperties: false } : resolved)
  }

  /** Local refs (`#/components/…`) inside a schema we compile on its own point into the spec. */
  private rebase(schema: Json): Json {
    return JSON.parse(JSON.stringify(schema), (k, v: unknown) => (k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${SPEC_ID}${v}` : v)) as Json
  }

  private compile(key: string, make: () => Json, coerce = false): ValidateFunction {
    let v = this.cache.get(key)
    if (v === undefined) {
      const schema = this.rebase(make())
      // Query and path values arrive as strings; let Ajv coerce them to the declared type.
      v = coerce ? this.coercing().compile(schema) : this.ajv.compile(schema)
      this.cache.set(key, v)
    }
    return v
  }

  private coercer: Ajv | undefined
  private coercing(): Ajv {
    if (this.coercer === undefined) {
      this.coercer = new Ajv({ strict: false, allErrors: true, validateSchema: false, logger: false, coerceTypes: 'array' })
      addFormats(this.coercer)
      this.coercer.addSchema(this.spec, SPEC_ID)
    }
    return this.coercer
  }

  private describe(where: string, v: ValidateFunction): string[] {
    return (v.errors ?? []).map((e) => `${where}${e.instancePath || ''}: ${e.message ?? 'invalid'}${e.params !== undefined && Object.keys(e.params).length > 0 ? ` ${JSON.stringify(e.params)}` : ''}`)
  }
}

let shared: GitHubOpenApi | undefined
/** One parsed description per process (13 MB of JSON; parsing it takes a moment). */
export function githubOpenApi(): GitHubOpenApi {
  shared ??= new GitHubOpenApi()
  return shared
}
