/**
 * Test helper run as a separate OS process by persistence.int.test.ts: appends
 * `count` items to one vault file id through FileVaultPersistence (lock file + rename).
 */
import { openVaultPersistence } from './persistence.js'

const [dir, id, prefix, count] = process.argv.slice(2) as [string, string, string, string]
const p = await openVaultPersistence({ dir, failClosed: true })
for (let i = 0; i < Number(count); i++) {
  await p.update(id, async (cur) => {
    const list = cur === undefined ? [] : (JSON.parse(Buffer.from(cur).toString()) as string[])
    return { next: new Uint8Array(Buffer.from(JSON.stringify([...list, `${prefix}-${i}`]))), result: undefined }
  })
}
process.stdout.write('done\n')
