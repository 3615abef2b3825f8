import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signIn, startTestGateway, testAccount, type TestGateway } from '../gateway.js'
import { HOSTILE_NAMES } from '../hostile-names.js'
import { openJsonWs } from '../ws-client.js'

describe('names are data on the whole gateway: budgets and WebSocket frames named like Object members', () => {
  let gw: TestGateway
  let token: string
  const headers = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' })

  beforeAll(async () => {
    // A snapshot after every event: names must survive the snapshot codec too.
    gw = await startTestGateway({ LOG_LEVEL: 'warn', SNAPSHOT_EVERY: '1' })
    token = await signIn(gw.url, testAccount(0))
  })
  afterAll(() => gw?.stop())

  it('PUT /wallet/budgets/<name> answers 200 and the balance and budgets stay readable, also after a restart', async () => {
    const stored = HOSTILE_NAMES.filter((n) => n !== '__proto__')
    // The one name msgpack cannot keep as a key is refused (400), never stored and corrupted.
    const proto = await fetch(`${gw.url}/wallet/budgets/__proto__`, { method: 'PUT', headers: headers(), body: JSON.stringify({ daily: '5' }) })
    expect(proto.status).toBe(400)
    for (const name of stored) {
      const put = await fetch(`${gw.url}/wallet/budgets/${name}`, { method: 'PUT', headers: headers(), body: JSON.stringify({ daily: '5' }) })
      expect(put.status, name).toBe(200)
      expect(((await put.json()) as { budget: { daily: { limit: string } } }).budget.daily.limit, name).toBe('5')
    }
    const check = async (url: string) => {
      const balance = await fetch(`${url}/wallet/balance`, { headers: headers() })
      expect(balance.status).toBe(200)
      const budgets = await fetch(`${url}/wallet/budgets`, { headers: headers() })
      expect(budgets.status).toBe(200)
      const text = await budgets.text()
      // JSON.parse defines own properties, also for "__proto__".
      const parsed = JSON.parse(text) as { budgets: Record<string, unknown> }
      expect(Object.keys(parsed.budgets).sort()).toEqual([...stored].sort())
    }
    await check(gw.url)
    const dir = gw.dataDir
    await gw.stop({ keepData: true })
    gw = await startTestGateway({ LOG_LEVEL: 'warn', SNAPSHOT_EVERY: '1' }, dir)
    await check(gw.url)
  })

  it('WebSocket frames typed like Object members get an error frame, and the socket keeps working', async () => {
    const client = await openJsonWs(gw.url, token)
    await client.next((f) => f.type === 'ack' && f.of === 'auth')
    for (const [i, type] of HOSTILE_NAMES.entries()) {
      client.send({ type, id: i })
      const answer = await client.next((f) => f.id === i)
      expect(answer.type, type).toBe('error')
      expect(answer.error, type).toBe('invalid_request')
    }
    client.send({ type: 'ping', id: 'last' })
    expect((await client.next((f) => f.id === 'last')).type).toBe('pong')
    client.ws.close()
  })
})
