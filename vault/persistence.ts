import { randomBytes } from 'node:crypto'
import * as realFs from 'node:fs/promises'
import { join } from 'node:path'
import { UnavailableError } from '../shared/errors.js'

/**
 * Byte storage for vault files, one per wallet id. Writers of one id are serialised: in
 * this process by a promise chain, across processes by an exclusive lock file
 * (`<id>.lock`, O_CREAT|O_EXCL) held for the read-modify-write; readers need no lock
 * because a file is only ever replaced whole by rename.
 */
export interface VaultPersistence {
  readonly kind: 'file' | 'memory'
  /** Whether stored entries survive a restart (false for the development memory fallback). */
  readonly persistent: boolean
  readonly failClosed: boolean
  /** Current bytes of `id`, or undefined when nothing is stored. */
  read(id: string): Promise<Uint8Array | undefined>
  /**
   * Read-modify-write under the per-id lock. `mutate` gets the current bytes and returns
   * `next`: new bytes, `null` to delete the file, or `undefined` to leave it untouched.
   * Throws UnavailableError `vault_unavailable` when nothing could be written (and then
   * nothing was changed).
   */
  update<T>(id: string, mutate: (current: Uint8Array | undefined) => Promise<UpdateStep<T>>): Promise<T>
}

export interface UpdateStep<T> {
  next: Uint8Array | null | undefined
  result: T
}

/** The subset of node:fs/promises used here; tests inject faults through it. */
export type VaultFs = Pick<typeof realFs, 'open' | 'rename' | 'unlink' | 'mkdir' | 'stat' | 'readFile' | 'chmod'>

export interface OpenVaultPersistenceParameters {
  dir: string
  /** Production posture: an unusable folder refuses writes (503) instead of falling back to memory. */
  failClosed: boolean
  /** A lock older than this is considered abandoned by a crashed process. Default 30 s. */
  staleLockMs?: number
  /** How long a writer waits for another process's lock. Default 5 s. */
  lockTimeoutMs?: number
  fs?: VaultFs
  /** Told once when development falls back to memory-only (no secret in it). */
  onFallback?: (reason: string) => void
}

/**
 * Opens the vault folder. Creates it (0700) when missing — recursively in development, only
 * the last segment in fail-closed mode so a missing mount is noticed instead of being
 * papered over by a fresh folder on the root disk — and proves it writable with a probe
 * file. On failure: fail-closed keeps a file backend that answers 503 until the folder
 * works; development falls back to memory-only storage reported as `persistent: false`.
 */
export async function openVaultPersistence(p: OpenVaultPersistenceParameters): Promise<VaultPersistence> {
  const fs = p.fs ?? realFs
  const files = new FileVaultPersistence(p.dir, p.failClosed, fs, p.staleLockMs ?? 30_000, p.lockTimeoutMs ?? 5_000)
  const problem = await files.probe()
  if (problem === undefined || p.failClosed) return files
  p.onFallback?.(problem)
  return new MemoryVaultPersistence()
}

class Serialiser {
  readonly #tails = new Map<string, Promise<unknown>>()

  /** Runs `fn` after every earlier call for the same id has settled. */
  async run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(id) ?? Promise.resolve()
    const current = previous.then(fn)
    const tail = current.catch(() => undefined)
    this.#tails.set(id, tail)
    try {
      return await current
    } finally {
      if (this.#tails.get(id) === tail) this.#tails.delete(id)
    }
  }
}

const ID_PATTERN = /^[0-9a-f]{64}$/

function assertId(id: string): void {
  // Ids are HMAC hex digests; anything else must never become a path.
  if (!ID_PATTERN.test(id)) throw new Error('vault file id must be 64 hex characters')
}

