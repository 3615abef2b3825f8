import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { buildOpenApi } from './openapi.js'
import { json, type Route } from './route.js'

describe('buildOpenApi', () => {
  it('describes every route with its params, body schema and security', () => {
    const routes: Route[] = [
      { method: 'GET', path: '/health', auth: 'none', handler: () => json({}) },
      { method: 'PUT', path: '/wallet/budgets/:agentId', body: z.object({ daily: z.string().nullable().optional() }), handler: () => json({}) },
    ]
    const doc = buildOpenApi(routes, { title: 't', version: '1' }) as { openapi: string; paths: Record<string, Record<string, Record<string, unknown>>> }
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.paths['/health']?.get?.security).toBeUndefined()
    const put = doc.paths['/wallet/budgets/{agentId}']?.put
    expect(put?.security).toEqual([{ bearer: [] }])
    expect(put?.parameters).toEqual([{ name: 'agentId', in: 'path', required: true, schema: { type: 'string' } }])
    expect(JSON.stringify(put?.requestBody)).toContain('"daily"')
  })
})
