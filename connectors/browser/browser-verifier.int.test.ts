import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BrowserError, createBrowserVerifier } from './browser-verifier.js'

const PAGE = `<!doctype html><html><head><title>Canvas test</title></head><body>
<h1>Hello canvas</h1>
<ul><li class="item">a</li><li class="item">b</li><li class="item">c</li></ul>
<form action="/done" method="get"><input id="name" name="name"><button id="go" type="submit">Go</button></form>
<p id="late" hidden>Rendered later</p>
<script>setTimeout(() => { document.getElementById('late').hidden = false }, 200)</script>
</body></html>`

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))
}

describe('browser verifier (headless Chromium via playwright-core)', () => {
  let site: Server
  let trap: Server
  let port: number
  let trapPort: number
  let trapConnections = 0
  const resolved: string[] = []
  let verifier: ReturnType<typeof createBrowserVerifier>

  beforeAll(async () => {
    site = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
      if (url.pathname === '/done') return res.writeHead(200, { 'content-type': 'text/html' }).end(`<p>Thanks, ${url.searchParams.get('name')}</p>`)
      if (url.pathname === '/hop') return res.writeHead(302, { location: '/done?name=hop' }).end()
      if (url.pathname === '/slow') return void setTimeout(() => res.writeHead(200, { 'content-type': 'text/html' }).end('<p>slow</p>'), 5_000)
      if (url.pathname === '/redirect-out') return res.writeHead(302, { location: `http://evil.test:${trapPort}/` }).end()
      if (url.pathname === '/metadata-img') return res.writeHead(200, { 'content-type': 'text/html' }).end(`<p>img</p><img src="http://metadata.test/latest/meta-data/">`)
      res.writeHead(404, { 'content-type': 'text/html' }).end('<p>Nothing here</p>')
    })
    trap = createServer((_req, res) => res.end('you should not be here'))
    trap.on('connection', () => trapConnections++)
    port = await listen(site)
    trapPort = await listen(trap)
    verifier = createBrowserVerifier({
      allowedHosts: [`127.0.0.1:${port}`, 'page.test', 'evil.test', 'metadata.test'],
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // The injected resolver stands in for DNS: the names only exist here.
      resolve: async (host) => {
        resolved.push(host)
        const table: Record<string, string[]> = { 'page.test': ['127.0.0.1'], 'evil.test': ['127.0.0.1'], 'metadata.test': ['169.254.169.254'] }
        const a = table[host]
        if (a === undefined) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' })
        return a
      },
    })
  })
  afterAll(async () => {
    await verifier.close()
    site.close()
    trap.close()
  })

  it('runs steps and reports passing and failing assertions with a PNG screenshot', async () => {
    const base = `http://127.0.0.1:${port}`
    const r = await verifier.verify({
      steps: [{ action: 'goto', url: `${base}/` }, { action: 'waitFor', selector: '#late' }],
      assertions: [
        { type: 'textVisible', text: 'Hello canvas' },
        { type: 'selectorCount', selector: 'li.item', count: 3 },
        { type: 'httpStatus', status: 200 },
        { type: 'url', equals: `${base}/` },
        { type: 'textVisible', text: 'Goodbye' },
        { type: 'selectorCount', selector: 'li.item', count: 2 },
      ],
      timeoutMs: 20_000,
    })
    expect(r.passed).toBe(false)
    expect(r.assertions.map((a) => a.passed)).toEqual([true, true, true, true, false, false])
    expect(r.assertions[5]!.detail).toBe('3 element(s) match li.item, expected 2')
    expect(r.status).toBe(200)
    expect(r.finalUrl).toBe(`${base}/`)
    expect(Buffer.from(r.screenshot.subarray(0, 8)).toString('hex')).toBe('89504e470d0a1a0a')
    expect(r.screenshot.length).toBeGreaterThan(1000)
  })

  it('fills and clicks through a form; all assertions pass; a 404 is reported as the status', async () => {
    const r = await verifier.verify({
      steps: [
        { action: 'goto', url: `http://127.0.0.1:${port}/` },
        { action: 'fill', selector: '#name', value: 'Ada' },
        { action: 'click', selector: '#go' },
        { action: 'waitFor', selector: 'text=Thanks, Ada' },
      ],
      assertions: [
        { type: 'textVisible', text: 'Thanks, Ada' },
        { type: 'url', contains: '/done?name=Ada' },
        { type: 'httpStatus', status: 200 },
      ],
      timeoutMs: 20_000,
    })
    expect(r.assertions.map((a) => a.detail)).toHaveLength(3)
    expect(r.passed).toBe(true)

    const missing = await verifier.verify({ steps: [{ action: 'goto', url: `http://127.0.0.1:${port}/nope` }], assertions: [{ type: 'httpStatus', status: 404 }], timeoutMs: 20_000 })
    expect(missing).toMatchObject({ passed: true, status: 404 })
  })

  it('reaches an allow-listed name only at the address it was checked at (the browser never resolves it)', async () => {
    const r = await verifier.verify({ steps: [{ action: 'goto', url: `http://page.test:${port}/` }], assertions: [{ type: 'textVisible', text: 'Hello canvas' }], timeoutMs: 20_000 })
    expect(r.passed).toBe(true)
    expect(r.finalUrl).toBe(`http://page.test:${port}/`)
  })

  it('follows an allowed redirect (its next hop checked by the egress proxy): URL and status are the final ones', async () => {
    const r = await verifier.verify({
      steps: [{ action: 'goto', url: `http://127.0.0.1:${port}/hop` }],
      assertions: [{ type: 'url', equals: `http://127.0.0.1:${port}/done?name=hop` }, { type: 'httpStatus', status: 200 }, { type: 'textVisible', text: 'Thanks, hop' }],
      timeoutMs: 20_000,
    })
    expect(r.assertions.map((a) => [a.passed, a.detail])).toEqual([
      [true, expect.any(String)],
      [true, expect.any(String)],
      [true, expect.any(String)],
    ])
  })

  it('stops at the deadline, and when its signal aborts', async () => {
    const slow = { steps: [{ action: 'goto' as const, url: `http://127.0.0.1:${port}/slow` }], assertions: [] }
    await expect(verifier.verify({ ...slow, timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'browser_timeout' })
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 500)
    await expect(verifier.verify({ ...slow, timeoutMs: 20_000, signal: ac.signal })).rejects.toMatchObject({ code: 'browser_aborted' })
  })

  it('refuses a host off the allow-list', async () => {
    const e = await verifier.verify({ steps: [{ action: 'goto', url: `http://localhost:${port}/` }], assertions: [], timeoutMs: 20_000 }).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(BrowserError)
    expect(e).toMatchObject({ code: 'browser_host_forbidden', host: 'localhost' })
    expect((e as Error).message).toContain('localhost')
  })

  it('refuses an allow-listed name that resolves to a forbidden address, without connecting', async () => {
    resolved.length = 0
    const e = await verifier.verify({ steps: [{ action: 'goto', url: `http://evil.test:${trapPort}/` }], assertions: [], timeoutMs: 20_000 }).catch((x: unknown) => x)
    expect(e).toMatchObject({ code: 'browser_host_forbidden', host: 'evil.test' })
    expect((e as Error).message).toContain('forbidden address 127.0.0.1')
    expect(resolved).toContain('evil.test')
    expect(trapConnections).toBe(0)
  })

  it('refuses a redirect to a forbidden address and a subresource on the metadata address', async () => {
    const redirect = await verifier.verify({ steps: [{ action: 'goto', url: `http://127.0.0.1:${port}/redirect-out` }], assertions: [], timeoutMs: 20_000 }).catch((x: unknown) => x)
    expect(redirect).toMatchObject({ code: 'browser_host_forbidden', host: 'evil.test' })
    expect(trapConnections).toBe(0)

    const img = await verifier.verify({ steps: [{ action: 'goto', url: `http://127.0.0.1:${port}/metadata-img` }], assertions: [], timeoutMs: 20_000 }).catch((x: unknown) => x)
    expect(img).toMatchObject({ code: 'browser_host_forbidden', host: 'metadata.test' })
    expect((img as Error).message).toContain('169.254.169.254')
  })

  it('refuses everything with an empty allow-list, and a failed step names the step', async () => {
    const none = createBrowserVerifier({ allowedHosts: [], executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' })
    try {
      await expect(none.verify({ steps: [{ action: 'goto', url: `http://127.0.0.1:${port}/` }], assertions: [], timeoutMs: 20_000 })).rejects.toMatchObject({ code: 'browser_host_forbidden', host: '127.0.0.1' })
    } finally {
      await none.close()
    }
    await expect(
      verifier.verify({ steps: [{ action: 'goto', url: `http://127.0.0.1:${port}/` }, { action: 'click', selector: '#does-not-exist' }], assertions: [], timeoutMs: 3_000 }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^browser_(step_failed|timeout)$/) })
  })
})
