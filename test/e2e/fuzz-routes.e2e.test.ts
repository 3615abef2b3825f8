import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signIn, startTestGateway, testAccount, type TestGateway } from '../gateway.js'
import { HOSTILE_NAMES } from '../hostile-names.js'

/** 503s this host answers by design: no TEE here, and no relayer configured. */
const EXPECTED_UNAVAILABLE = new Set(['attestation_unavailable', 'withdrawals_unavailable'])

interface Operation {
  method: string
  path: string
}

const hostileString = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE_NAMES), weight: 3 },
  fc.constantFrom('', '..', '%00', '%2e%2e', '%E0%A4%A', '🙂', ' ', '\u0000', 'a'.repeat(5000), '0x', '-1', '1e309', 'null'),
  fc.string({ maxLength: 40 }),
  fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/),
)

/** Nested to a random depth, including depths far beyond any validator's patience. */
const deepJson = fc.integer({ min: 1, max: 3000 }).map((d) => `{"nested":${'['.repeat(d)}${']'.repeat(d)}}`)
const hostileObject = fc.dictionary(hostileString, fc.jsonValue({ maxDepth: 4 }), { maxKeys: 8 }).map((o) => JSON.stringify(o))
const protoKeys = fc.constantFrom(...HOSTILE_NAMES).map((k) => `{"${k}":{"daily":"5"},"${k}x":1}`)
const body = fc.oneof(
  { arbitrary: fc.constantFrom('{"daily":"5"}', '{"to":"0x0000000000000000000000000000000000000001","amount":"1","idempotencyKey":"constructor"}'), weight: 3 },
  { arbitrary: deepJson, weight: 2 },
  fc.constant(undefined),
  hostileObject,
  deepJson,
  protoKeys,
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }), // mostly not JSON
  fc.constantFrom('{', '{"a":', '\u0000', '[1,2', '{"message":"hi","model":"claude-haiku-4-5"}'),
)

describe('fuzzing every route of /openapi.json', () => {
  let gw: TestGateway
  let token: string
  let operations: Operation[]

  beforeAll(async () => {
    // Limits off: the point is to reach every handler, not the rate limiter.
    gw = await startTestGateway({ LOG_LEVEL: 'warn', RATE_LIMIT_CLIENT_PER_S: '0', RATE_LIMIT_WALLET_PER_S: '0' })
    token = await signIn(gw.url, testAccount(0))
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })))
  })
  afterAll(() => gw?.stop())

  it('hostile paths, headers, bodies and depths: no 5xx, no answer slower than 5 s, an error code on every 4xx', async () => {
    expect(operations.length).toBeGreaterThan(40)
    const seen = new Set<string>()
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 10_000 }),
        fc.array(hostileString, { minLength: 3, maxLength: 3 }),
        body,
        fc.oneof({ arbitrary: fc.constant('valid'), weight: 4 }, fc.constantFrom('none', 'garbage', 'bearer-empty', 'basic')),
        fc.oneof({ arbitrary: fc.constant('application/json'), weight: 4 }, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', undefined, 'application/json; charset=utf-16')),
        fc.dictionary(hostileString, hostileString, { maxKeys: 3 }),
        fc.constantFrom(undefined, '../../etc', 'x'.repeat(300), 'ok-id'),
        async (pick, params, payload, auth, contentType, query, requestId) => {
          const op = operations[pick % operations.length]!
          seen.add(`${op.method} ${op.path}`)
          let i = 0
          const path = op.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(params[i++ % params.length]!))
          const qs = new URLSearchParams(query).toString()
          const headers: Record<string, string> = {}
          if (auth === 'valid') headers.authorization = `Bearer ${token}`
          if (auth === 'garbage') headers.authorization = 'Bearer eyJhbGciOiJub25lIn0.e30.'
          if (auth === 'bearer-empty') headers.authorization = 'Bearer '
          if (auth === 'basic') headers.authorization = 'Basic Zm9vOmJhcg=='
          if (contentType !== undefined) headers['content-type'] = contentType
          if (requestId !== undefined) headers['x-request-id'] = requestId
          const withBody = op.method !== 'GET' && payload !== undefined
          const started = Date.now()
          const res = await fetch(`${gw.url}${path}${qs === '' ? '' : `?${qs}`}`, {
            method: op.method,
            headers,
            ...(withBody ? { body: payload } : {}),
            signal: AbortSignal.timeout(5000),
          })
          const text = await res.text()
          const what = `${op.method} ${path.slice(0, 80)} → ${res.status} ${text.slice(0, 200)}`
          expect(Date.now() - started, what).toBeLessThan(5000)
          if (res.status >= 500) {
            expect(res.status, what).toBe(503)
            expect(EXPECTED_UNAVAILABLE.has((JSON.parse(text) as { error: string }).error), what).toBe(true)
          }
          if (res.status >= 400 && res.status < 500) expect(typeof (JSON.parse(text) as { error?: unknown }).error, what).toBe('string')
        },
      ),
      { seed: 1313, numRuns: 1000 },
    )
    // Most of the served surface was reached.
    expect(seen.size).toBeGreaterThan(operations.length * 0.8)
    expect(gw.logLines.filter((l) => l.includes('"level":50')).map((l) => l.slice(0, 300))).toEqual([])
  }, 180_000)
})
