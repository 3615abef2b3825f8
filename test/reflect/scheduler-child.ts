/**
 * One "gateway process" for the two-process scheduler test: opens the shared SQLite file,
 * waits for the start barrier, ticks the scheduler at the given clock and prints how many
 * runs it claimed.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { ReflectScheduler } from '../../actors/reflect/scheduler.js'
import { openReflect } from './harness.js'

const [file, wallet, nowIso, barrier] = process.argv.slice(2) as [string, string, string, string]
const now = () => new Date(nowIso)
const h = await openReflect({ file, now })
const scheduler = new ReflectScheduler({
  startScheduled: (w, slot) => h.service.startScheduled(w, slot),
  candidates: () => [{ wallet, settings: { autoImprove: true, improveSchedule: 'daily' } }],
  sessionWallet: async () => undefined,
  now,
  idleMs: 0,
})
writeFileSync(`${barrier}.ready.${process.pid}`, '')
while (!existsSync(barrier)) await new Promise((r) => setTimeout(r, 2))
let claimed = 0
for (let i = 0; i < 5; i++) claimed += await scheduler.tick()
// Let the started run finish (no sessions: it completes at once) before closing the store.
for (let i = 0; i < 200 && (await h.service.state(wallet)).value === 'running'; i++) await new Promise((r) => setTimeout(r, 10))
process.stdout.write(`${JSON.stringify({ claimed })}\n`)
await h.close()
