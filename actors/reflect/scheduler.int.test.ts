import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { eventually } from '../../test/eventually.js'
import { REPO_ROOT } from '../../test/gateway.js'
import { fundWallet, openReflect } from '../../test/reflect/harness.js'
import { storeSession } from '../../test/reflect/sessions.js'
import { ReflectScheduler } from './scheduler.js'

const dir = mkdtempSync(join(tmpdir(), 'reflect-sched-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const WALLET = '0x70997970C51812dc3A010C7d01b50e0D17dc79C8'
const wallet = WALLET.toLowerCase()
const daily = { autoImprove: true, improveSchedule: 'daily' }

const claims = async (h: Awaited<ReturnType<typeof openReflect>>) =>
  (await h.store.readStream(`reflect-${wallet}`)).filter((e) => e.type === 'RunStarted' || e.type === 'RunSkipped').map((e) => (e.data as { slot: string | null }).slot)

describe('durable daily schedule with a controllable clock (real SQLite)', () => {
  it('fires once per day slot, survives a restart, and fires again the next day', async () => {
    const file = join(dir, 'restart.sqlite')
    let clock = new Date('2026-12-02T08:00:00Z')
    const now = () => clock
    let h = await openReflect({ file, now })
    await fundWallet(h, WALLET, 10_000_000n)
    await h.wallets.send(wallet, { type: 'UpdateSettings', patch: daily })
    const scheduler = (service: typeof h.service) =>
      new ReflectScheduler({ startScheduled: (w, s) => service.startScheduled(w, s), candidates: () => [{ wallet, settings: daily }], sessionWallet: async () => undefined, now, idleMs: 0 })

    let s = scheduler(h.service)
    expect(await s.tick()).toBe(1)
    await eventually(() => h.service.state(wallet), (st) => st.value === 'idle', 'the run to end')
    clock = new Date('2026-12-02T20:00:00Z')
    expect(await s.tick()).toBe(0)
    expect((await h.service.status(WALLET)).nextRunAt).toBe('2026-12-03T00:00:00.000Z')

    // Restart: a new process on the same file knows the slot was claimed from the events alone.
    await h.close()
    h = await openReflect({ file, now })
    s = scheduler(h.service)
    clock = new Date('2026-12-02T23:59:59Z')
    expect(await s.tick()).toBe(0)
    clock = new Date('2026-12-03T00:00:01Z')
    expect(await s.tick()).toBe(1)
    expect(await s.tick()).toBe(0)
    await eventually(() => h.service.state(wallet), (st) => st.value === 'idle', 'the run to end')
    expect(await claims(h)).toEqual(['daily:2026-12-02', 'daily:2026-12-03'])
    const history = await h.service.history(WALLET)
    expect(history.runs.map((r) => [r.trigger, r.status, r.slot])).toEqual([
      ['schedule', 'completed', 'daily:2026-12-02'],
      ['schedule', 'completed', 'daily:2026-12-03'],
    ])
    await h.close()
  })

  it('fires once when two processes tick the same slot on one store', async () => {
    const file = join(dir, 'two.sqlite')
    const now = () => new Date('2026-12-02T08:00:00Z')
    const h = await openReflect({ file, now })
    await fundWallet(h, WALLET, 10_000_000n)
    const barrier = join(dir, 'go')
    const child = () =>
      new Promise<{ claimed: number }>((resolve, reject) => {
        const c = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/reflect/scheduler-child.ts'), file, wallet, now().toISOString(), barrier], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
        let out = ''
        c.stdout.on('data', (d: Buffer) => (out += d.toString()))
        c.stderr.on('data', (d: Buffer) => (out += d.toString()))
        c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!) as { claimed: number }) : reject(new Error(`child exited ${code}: ${out}`))))
      })
    const running = [child(), child()]
    // Both children are up and waiting before either may tick, so their claims really race.
    for (let i = 0; i < 1200 && readdirSync(dir).filter((f) => f.startsWith('go.ready.')).length < 2; i++) await new Promise((r) => setTimeout(r, 25))
    expect(readdirSync(dir).filter((f) => f.startsWith('go.ready.'))).toHaveLength(2)
    writeFileSync(barrier, '')
    const results = await Promise.all(running)
    expect(results.map((r) => r.claimed).reduce((a, b) => a + b, 0)).toBe(1)
    expect(await claims(h)).toEqual(['daily:2026-12-02'])
    await h.close()
  }, 60_000)

  it('after_each: claims one run per session revision once the session has been idle long enough', async () => {
    const file = join(dir, 'after-each.sqlite')
    let clock = new Date('2026-12-02T08:00:00Z')
    const now = () => clock
    const h = await openReflect({ file, now })
    await fundWallet(h, WALLET, 10_000_000n)
    const settings = { autoImprove: true, improveSchedule: 'after_each' }
    await h.wallets.send(wallet, { type: 'UpdateSettings', patch: settings })
    await storeSession(h.store, { wallet: WALLET, sessionId: 'ae-1', agentId: 'assistant', messages: ['one'] })
    const s = new ReflectScheduler({
      startScheduled: (w, slot) => h.service.startScheduled(w, slot),
      candidates: () => [{ wallet, settings }],
      sessionWallet: async (id) => ((await h.store.readStream(`session-${id}`, { maxCount: 1 }))[0]?.data as { wallet: string }).wallet.toLowerCase(),
      now,
      idleMs: 60_000,
    })
    const completed = (await h.store.readStream('session-ae-1')).find((e) => e.type === 'TurnCompleted')!
    s.observe(completed)
    expect(await s.tick()).toBe(0)
    clock = new Date(clock.getTime() + 59_000)
    expect(await s.tick()).toBe(0)
    clock = new Date(clock.getTime() + 2_000)
    expect(await s.tick()).toBe(1)
    // The same completed turn seen again (another process's feed, a replay) claims nothing new.
    s.observe(completed)
    clock = new Date(clock.getTime() + 120_000)
    expect(await s.tick()).toBe(0)
    expect(await claims(h)).toEqual([`after_each:ae-1:${completed.revision}`])
    await eventually(() => h.service.state(wallet), (st) => st.value === 'idle', 'the run to end')
    await h.close()
  })
})
