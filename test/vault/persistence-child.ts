/**
 * Test helper run as a separate OS process by persistence.int.test.ts: appends
 * `count` items to one vault file id through FileVaultPersistence (lock file + rename).
 */
import { existsSync } from 'node:fs'
import { openVaultPersistence } from '../../vault/persistence.js'

const [dir, id, prefix, count, go] = process.argv.slice(2) as [string, string, string, string, string]
const p = await openVaultPersistence({ dir, failClosed: true })
// Start barrier: every writer starts together, so the lock really is contended
// (process start-up alone can take longer than a whole run of writes).
process.stdout.write('ready\n')
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 5))
const started = Date.now()
for (let i = 0; i < Number(count); i++) {
  await p.update(id, async (cur) => {
    const list = cur === undefined ? [] : (JSON.parse(Buffer.from(cur).toString()) as string[])
    return { next: new Uint8Array(Buffer.from(JSON.stringify([...list, `${prefix}-${i}`]))), result: undefined }
  })
}
// The time window of this writer's updates, so the test can show the writers overlapped.
process.stdout.write(`window ${started} ${Date.now()}\n`)
