import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import { createVerifierClient, type NonceStore } from '@slicekit/erc8128'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { verifyMessage } from 'viem'
import { z } from 'zod'

/**
 * A test MCP gateway built on the official MCP SDK server (Streamable HTTP, stateless).
 * Delegated calls must carry an ES256 JWT verified against our JWKS URL with jose;
 * operator calls must carry an ERC-8128 signature from an allowed operator (replays
 * rejected). Tools: echo, add, delete_note, and optionally one x402-paid tool.
 */

export interface McpCallRecord {
  tool: string
  args: Record<string, unknown>
  kind: 'delegated' | 'operator'
  wallet?: string
  agent?: string
  session?: string
  paid?: boolean
}

export interface McpGatewayFixture {
  url: string
  calls: McpCallRecord[]
  /** Requests refused at authentication, with the reason. */
  refusals: { reason: string }[]
  close(): Promise<void>
}

/** x402 hook for the paid tool: answers the requirement, verifies+settles a payment. */
export interface PaidToolHooks {
  requirement(resource: string): Record<string, unknown>
  /** Verifies and settles the payment payload on chain; returns the tx hash or throws. */
  settle(payment: unknown): Promise<{ transaction: string; payer: string }>
}

export interface McpGatewayOptions {
  /** Our JWKS URL (a function when the gateway starts after this fixture). */
  jwksUrl: string | (() => string)
  audience: string
  /** Operator addresses allowed on the ERC-8128 path. */
  operators: string[]
  paid?: PaidToolHooks
}

/** Single-use nonces for ERC-8128 (in memory, TTL). */
function memoryNonceStore(): NonceStore {
  const seen = new Map<string, number>()
  return {
    async consume(key, ttlSeconds) {
      const now = Date.now()
      for (const [k, exp] of seen) if (exp < now) seen.delete(k)
      if (seen.has(key)) return false
      seen.set(key, now + ttlSeconds * 1000)
      return true
    },
  }
}

