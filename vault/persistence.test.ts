import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UnavailableError } from '../shared/errors.js'
import { FileVaultPersistence, MemoryVaultPersistence, type VaultFs, openVaultPersistence } from './persistence.js'

const id = (n: number) => n.toString(16).padStart(64, '0')
const bytes = (text: string) => new Uint8Array(Buffer.from(text))
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString())

let root: string
beforeEach(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'vault-persistence-'))
})
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true })
})

describe('FileVaultPersistence', () => {
  it('creates the folder 0700, writes files 0600 atomically and leaves no temp or lock file', async () => {
    const dir = join(root, 'a', 'vault')
    const p = await openVaultPersistence({ dir, failClosed: false })
    expect(p.kind).toBe('file')
    expect(p.persistent).toBe(true)
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700)
    await p.update(id(1), async () => ({ next: bytes('one'), result: undefined }))
    expect(text(await p.read(id(1)))).toBe('one')
    expect((await fs.stat(join(dir, `${id(1)}.json`))).mode & 0o777).toBe(0o600)
    expect(await fs.readdir(dir)).toEqual([`${id(1)}.json`])
    await p.update(id(1), async (cur) => ({ next: bytes(`${text(cur)}+two`), result: undefined }))
    expect(text(await p.read(id(1)))).toBe('one+two')
    await p.update(id(1), async () => ({ next: null, result: undefined }))
    expect(await p.read(id(1))).toBeUndefined()
    expect(await fs.readdir(dir)).toEqual([])
  })

  it('refuses ids that are not HMAC hex (no path ever comes from input)', async () => {
    const p = await openVaultPersistence({ dir: root, failClosed: false })
    await expect(p.read('../etc/passwd')).rejects.toThrow(/64 hex/)
    await expect(p.update('0xabc', async () => ({ next: bytes('x'), result: 1 }))).rejects.toThrow(/64 hex/)
  })

  it('a failed rename leaves the previous file byte-identical and removes the temp file (503)', async () => {
    const failing: VaultFs = { ...fs, rename: async () => Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })) }
    const good = await openVaultPersistence({ dir: root, failClosed: true })
    await good.update(id(2), async () => ({ next: bytes('original'), result: undefined }))
    const before = await fs.readFile(join(root, `${id(2)}.json`))
    const bad = await openVaultPersistence({ dir: root, failClosed: true, fs: failing })
    const error = await bad.update(id(2), async () => ({ next: bytes('replacement'), result: undefined })).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnavailableError)
    expect((error as UnavailableError).code).toBe('vault_unavailable')
    expect(await fs.readFile(join(root, `${id(2)}.json`))).toEqual(before)
    expect(await fs.readdir(root)).toEqual([`${id(2)}.json`])
    expect(bad.persistent).toBe(false)
  })

  it('serialises concurrent read-modify-writes within a process and across two instances (lock file)', async () => {
    const a = await openVaultPersistence({ dir: root, failClosed: true })
    const b = await openVaultPersistence({ dir: root, failClosed: true })
    const append = (p: typeof a, item: string) =>
      p.update(id(3), async (cur) => {
        const list = cur === undefined ? [] : (JSON.parse(text(cur)!) as string[])
        await new Promise((r) => setTimeout(r, 1)) // widen the race window
        return { next: bytes(JSON.stringify([...list, item])), result: undefined }
      })
    const items = Array.from({ length: 24 }, (_, i) => `item-${i}`)
    await Promise.all(items.map((item, i) => append(i % 2 === 0 ? a : b, item)))
    const stored = JSON.parse(text(await a.read(id(3)))!) as string[]
    expect(stored.sort()).toEqual([...items].sort())
    expect((await fs.readdir(root)).filter((f) => f.endsWith('.lock'))).toEqual([])
  })

  it('breaks a lock abandoned by a crashed writer once it is stale, and waits for a live one', async () => {
    const lock = join(root, `${id(4)}.lock`)
    await fs.writeFile(lock, '99999\n')
    const old = new Date(Date.now() - 60_000)
    await fs.utimes(lock, old, old)
    const p = await openVaultPersistence({ dir: root, failClosed: true, staleLockMs: 30_000 })
    await p.update(id(4), async () => ({ next: bytes('after crash'), result: undefined }))
    expect(text(await p.read(id(4)))).toBe('after crash')

    await fs.writeFile(lock, `${process.pid}\n`) // a live holder
    const impatient = await openVaultPersistence({ dir: root, failClosed: true, lockTimeoutMs: 50 })
    await expect(impatient.update(id(4), async () => ({ next: bytes('x'), result: undefined }))).rejects.toMatchObject({
      code: 'vault_unavailable',
    })
    expect(text(await p.read(id(4)))).toBe('after crash')
    await fs.unlink(lock)
  })

  it('fail-closed: a missing parent folder or a file in place of the folder → 503, nothing written', async () => {
    const missing = await openVaultPersistence({ dir: join(root, 'not-mounted', 'vault'), failClosed: true })
    expect(missing.kind).toBe('file')
    expect(missing.persistent).toBe(false)
    expect(missing.failClosed).toBe(true)
    let ran = false
    await expect(
      missing.update(id(5), async () => {
        ran = true
        return { next: bytes('x'), result: undefined }
      }),
    ).rejects.toMatchObject({ code: 'vault_unavailable' })
    expect(ran).toBe(false)
    await expect(fs.stat(join(root, 'not-mounted'))).rejects.toMatchObject({ code: 'ENOENT' })

    const blocker = join(root, 'blocker')
    await fs.writeFile(blocker, 'not a folder')
    const notDir = await openVaultPersistence({ dir: blocker, failClosed: true })
    expect(notDir.persistent).toBe(false)
    await expect(notDir.update(id(5), async () => ({ next: bytes('x'), result: undefined }))).rejects.toMatchObject({
      code: 'vault_unavailable',
    })
    expect(await fs.readFile(blocker, 'utf8')).toBe('not a folder')
    expect(await notDir.read(id(5))).toBeUndefined()
  })

  it('fail-closed recovers once the folder becomes usable', async () => {
    const dir = join(root, 'late')
    const p = (await openVaultPersistence({ dir: join(dir, 'vault'), failClosed: true })) as FileVaultPersistence
    expect(p.persistent).toBe(false)
    await fs.mkdir(dir)
    await p.update(id(6), async () => ({ next: bytes('ok'), result: undefined }))
    expect(p.persistent).toBe(true)
  })

  it('development: an unusable folder falls back to memory-only, reported as not persistent', async () => {
    const blocker = join(root, `blocker-${randomBytes(2).toString('hex')}`)
    await fs.writeFile(blocker, 'x')
    const reasons: string[] = []
    const p = await openVaultPersistence({ dir: blocker, failClosed: false, onFallback: (r) => reasons.push(r) })
    expect(p).toBeInstanceOf(MemoryVaultPersistence)
    expect(p.persistent).toBe(false)
    expect(reasons).toHaveLength(1)
    await p.update(id(7), async () => ({ next: bytes('in memory'), result: undefined }))
    expect(text(await p.read(id(7)))).toBe('in memory')
  })
})
