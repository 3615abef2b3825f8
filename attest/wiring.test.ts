import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadSigningKey } from '../keys/signing-key.js'
import { loadConfig } from '../config.js'
import { createAttestation } from './wiring.js'

describe('createAttestation', () => {
  it('on a host without SEV-SNP: provider none, mode none, degraded, live build info', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wiring-'))
    try {
      const config = loadConfig({ DATA_DIR: dir, TSM_REPORT_DIR: join(dir, 'no-tsm'), PUBLIC_URL: 'https://gw.example/' })
      const key = await loadSigningKey({ dataDir: dir, envValue: config.MCP_SIGNING_KEY })
      const a = await createAttestation({ config, signingKey: () => key })
      expect(a.provider.kind).toBe('none')
      const self = await a.service.selfCheck()
      expect(self).toMatchObject({ state: 'degraded_no_attestation', attestationUrl: 'https://gw.example/api/attestation/report', attestedJwksHashTrunc16: null })
      const posture = a.posture({ keySources: { signingKeyMaterial: key.source }, vault: { persistent: true, failClosed: false } })
      expect(posture).toMatchObject({ mode: 'none', degraded: true, attestationAvailability: { teeEnabled: false, provider: 'none' } })
      expect(posture.degradedReasons).toEqual(['no_tee_attestation', 'key_generated:signingKeyMaterial', 'vault_not_fail_closed', 'cross_gateway_trust:degraded_no_attestation'])
      const info = a.service.buildInfo
      expect(info).toMatchObject({ name: 'agent-gateway', origin: 'live' })
      expect(info.sourceTreeDigest).toMatch(/^sha256:[0-9a-f]{64}$/)
      expect(info.sourceFiles).toBeGreaterThan(10)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
