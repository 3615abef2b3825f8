import { mkdtempSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UnavailableError } from '../shared/errors.js'
import { encodeCertTable } from './amd-certs.js'
import { ConfigfsTsmProvider, NoneProvider, selectProvider } from './providers.js'
import { fakeTsmFs, type FakeTsmOptions } from '../test/attest/fake-tsm.js'
import { buildReport } from '../test/attest/fake-amd.js'

describe('configfs-tsm provider (against a kernel-like tree)', () => {
  let root: string
  let dir: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'tsm-'))
    dir = join(root, 'report')
    mkdirSync(dir)
  })
  afterEach(() => rmSync(root, { recursive: true, force: true }))

  const table = encodeCertTable({ vcek: new Uint8Array([0x30, 1, 2]) })
  const kernel = (extra: Partial<FakeTsmOptions> = {}) =>
    fakeTsmFs({ makeReport: (inblob) => ({ outblob: buildReport({ reportData: inblob }), auxblob: table }), ...extra })

  it('writes inblob, reads outblob and auxblob, and removes its entry', async () => {
    const fs = kernel()
    const p = new ConfigfsTsmProvider({ dir, fs })
    const rd = Buffer.alloc(64, 7)
    const ev = await p.getReport(rd)
    expect(ev.provider).toBe('configfs-tsm')
    expect(ev.report).toHaveLength(1184)
    expect(Buffer.from(ev.report.subarray(0x50, 0x90)).equals(rd)).toBe(true)
    expect(Buffer.from(ev.auxblob!).equals(Buffer.from(table))).toBe(true)
    expect(ev.generation).toBe(1)
    expect(readdirSync(dir)).toEqual([])
  })

  it('retries when another writer moves generation, then succeeds', async () => {
    let races = 1
    const fs = kernel({ interfere: () => races-- > 0 })
    const ev = await new ConfigfsTsmProvider({ dir, fs }).getReport(Buffer.alloc(64, 1))
    expect(Buffer.from(ev.report.subarray(0x50, 0x90)).equals(Buffer.alloc(64, 1))).toBe(true)
    expect(ev.generation).toBe(3) // ours, theirs, ours again
    expect(fs.writes).toBe(2)
  })

  it('raises attestation_race when the entry keeps changing', async () => {
    const fs = kernel({ interfere: () => true })
    const err = await new ConfigfsTsmProvider({ dir, fs, maxAttempts: 2 }).getReport(Buffer.alloc(64)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnavailableError)
    expect((err as UnavailableError).code).toBe('attestation_race')
    expect(readdirSync(dir)).toEqual([])
  })

  it('serialises concurrent requests, each getting its own REPORT_DATA back', async () => {
    const p = new ConfigfsTsmProvider({ dir, fs: kernel() })
    const out = await Promise.all([1, 2, 3, 4].map((n) => p.getReport(Buffer.alloc(64, n))))
    out.forEach((ev, i) => expect(ev.report[0x50]).toBe(i + 1))
  })

  it('refuses a non-SEV provider, a wrong-size REPORT_DATA and a missing tree', async () => {
    const tdx = new ConfigfsTsmProvider({ dir, fs: kernel({ provider: 'tdx_guest' }) })
    await expect(tdx.getReport(Buffer.alloc(64))).rejects.toThrow(/tdx_guest/)
    await expect(new ConfigfsTsmProvider({ dir, fs: kernel() }).getReport(Buffer.alloc(63))).rejects.toThrow(RangeError)
    const missing = new ConfigfsTsmProvider({ dir: join(root, 'nope') })
    await expect(missing.getReport(Buffer.alloc(64))).rejects.toMatchObject({ code: 'attestation_unavailable' })
  })

  it('auto-selects configfs-tsm only when the directory exists', async () => {
    expect((await selectProvider('auto', dir)).kind).toBe('configfs-tsm')
    expect((await selectProvider('auto', join(root, 'absent'))).kind).toBe('none')
    expect((await selectProvider('none', dir)).kind).toBe('none')
    expect((await selectProvider('configfs-tsm', join(root, 'absent'))).kind).toBe('configfs-tsm')
  })
})

describe('none provider', () => {
  it('answers attestation_unavailable', async () => {
    const p = new NoneProvider()
    expect(p.teeEnabled).toBe(false)
    await expect(p.getReport()).rejects.toMatchObject({ code: 'attestation_unavailable' })
  })
})
