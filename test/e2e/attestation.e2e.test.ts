import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { evaluateGatewayTrust } from '../../attest/trust.js'
import { startTestGateway, type TestGateway } from '../gateway.js'

describe('attestation on a host without SEV-SNP', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startTestGateway({ ATTESTATION_PROVIDER: 'none' })
  })
  afterAll(() => gw?.stop())

  it('reports mode none, degraded with reasons, and every key source truthfully', async () => {
    const health = (await (await fetch(`${gw.url}/health`)).json()) as { status: string; securityPosture: Record<string, any> }
    expect(health.status).toBe('degraded')
    const p = health.securityPosture
    expect(p.mode).toBe('none')
    expect(p.degraded).toBe(true)
    expect(p.attestationAvailability).toMatchObject({ teeEnabled: false })
    expect(p.degradedReasons).toContain('no_tee_attestation')
    expect(p.keySources).toMatchObject({ jwtSecret: 'generated', signingKeyMaterial: 'generated', byokVaultEncryptionKey: 'generated' })
    expect(p.vault).toEqual({ persistent: true, failClosed: false })
    expect(p.crossGatewayTrust).toMatchObject({ state: 'degraded_no_attestation', attestationUrl: `${gw.url}/api/attestation/report` })
    const security = (await (await fetch(`${gw.url}/api/attestation/security`)).json()) as Record<string, unknown>
    expect(security.mode).toBe('none')
  })

  it('serves the ES256 JWKS and a report endpoint that says no attestation is available', async () => {
    const jwks = (await (await fetch(`${gw.url}/.well-known/jwks.json`)).json()) as { keys: { kty: string; crv: string; alg: string; kid: string }[] }
    expect(jwks.keys).toHaveLength(1)
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' })
    const report = await fetch(`${gw.url}/api/attestation/report?nonce=${'ab'.repeat(16)}`)
    expect(report.status).toBe(503)
    expect(((await report.json()) as { error: string }).error).toBe('attestation_unavailable')
    const bad = await fetch(`${gw.url}/api/attestation/report?nonce=zz`)
    expect(bad.status).toBe(400)
  })

  it('an MCP gateway evaluating our URL answers degraded_no_attestation', async () => {
    const verdict = await evaluateGatewayTrust({ gatewayUrl: gw.url, now: new Date() })
    expect(verdict.state).toBe('degraded_no_attestation')
    expect(verdict.reasons.length).toBeGreaterThan(0)
  })
})
