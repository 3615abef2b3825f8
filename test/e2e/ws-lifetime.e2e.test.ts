import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signIn, startTestGateway, testAccount, type TestGateway } from '../gateway.js'
import { openJsonWs } from '../ws-client.js'

const JWT_SECRET = 'ws-lifetime-secret-0123456789abcdef0123456789'

/** A session token as the gateway issues it, but expiring in `ttlS` seconds. */
async function shortToken(address: `0x${string}`, ttlS: number, jti: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ walletAddress: address })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(address.toLowerCase())
    .setIssuer('agent-gateway')
    .setAudience('agent-gateway')
    .setIssuedAt(now)
    .setExpirationTime(now + ttlS)
    .setJti(jti)
    .sign(new TextEncoder().encode(JWT_SECRET))
}

describe('a WebSocket lives no longer than its token', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startTestGateway({ LOG_LEVEL: 'warn', JWT_SECRET })
  })
  afterAll(() => gw?.stop())

  it('POST /auth/logout closes the sockets of that token with 4401 (and only those)', async () => {
    const account = testAccount(0)
    const token = await signIn(gw.url, account)
    const other = await signIn(gw.url, account)
    const ws = await openJsonWs(gw.url, token)
    const survivor = await openJsonWs(gw.url, other)
    for (const c of [ws, survivor]) {
      c.send({ type: 'subscribe', topic: 'wallet', id: 's' })
      await c.next((f) => f.type === 'ack' && f.of === 'subscribe')
    }
    const logout = await fetch(`${gw.url}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    expect(logout.status).toBe(200)
    expect(await Promise.race([ws.closed, new Promise((r) => setTimeout(() => r('still open'), 3000))])).toBe(4401)
    survivor.send({ type: 'ping', id: 'p' })
    expect((await survivor.next((f) => f.id === 'p')).type).toBe('pong')
    survivor.ws.close()
  })

  it('closes at token expiry with 4401; a fresh auth frame for the same wallet extends the socket', async () => {
    const account = testAccount(1)
    await signIn(gw.url, account) // registers the wallet
    const expiring = await openJsonWs(gw.url, await shortToken(account.address, 2, 'short-1'))
    const extended = await openJsonWs(gw.url, await shortToken(account.address, 2, 'short-2'))
    for (const c of [expiring, extended]) await c.next((f) => f.type === 'ack' && f.of === 'auth')
    extended.send({ type: 'auth', token: await shortToken(account.address, 600, 'long-1') })
    await extended.next((f) => f.type === 'ack' && f.of === 'auth' && typeof f.expiresAt === 'number' && f.expiresAt > Date.now() + 60_000)
    const started = Date.now()
    expect(await Promise.race([expiring.closed, new Promise((r) => setTimeout(() => r('still open'), 6000))])).toBe(4401)
    expect(Date.now() - started).toBeLessThan(4000)
    await new Promise((r) => setTimeout(r, 500))
    extended.send({ type: 'ping', id: 'after-expiry' })
    expect((await extended.next((f) => f.id === 'after-expiry')).type).toBe('pong')
    // A fresh token for another wallet is refused; the socket keeps its own.
    extended.send({ type: 'auth', token: await signIn(gw.url, testAccount(2)) })
    await extended.next((f) => f.type === 'error' && f.error === 'forbidden')
    extended.ws.close()
  }, 30_000)
})