/** Starts the MCP gateway fixture on 127.0.0.1:0 (endpoint `${url}`, path /mcp). */
export async function startMcpGateway(o: McpGatewayOptions): Promise<McpGatewayFixture> {
  let jwksCache: ReturnType<typeof createRemoteJWKSet> | undefined
  const jwks: ReturnType<typeof createRemoteJWKSet> = ((...args: Parameters<ReturnType<typeof createRemoteJWKSet>>) => {
    jwksCache ??= createRemoteJWKSet(new URL(typeof o.jwksUrl === 'function' ? o.jwksUrl() : o.jwksUrl))
    return jwksCache(...args)
  }) as never
  const verifier = createVerifierClient({
    verifyMessage: ({ address, message, signature }) => verifyMessage({ address, message, signature }),
    nonceStore: memoryNonceStore(),
    defaults: { label: 'eth', strictLabel: true, maxValiditySec: 60 },
  })
  const operators = new Set(o.operators.map((a) => a.toLowerCase()))
  const calls: McpCallRecord[] = []
  const refusals: { reason: string }[] = []
  const sockets = new Set<Socket>()

  async function authenticate(req: IncomingMessage, raw: string, port: number): Promise<AuthInfo | string> {
    const auth = req.headers.authorization
    if (auth?.startsWith('Bearer ')) {
      const token = auth.slice(7)
      try {
        const { payload } = await jwtVerify(token, jwks, { audience: o.audience, algorithms: ['ES256'] })
        if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number' || payload.exp - payload.iat > 300) return 'token lifetime over 5 minutes'
        return { token, clientId: String(payload.wallet), scopes: ['tools.call'], extra: { kind: 'delegated', ...payload } }
      } catch (e) {
        return `jwt: ${(e as Error).message}`
      }
    }
    if (req.headers['signature-input'] !== undefined) {
      const headers = new Headers()
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v)
      const request = new Request(`http://127.0.0.1:${port}${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers,
        ...(raw.length > 0 && req.method !== 'GET' ? { body: raw } : {}),
      })
      const r = await verifier.verifyRequest({ request })
      if (!r.ok) return `erc8128: ${r.reason}`
      if (!operators.has(r.address.toLowerCase())) return 'erc8128: not an operator'
      return { token: 'erc8128', clientId: r.address, scopes: ['tools.list'], extra: { kind: 'operator', address: r.address } }
    }
    return 'no credentials'
  }

  function buildServer(): McpServer {
    const server = new McpServer({ name: 'test-mcp-gateway', version: '1.0.0' })
    const guard = (tool: string, args: Record<string, unknown>, info: AuthInfo | undefined, paid = false): string | undefined => {
      const extra = (info?.extra ?? {}) as Record<string, unknown>
      if (extra.kind !== 'delegated') return 'tool calls need a delegated token'
      const tools = Array.isArray(extra.tools) ? (extra.tools as string[]) : []
      if (!tools.includes('*') && !tools.includes(tool)) return `tool ${tool} not delegated`
      calls.push({ tool, args, kind: 'delegated', wallet: String(extra.wallet), agent: String(extra.agent), session: String(extra.session), paid })
      return undefined
    }
    const refuse = (msg: string) => ({ isError: true, content: [{ type: 'text' as const, text: msg }] })
    server.registerTool('echo', { description: 'Echoes the text back', inputSchema: { text: z.string() } }, async (args, extra) => {
      const bad = guard('echo', args, extra.authInfo)
      return bad !== undefined ? refuse(bad) : { content: [{ type: 'text', text: `echo: ${args.text}` }] }
    })
    server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async (args, extra) => {
      const bad = guard('add', args, extra.authInfo)
      return bad !== undefined ? refuse(bad) : { content: [{ type: 'text', text: String(args.a + args.b) }] }
    })
    server.registerTool('delete_note', { description: 'Deletes a note (needs approval)', inputSchema: { id: z.string() } }, async (args, extra) => {
      const bad = guard('delete_note', args, extra.authInfo)
      return bad !== undefined ? refuse(bad) : { content: [{ type: 'text', text: `deleted ${args.id}` }] }
    })
    if (o.paid !== undefined) {
      const paid = o.paid
      server.registerTool('premium_quote', { description: 'A paid quote (x402)', inputSchema: { symbol: z.string() } }, async (args, extra) => {
        const payment = (extra._meta as Record<string, unknown> | undefined)?.['x402/payment']
        if (payment === undefined) {
          const requirement = paid.requirement('mcp://tool/premium_quote')
          return { isError: true, structuredContent: requirement, content: [{ type: 'text', text: JSON.stringify(requirement) }] }
        }
        const bad = guard('premium_quote', args, extra.authInfo, true)
        if (bad !== undefined) return refuse(bad)
        try {
          const { transaction, payer } = await paid.settle(payment)
          return {
            content: [{ type: 'text', text: `${args.symbol}: 42.00` }],
            _meta: { 'x402/payment-response': { success: true, transaction, network: 'eip155', payer } },
          }
        } catch (e) {
          return { isError: true, content: [{ type: 'text', text: `payment failed: ${(e as Error).message}` }], _meta: { 'x402/payment-response': { success: false } } }
        }
      })
    }
    return server
  }

  const http = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: String(e) }))
      }
    })
  })
  http.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    const auth = await authenticate(req, raw, (http.address() as AddressInfo).port)
    if (typeof auth === 'string') {
      refusals.push({ reason: auth })
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' })
      res.end(JSON.stringify({ error: 'invalid_token', error_description: 'unauthorized' }))
      return
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end()
      return
    }
    const server = buildServer()
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true })
    res.on('close', () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(Object.assign(req, { auth }), res, raw.length > 0 ? JSON.parse(raw) : undefined)
  }

  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  const { port } = http.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    calls,
    refusals,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        http.close(() => r())
      }),
  }
}
