import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { verifyChain } from '../hash.js'
import type { RecordedEvent } from '../types.js'
import { SqliteEventStore } from './sqlite-event-store.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const writerScript = join(root, 'test', 'sqlite-crash-writer.ts')
const STREAMS = 6
const K = 4

/** Runs the writer until it has acknowledged `killAfter` appends, then SIGKILLs it. Returns every ack it printed. */
function runAndKill(file: string, runId: string, killAfter: number, writer: 'worker' | 'inline'): Promise<{ acks: string[]; signal: NodeJS.Signals | null }> {
  return new Promise((resolvePromise, reject) => {
    // node --import tsx (not the tsx CLI, which would fork a grandchild SIGKILL misses).
    const child = spawn(process.execPath, ['--import', 'tsx', writerScript, file, runId, String(STREAMS), String(K)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const acks: string[] = []
    let buffer = ''
    let stderr = ''
    let killed = false
    const guard = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`writer made too little progress (${acks.length} acks): ${stderr}`))
    }, 50_000)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      buffer += chunk
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      for (const line of lines) if (line.startsWith('ack ')) acks.push(line.split(' ')[1] ?? '')
      if (!killed && acks.length >= killAfter) {
        killed = true
        // Mid-flight: other appends are queued or inside a transaction right now.
        child.kill('SIGKILL')
      }
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk
    })
    child.on('close', (_code, signal) => {
      clearTimeout(guard)
      if (!killed) reject(new Error(`writer exited on its own: ${stderr}`))
      else resolvePromise({ acks, signal })
    })
  })
}

describe('SQLite crash safety (SIGKILL mid-append)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-crash-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('keeps every acknowledged append, no partial batch, chains verify, positions increase', async () => {
    const file = join(dir, 'events.db')
    const acked = new Set<string>()
    // Several kill/restart cycles on the same file, each run continuing the streams, with
    // the writer in a worker thread (the gateway's setting) and inline.
    const runs = [[150, 'worker'], [400, 'inline'], [250, 'worker']] as const
    for (const [run, [killAfter, writer]] of runs.entries()) {
      const { acks, signal } = await runAndKill(file, `run${run}`, killAfter, writer)
      expect(signal).toBe('SIGKILL')
      expect(acks.length).toBeGreaterThanOrEqual(killAfter)
      for (const a of acks) acked.add(a)

      const store = new SqliteEventStore({ file })
      try {
        const all = await store.readAll()
        for (let i = 1; i < all.length; i++) expect(all[i]!.position > all[i - 1]!.position).toBe(true)
        const batches = new Map<string, RecordedEvent[]>()
        for (const e of all) {
          const { batchId } = e.data as { batchId: string }
          batches.set(batchId, [...(batches.get(batchId) ?? []), e])
        }
        for (const [batchId, events] of batches) {
          expect(events.map((e) => (e.data as { i: number }).i), batchId).toEqual([0, 1, 2, 3])
          const first = events[0]!
          expect(events.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n].map((d) => first.revision + d))
          expect(new Set(events.map((e) => e.streamId)).size).toBe(1)
        }
        const missing = [...acked].filter((a) => !batches.has(a))
        expect(missing).toEqual([])
        for (let s = 0; s < STREAMS; s++) {
          const events = await store.readStream(`crash-${s}`)
          expect(events.length % K).toBe(0)
          expect(verifyChain(events)).toBeUndefined()
        }
      } finally {
        await store.close()
      }
    }
    expect(acked.size).toBeGreaterThanOrEqual(800)
  })
})
