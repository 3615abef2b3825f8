import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { decode, encode } from '../../store/codec.js'
import { signIn, startTestGateway, testAccount, type TestGateway } from '../gateway.js'

const JWT_SECRET = 'test-secret-0123456789abcdef0123456789abcdef'

async function challenge(url: string, query = ''): Promise<{ nonce: string; message: string }> {
  const res = await fetch(`${url}/auth/challenge${query}`)
  expect(res.status).toBe(200)
  return (await res.json()) as { nonce: string; message: string }
}

async function verify(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/auth/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function getSettings(url: string, token: string): Promise<Response> {
  return fetch(`${url}/wallet/settings`, { headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } })
}

async function putSettings(url: string, token: string, patch: unknown): Promise<Response> {
  return fetch(`${url}/wallet/settings`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(patch),
  })
}

describe('foundation: sign-in, settings, restart', () => {
  let gw: TestGateway
  const alice = testAccount(0)
  const mallory = testAccount(1)

  beforeAll(async () => {
    gw = await startTestGateway({ JWT_SECRET })
  })
  afterAll(async () => {
    await gw?.stop()
  })

  it('a viem+fetch client signs in, writes settings, and reads them back after a restart', async () => {
    const token = await signIn(gw.url, alice)
    const put = await putSettings(gw.url, token, { defaultModel: 'sonnet', selfImprovementSchedule: 'daily', myClientKey: [1, 2] })
    expect(put.status).toBe(200)
    const full = (await put.json()) as Record<string, unknown>
    expect(full).toMatchObject({ defaultModel: 'sonnet', improveSchedule: 'daily', selfImprovementSchedule: 'daily', myClientKey: [1, 2], plan: 'byok' })

    // Restart on the same data folder: same store, same generated secret file? No: JWT_SECRET is fixed here.
    const dir = gw.dataDir
    await gw.close()
    gw = await startTestGateway({ JWT_SECRET }, dir)
    const after = await getSettings(gw.url, token)
    expect(after.status).toBe(200)
    expect(await after.json()).toEqual(full)
  })

  it('accepts a SIWE (EIP-4361) challenge when ?address= is given', async () => {
    const c = await challenge(gw.url, `?address=${alice.address}`)
    expect(c.message).toContain('wants you to sign in with your Ethereum account')
    expect(c.message).toContain(alice.address)
    const signature = await alice.signMessage({ message: c.message })
    const ok = await verify(gw.url, { walletAddress: alice.address, signature, nonce: c.nonce })
    expect(ok.status).toBe(200)
    expect(typeof ok.body.token).toBe('string')
    // A SIWE challenge for alice cannot be used by mallory, even with mallory's own signature.
    const c2 = await challenge(gw.url, `?address=${alice.address}`)
    const bad = await verify(gw.url, { walletAddress: mallory.address, signature: await mallory.signMessage({ message: c2.message }), nonce: c2.nonce })
    expect(bad).toMatchObject({ status: 401, body: { error: 'signature_invalid' } })
  })

  it('refuses a reused nonce, an expired challenge and another key\'s signature with 401 codes', async () => {
    const c = await challenge(gw.url)
    const signature = await alice.signMessage({ message: c.message })
    expect((await verify(gw.url, { walletAddress: alice.address, signature, nonce: c.nonce })).status).toBe(200)
    expect(await verify(gw.url, { walletAddress: alice.address, signature, nonce: c.nonce })).toMatchObject({
      status: 401,
      body: { error: 'nonce_reused' },
    })

    const other = await challenge(gw.url)
    const byMallory = await mallory.signMessage({ message: other.message })
    expect(await verify(gw.url, { walletAddress: alice.address, signature: byMallory, nonce: other.nonce })).toMatchObject({
      status: 401,
      body: { error: 'signature_invalid' },
    })

    const unknown = await verify(gw.url, { walletAddress: alice.address, signature, nonce: 'f'.repeat(32) })
    expect(unknown).toMatchObject({ status: 401, body: { error: 'nonce_unknown' } })

    // A gateway whose challenges live one second: a correct signature sent too late is refused.
    const short = await startTestGateway({ JWT_SECRET, CHALLENGE_TTL_MS: '1000' })
    try {
      const late = await challenge(short.url)
      const lateSig = await alice.signMessage({ message: late.message })
      await new Promise((r) => setTimeout(r, 1200))
      expect(await verify(short.url, { walletAddress: alice.address, signature: lateSig, nonce: late.nonce })).toMatchObject({
        status: 401,
        body: { error: 'nonce_expired' },
      })
    } finally {
      await short.stop()
    }
  })

  it('refuses tampered, alg:none, wrong-audience, expired and revoked tokens with 401', async () => {
    const token = await signIn(gw.url, alice)
    const [h, p, s] = token.split('.') as [string, string, string]
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>

    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: mallory.address.toLowerCase(), walletAddress: mallory.address })).toString('base64url')}.${s}`
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`
    const key = new TextEncoder().encode(JWT_SECRET)
    const now = Math.floor(Date.now() / 1000)
    const otherAudience = await new SignJWT({ walletAddress: alice.address })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(alice.address.toLowerCase())
      .setIssuer('agent-gateway')
      .setAudience('some-other-service')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .setJti('x1')
      .sign(key)
    const expired = await new SignJWT({ walletAddress: alice.address })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(alice.address.toLowerCase())
      .setIssuer('agent-gateway')
      .setAudience('agent-gateway')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .setJti('x2')
      .sign(key)
    const hs512 = await new SignJWT({ walletAddress: alice.address })
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject(alice.address.toLowerCase())
      .setIssuer('agent-gateway')
      .setAudience('agent-gateway')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .setJti('x3')
      .sign(key)

    for (const [bad, code] of [
      [tampered, 'token_invalid'],
      [none, 'token_invalid'],
      [otherAudience, 'token_invalid'],
      [hs512, 'token_invalid'],
      [expired, 'token_expired'],
      ['garbage', 'token_invalid'],
    ] as const) {
      const res = await getSettings(gw.url, bad)
      expect(res.status).toBe(401)
      expect(((await res.json()) as { error: string }).error).toBe(code)
    }

    expect((await getSettings(gw.url, token)).status).toBe(200)
    const logout = await fetch(`${gw.url}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    expect(logout.status).toBe(200)
    const revoked = await getSettings(gw.url, token)
    expect(revoked.status).toBe(401)
    expect(((await revoked.json()) as { error: string }).error).toBe('token_revoked')
  })

  it('answers bad input with 4xx JSON and never 500', async () => {
    const token = await signIn(gw.url, alice)
    const auth = { authorization: `Bearer ${token}` }
    const malformed = await fetch(`${gw.url}/auth/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"walletAddress":' })
    expect(malformed.status).toBe(400)
    expect(((await malformed.json()) as { error: string }).error).toBe('invalid_json')

    const big = await fetch(`${gw.url}/wallet/settings`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ blob: 'x'.repeat(2 * 1024 * 1024) }),
    })
    expect(big.status).toBe(413)
    expect(((await big.json()) as { error: string }).error).toBe('payload_too_large')

    const unknown = await fetch(`${gw.url}/no/such/route`)
    expect(unknown.status).toBe(404)
    expect(((await unknown.json()) as { error: string }).error).toBe('route_not_found')

    const wrongType = await fetch(`${gw.url}/wallet/settings`, { method: 'PUT', headers: { ...auth, 'content-type': 'text/plain' }, body: '{}' })
    expect(wrongType.status).toBe(415)

    const invalid = await putSettings(gw.url, token, { persistConversations: 'yes', conversationRetentionDays: -1 })
    expect(invalid.status).toBe(400)
    const invalidBody = (await invalid.json()) as { error: string; message: string }
    expect(invalidBody.error).toBe('invalid_request')
    expect(invalidBody.message).toMatch(/persistConversations/)

    const inputs: [string, string, unknown][] = [
      ['POST', '/auth/verify', { walletAddress: 'nope', signature: '0x', nonce: '' }],
      ['POST', '/auth/verify', { walletAddress: alice.address, signature: `0x${'00'.repeat(65)}`, nonce: 'a'.repeat(32) }],
      ['POST', '/auth/verify', []],
      ['POST', '/auth/verify', null],
      ['POST', '/auth/verify', 'string'],
      ['GET', '/auth/challenge?address=0xnothex', undefined],
      ['PUT', '/wallet/settings', []],
      ['PUT', '/wallet/settings', null],
      ['PUT', '/wallet/settings', { improveSchedule: 'hourly' }],
      ['PUT', '/wallet/settings', Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, i]))],
      ['GET', '/wallet/%E0%A4%A', undefined],
      ['POST', '/auth/logout', {}],
    ]
    for (const [method, path, body] of inputs) {
      const res = await fetch(`${gw.url}${path}`, {
        method,
        headers: { ...auth, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(200)
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBeLessThan(500)
      if (res.status >= 400) expect(typeof ((await res.json()) as { error: unknown }).error).toBe('string')
    }
  })

  it('streams the wallet topic over WebSocket: stored events after `after`, then live, in order, no duplicates', async () => {
    const bob = testAccount(2)
    const token = await signIn(gw.url, bob)
    for (let i = 0; i < 3; i++) expect((await putSettings(gw.url, token, { counter: i })).status).toBe(200)

    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`, ['agent-gateway.v1.msgpack'], { headers: { authorization: `Bearer ${token}` } })
    const frames: Record<string, unknown>[] = []
    ws.on('message', (data: Buffer) => frames.push(decode(data)))
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    expect(ws.protocol).toBe('agent-gateway.v1.msgpack')
    const waitFor = async (pred: () => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 25))
      expect(pred()).toBe(true)
    }
    await waitFor(() => frames.some((f) => f.type === 'ack' && f.of === 'auth'))
    ws.send(encode({ type: 'subscribe', topic: 'wallet', after: 0n }))
    // Live writes race the replay on purpose.
    const live = (async () => {
      for (let i = 3; i < 8; i++) await putSettings(gw.url, token, { counter: i })
    })()
    await live
    const events = () => frames.filter((f) => f.type === 'event') as { position: bigint; event: { type: string; data: { patch?: { counter?: number } } } }[]
    await waitFor(() => events().filter((e) => e.event.type === 'SettingsUpdated').length >= 8)
    await new Promise((r) => setTimeout(r, 200))
    const got = events()
    const positions = got.map((e) => e.position)
    expect(typeof positions[0]).toBe('bigint')
    expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions)
    expect(new Set(positions).size).toBe(positions.length)
    expect(got[0]?.event.type).toBe('WalletRegistered')
    expect(got.filter((e) => e.event.type === 'SettingsUpdated').map((e) => e.event.data.patch?.counter)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])

    // Resume from the middle: exactly the events after that position.
    const middle = got[3]!.position
    const ws2 = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`, ['agent-gateway.v1.json'])
    const frames2: Record<string, unknown>[] = []
    ws2.on('message', (data: Buffer) => frames2.push(JSON.parse(data.toString()) as Record<string, unknown>))
    await new Promise((resolve) => ws2.once('open', resolve))
    ws2.send(JSON.stringify({ type: 'auth', token }))
    ws2.send(JSON.stringify({ type: 'subscribe', topic: 'wallet', after: middle.toString() }))
    const ev2 = () => frames2.filter((f) => f.type === 'event') as { position: string }[]
    await waitFor(() => ev2().length >= got.length - 4)
    expect(ev2().map((e) => BigInt(e.position))).toEqual(positions.slice(4))
    ws.close()
    ws2.close()
  })

  it('closes a WebSocket client that stops reading with 1013; it resumes with after and misses nothing', async () => {
    const carol = testAccount(1)
    const token = await signIn(gw.url, carol)
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`, ['agent-gateway.v1.json'], { headers: { authorization: `Bearer ${token}` } })
    const seen: { position: string }[] = []
    ws.on('message', (d: Buffer) => {
      const f = JSON.parse(d.toString()) as { type: string; position: string }
      if (f.type === 'event') seen.push(f)
    })
    await new Promise((resolve) => ws.once('open', resolve))
    ws.send(JSON.stringify({ type: 'subscribe', topic: 'wallet' }))
    await new Promise((r) => setTimeout(r, 200))
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)))
    // Stop reading: the kernel buffers fill, then the gateway's per-client buffer.
    ;(ws as unknown as { _socket: { pause(): void } })._socket.pause()
    const blob = 'x'.repeat(60_000)
    let code: number | undefined
    void closed.then((c) => (code = c))
    for (let i = 0; i < 400 && code === undefined; i++) {
      expect((await putSettings(gw.url, token, { blob: `${i}${blob}` })).status).toBe(200)
    }
    ;(ws as unknown as { _socket: { resume(): void } })._socket.resume()
    expect(await closed).toBe(1013)

    // Resume from the last event received: everything after it arrives, nothing twice.
    const after = seen.at(-1)?.position ?? '0'
    const ws2 = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`, ['agent-gateway.v1.json'], { headers: { authorization: `Bearer ${token}` } })
    const resumed: { position: string }[] = []
    ws2.on('message', (d: Buffer) => {
      const f = JSON.parse(d.toString()) as { type: string; position: string }
      if (f.type === 'event') resumed.push(f)
    })
    await new Promise((resolve) => ws2.once('open', resolve))
    ws2.send(JSON.stringify({ type: 'subscribe', topic: 'wallet', after }))
    const stored = (await gw.store.readStream(`wallet-${carol.address.toLowerCase()}`)).filter((e) => e.position > BigInt(after))
    for (let i = 0; i < 400 && resumed.length < stored.length; i++) await new Promise((r) => setTimeout(r, 25))
    expect(resumed.map((f) => f.position)).toEqual(stored.map((e) => e.position.toString()))
    ws2.close()
  }, 120_000)

  it('closes an unauthenticated WebSocket with 4401', async () => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`, ['agent-gateway.v1.json'])
    await new Promise((resolve) => ws.once('open', resolve))
    ws.send(JSON.stringify({ type: 'auth', token: 'not-a-token' }))
    const code = await new Promise<number>((resolve) => ws.once('close', (c: number) => resolve(c)))
    expect(code).toBe(4401)
  })
})
