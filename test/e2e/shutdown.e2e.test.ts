import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { signIn, spawnGatewayProcess, testAccount } from '../gateway.js'

describe('graceful shutdown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agw-stop-'))
  const env = { DATA_DIR: dir, JWT_SECRET: 'shutdown-secret-0123456789abcdef0123456789' }
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('on SIGTERM in-flight writes finish, the process exits 0, and every acknowledged write is there after a restart', async () => {
    const gw = await spawnGatewayProcess(env)
    const alice = testAccount(0)
    const token = await signIn(gw.url, alice)
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const writes = Array.from({ length: 60 }, (_, i) =>
      fetch(`${gw.url}/wallet/settings`, { method: 'PUT', headers, body: JSON.stringify({ [`k${i}`]: i }) }).then(
        (r) => ({ i, status: r.status }),
        () => ({ i, status: 0 }),
      ),
    )
    // Stop while the writes are on their way.
    await new Promise((r) => setTimeout(r, 15))
    const exit = gw.stop()
    const results = await Promise.all(writes)
    expect(await exit).toBe(0)
    // Every request either completed or was refused/cut cleanly; none answered 500.
    for (const r of results) expect([0, 200, 503]).toContain(r.status)
    const acknowledged = results.filter((r) => r.status === 200).map((r) => r.i)

    const again = await spawnGatewayProcess(env)
    try {
      const settings = (await (await fetch(`${again.url}/wallet/settings`, { headers })).json()) as Record<string, unknown>
      for (const i of acknowledged) expect(settings[`k${i}`], `acknowledged write k${i}`).toBe(i)
    } finally {
      expect(await again.stop()).toBe(0)
    }
  }, 120_000)
})
