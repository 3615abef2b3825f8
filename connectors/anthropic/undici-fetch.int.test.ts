import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startAnthropicFixture } from '../../test/anthropic/server.js'
import { createModelCaller } from './call-model.js'
import { nodeBodyOf, undiciFetch } from './undici-fetch.js'

/** What each path answers; every request is recorded. */
const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = []
function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
  seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
  if (req.url === '/no-content') return void res.writeHead(204, { 'x-kind': 'empty' }).end()
  if (req.url === '/cookies') {
    res.setHeader('set-cookie', ['a=1', 'b=2'])
    return void res.writeHead(201, { 'content-type': 'text/plain', 'retry-after': '3' }).end('made')
  }
  if (req.url === '/slow') {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('data: first\n\n')
    return // never ends: the client aborts
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body }))
}

describe('undiciFetch, the SDK fetch over undici.request', () => {
  let server: Server
  let url: string
  const ours = undiciFetch()
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => handle(req, res, body))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  it('answers what global fetch answers: status, every header, body', async () => {
    for (const path of ['/echo', '/cookies', '/no-content']) {
      const init = { method: 'POST', headers: new Headers({ 'content-type': 'application/json', 'x-api-key': 'k' }), body: '{"a":1}' }
      const [a, b] = [await ours(`${url}${path}`, init), await fetch(`${url}${path}`, init)]
      expect(a.status).toBe(b.status)
      expect([...a.headers].filter(([k]) => k !== 'date' && k !== 'keep-alive' && k !== 'connection')).toEqual([...b.headers].filter(([k]) => k !== 'date' && k !== 'keep-alive' && k !== 'connection'))
      expect(a.headers.getSetCookie()).toEqual(b.headers.getSetCookie())
      expect(await a.text()).toBe(await b.text())
    }
    const [fromUs, fromFetch] = seen.filter((s) => s.url === '/echo')
    expect(fromUs!.method).toBe('POST')
    expect(fromUs!.body).toBe('{"a":1}')
    expect(fromUs!.headers['x-api-key']).toBe('k')
    expect(fromUs!.headers['content-type']).toBe(fromFetch!.headers['content-type'])
  })

  it('sends a bytes body (call-model.ts encodes its own) as it is, with the length global fetch gives it', async () => {
    const bytes = Buffer.from('{"messages":["héllo ✓"]}')
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes }
    seen.length = 0
    const [a, b] = [await ours(`${url}/echo`, init), await fetch(`${url}/echo`, init)]
    expect(nodeBodyOf(a)).toBeDefined() // sent by undici.request, not handed to global fetch
    expect(await a.text()).toBe(await b.text())
    const [fromUs, fromFetch] = seen
    expect(fromUs!.body).toBe('{"messages":["héllo ✓"]}')
    expect(fromUs!.headers['content-length']).toBe(String(bytes.length))
    expect(fromUs!.headers['content-length']).toBe(fromFetch!.headers['content-length'])
  })

  it('aborts a response being read, and refuses an unreachable host, as errors the SDK classifies', async () => {
    const ac = new AbortController()
    const r = await ours(`${url}/slow`, { signal: ac.signal })
    const reader = r.body!.getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: first\n\n')
    ac.abort()
    await expect(reader.read()).rejects.toThrow()
    const closed = createServer()
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res))
    const port = (closed.address() as AddressInfo).port
    await new Promise((res) => closed.close(res))
    await expect(ours(`http://127.0.0.1:${port}/`, {})).rejects.toThrow()
  })

  it('through the SDK: an unreachable provider is provider_unavailable, a caller that goes away is client_gone', async () => {
    const closed = createServer()
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res))
    const port = (closed.address() as AddressInfo).port
    await new Promise((res) => closed.close(res))
    const base = { apiKey: 'sk-ant-x', model: 'claude-haiku-4-5', maxTokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] }
    const unreachable = createModelCaller({ baseURL: `http://127.0.0.1:${port}`, maxAttempts: 1 })
    await expect(unreachable(base)).rejects.toMatchObject({ code: 'provider_unavailable' })
    const fx = await startAnthropicFixture()
    try {
      fx.enqueue({ kind: 'message', content: [{ type: 'text', text: 'one two three four five six' }], interEventDelayMs: 100 })
      const ac = new AbortController()
      const deltas: string[] = []
      const call = createModelCaller({ baseURL: fx.url, maxAttempts: 1 })({ ...base, signal: ac.signal, onText: (d) => (deltas.push(d), ac.abort()) })
      await expect(call).rejects.toMatchObject({ code: 'client_gone' })
      expect(deltas).toHaveLength(1)
    } finally {
      await fx.close()
    }
  })

  it('reads nothing ahead into the web body: the Node body gives every byte until the web one is read, then none is offered', async () => {
    const direct = await ours(`${url}/echo`, { method: 'POST', body: 'x'.repeat(100_000) })
    const node = nodeBodyOf(direct)!
    let text = ''
    for await (const chunk of node) text += (chunk as Buffer).toString()
    expect(JSON.parse(text)).toEqual({ echo: 'x'.repeat(100_000) })
    const viaWeb = await ours(`${url}/echo`, { method: 'POST', body: 'y' })
    expect(await viaWeb.json()).toEqual({ echo: 'y' })
    expect(nodeBodyOf(viaWeb)).toBeUndefined()
  })
})