function unavailable(message: string, cause?: unknown): UnavailableError {
  return new UnavailableError('vault_unavailable', message, cause === undefined ? {} : { cause })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Files under one folder, atomically replaced (temp file, fsync, rename, fsync folder), mode 0600. */
export class FileVaultPersistence implements VaultPersistence {
  readonly kind = 'file' as const
  readonly failClosed: boolean
  readonly #dir: string
  readonly #fs: VaultFs
  readonly #staleLockMs: number
  readonly #lockTimeoutMs: number
  readonly #serial = new Serialiser()
  #usable = false

  constructor(dir: string, failClosed: boolean, fs: VaultFs, staleLockMs: number, lockTimeoutMs: number) {
    this.#dir = dir
    this.failClosed = failClosed
    this.#fs = fs
    this.#staleLockMs = staleLockMs
    this.#lockTimeoutMs = lockTimeoutMs
  }

  /** True while the last probe or write reached the disk. */
  get persistent(): boolean {
    return this.#usable
  }

  /** Creates the folder if allowed and writes a probe file; returns the problem, if any. */
  async probe(): Promise<string | undefined> {
    try {
      await this.#fs.mkdir(this.#dir, { recursive: !this.failClosed, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error
      })
      const info = await this.#fs.stat(this.#dir)
      if (!info.isDirectory()) throw new Error('not a directory')
      if ((info.mode & 0o077) !== 0) await this.#fs.chmod(this.#dir, 0o700).catch(() => undefined)
      const probe = join(this.#dir, `.probe-${process.pid}-${randomBytes(6).toString('hex')}`)
      const handle = await this.#fs.open(probe, 'wx', 0o600)
      try {
        await handle.writeFile('probe')
        await handle.sync()
      } finally {
        await handle.close()
      }
      await this.#fs.unlink(probe)
      this.#usable = true
      return undefined
    } catch (error) {
      this.#usable = false
      return `vault folder unusable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`
    }
  }

  async read(id: string): Promise<Uint8Array | undefined> {
    assertId(id)
    try {
      return new Uint8Array(await this.#fs.readFile(join(this.#dir, `${id}.json`)))
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
      throw unavailable('The key vault cannot be read', error)
    }
  }

  async update<T>(id: string, mutate: (current: Uint8Array | undefined) => Promise<UpdateStep<T>>): Promise<T> {
    assertId(id)
    return this.#serial.run(id, async () => {
      if (!this.#usable && (await this.probe()) !== undefined)
        throw unavailable('The key vault has no writable storage; nothing was stored')
      const release = await this.#lock(id)
      try {
        const current = await this.read(id)
        const step = await mutate(current)
        if (step.next === null) await this.#remove(id)
        else if (step.next !== undefined) await this.#write(id, step.next)
        return step.result
      } finally {
        await release()
      }
    })
  }

  async #lock(id: string): Promise<() => Promise<void>> {
    const file = join(this.#dir, `${id}.lock`)
    const deadline = Date.now() + this.#lockTimeoutMs
    for (;;) {
      try {
        const handle = await this.#fs.open(file, 'wx', 0o600)
        await handle.writeFile(`${process.pid}\n`).finally(() => handle.close())
        return () => this.#fs.unlink(file).catch(() => undefined)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          this.#usable = false
          throw unavailable('The key vault folder is not writable; nothing was stored', error)
        }
      }
      // Held by another writer (or abandoned by a crashed one: break it once it is stale).
      const held = await this.#fs.stat(file).catch(() => undefined)
      if (held !== undefined && Date.now() - held.mtimeMs > this.#staleLockMs) {
        await this.#fs.unlink(file).catch(() => undefined)
        continue
      }
      if (Date.now() > deadline) throw unavailable('The key vault is busy; try again')
      // Not fair: a busy holder may re-acquire before a sleeping waiter wakes. Vault writes
      // are rare per wallet, so a waiter is only delayed, bounded by lockTimeoutMs (then 503).
      await sleep(5 + Math.floor(Math.random() * 10))
    }
  }

  async #write(id: string, bytes: Uint8Array): Promise<void> {
    const target = join(this.#dir, `${id}.json`)
    const temp = join(this.#dir, `.${id}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
    try {
      const handle = await this.#fs.open(temp, 'wx', 0o600)
      try {
        await handle.writeFile(bytes)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await this.#fs.rename(temp, target)
    } catch (error) {
      await this.#fs.unlink(temp).catch(() => undefined)
      this.#usable = false
      throw unavailable('The key vault could not be written; nothing was stored', error)
    }
    await this.#syncDir()
    this.#usable = true
  }

  async #remove(id: string): Promise<void> {
    try {
      await this.#fs.unlink(join(this.#dir, `${id}.json`))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
      throw unavailable('The key vault could not be written; nothing was deleted', error)
    }
    await this.#syncDir()
  }

  /** Makes the rename itself durable. Some filesystems refuse fsync on a folder: that is not fatal. */
  async #syncDir(): Promise<void> {
    try {
      const handle = await this.#fs.open(this.#dir, 'r')
      try {
        await handle.sync()
      } finally {
        await handle.close()
      }
    } catch {
      /* best effort */
    }
  }
}

/** Development fallback when no folder is usable: entries last until the process exits. */
export class MemoryVaultPersistence implements VaultPersistence {
  readonly kind = 'memory' as const
  readonly persistent = false
  readonly failClosed = false
  readonly #files = new Map<string, Uint8Array>()
  readonly #serial = new Serialiser()

  async read(id: string): Promise<Uint8Array | undefined> {
    assertId(id)
    const bytes = this.#files.get(id)
    return bytes === undefined ? undefined : new Uint8Array(bytes)
  }

  async update<T>(id: string, mutate: (current: Uint8Array | undefined) => Promise<UpdateStep<T>>): Promise<T> {
    assertId(id)
    return this.#serial.run(id, async () => {
      const step = await mutate(await this.read(id))
      if (step.next === null) this.#files.delete(id)
      else if (step.next !== undefined) this.#files.set(id, new Uint8Array(step.next))
      return step.result
    })
  }
}
