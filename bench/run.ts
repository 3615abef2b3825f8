/**
 * `npm run bench`: runs every bench/*.bench.ts one after another, each in its own
 * process (so one benchmark's leftovers cannot skew the next), and prints their tables.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('.', import.meta.url))
const only = process.argv.slice(2)
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort()
let failed = 0
for (const file of files) {
  console.log(`\n## ${file}\n`)
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${file}`], { stdio: 'inherit' })
  if (r.status !== 0) {
    failed++
    console.log(`(${file} exited with ${r.status})`)
  }
}
process.exit(failed === 0 ? 0 : 1)
