import { spawn } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { openVaultPersistence } from './persistence.js'

const child = fileURLToPath(new URL('../test/vault/persistence-child.ts', import.meta.url))
const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** Starts a writer process; `ready` resolves once it waits at the start barrier (`go` file). */
function runChild(
  dir: string,
  id: string,
  prefix: string,
  count: number,
  go: string,
): { ready: Promise<void>; done: Promise<number | null>; window: () => [number, number] } {
  const c = spawn(process.execPath, ['--import', 'tsx', child, dir, id, prefix, String(count), go], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  let out = ''
  c.stderr.on('data', (d: Buffer) => (err += d.toString()))
  c.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const ready = new Promise<void>((resolve) => c.stdout.on('data', () => out.includes('ready') && resolve()))
  const window = (): [number, number] => {
    const m = /window (\d+) (\d+)/.exec(out)
    if (m === null) throw new Error(`no window reported: ${out}`)
    return [Number(m[1]), Number(m[2])]
  }
  const done = new Promise<number | null>((resolve, reject) => {
    c.on('error', reject)
    c.on('exit', (code) => (code === 0 ? resolve(code) : reject(new Error(`child exited ${code}: ${err}`))))
  })
  return { ready, done, window }
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
    const go = join(tmpdir(), `vault-go-${process.pid}-${Date.now()}`)
    const children = [runChild(dir, id, 'a', 60, go), runChild(dir, id, 'b', 60, go)]
    await Promise.all(children.map((c) => c.ready))
    await writeFile(go, '')
    await Promise.all(children.map((c) => c.done))
    await rm(go, { force: true })
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
    // The children wrote at the same time (their update windows overlap), so the lock was
    // contended, not idle. (Their writes need not interleave: the lock is not fair, see persistence.ts.)
    const [[aStart, aEnd], [bStart, bEnd]] = children.map((c) => c.window()) as [[number, number], [number, number]]
    expect(aStart < bEnd && bStart < aEnd).toBe(true)
    expect(await readdir(dir)).toEqual([`${id}.json`])
  })
})
