import { describe, expect, it } from 'vitest'
import { json, type Route } from './route.js'
import { Router } from './router.js'

const route = (method: Route['method'], path: string): Route => ({ method, path, handler: () => json({ path }) })

describe('Router', () => {
  const router = new Router()
  router.add(route('GET', '/wallet/skills/:name'))
  router.add(route('GET', '/wallet/skills/agent/:agentId'))
  router.add(route('PUT', '/wallet/skills/:name'))
  router.add(route('GET', '/agents/:id/sessions/:sid'))
  router.add(route('GET', '/health'))

  it('matches static routes and extracts decoded params', () => {
    expect(router.match('GET', '/health')).toMatchObject({ kind: 'found', params: {} })
    expect(router.match('GET', '/agents/a%20b/sessions/s1')).toMatchObject({ kind: 'found', params: { id: 'a b', sid: 's1' } })
    expect(router.match('GET', '/health/')).toMatchObject({ kind: 'found' })
  })

  it('prefers a static segment over a parameter at the same depth, and falls back to the parameter', () => {
    expect(router.match('GET', '/wallet/skills/agent/x')).toMatchObject({ kind: 'found', pattern: '/wallet/skills/agent/:agentId', params: { agentId: 'x' } })
    expect(router.match('GET', '/wallet/skills/agent')).toMatchObject({ kind: 'found', pattern: '/wallet/skills/:name', params: { name: 'agent' } })
  })

  it('tells a missing route from a wrong method', () => {
    expect(router.match('GET', '/nope')).toEqual({ kind: 'not_found' })
    expect(router.match('DELETE', '/wallet/skills/x')).toEqual({ kind: 'method_not_allowed', allowed: ['GET', 'PUT'] })
    expect(router.match('GET', '/agents/x/sessions')).toEqual({ kind: 'not_found' })
  })

  it('treats malformed percent-encoding as not found instead of throwing', () => {
    expect(router.match('GET', '/wallet/skills/%E0%A4%A')).toEqual({ kind: 'not_found' })
  })

  it('rejects duplicate routes and conflicting parameter names', () => {
    const r = new Router()
    r.add(route('GET', '/a/:x'))
    expect(() => r.add(route('GET', '/a/:x'))).toThrow(/duplicate/)
    expect(() => r.add(route('GET', '/a/:y/b'))).toThrow(/conflicts/)
  })
})
