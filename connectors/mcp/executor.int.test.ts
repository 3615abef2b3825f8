import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signRequest } from '@slicekit/erc8128'
import { generatePrivateKey } from 'viem/accounts'
import { startMcpGateway, type McpGatewayFixture } from '../../test/mcp/gateway.js'
import type { DelegationKey } from './delegated-token.js'
import { createMcpExecutor } from './executor.js'
import { operatorSigner } from './operator-fetch.js'

describe('MCP executor against the test MCP gateway', () => {
  let jwksServer: Server
  let gw: McpGatewayFixture
  let key: DelegationKey
  const operatorKey = generatePrivateKey()
  const operator = operatorSigner(operatorKey, 31337)
  const claims = { wallet: '0x00000000000000000000000000000000000000A1', agent: 'assistant', session: 's-1', tools: ['echo', 'add'] }

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256')
    const jwk = await exportJWK(publicKey)
    const kid = await calculateJwkThumbprint(jwk)
    key = { privateKey, kid }
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] }))
    })
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r))
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`
    gw = await startMcpGateway({ jwksUrl, audience: 'mcp-test', operators: [operator.address] })
  })
  afterAll(async () => {
    await gw.close()
    await new Promise((r) => jwksServer.close(r))
  })

  const executor = (over: Partial<Parameters<typeof createMcpExecutor>[0]> = {}) =>
    createMcpExecutor({ url: gw.url, audience: 'mcp-test', issuer: 'http://gateway.test', key, operator, ...over })

  it('lists the catalogue on the ERC-8128 operator path', async () => {
    const tools = await executor().listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(['add', 'delete_note', 'echo'])
    expect(tools.find((t) => t.name === 'add')!.inputSchema.type).toBe('object')
  })

  it('refuses an unsigned catalogue request and a signature from a non-operator', async () => {
    const { operator: _, ...noOp } = { operator }
    void _
    await expect(createMcpExecutor({ url: gw.url, audience: 'mcp-test', issuer: 'x', key, ...noOp }).listTools()).rejects.toMatchObject({ code: 'mcp_auth_failed' })
    const stranger = operatorSigner(generatePrivateKey(), 31337)
    await expect(executor({ operator: stranger }).listTools()).rejects.toMatchObject({ code: 'mcp_auth_failed' })
    expect(gw.refusals.map((r) => r.reason)).toEqual(expect.arrayContaining(['no credentials', 'erc8128: not an operator']))
  })

  it('rejects a replayed ERC-8128 request', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' })
    const signed = await signRequest(gw.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body }, operator, { ttlSeconds: 60 })
    const input = signed.headers.get('signature-input')!
    expect(input).toMatch(/^eth=\(/)
    for (const c of ['"@method"', '"@authority"', '"@path"', '"content-digest"', 'nonce=', 'created=', 'expires=']) expect(input).toContain(c)
    expect(input).toMatch(/keyid="erc8128:31337:0x[0-9a-fA-F]{40}"/)
    const created = Number(/created=(\d+)/.exec(input)![1]), expires = Number(/expires=(\d+)/.exec(input)![1])
    expect(expires - created).toBeLessThanOrEqual(60)
    const headers = Object.fromEntries(signed.headers.entries())
    const first = await fetch(gw.url, { method: 'POST', headers, body })
    expect(first.status).not.toBe(401)
    const replay = await fetch(gw.url, { method: 'POST', headers, body })
    expect(replay.status).toBe(401)
    expect(gw.refusals.at(-1)!.reason).toBe('erc8128: replay')
  })

  it('calls a tool with a fresh delegated JWT carrying wallet, agent, session and tools', async () => {
    let seenToken: string | undefined
    const spy: typeof fetch = async (input, init) => {
      const h = new Headers(init?.headers)
      seenToken = h.get('authorization')?.slice(7) ?? seenToken
      return fetch(input, init)
    }
    const r = await executor({ fetch: spy }).callTool({ claims, name: 'add', args: { a: 2, b: 40 } })
    expect(r).toEqual({ isError: false, text: '42' })
    const last = gw.calls.at(-1)!
    expect(last).toMatchObject({ tool: 'add', kind: 'delegated', wallet: claims.wallet, agent: 'assistant', session: 's-1' })
    const payload = decodeJwt(seenToken!)
    expect(payload.aud).toBe('mcp-test')
    expect(payload.sub).toBe(claims.wallet.toLowerCase())
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300)
    expect(payload.tools).toEqual(['echo', 'add'])
  })

  it('the gateway refuses a tool the token does not delegate, and a token for another audience', async () => {
    const r = await executor().callTool({ claims, name: 'delete_note', args: { id: 'n1' } })
    expect(r.isError).toBe(true)
    expect(r.text).toMatch(/not delegated/)
    await expect(executor({ audience: 'someone-else' }).callTool({ claims, name: 'echo', args: { text: 'x' } })).rejects.toMatchObject({ code: 'mcp_auth_failed' })
  })

  it('reports health over the operator path', async () => {
    expect(await executor().health()).toBe(true)
  })
})
