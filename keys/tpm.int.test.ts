import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadOrCreateSecretSealed } from './key-source.js'
import { SIGNING_KEY_FILE, loadSigningKey } from './signing-key.js'
import { TpmError, loadOrCreateSealedSecret, sealToPcrs, tpmAvailable, unsealFromPcrs, type TpmOptions } from './tpm.js'

// Needs Debian's swtpm and tpm2-tools (apt-get install swtpm tpm2-tools; .ci/run installs them).
// Without them the suite runs only in CI, where their absence must fail loudly, not pass quietly.
const haveTools = ['swtpm', 'tpm2_unseal'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0)
const required = process.env.CI === 'true'

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })

describe.runIf(haveTools || required)('TPM sealing against swtpm', () => {
  let dir: string
  let swtpm: ChildProcess
  let tpm: TpmOptions

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swtpm-'))
    // The swtpm TCTI talks to port (commands) and port+1 (control).
    let port = 0
    for (let i = 0; i < 50 && port === 0; i++) {
      const p = 20_000 + Math.floor(Math.random() * 20_000) * 2
      if ((await portFree(p)) && (await portFree(p + 1))) port = p
    }
    swtpm = spawn('swtpm', ['socket', '--tpm2', '--tpmstate', `dir=${dir}`, '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`, '--flags', 'not-need-init,startup-clear'], { stdio: 'ignore' })
    tpm = { tcti: `swtpm:host=127.0.0.1,port=${port}`, pcrs: 'sha256:0,7' }
    for (let i = 0; i < 50 && !(await tpmAvailable(tpm)); i++) await new Promise((r) => setTimeout(r, 100))
  })
  afterAll(() => {
    swtpm?.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  })

  it('seals and unseals; a PCR change makes the blob unopenable', async () => {
    expect(await tpmAvailable(tpm)).toBe(true)
    const blob = await sealToPcrs(Buffer.from('top secret'), tpm)
    expect(blob.pub.length).toBeGreaterThan(0)
    expect(blob.priv.includes(Buffer.from('top secret'))).toBe(false)
    expect((await unsealFromPcrs(blob, tpm)).toString()).toBe('top secret')
    // Bound to PCR 23 (resettable, used by nothing else) so this test can move it.
    const pcr23 = { ...tpm, pcrs: 'sha256:23' }
    const b23 = await sealToPcrs(Buffer.from('pcr bound'), pcr23)
    expect((await unsealFromPcrs(b23, pcr23)).toString()).toBe('pcr bound')
    spawnSync('tpm2_pcrextend', [`23:sha256=${'11'.repeat(32)}`], { env: { ...process.env, TPM2TOOLS_TCTI: tpm.tcti } })
    const err = await unsealFromPcrs(b23, pcr23).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TpmError)
    expect(String((err as Error).message)).not.toContain('pcr bound')
  })

  it('keeps secrets sealed in DATA_DIR and reports tpm_pcr', async () => {
    const keys = mkdtempSync(join(dir, 'data-'))
    const base = join(keys, 'keys', 'jwt-secret')
    const a = await loadOrCreateSealedSecret({ base, tpm, generate: () => 'generated-secret-value' })
    expect(a).toEqual({ value: 'generated-secret-value', source: 'tpm_pcr', created: true })
    expect(statSync(`${base}.tpm.priv`).mode & 0o777).toBe(0o600)
    const b = await loadOrCreateSealedSecret({ base, tpm, generate: () => 'other' })
    expect(b).toMatchObject({ value: 'generated-secret-value', created: false })
    const viaKeySource = await loadOrCreateSecretSealed({ envValue: undefined, file: base, generate: () => 'x', tpm })
    expect(viaKeySource).toEqual({ value: 'generated-secret-value', source: 'tpm_pcr' })
    expect(await loadOrCreateSecretSealed({ envValue: 'from-env', file: base, generate: () => 'x', tpm })).toEqual({ value: 'from-env', source: 'env_fallback' })
  })

  it('seals a new signing key (no plaintext JWK on disk) and reloads the same kid', async () => {
    const data = mkdtempSync(join(dir, 'sig-'))
    const a = await loadSigningKey({ dataDir: data, tpm })
    expect(a.source).toBe('tpm_pcr')
    expect(existsSync(join(data, SIGNING_KEY_FILE))).toBe(false)
    expect(existsSync(join(data, 'keys', 'mcp-signing-key.tpm.priv'))).toBe(true)
    const b = await loadSigningKey({ dataDir: data, tpm })
    expect(b.kid).toBe(a.kid)
    expect(b.source).toBe('tpm_pcr')
  })
})
