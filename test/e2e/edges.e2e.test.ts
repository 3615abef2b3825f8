import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signIn, spawnGatewayProcess, startTestGateway, testAccount, type TestGateway } from '../gateway.js'

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** The malleable twin of a 65-byte signature: s → n − s, v flipped. Recovers the same address. */
function highS(signature: `0x${string}`): `0x${string}` {
  const r = signature.slice(2, 66)
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130, 132), 16)
  const twin = (SECP256K1_N - s).toString(16).padStart(64, '0')
  return `0x${r}${twin}${(v === 27 ? 28 : 27).toString(16)}`
}

describe('edges users and attackers meet first', () => {
  let gw: TestGateway
  let token: string
  beforeAll(async () => {
    gw = await startTestGateway({ LOG_LEVEL: 'warn' })
    token = await signIn(gw.url, testAccount(0))
  })
  afterAll(() => gw?.stop())

  it('HEAD on a GET route answers like the GET without a body, and no response carries a uWebSockets header', async () => {
    const get = await fetch(`${gw.url}/health`)
    const body = await get.text()
    const head = await fetch(`${gw.url}/health`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0)
    expect(Math.abs(Number(head.headers.get('content-length')) - Buffer.byteLength(body))).toBeLessThan(16) // uptime digits may differ
    const authed = await fetch(`${gw.url}/wallet/balance`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } })
    expect(authed.status).toBe(200)
    expect((await fetch(`${gw.url}/wallet/balance`, { method: 'HEAD' })).status).toBe(401)
    for (const res of [get, head, authed]) expect(res.headers.get('uwebsockets')).toBeNull()
  })

  it('route_not_found does not echo an unbounded path', async () => {
    const res = await fetch(`${gw.url}/${'a'.repeat(6000)}`)
    expect(res.status).toBe(404)
    const body = (await res.json()) as { error: string; message: string }
    expect(body.error).toBe('route_not_found')
    expect(body.message.length).toBeLessThan(300)
  })

  it('JSON nested thousands of levels deep answers 400 json_too_complex, never 500', async () => {
    for (const depth of [1_500, 20_000]) {
      const deep = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
      const res = await fetch(`${gw.url}/wallet/settings`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: `{"nested":${deep}}`,
      })
      expect(res.status, String(depth)).toBe(400)
      expect(((await res.json()) as { error: string }).error).toBe('json_too_complex')
    }
    const wide = JSON.stringify({ wide: Array.from({ length: 30_000 }, () => 0) })
    const res = await fetch(`${gw.url}/wallet/settings`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: wide })
    expect(res.status).toBe(400)
    expect(gw.logLines.filter((l) => l.includes('"level":50'))).toEqual([])
  })

  it('refuses a high-s (malleable) signature at /auth/verify', async () => {
    const account = testAccount(2)
    const challenge = (await (await fetch(`${gw.url}/auth/challenge`)).json()) as { nonce: string; message: string }
    const signature = highS(await account.signMessage({ message: challenge.message }))
    const res = await fetch(`${gw.url}/auth/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ walletAddress: account.address, signature, nonce: challenge.nonce }),
    })
    expect(res.status).toBe(401)
    expect(((await res.json()) as { error: string }).error).toBe('signature_invalid')
  })

  it('an attestation report on a host without a TEE logs one short warning, not a stack trace per request', async () => {
    const before = gw.logLines.length
    for (let i = 0; i < 5; i++) expect((await fetch(`${gw.url}/api/attestation/report`)).status).toBe(503)
    const lines = gw.logLines.slice(before).filter((l) => l.includes('attestation'))
    expect(lines.length).toBeLessThanOrEqual(1)
    for (const l of lines) {
      expect(l).not.toContain('stack')
      expect((JSON.parse(l) as { level: number }).level).toBe(40)
    }
  })
})

describe('lifecycle edges', () => {
  it('a client that disconnects mid-body does not hold shutdown for SHUTDOWN_GRACE_MS', async () => {
    const gw = await startTestGateway({ LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '10000' })
    const token = await signIn(gw.url, testAccount(1))
    const { port } = new URL(gw.url)
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `PUT /wallet/settings HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"plan":`,
        )
        setTimeout(() => {
          socket.destroy()
          resolve()
        }, 200)
      })
      socket.once('error', reject)
    })
    await new Promise((r) => setTimeout(r, 200))
    const started = Date.now()
    await gw.stop()
    expect(Date.now() - started).toBeLessThan(5_000)
  }, 30_000)

  it('makes the data folder 0700 and the SQLite files 0600 even when the folder already exists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agw-modes-'))
    mkdirSync(dir, { recursive: true, mode: 0o755 })
    const gw = await startTestGateway({ LOG_LEVEL: 'warn' }, dir)
    try {
      expect(statSync(dir).mode & 0o777).toBe(0o700)
      for (const f of ['events.sqlite', 'projections.sqlite']) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600)
    } finally {
      await gw.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)

  it('a second gateway on a port already in use fails to start with a clear message', async () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'agw-port-a-')), mkdtempSync(join(tmpdir(), 'agw-port-b-'))]
    const first = await spawnGatewayProcess({ DATA_DIR: dirs[0]! })
    try {
      const second = spawnGatewayProcess({ DATA_DIR: dirs[1]!, PORT: String(first.port) })
      await expect(second.then(async (g) => void (await g.stop()))).rejects.toThrow(/already in use/)
      // In process too: startGateway rejects with the same message (and releases what it opened).
      await expect(startTestGateway({ LOG_LEVEL: 'warn', PORT: String(first.port) }, dirs[1])).rejects.toThrow(/already in use/)
    } finally {
      await first.stop()
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    }
  }, 90_000)
})
