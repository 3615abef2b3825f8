import { randomBytes } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import { join } from 'node:path'
import { UnavailableError } from '../shared/errors.js'

/** Raw evidence from the platform. */
export interface AttestationEvidence {
  provider: 'configfs-tsm'
  report: Uint8Array
  /** The host's certificate table (GHCB GUID table), when it supplies one. */
  auxblob?: Uint8Array
  generation: number
}

export interface AttestationProvider {
  readonly kind: 'configfs-tsm' | 'none'
  readonly teeEnabled: boolean
  /** A fresh report whose REPORT_DATA is `reportData` (64 bytes). */
  getReport(reportData: Uint8Array): Promise<AttestationEvidence>
}

/** The few filesystem calls the configfs-tsm ABI needs (injectable for tests). */
export interface TsmFs {
  mkdir(path: string): Promise<unknown>
  rmdir(path: string): Promise<unknown>
  readFile(path: string): Promise<Buffer>
  writeFile(path: string, data: Uint8Array | string): Promise<unknown>
}

const nodeFs: TsmFs = {
  mkdir: (p) => fsp.mkdir(p),
  rmdir: (p) => fsp.rmdir(p),
  readFile: (p) => fsp.readFile(p),
  writeFile: (p, d) => fsp.writeFile(p, d),
}

/** No TEE here: every report request is a 503 attestation_unavailable. */
export class NoneProvider implements AttestationProvider {
  readonly kind = 'none'
  readonly teeEnabled = false
  async getReport(): Promise<AttestationEvidence> {
    throw new UnavailableError('attestation_unavailable', 'this gateway is not running in an attestable TEE')
  }
}

export interface ConfigfsTsmOptions {
  /** TSM_REPORT_DIR, e.g. /sys/kernel/config/tsm/report. */
  dir: string
  fs?: TsmFs
  /** Retries when another writer changed the entry under us (generation moved). */
  maxAttempts?: number
  /** SEV: the VMPL to request the report at (privlevel); kernel default when absent. */
  privlevel?: number
}

const notFound = (err: unknown): boolean => (err as NodeJS.ErrnoException)?.code === 'ENOENT'

/**
 * Linux configfs-tsm (Documentation/ABI/testing/configfs-tsm): mkdir an entry, write
 * `inblob`, read `outblob` and `auxblob`, and check `generation` did not move while
 * reading (else another writer raced us: retry, then give up).
 */
export class ConfigfsTsmProvider implements AttestationProvider {
  readonly kind = 'configfs-tsm'
  readonly teeEnabled = true
  private readonly fs: TsmFs
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly options: ConfigfsTsmOptions) {
    this.fs = options.fs ?? nodeFs
  }

  getReport(reportData: Uint8Array): Promise<AttestationEvidence> {
    if (reportData.length !== 64) return Promise.reject(new RangeError('REPORT_DATA must be 64 bytes'))
    // One request at a time: the PSP serialises them anyway, and it bounds the work a
    // flood of public /report calls can cause.
    const run = this.queue.then(() => this.request(reportData))
    this.queue = run.catch(() => undefined)
    return run
  }

  private async readGeneration(entry: string): Promise<number> {
    const text = (await this.fs.readFile(join(entry, 'generation'))).toString('utf8').trim()
    const n = Number(text)
    if (!Number.isInteger(n)) throw new UnavailableError('attestation_unavailable', 'configfs-tsm generation is not a number')
    return n
  }

  private async request(reportData: Uint8Array): Promise<AttestationEvidence> {
    const entry = join(this.options.dir, `agent-gateway-${process.pid}-${randomBytes(6).toString('hex')}`)
    try {
      await this.fs.mkdir(entry)
    } catch (err) {
      throw new UnavailableError('attestation_unavailable', 'cannot create a configfs-tsm report entry', { cause: err })
    }
    try {
      try {
        const provider = (await this.fs.readFile(join(entry, 'provider'))).toString('utf8').trim()
        if (provider !== '' && provider !== 'sev_guest') {
          throw new UnavailableError('attestation_unavailable', `configfs-tsm provider is ${provider}, not sev_guest`)
        }
      } catch (err) {
        if (!notFound(err)) throw err
      }
      if (this.options.privlevel !== undefined) await this.fs.writeFile(join(entry, 'privlevel'), String(this.options.privlevel))
      const attempts = this.options.maxAttempts ?? 3
      for (let attempt = 1; attempt <= attempts; attempt++) {
        const before = await this.readGeneration(entry)
        await this.fs.writeFile(join(entry, 'inblob'), reportData)
        const written = await this.readGeneration(entry)
        if (written !== before + 1) continue // someone else wrote inblob too
        const report = await this.fs.readFile(join(entry, 'outblob'))
        let auxblob: Buffer | undefined
        try {
          auxblob = await this.fs.readFile(join(entry, 'auxblob'))
        } catch (err) {
          if (!notFound(err)) throw err
        }
        if ((await this.readGeneration(entry)) !== written) continue
        if (report.length >= 0x90 && !report.subarray(0x50, 0x90).equals(Buffer.from(reportData))) continue
        const out: AttestationEvidence = { provider: 'configfs-tsm', report: new Uint8Array(report), generation: written }
        if (auxblob !== undefined && auxblob.length > 0) out.auxblob = new Uint8Array(auxblob)
        return out
      }
      throw new UnavailableError('attestation_race', `configfs-tsm entry changed while reading, ${attempts} times`)
    } finally {
      await this.fs.rmdir(entry).catch(() => undefined)
    }
  }
}

/** ATTESTATION_PROVIDER=auto|configfs-tsm|none → a provider ('auto': configfs-tsm when TSM_REPORT_DIR exists). */
export async function selectProvider(mode: 'auto' | 'configfs-tsm' | 'none', dir: string, fs?: TsmFs): Promise<AttestationProvider> {
  if (mode === 'none') return new NoneProvider()
  const options: ConfigfsTsmOptions = fs === undefined ? { dir } : { dir, fs }
  if (mode === 'configfs-tsm') return new ConfigfsTsmProvider(options)
  try {
    if ((await fsp.stat(dir)).isDirectory()) return new ConfigfsTsmProvider(options)
  } catch {
    /* no configfs-tsm here */
  }
  return new NoneProvider()
}
