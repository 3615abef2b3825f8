import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signingKeyFromMaterial, type SigningKey } from '../keys/signing-key.js'
import { attestationRoutes } from '../transport/routes/attestation.js'
import { createWorkerPool, type WorkerPool } from '../workers/pool.js'
import { encodeCertTable } from './amd-certs.js'
import type { BuildInfo } from './build-info.js'
import { buildSecurityPosture } from './posture.js'
import { ConfigfsTsmProvider, NoneProvider, type AttestationProvider } from './providers.js'
import { AttestationService } from './service.js'
import { createFakeChain, makeSignedReport, type FakeChain } from '../test/attest/fake-amd.js'
import { fakeTsmFs } from '../test/attest/fake-tsm.js'
import { serveRoutes } from '../test/attest/serve-routes.js'
import { evaluateGatewayTrust } from './trust.js'
import type { VerifySnpInput } from './verify-snp.js'

const newKey = (): Promise<SigningKey> =>
  signingKeyFromMaterial(JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })), 'file')

const BUILD: BuildInfo = {
  name: 'agent-gateway',
  version: '0.1.0',
  gitCommit: 'd'.repeat(40),
  gitDirty: false,
  lockfileDigest: 'sha256:' + 'e'.repeat(64),
  sourceTreeDigest: 'sha256:' + 'f'.repeat(64),
  sourceFiles: 1,
  builtAt: '2026-01-01T00:00:00.000Z',
  node: 'v20',
  origin: 'dist',
}
const NOW = Date.parse('2026-06-01T00:00:00Z')
const MEASUREMENT = Buffer.alloc(48, 0x42)

