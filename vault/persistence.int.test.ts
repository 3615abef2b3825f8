import { spawn } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { openVaultPersistence } from './persistence.js'

const child = fileURLToPath(new URL('./persistence-child.ts', import.meta.url))
const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

function runChild(dir: string, id: string, prefix: string, count: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', child, dir, id, prefix, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    c.stderr.on('data', (d: Buffer) => (err += d.toString()))
    c.on('error', reject)
    c.on('exit', (code) => (code === 0 ? resolve(code) : reject(new Error(`child exited ${code}: ${err}`))))
  })
}

describe('vault files across OS processes', () => {
  it('two processes and this one appending to one wallet file lose no write (lock file)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vault-xproc-'))
    dirs.push(dir)
    const id = 'ab'.repeat(32)
    const here = await openVaultPersistence({ dir, failClosed: true })
    let childrenDone = false
    let written = 0
    // This process keeps writing for as long as the children run, so the three really overlap.
    const mine = (async () => {
      while (!childrenDone)
        await here.update(id, async (cur) => {
          const list = cur === undefined ? [] : (JSON.parse(Buffer.from(cur).toString()) as string[])
          return { next: new Uint8Array(Buffer.from(JSON.stringify([...list, `parent-${written++}`]))), result: undefined }
        })
    })()
    await Promise.all([runChild(dir, id, 'a', 60), runChild(dir, id, 'b', 60)])
    childrenDone = true
    await mine
    const list = JSON.parse(Buffer.from((await here.read(id))!).toString()) as string[]
    expect(list).toHaveLength(120 + written)
    expect(new Set(list).size).toBe(list.length)
    const expected: Record<string, number> = { parent: written, a: 60, b: 60 }
    for (const [p, n] of Object.entries(expected)) {
      const mineInOrder = list.filter((x) => x.startsWith(`${p}-`))
      expect(mineInOrder).toEqual(Array.from({ length: n }, (_, i) => `${p}-${i}`))
    }
    // The children's writes interleave with each other: the lock was contended, not idle.
    const firstB = list.findIndex((x) => x.startsWith('b-'))
    const lastA = list.findLastIndex((x) => x.startsWith('a-'))
    const firstA = list.findIndex((x) => x.startsWith('a-'))
    const lastB = list.findLastIndex((x) => x.startsWith('b-'))
    expect(firstB < lastA && firstA < lastB).toBe(true)
    expect(await readdir(dir)).toEqual([`${id}.json`])
  })
})
