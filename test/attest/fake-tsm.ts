import * as fsp from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { TsmFs } from '../../attest/providers.js'

export interface FakeTsmOptions {
  /** The kernel's answer to an inblob: the report and the certificate table. */
  makeReport(inblob: Buffer): { outblob: Uint8Array; auxblob?: Uint8Array }
  /** Called before each outblob read; return true to simulate another writer racing us. */
  interfere?(entry: string): boolean
  provider?: string
}

/**
 * A directory tree that behaves like /sys/kernel/config/tsm/report: mkdir populates the
 * attributes, writing inblob bumps generation, reading outblob/auxblob produces the
 * report for the current inblob. Backed by a real temp directory.
 */
export function fakeTsmFs(opts: FakeTsmOptions): TsmFs & { writes: number } {
  const state = { writes: 0 }
  const bump = async (entry: string): Promise<void> => {
    const g = Number((await fsp.readFile(join(entry, 'generation'), 'utf8')).trim())
    await fsp.writeFile(join(entry, 'generation'), `${g + 1}\n`)
  }
  const produce = async (entry: string): Promise<void> => {
    const inblob = await fsp.readFile(join(entry, 'inblob'))
    const { outblob, auxblob } = opts.makeReport(inblob)
    await fsp.writeFile(join(entry, 'outblob'), outblob)
    await fsp.writeFile(join(entry, 'auxblob'), auxblob ?? new Uint8Array(0))
  }
  const fs: TsmFs & { writes: number } = {
    get writes() {
      return state.writes
    },
    async mkdir(p) {
      await fsp.mkdir(p)
      await fsp.writeFile(join(p, 'generation'), '0\n')
      await fsp.writeFile(join(p, 'provider'), `${opts.provider ?? 'sev_guest'}\n`)
      await fsp.writeFile(join(p, 'privlevel_floor'), '0\n')
    },
    async rmdir(p) {
      // configfs removes the attributes with the directory.
      await fsp.rm(p, { recursive: true, force: true })
    },
    async writeFile(p, data) {
      await fsp.writeFile(p, data)
      const attr = basename(p)
      if (attr === 'inblob' || attr === 'privlevel') {
        state.writes++
        await bump(dirname(p))
      }
    },
    async readFile(p) {
      const entry = dirname(p)
      const attr = basename(p)
      if (attr === 'outblob') {
        if (opts.interfere?.(entry) === true) {
          // Another process writes its own inblob between our write and our read.
          await fsp.writeFile(join(entry, 'inblob'), Buffer.alloc(64, 0xee))
          await bump(entry)
        }
        await produce(entry)
      }
      if (attr === 'auxblob') {
        try {
          await fsp.access(join(entry, 'auxblob'))
        } catch {
          await produce(entry)
        }
      }
      return fsp.readFile(p)
    },
  }
  return fs
}
