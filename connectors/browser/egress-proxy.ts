import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, isIP, type LookupFunction, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

/**
 * The browser's only way out: an HTTP forward proxy on 127.0.0.1 that Chromium is launched
 * behind. Each request (absolute-form for http://, CONNECT for https:// and wss://) is
 * admitted by the same check as the page's routes, and the connection goes to exactly the
 * addresses that check resolved and approved — Chromium never resolves a name itself, so a
 * DNS answer that changes between check and connect (rebinding) cannot reach an internal
 * address. It exists because Playwright's routes do not see everything: the next hop of a
 * redirect bypasses them.
 *
 * Each verification is a session with its own proxy credentials, so a refusal is reported
 * to the verification that caused it, and no other local process can use the proxy.
 */

export type Admission = { ok: true; addresses: string[] } | { ok: false; host: string; reason: string }
export type Admit = (url: string) => Promise<Admission>
export type OnRefuse = (r: { host: string; reason: string }) => void

export interface EgressSession {
  username: string
  password: string
  /** Ends the session and cuts its open connections. */
  close(): void
}

export interface EgressProxy {
  url: string
  openSession(onRefuse: OnRefuse): EgressSession
  close(): Promise<void>
}

interface Session {
  password: Buffer
  onRefuse: OnRefuse
  sockets: Set<Socket>
}

/** Request headers that describe the hop to the proxy, not the request itself. */
const HOP_BY_HOP = new Set(['proxy-authorization', 'proxy-connection', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade'])

function pinnedLookup(addresses: string[]): LookupFunction {
  const all = addresses.map((address) => ({ address, family: isIP(address) }))
  return (_host, options, cb) => {
    if ((options as { all?: boolean }).all === true) (cb as unknown as (e: null, a: typeof all) => void)(null, all)
    else cb(null, all[0]!.address, all[0]!.family)
  }
}

export async function startEgressProxy(admit: Admit): Promise<EgressProxy> {
  const sessions = new Map<string, Session>()

  function sessionOf(req: IncomingMessage): Session | undefined {
    const m = /^Basic\s+(.+)$/i.exec(req.headers['proxy-authorization'] ?? '')
    if (m === null) return undefined
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    const s = sessions.get(decoded.slice(0, colon))
    const given = Buffer.from(decoded.slice(colon + 1))
    return s !== undefined && given.length === s.password.length && timingSafeEqual(given, s.password) ? s : undefined
  }

  const challenge = 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="browser-verify"\r\nContent-Length: 0\r\n\r\n'

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = sessionOf(req)
    if (s === undefined) return void res.writeHead(407, { 'proxy-authenticate': 'Basic realm="browser-verify"' }).end()
    s.sockets.add(req.socket)
    let url: URL
    try {
      url = new URL(req.url ?? '')
    } catch {
      return void res.writeHead(400).end()
    }
    const verdict = url.protocol === 'http:' ? await admit(url.href) : { ok: false as const, host: url.hostname, reason: `scheme ${url.protocol} is not allowed` }
    if (!verdict.ok) {
      s.onRefuse(verdict)
      return void res.writeHead(403, { 'content-type': 'text/plain' }).end(`refused: ${verdict.reason}`)
    }
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v
    const up = httpRequest(
      { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 80 : Number(url.port), path: `${url.pathname}${url.search}`, method: req.method, headers, lookup: pinnedLookup(verdict.addresses) },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders)
        answer.pipe(res)
      },
    )
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()))
    req.pipe(up)
  }

  async function onConnect(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.on('error', () => {})
    const s = sessionOf(req)
    if (s === undefined) return void socket.end(challenge)
    s.sockets.add(socket)
    const target = new URL(`https://${req.url ?? ''}`)
    const verdict = await admit(target.href.replace(/\/$/, ''))
    if (!verdict.ok) {
      s.onRefuse(verdict)
      return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')
    }
    const up = connect({ host: target.hostname.replace(/^\[|\]$/g, ''), port: target.port === '' ? 443 : Number(target.port), lookup: pinnedLookup(verdict.addresses) })
    s.sockets.add(up)
    up.on('error', () => socket.destroy())
    up.on('connect', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) up.write(head)
      up.pipe(socket)
      socket.pipe(up)
    })
    socket.on('close', () => up.destroy())
  }

  const server = createServer((req, res) => void onRequest(req, res).catch(() => res.destroy()))
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => void onConnect(req, socket, head).catch(() => socket.destroy()))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    openSession(onRefuse) {
      const username = randomBytes(9).toString('hex')
      const password = randomBytes(18).toString('hex')
      const session: Session = { password: Buffer.from(password), onRefuse, sockets: new Set() }
      sessions.set(username, session)
      return {
        username,
        password,
        close() {
          sessions.delete(username)
          for (const so of session.sockets) so.destroy()
        },
      }
    },
    async close() {
      for (const s of sessions.values()) for (const so of s.sockets) so.destroy()
      sessions.clear()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
