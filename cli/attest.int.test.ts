import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toPem } from '../attest/amd-certs.js'
import type { BuildInfo } from '../attest/build-info.js'
import { buildSecurityPosture } from '../attest/posture.js'
import { NoneProvider, type AttestationProvider } from '../attest/providers.js'
import { AttestationService } from '../attest/service.js'
import { createFakeChain, makeSignedReport } from '../test/attest/fake-amd.js'
import { serveRoutes } from '../test/attest/serve-routes.js'
import { signingKeyFromMaterial } from '../keys/signing-key.js'
import { attestationRoutes } from '../transport/routes/attestation.js'

const REPO = new URL('..', import.meta.url).pathname
const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(REPO, 'cli/attest.ts'), ...args], { cwd: REPO }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr })
    })
  })

const BUILD: BuildInfo = {
  name: 'agent-gateway', version: '0.1.0', gitCommit: null, gitDirty: null, lockfileDigest: null,
  sourceTreeDigest: 'sha256:' + '2'.repeat(64), sourceFiles: 1, builtAt: '2026-01-01T00:00:00.000Z', node: 'v20', origin: 'live',
}

describe('npm run attest', () => {
  const servers: { close(): Promise<void> }[] = []
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'attest-cli-'))
  })
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()))
    rmSync(dir, { recursive: true, force: true })
  })

  const gateway = async (provider: AttestationProvider, certsDir?: string) => {
    const key = await signingKeyFromMaterial(JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })), 'file')
    const service = new AttestationService({ provider, signingKey: () => key, buildInfo: BUILD, ...(certsDir === undefined ? {} : { certsDir }) })
    const posture = () => buildSecurityPosture({ attestation: { provider: provider.kind, teeEnabled: provider.teeEnabled }, keySources: {}, vault: { persistent: true, failClosed: true }, crossGatewayTrust: service.crossGatewayTrust() })
    const s = await serveRoutes(attestationRoutes({ service, posture }))
    servers.push(s)
    return s.url
  }

  it('verify exits 0 for a trusted gateway (custom root) and 3 without attestation', async () => {
    const chain = createFakeChain({ product: 'Milan' })
    const tee: AttestationProvider = {
      kind: 'configfs-tsm',
      teeEnabled: true,
      getReport: async (rd) => ({ provider: 'configfs-tsm', report: makeSignedReport(chain, { reportData: rd }), generation: 1 }),
    }
    // The VCEK reaches the verifier through the response's certificates (from SNP_CERTS_DIR here).
    const certsDir = mkdtempSync(join(dir, 'certs-'))
    writeFileSync(join(certsDir, 'vcek.pem'), toPem(chain.endorsement))
    const certsDirUrl = await gateway(tee, certsDir)
    const rootFile = join(dir, 'root.pem')
    writeFileSync(rootFile, toPem(chain.ark) + toPem(chain.ask))
    const trusted = await run(['verify', certsDirUrl, '--root', `Milan:${rootFile}`, '--json'])
    expect(JSON.parse(trusted.stdout)).toMatchObject({ state: 'trusted', reasons: [] })
    expect(trusted.code).toBe(0)

    const untrusted = await run(['verify', certsDirUrl])
    expect(untrusted.code).toBe(3)
    expect(untrusted.stdout).toMatch(/^degraded_no_attestation/)

    const none = await run(['verify', await gateway(new NoneProvider())])
    expect(none.code).toBe(3)
    expect(none.stdout).toContain('attestation_unavailable')
  })

  it('verify-report checks the real vectors; parse prints the fields', async () => {
    const args = ['verify-report', 'attest/testdata/snp/attestation.bin', '--vcek', 'attest/testdata/snp/vcek.der', '--chain', 'attest/testdata/snp/ask_ark_milan.pem', '--now', '2025-01-01T00:00:00Z']
    const ok = await run([...args, '--allow-debug'])
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, product: 'Milan' })
    expect(ok.code).toBe(0)
    const debug = await run(args)
    expect(debug.code).toBe(3)
    expect(JSON.parse(debug.stdout).reasons).toEqual(['policy_debug: guest policy allows debugging (DEBUG=1)'])
    const parsed = await run(['parse', 'attest/testdata/snp/attestation.bin'])
    expect(JSON.parse(parsed.stdout)).toMatchObject({ version: 2, measurement: expect.stringMatching(/^b07af962/) })
    expect((await run(['bogus'])).code).toBe(1)
  })
})
