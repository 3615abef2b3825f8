import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { agentRoutes } from '../transport/routes/agents.js'
import type { RequestContext } from '../transport/route.js'
import { loadAgents } from './load-agents.js'
import { resolveModel } from './models.js'

const ctx = (params: Record<string, string> = {}): RequestContext => ({
  method: 'GET', path: '/', params, query: {}, headers: {}, body: undefined, requestId: 'r', remoteAddress: '127.0.0.1', auth: undefined, signal: new AbortController().signal,
})

describe('agents', () => {
  it('loads the shipped default agent with defaults applied', async () => {
    const reg = await loadAgents()
    const a = reg.get('assistant')
    expect(a).toBeDefined()
    expect(a!.maxToolIterations).toBe(8)
    expect(a!.approvalTimeoutMs).toBe(120_000)
    expect(reg.list().length).toBeGreaterThanOrEqual(1)
  })

  it('rejects a bad definition naming the file and field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agents-'))
    try {
      await writeFile(join(dir, 'bad.json'), JSON.stringify({ id: 'Bad Id', name: 'x' }))
      await expect(loadAgents([dir])).rejects.toThrow(/bad\.json is invalid: id: must be a lower-case slug/)
    } finally {
      await rm(dir, { recursive: true })
    }
  })

  it('serves GET /agents and GET /agents/:id exactly as API §4, optional auth', async () => {
    const routes = agentRoutes({ agents: await loadAgents() })
    const list = routes.find((r) => r.path === '/agents')!
    const one = routes.find((r) => r.path === '/agents/:id')!
    expect(list.auth).toBe('optional')
    expect(one.auth).toBe('optional')
    const body = ((await list.handler(ctx())) as { body: any }).body
    expect(body.agents[0]).toEqual({ id: 'assistant', name: 'assistant', title: 'General Assistant', description: expect.any(String), model: 'claude-haiku-4-5', skillsCount: 2 })
    const detail = ((await one.handler(ctx({ id: 'assistant' }))) as { body: any }).body
    expect(detail.id).toBe('assistant')
    expect(detail.tools).toEqual(['*'])
    expect(detail.skills[0]).toEqual({ name: 'tool-use', title: 'Tool use', description: expect.any(String) })
    expect(detail.skillsCount).toBe(2)
    expect(() => one.handler(ctx({ id: 'nope' }))).toThrow(expect.objectContaining({ code: 'agent_not_found' }))
  })

  it('resolves model aliases and refuses other providers', async () => {
    const a = (await loadAgents()).get('assistant')!
    expect(resolveModel('haiku', a)).toBe('claude-haiku-4-5')
    expect(resolveModel(undefined, a)).toBe('claude-haiku-4-5')
    expect(resolveModel('claude-sonnet-4-5-20250929', a)).toBe('claude-sonnet-4-5')
    expect(() => resolveModel('MiniMax-M2.7', a)).toThrow(expect.objectContaining({ code: 'model_not_supported' }))
  })
})
