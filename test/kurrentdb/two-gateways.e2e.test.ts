/**
 * Scale-out on one machine: two gateway PROCESSES sharing one KurrentDB — here the
 * in-process gRPC test double (test/kurrentdb/kurrentdb-double.ts), which both processes
 * reach through the real client exactly as they would reach a cluster node.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { decode, encode } from '../../store/codec.js'
import { verifyChain } from '../../store/hash.js'
import { KurrentDbEventStore } from '../../store/kurrentdb/kurrentdb-event-store.js'
import { signIn, spawnGatewayProcess, testAccount, type GatewayProcess } from '../gateway.js'
import { startKurrentDbDouble, type KurrentDbDouble } from './kurrentdb-double.js'

const JWT_SECRET = 'two-gateways-secret-0123456789abcdef0123456789'

async function putSettings(url: string, token: string, patch: unknown): Promise<Response> {
  return fetch(`${url}/wallet/settings`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(patch),
  })
}

async function waitFor(pred: () => boolean, what: string, ms = 15_000): Promise<void> {
  const until = Date.now() + ms
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/**
 * Opens a msgpack WebSocket to `url` as `token`, subscribed to the wallet topic from the
 * start; resolves once authenticated and the replay has begun, with every frame collected.
 */
async function openWalletFeed(url: string, token: string): Promise<{ ws: WebSocket; frames: Record<string, unknown>[] }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`, ['agent-gateway.v1.msgpack'], {
    headers: { authorization: `Bearer ${token}` },
  })
  const frames: Record<string, unknown>[] = []
  ws.on('message', (data: Buffer) => frames.push(decode(data)))
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  try {
    await waitFor(() => frames.some((f) => f.type === 'ack' && f.of === 'auth'), 'auth ack')
    ws.send(encode({ type: 'subscribe', topic: 'wallet', after: 0n }))
    await waitFor(() => frames.some((f) => f.type === 'event'), 'the replayed wallet events')
    return { ws, frames }
  } catch (err) {
    ws.close()
    throw err
  }
}

describe('two gateway processes on one KurrentDB (test double)', () => {
  let double: KurrentDbDouble
  let a: GatewayProcess
  let b: GatewayProcess
  const dirs: string[] = []

  const env = (): Record<string, string> => {
    const dir = mkdtempSync(join(tmpdir(), 'agw-kdb-'))
    dirs.push(dir)
    return {
      EVENT_STORE: 'kurrentdb',
      KURRENTDB_CONNECTION_STRING: double.connectionString,
      JWT_SECRET,
      DATA_DIR: dir,
      // Snapshot often, so hydration from KurrentDB snapshots is exercised across processes.
      SNAPSHOT_EVERY: '3',
    }
  }

  beforeAll(async () => {
    double = await startKurrentDbDouble()
    ;[a, b] = await Promise.all([spawnGatewayProcess(env()), spawnGatewayProcess(env())])
  })

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await double?.close()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it('both report the kurrentdb store as healthy', async () => {
    for (const gw of [a, b]) {
      const health = (await (await fetch(`${gw.url}/health`)).json()) as { eventStore: { kind: string; ok: boolean } }
      expect(health.eventStore).toMatchObject({ kind: 'kurrentdb', ok: true })
    }
  })

  it('a challenge issued by A is redeemed on B, once (nonces live in the shared store)', async () => {
    const alice = testAccount(0)
    const challenge = (await (await fetch(`${a.url}/auth/challenge`)).json()) as { nonce: string; message: string }
    const signature = await alice.signMessage({ message: challenge.message })
    const body = JSON.stringify({ walletAddress: alice.address, signature, nonce: challenge.nonce })
    const verify = (url: string) => fetch(`${url}/auth/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    expect((await verify(b.url)).status).toBe(200)
    expect((await verify(a.url)).status).toBe(401)
  })

  it('a WebSocket client on A receives, live and in order, the events caused by requests to B', async () => {
    const bob = testAccount(1)
    const token = await signIn(b.url, bob)
    const { ws, frames } = await openWalletFeed(a.url, token)
    try {
      // Every write goes to B; A only relays what its own $all subscription sees.
      for (let i = 0; i < 8; i++) expect((await putSettings(b.url, token, { counter: i })).status).toBe(200)
      type Frame = { position: bigint; event: { type: string; data: { patch?: { counter?: number } } } }
      const events = (): Frame[] => frames.filter((f) => f.type === 'event') as unknown as Frame[]
      await waitFor(() => events().filter((e) => e.event.type === 'SettingsUpdated').length >= 8, '8 live events on A')
      const got = events()
      expect(got[0]?.event.type).toBe('WalletRegistered')
      expect(got.filter((e) => e.event.type === 'SettingsUpdated').map((e) => e.event.data.patch?.counter)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
      const positions = got.map((e) => e.position)
      expect([...positions].sort((x, y) => (x < y ? -1 : 1))).toEqual(positions)
      expect(new Set(positions).size).toBe(positions.length)
    } finally {
      ws.close()
    }
  })

  it('one wallet actor driven through both processes at once loses no update', async () => {
    const carol = testAccount(2)
    const tokenA = await signIn(a.url, carol)
    const tokenB = await signIn(b.url, carol)
    const n = 12
    const conflictsBefore = double.calls.WrongExpectedVersion ?? 0
    // Warm both processes' actor caches first, so each holds a soon-stale copy.
    expect((await putSettings(a.url, tokenA, { warm: 'a' })).status).toBe(200)
    expect((await putSettings(b.url, tokenB, { warm: 'b' })).status).toBe(200)
    const responses = await Promise.all(
      Array.from({ length: n }, (_, i) => putSettings(i % 2 === 0 ? a.url : b.url, i % 2 === 0 ? tokenA : tokenB, { [`k${i}`]: i })),
    )
    expect(responses.map((r) => r.status)).toEqual(Array(n).fill(200))
    // The race really happened: appends from stale actor copies were refused (then reloaded and retried).
    const conflicts = (double.calls.WrongExpectedVersion ?? 0) - conflictsBefore
    expect(conflicts).toBeGreaterThan(0)

    // The stream itself: every patch is there exactly once, and the hash chain verifies.
    const store = new KurrentDbEventStore({ connectionString: double.connectionString })
    try {
      const stream = `wallet-${carol.address.toLowerCase()}`
      const events = await store.readStream(stream)
      expect(verifyChain(events)).toBeUndefined()
      const patches = events.filter((e) => e.type === 'SettingsUpdated').map((e) => (e.data as { patch: Record<string, unknown> }).patch)
      const merged = Object.assign({}, ...patches) as Record<string, unknown>
      for (let i = 0; i < n; i++) expect(merged[`k${i}`]).toBe(i)
      expect(patches.filter((p) => Object.keys(p).some((k) => /^k\d+$/.test(k)))).toHaveLength(n)
    } finally {
      await store.close()
    }

    // A later write through either process starts from the full state (each reloads on conflict).
    for (const [url, token] of [
      [a.url, tokenA],
      [b.url, tokenB],
    ] as const) {
      const res = await putSettings(url, token, { final: url })
      expect(res.status).toBe(200)
      const full = (await res.json()) as Record<string, unknown>
      for (let i = 0; i < n; i++) expect(full[`k${i}`]).toBe(i)
    }
    // Snapshots were written to the shared store along the way (and never showed up as events).
    expect(double.log.some((e) => e.streamId === `snapshot-wallet-${carol.address.toLowerCase()}`)).toBe(true)

    // A third process started now hydrates the actor (newest snapshot + tail) to the same state.
    const c = await spawnGatewayProcess(env())
    try {
      const tokenC = await signIn(c.url, carol)
      const res = await fetch(`${c.url}/wallet/settings`, { headers: { authorization: `Bearer ${tokenC}` } })
      expect(res.status).toBe(200)
      const full = (await res.json()) as Record<string, unknown>
      for (let i = 0; i < n; i++) expect(full[`k${i}`]).toBe(i)
      expect(full.final).toBe(b.url)
    } finally {
      await c.stop()
    }
  })

  // Last: it takes the store away from both processes.
  it('cluster unreachable: health degraded, writes refused with 503 store_unavailable, nothing half-written; then both recover and live delivery resumes', async () => {
    const dave = testAccount(0)
    const token = await signIn(a.url, dave)
    const { ws, frames } = await openWalletFeed(a.url, token)
    try {
      const logBefore = double.log.length

      await double.stop()
      for (const gw of [a, b]) {
        const health = (await (await fetch(`${gw.url}/health`)).json()) as { status: string; eventStore: { ok: boolean; reason?: string } }
        expect(health.status).toBe('degraded')
        expect(health.eventStore.ok).toBe(false)
        expect(typeof health.eventStore.reason).toBe('string')
      }
      const refused = await putSettings(b.url, token, { during: 'outage' })
      expect(refused.status).toBe(503)
      expect(((await refused.json()) as { error: string }).error).toBe('store_unavailable')
      expect(double.log.length).toBe(logBefore)

      await double.start()
      for (const gw of [a, b]) {
        let ok = false
        for (let i = 0; i < 100 && !ok; i++) {
          const health = (await (await fetch(`${gw.url}/health`)).json()) as { status: string; eventStore: { ok: boolean } }
          ok = health.eventStore.ok
          if (!ok) await new Promise((r) => setTimeout(r, 100))
        }
        expect(ok).toBe(true)
      }
      // The refused write did not happen; a retry now succeeds and reaches A's client live.
      let res = await putSettings(b.url, token, { after: 'outage' })
      for (let i = 0; i < 20 && res.status === 503; i++) {
        await new Promise((r) => setTimeout(r, 200))
        res = await putSettings(b.url, token, { after: 'outage' })
      }
      expect(res.status).toBe(200)
      const full = (await res.json()) as Record<string, unknown>
      expect(full.during).toBeUndefined()
      expect(full.after).toBe('outage')
      type Frame = { event: { type: string; data: { patch?: Record<string, unknown> } } }
      await waitFor(
        () => (frames.filter((f) => f.type === 'event') as unknown as Frame[]).some((f) => f.event.data.patch?.after === 'outage'),
        'the post-outage event on A',
      )
    } finally {
      ws.close()
    }
  })
})
