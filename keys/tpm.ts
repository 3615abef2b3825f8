import { spawn } from 'node:child_process'
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

/**
 * Sealing secrets to TPM 2.0 PCRs with Debian's tpm2-tools: the secret becomes a sealed
 * data object under the owner hierarchy's primary key, with a PCR policy, so the blob on
 * disk only opens on this TPM while the selected PCRs hold the values they had at seal time.
 */

export interface TpmOptions {
  /** TCTI string, e.g. `device:/dev/tpmrm0` or `swtpm:host=127.0.0.1,port=2321`. */
  tcti: string
  /** PCR selection for the policy (default `sha256:0,7`: firmware + secure-boot state). */
  pcrs?: string
}

export class TpmError extends Error {
  override name = 'TpmError'
}

function run(tool: string, args: string[], opts: TpmOptions, input?: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { env: { ...process.env, TPM2TOOLS_TCTI: opts.tcti }, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', (e) => reject(new TpmError(`${tool} could not run (${e.message}); is tpm2-tools installed?`)))
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out))
      else {
        // stderr carries TPM error codes only, never the secret (it travels on stdin/stdout).
        const detail = Buffer.concat(err).toString('utf8').split('\n').filter((l) => l.startsWith('ERROR')).join('; ') || `exit ${code}`
        reject(new TpmError(`${tool} failed: ${detail}`))
      }
    })
    // A tool that exits without reading stdin (an error) closes the pipe: its exit code
    // already reports the failure, so EPIPE here is not a second one.
    child.stdin.on('error', () => undefined)
    child.stdin.end(input ?? Buffer.alloc(0))
  })
}

async function withWorkDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'tpm-'))
  chmodSync(dir, 0o700)
  try {
    return await fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** True when the TPM behind `tcti` answers. */
export async function tpmAvailable(opts: TpmOptions): Promise<boolean> {
  try {
    await run('tpm2_getcap', ['properties-fixed'], opts)
    return true
  } catch {
    return false
  }
}

export interface SealedBlob {
  pub: Buffer
  priv: Buffer
}

/** Seals `secret` (≤ 128 bytes) to the PCR policy. */
export async function sealToPcrs(secret: Uint8Array, opts: TpmOptions): Promise<SealedBlob> {
  if (secret.length > 128) throw new TpmError('a sealed data object holds at most 128 bytes')
  const pcrs = opts.pcrs ?? 'sha256:0,7'
  return withWorkDir(async (d) => {
    try {
      await run('tpm2_createprimary', ['-Q', '-C', 'o', '-c', join(d, 'primary.ctx')], opts)
      // Tools reload objects from the saved context files; keep the few transient slots free.
      await run('tpm2_flushcontext', ['-t'], opts)
      await run('tpm2_startauthsession', ['-S', join(d, 'trial.ctx')], opts)
      await run('tpm2_policypcr', ['-Q', '-S', join(d, 'trial.ctx'), '-l', pcrs, '-L', join(d, 'policy.digest')], opts)
      await run('tpm2_flushcontext', [join(d, 'trial.ctx')], opts)
      await run('tpm2_create', ['-Q', '-C', join(d, 'primary.ctx'), '-L', join(d, 'policy.digest'), '-i', '-', '-u', join(d, 'seal.pub'), '-r', join(d, 'seal.priv')], opts, secret)
      return { pub: readFileSync(join(d, 'seal.pub')), priv: readFileSync(join(d, 'seal.priv')) }
    } finally {
      await run('tpm2_flushcontext', ['-t'], opts).catch(() => undefined)
    }
  })
}

/** Unseals a blob; fails (TpmError) when the PCRs moved or on another TPM. */
export async function unsealFromPcrs(blob: SealedBlob, opts: TpmOptions): Promise<Buffer> {
  const pcrs = opts.pcrs ?? 'sha256:0,7'
  return withWorkDir(async (d) => {
    const file = (name: string, data: Buffer): string => {
      const p = join(d, name)
      const fd = openSync(p, 'wx', 0o600)
      writeSync(fd, data)
      closeSync(fd)
      return p
    }
    try {
      await run('tpm2_createprimary', ['-Q', '-C', 'o', '-c', join(d, 'primary.ctx')], opts)
      await run('tpm2_flushcontext', ['-t'], opts)
      await run('tpm2_load', ['-Q', '-C', join(d, 'primary.ctx'), '-u', file('seal.pub', blob.pub), '-r', file('seal.priv', blob.priv), '-c', join(d, 'seal.ctx')], opts)
      await run('tpm2_flushcontext', ['-t'], opts)
      await run('tpm2_startauthsession', ['--policy-session', '-S', join(d, 'session.ctx')], opts)
      await run('tpm2_policypcr', ['-Q', '-S', join(d, 'session.ctx'), '-l', pcrs], opts)
      return await run('tpm2_unseal', ['-c', join(d, 'seal.ctx'), '-p', `session:${join(d, 'session.ctx')}`], opts)
    } finally {
      await run('tpm2_flushcontext', [join(d, 'session.ctx')], opts).catch(() => undefined)
      await run('tpm2_flushcontext', ['-t'], opts).catch(() => undefined)
    }
  })
}

/**
 * A secret sealed under `<base>.tpm.pub` / `<base>.tpm.priv`: unsealed when present, else
 * generated, sealed and persisted (0600). Never regenerates over an existing blob that
 * fails to unseal: that means the platform changed, and a silent new key would hide it.
 */
export async function loadOrCreateSealedSecret(p: { base: string; generate: () => string; tpm: TpmOptions }): Promise<{ value: string; source: 'tpm_pcr'; created: boolean }> {
  const pubFile = `${p.base}.tpm.pub`
  const privFile = `${p.base}.tpm.priv`
  if (existsSync(pubFile) && existsSync(privFile)) {
    const value = await unsealFromPcrs({ pub: readFileSync(pubFile), priv: readFileSync(privFile) }, p.tpm)
    return { value: value.toString('utf8'), source: 'tpm_pcr', created: false }
  }
  const value = p.generate()
  const blob = await sealToPcrs(Buffer.from(value, 'utf8'), p.tpm)
  mkdirSync(dirname(p.base), { recursive: true, mode: 0o700 })
  for (const [f, data] of [[pubFile, blob.pub], [privFile, blob.priv]] as const) {
    const fd = openSync(f, 'w', 0o600)
    writeSync(fd, data)
    closeSync(fd)
    chmodSync(f, 0o600)
  }
  return { value, source: 'tpm_pcr', created: true }
}

/** TPM options from TPM_TCTI / TPM_SEAL_PCRS; undefined when no TPM is configured. */
export function tpmOptionsFromConfig(config: { TPM_TCTI?: string | undefined; TPM_SEAL_PCRS: string }): TpmOptions | undefined {
  return config.TPM_TCTI === undefined ? undefined : { tcti: config.TPM_TCTI, pcrs: config.TPM_SEAL_PCRS }
}
