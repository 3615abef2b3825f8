import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { signingKeyFromMaterial } from '../../keys/signing-key.js'
import type { BuildInfo } from '../../attest/build-info.js'
import { buildSecurityPosture } from '../../attest/posture.js'
import { verifyDsse, type DsseEnvelope } from '../../attest/provenance.js'
import { NoneProvider, type AttestationProvider } from '../../attest/providers.js'
import { AttestationService } from '../../attest/service.js'
import { buildReport } from '../../test/attest/fake-amd.js'
import { toHttpError } from '../http-errors.js'
import type { RequestContext, Route } from '../route.js'
import { attestationRoutes, reportQuery } from './attestation.js'

const BUILD: BuildInfo = {
  name: 'agent-gateway',
  version: '0.1.0',
  gitCommit: null,
  gitDirty: null,
  lockfileDigest: null,
  sourceTreeDigest: 'sha256:' + '1'.repeat(64),
  sourceFiles: 1,
  builtAt: '2026-01-01T00:00:00.000Z',
  node: 'v20',
  origin: 'live',
}

const ctx = (query: Record<string, string> = {}): RequestContext =>
  ({ method: 'GET', path: '/', params: {}, query, headers: {}, body: undefined, requestId: 'r', remoteAddress: '127.0.0.1', auth: undefined, signal: new AbortController().signal }) as RequestContext

async function setup(provider: AttestationProvider) {
  const key = await signingKeyFromMaterial(JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })), 'generated')
  const service = new AttestationService({ provider, signingKey: () => key, buildInfo: BUILD })
  const routes = attestationRoutes({
    service,
    posture: () =>
      buildSecurityPosture({
        attestation: { provider: provider.kind, teeEnabled: provider.teeEnabled },
        keySources: { signingKeyMaterial: key.source },
        vault: { persistent: true, failClosed: true },
        crossGatewayTrust: service.crossGatewayTrust(),
      }),
  })
  const route = (path: string): Route => {
    const r = routes.find((x) => x.path === path)
    if (r === undefined) throw new Error(`no route ${path}`)
    return r
  }
  return { key, service, routes, route }
}

describe('attestation routes', () => {
  it('are all public GETs', async () => {
    const { routes } = await setup(new NoneProvider())
    expect(routes.map((r) => `${r.method} ${r.path} ${r.auth}`)).toEqual([
      'GET /api/attestation none',
      'GET /api/attestation/report none',
      'GET /api/attestation/security none',
      'GET /api/attestation/build-info none',
      'GET /api/attestation/provenance none',
      'GET /.well-known/jwks.json none',
    ])
  })

  it('validates the nonce: hex, 1..64 bytes', () => {
    expect(reportQuery.safeParse({ nonce: 'ab'.repeat(64) }).success).toBe(true)
    expect(reportQuery.safeParse({}).success).toBe(true)
    for (const bad of ['ab'.repeat(65), 'abc', 'zz', '', '0x00']) expect(reportQuery.safeParse({ nonce: bad }).success).toBe(false)
    const err = reportQuery.safeParse({ nonce: 'zz' }).error
    expect(toHttpError(err).status).toBe(400)
  })

  it('answers 503 attestation_unavailable for a report without a TEE', async () => {
    const { route } = await setup(new NoneProvider())
    const err = await Promise.resolve(route('/api/attestation/report').handler(ctx({ nonce: '00' }))).catch((e: unknown) => e)
    expect(toHttpError(err)).toMatchObject({ status: 503, body: { error: 'attestation_unavailable' } })
  })

  it('returns the report, its binding and the nonce when a provider answers', async () => {
    let asked: Uint8Array | undefined
    const provider: AttestationProvider = {
      kind: 'configfs-tsm',
      teeEnabled: true,
      getReport: async (rd) => {
        asked = rd
        return { provider: 'configfs-tsm', report: buildReport({ reportData: rd }), generation: 5 }
      },
    }
    const { route, service } = await setup(provider)
    const res = await route('/api/attestation/report').handler(ctx({ nonce: 'c0ffee' }))
    const body = (res as { body: Record<string, unknown> }).body as { report: string; nonce: string; binding: Record<string, string>; certificates: unknown; generation: number; reportData: string }
    expect(body.nonce).toBe('c0ffee')
    expect(body.binding.nonce16).toBe('c0ffee' + '00'.repeat(13))
    expect(body.binding.provenanceDigest).toBe(service.provenance().digest)
    expect(body.reportData).toBe(Buffer.from(asked!).toString('hex'))
    expect(Buffer.from(body.report, 'base64').subarray(0x50, 0x90).toString('hex')).toBe(body.reportData)
    expect(body.certificates).toBeNull()
    expect(body.generation).toBe(5)
  })

  it('serves the JWKS, a verifiable provenance, build info, posture and a summary', async () => {
    const { route, key } = await setup(new NoneProvider())
    const jwks = (await route('/.well-known/jwks.json').handler(ctx())) as { body: unknown }
    expect(jwks.body).toEqual({ keys: [key.publicJwk] })
    const prov = (await route('/api/attestation/provenance').handler(ctx())) as { body: DsseEnvelope }
    expect(verifyDsse(prov.body, key.jwks).ok).toBe(true)
    expect(((await route('/api/attestation/build-info').handler(ctx())) as { body: BuildInfo }).body).toEqual(BUILD)
    const sec = (await route('/api/attestation/security').handler(ctx())) as { body: { mode: string; degraded: boolean } }
    expect(sec.body).toMatchObject({ mode: 'none', degraded: true })
    const summary = (await route('/api/attestation').handler(ctx())) as { body: Record<string, unknown> }
    expect(summary.body).toMatchObject({ teeEnabled: false, provider: 'none', kid: key.kid })
  })
})
