import { createServer, request, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEgressProxy, type EgressProxy, type EgressSession } from './egress-proxy.js'

/** The egress proxy on its own: what Chromium's traffic meets, incl. CONNECT tunnels (https, wss). */
describe('egress proxy', () => {
  let target: Server
  let port: number
  let proxy: EgressProxy
  let session: EgressSession
  const refused: string[] = []
  const admitted: string[] = []

  beforeAll(async () => {
    target = createServer((req, res) => res.writeHead(200, { 'set-cookie': ['a=1', 'b=2'] }).end(`hello ${req.headers.host}`))
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r))
    port = (target.address() as AddressInfo).port
    // Only "allowed.test" is admitted, pinned to 127.0.0.1 (the name resolves nowhere else).
    proxy = await startEgressProxy(async (url) => {
      admitted.push(url)
      const host = new URL(url).hostname
      return host === 'allowed.test' ? { ok: true, addresses: ['127.0.0.1'] } : { ok: false, host, reason: `host ${host} is not on the allow-list` }
    })
    session = proxy.openSession((r) => refused.push(r.host))
  })
  afterAll(async () => {
    session.close()
    await proxy.close()
    target.close()
  })

  const auth = (): string => `Basic ${Buffer.from(`${session.username}:${session.password}`).toString('base64')}`
  const proxyPort = (): number => Number(new URL(proxy.url).port)

  function viaProxy(url: string, headers: Record<string, string>): Promise<{ status: number; body: string; cookies: string[] }> {
    return new Promise((ok, fail) => {
      const r = request({ host: '127.0.0.1', port: proxyPort(), path: url, headers }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c.toString()))
        res.on('end', () => ok({ status: res.statusCode ?? 0, body, cookies: res.headers['set-cookie'] ?? [] }))
      })
      r.on('error', fail)
      r.end()
    })
  }

  function tunnel(target: string, headers: string): Promise<string> {
    return new Promise((ok, fail) => {
      const s = connect(proxyPort(), '127.0.0.1', () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${headers}\r\n`))
      let got = ''
      s.on('data', (c: Buffer) => {
        got += c.toString()
        if (got.startsWith('HTTP/1.1 200') && got.includes('\r\n\r\n') && !got.includes('hello')) s.write(`GET / HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n`)
      })
      s.on('end', () => ok(got))
      s.on('error', fail)
    })
  }

  it('asks for its credentials', async () => {
    expect((await viaProxy(`http://allowed.test:${port}/`, {})).status).toBe(407)
    expect(await tunnel(`allowed.test:${port}`, '')).toMatch(/^HTTP\/1.1 407/)
    expect(await tunnel(`allowed.test:${port}`, `Proxy-Authorization: Basic ${Buffer.from(`${session.username}:wrong`).toString('base64')}\r\n`)).toMatch(/^HTTP\/1.1 407/)
  })

  it('forwards an admitted request to the pinned address, keeping every header', async () => {
    const r = await viaProxy(`http://allowed.test:${port}/x`, { 'proxy-authorization': auth(), host: `allowed.test:${port}` })
    expect(r).toEqual({ status: 200, body: `hello allowed.test:${port}`, cookies: ['a=1', 'b=2'] })
  })

  it('tunnels an admitted CONNECT and refuses the rest, reporting the host to the session', async () => {
    expect(await tunnel(`allowed.test:${port}`, `Proxy-Authorization: ${auth()}\r\n`)).toMatch(/^HTTP\/1.1 200 Connection Established[\s\S]*hello allowed.test/)
    expect(await tunnel(`169.254.169.254:80`, `Proxy-Authorization: ${auth()}\r\n`)).toMatch(/^HTTP\/1.1 403/)
    expect((await viaProxy(`http://elsewhere.test:${port}/`, { 'proxy-authorization': auth() })).status).toBe(403)
    expect(refused).toEqual(['169.254.169.254', 'elsewhere.test'])
    expect(admitted).toContain(`https://allowed.test:${port}`)
  })
})
