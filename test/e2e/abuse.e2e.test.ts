import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signIn, startTestGateway, testAccount, type TestGateway } from '../gateway.js'
import { openJsonWs } from '../ws-client.js'

describe('abuse costs the attacker, not the store', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startTestGateway({
      LOG_LEVEL: 'warn',
      RATE_LIMIT_CLIENT_PER_S: '1',
      RATE_LIMIT_CLIENT_BURST: '300',
      RATE_LIMIT_WALLET_PER_S: '1',
      RATE_LIMIT_WALLET_BURST: '5',
    })
  })
  afterAll(() => gw?.stop())

  it('anonymous challenges write nothing durable; only a used one is recorded, and it stays single-use', async () => {
    const before = await gw.store.headPosition()
    for (let i = 0; i < 200; i++) expect((await fetch(`${gw.url}/auth/challenge`)).status).toBe(200)
    expect(await gw.store.headPosition()).toBe(before)
    // Sign-in still works, and a nonce still works exactly once.
    const alice = testAccount(0)
    const c = (await (await fetch(`${gw.url}/auth/challenge?address=${alice.address}`)).json()) as { nonce: string; message: string }
    const body = JSON.stringify({ walletAddress: alice.address, signature: await alice.signMessage({ message: c.message }), nonce: c.nonce })
    const post = () => fetch(`${gw.url}/auth/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    expect((await post()).status).toBe(200)
    const again = await post()
    expect(again.status).toBe(401)
    expect(((await again.json()) as { error: string }).error).toBe('nonce_reused')
    // A forged nonce (our format, wrong MAC) is unknown and costs nothing.
    const head = await gw.store.headPosition()
    const forged = `${c.nonce.slice(0, -2)}${c.nonce.endsWith('00') ? '01' : '00'}`
    const res = await fetch(`${gw.url}/auth/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...JSON.parse(body), nonce: forged }) })
    expect(((await res.json()) as { error: string }).error).toBe('nonce_unknown')
    expect(await gw.store.headPosition()).toBe(head)
  })

  it('anonymous requests beyond the client bucket answer 429 rate_limited with Retry-After; /health is never limited', async () => {
    let limited: Response | undefined
    for (let i = 0; i < 400 && limited === undefined; i++) {
      const res = await fetch(`${gw.url}/auth/challenge`)
      if (res.status === 429) limited = res
      else expect(res.status).toBe(200)
    }
    expect(limited).toBeDefined()
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await limited!.json()).toMatchObject({ error: 'rate_limited', scope: 'client' })
    for (let i = 0; i < 20; i++) expect((await fetch(`${gw.url}/health`)).status).toBe(200)
  })

  it('wallet writes beyond the wallet bucket answer 429; reads and other wallets are unaffected', async () => {
    const other = await startTestGateway({ LOG_LEVEL: 'warn', RATE_LIMIT_WALLET_PER_S: '1', RATE_LIMIT_WALLET_BURST: '5' })
    try {
      const [a, b] = [await signIn(other.url, testAccount(1)), await signIn(other.url, testAccount(2))]
      const put = (token: string, i: number) =>
        fetch(`${other.url}/wallet/settings`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ n: i }) })
      const statuses: number[] = []
      for (let i = 0; i < 8; i++) statuses.push((await put(a, i)).status)
      expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200])
      expect(statuses).toContain(429)
      const limited = await put(a, 99)
      expect(limited.status).toBe(429)
      expect(limited.headers.get('retry-after')).toBe('1')
      expect(await limited.json()).toMatchObject({ error: 'rate_limited', scope: 'wallet' })
      expect((await fetch(`${other.url}/wallet/settings`, { headers: { authorization: `Bearer ${a}` } })).status).toBe(200)
      // The same budget covers writes sent as WebSocket commands.
      const ws = await openJsonWs(other.url, a)
      ws.send({ type: 'chat', id: 'c1', agentId: 'assistant', message: 'hi' })
      expect(await ws.next((f) => f.id === 'c1')).toMatchObject({ type: 'error', error: 'rate_limited', scope: 'wallet' })
      ws.ws.close()
      expect((await put(b, 0)).status).toBe(200)
    } finally {
      await other.stop()
    }
  })
})
