import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signIn, spawnGatewayProcess, testAccount, type GatewayProcess } from '../gateway.js'

/** Two gateway processes on one SQLite file, as a small scale-out would run them. */
describe('two gateway processes sharing one SQLite store', () => {
  let dir: string
  let a: GatewayProcess
  let b: GatewayProcess
  const env = () => ({ DATA_DIR: dir, JWT_SECRET: 'two-process-secret-0123456789abcdef0123456789' })

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agw-2p-'))
    ;[a, b] = await Promise.all([spawnGatewayProcess(env()), spawnGatewayProcess(env())])
  }, 120_000)
  afterAll(async () => {
    const codes = await Promise.all([a?.stop(), b?.stop()])
    rmSync(dir, { recursive: true, force: true })
    // Graceful shutdown on SIGTERM exits 0.
    expect(codes).toEqual([0, 0])
  })

  it('a nonce issued by one process works exactly once across both', async () => {
    const alice = testAccount(0)
    const challenge = (await (await fetch(`${a.url}/auth/challenge`)).json()) as { nonce: string; message: string }
    const signature = await alice.signMessage({ message: challenge.message })
    const body = JSON.stringify({ walletAddress: alice.address, signature, nonce: challenge.nonce })
    const post = (url: string) => fetch(`${url}/auth/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    // Both at once: exactly one wins.
    const [ra, rb] = await Promise.all([post(a.url), post(b.url)])
    expect([ra.status, rb.status].sort()).toEqual([200, 401])
    const loser = ra.status === 401 ? ra : rb
    expect(((await loser.json()) as { error: string }).error).toBe('nonce_reused')
    expect((await post(b.url)).status).toBe(401)
    expect((await post(a.url)).status).toBe(401)
  })

  it('concurrent settings writes through both processes lose nothing', async () => {
    const bob = testAccount(1)
    const token = await signIn(a.url, bob)
    const writes = Array.from({ length: 40 }, (_, i) =>
      fetch(`${(i % 2 === 0 ? a : b).url}/wallet/settings`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ [`key${i}`]: i }),
      }),
    )
    const statuses = (await Promise.all(writes)).map((r) => r.status)
    expect(statuses.every((s) => s === 200)).toBe(true)
    for (const p of [a, b]) {
      const settings = (await (await fetch(`${p.url}/wallet/settings`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<string, unknown>
      for (let i = 0; i < 40; i++) expect(settings[`key${i}`]).toBe(i)
    }
  })

  it('a logout on one process revokes the token on the other', async () => {
    const carol = testAccount(2)
    const token = await signIn(b.url, carol)
    const get = (url: string) => fetch(`${url}/wallet/settings`, { headers: { authorization: `Bearer ${token}` } })
    expect((await get(a.url)).status).toBe(200)
    expect((await fetch(`${b.url}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    // Propagates through process A's live feed within a poll interval.
    let status = 0
    for (let i = 0; i < 40; i++) {
      status = (await get(a.url)).status
      if (status === 401) break
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(status).toBe(401)
  })
})