describe('cross-gateway trust (evaluator against a local gateway)', () => {
  let chain: FakeChain
  let root: string
  let pool: WorkerPool
  const servers: { close(): Promise<void> }[] = []

  beforeAll(() => {
    chain = createFakeChain({ product: 'Genoa' })
    root = mkdtempSync(join(tmpdir(), 'trust-'))
    pool = createWorkerPool({ threads: 1 })
  })
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()))
    await pool.destroy()
    rmSync(root, { recursive: true, force: true })
  })

  /** A TEE whose PSP signs whatever REPORT_DATA the guest asks for, like a real one. */
  const teeProvider = (c: FakeChain, opts: { fixedReportData?: Buffer } = {}): AttestationProvider => {
    const dir = join(root, `report-${Math.random().toString(16).slice(2)}`)
    mkdirSync(dir)
    const fs = fakeTsmFs({
      makeReport: (inblob) => ({
        outblob: makeSignedReport(c, { reportData: opts.fixedReportData ?? inblob, measurement: MEASUREMENT }),
        auxblob: encodeCertTable({ vcek: c.endorsement, ask: c.ask }),
      }),
    })
    const provider = new ConfigfsTsmProvider({ dir, fs })
    if (opts.fixedReportData === undefined) return provider
    // A host replaying an old report: the provider's own REPORT_DATA check must be bypassed.
    return { kind: 'configfs-tsm', teeEnabled: true, getReport: async () => ({ provider: 'configfs-tsm', report: makeSignedReport(c, { reportData: opts.fixedReportData!, measurement: MEASUREMENT }), auxblob: encodeCertTable({ vcek: c.endorsement, ask: c.ask }), generation: 1 }) }
  }

  const startGateway = async (provider: AttestationProvider, key: SigningKey, override?: (path: string) => unknown) => {
    const service = new AttestationService({ provider, signingKey: () => key, buildInfo: BUILD, roots: [chain.root], now: () => NOW, pool })
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
    const s = await serveRoutes(routes, override)
    servers.push(s)
    return { url: s.url, service }
  }

  const evaluate = (url: string, extra: Partial<Parameters<typeof evaluateGatewayTrust>[0]> = {}) =>
    evaluateGatewayTrust({
      gatewayUrl: url,
      roots: [chain.root],
      now: NOW,
      allowList: [MEASUREMENT.toString('hex')],
      verify: (input: VerifySnpInput) => pool.run('verify-snp-report', input),
      ...extra,
    })

  it('trusts a gateway whose report binds the served JWKS, provenance and our nonce (verified in the pool)', async () => {
    const key = await newKey()
    const { url, service } = await startGateway(teeProvider(chain), key)
    const t = await evaluate(url)
    expect(t.reasons).toEqual([])
    expect(t.state).toBe('trusted')
    expect(t.product).toBe('Genoa')
    expect(t.measurement).toBe(MEASUREMENT.toString('hex'))
    expect(t.attestedJwksHashTrunc16).toBe(t.jwksHashTrunc16)
    expect(t.provenanceDigest).toBe(service.provenance().digest)
    // The gateway's own self-check reaches the same verdict.
    const self = await service.selfCheck()
    expect(self).toMatchObject({ state: 'trusted', attestedJwksHashTrunc16: t.jwksHashTrunc16, reasons: [] })
  })

  it('answers degraded_hash_mismatch after a key rotation the report does not attest', async () => {
    const attested = await newKey()
    const rotated = await newKey()
    const { url } = await startGateway(teeProvider(chain), attested, (path) => (path === '/.well-known/jwks.json' ? rotated.jwks : undefined))
    const t = await evaluate(url)
    expect(t.state).toBe('degraded_hash_mismatch')
    expect(t.reasons.some((r) => r.startsWith('jwks_hash_mismatch'))).toBe(true)
    // The provenance was signed by the attested key, which the served JWKS no longer lists.
    expect(t.reasons.some((r) => r.startsWith('provenance_invalid'))).toBe(true)
  })

  it('answers degraded_hash_mismatch when the provenance is not the attested one', async () => {
    const key = await newKey()
    const { url } = await startGateway(teeProvider(chain), key, (path) => {
      if (path !== '/api/attestation/provenance') return undefined
      // A provenance for another build, validly signed by the served key.
      const svc = new AttestationService({ provider: new NoneProvider(), signingKey: () => key, buildInfo: { ...BUILD, gitCommit: '0'.repeat(40) } })
      return svc.provenanceEnvelope()
    })
    const t = await evaluate(url)
    expect(t.state).toBe('degraded_hash_mismatch')
    expect(t.reasons).toEqual(['provenance_mismatch: REPORT_DATA[0:32] does not bind the served provenance'])
  })

  it('answers degraded_no_attestation without a TEE (provider none, 503)', async () => {
    const key = await newKey()
    const { url, service } = await startGateway(new NoneProvider(), key)
    const t = await evaluate(url)
    expect(t.state).toBe('degraded_no_attestation')
    expect(t.reasons).toEqual(['attestation_unavailable: report endpoint answered 503 (attestation_unavailable)'])
    const res = await fetch(`${url}/api/attestation/security`)
    const posture = (await res.json()) as { mode: string; degraded: boolean; degradedReasons: string[] }
    expect(posture).toMatchObject({ mode: 'none', degraded: true })
    expect(posture.degradedReasons).toEqual(expect.arrayContaining(['no_tee_attestation', 'cross_gateway_trust:degraded_no_attestation']))
    expect((await service.selfCheck()).state).toBe('degraded_no_attestation')
  })

  it('answers degraded_no_attestation for a replayed report or one from an untrusted chain', async () => {
    const key = await newKey()
    const replay = await startGateway(teeProvider(chain, { fixedReportData: Buffer.alloc(64, 9) }), key)
    const t = await evaluate(replay.url)
    expect(t.state).toBe('degraded_no_attestation')
    expect(t.reasons[0]).toMatch(/^nonce_mismatch/)

    const rogue = createFakeChain({ product: 'Genoa' })
    const g = await startGateway(teeProvider(rogue), key)
    const u = await evaluate(g.url)
    expect(u.state).toBe('degraded_no_attestation')
    expect(u.reasons).toContain('report_invalid: ask_not_signed_by_ark: the ASK is not signed by the Genoa ARK')

    const notAllowed = await evaluate((await startGateway(teeProvider(chain), key)).url, { allowList: ['00'.repeat(48)] })
    expect(notAllowed.state).toBe('degraded_no_attestation')
    expect(notAllowed.reasons[0]).toMatch(/measurement_not_allowed/)
  })

  it('answers degraded_no_attestation when the gateway cannot be reached', async () => {
    const t = await evaluateGatewayTrust({ gatewayUrl: 'http://127.0.0.1:9', now: NOW, timeoutMs: 2000 })
    expect(t.state).toBe('degraded_no_attestation')
    expect(t.reasons[0]).toMatch(/^jwks_unavailable/)
  })
})
