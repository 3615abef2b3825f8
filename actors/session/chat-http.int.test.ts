import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'
import { pino } from 'pino'
import { generatePrivateKey } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadAgents } from '../../agents/load-agents.js'
import { createModelCaller } from '../../connectors/anthropic/call-model.js'
import { createMcpExecutor } from '../../connectors/mcp/executor.js'
import { operatorSigner } from '../../connectors/mcp/operator-fetch.js'
import { priceTurn } from '../../pricing/price-turn.js'
import { ValidationError } from '../../shared/errors.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import { startAnthropicFixture, textTurn, toolTurn, type AnthropicFixture } from '../../test/anthropic/server.js'
import { startMcpGateway, type McpGatewayFixture } from '../../test/mcp/gateway.js'
import { LiveFeed } from '../../transport/live.js'
import { createMetrics } from '../../transport/metrics.js'
import type { AuthContext } from '../../transport/route.js'
import { agentRoutes } from '../../transport/routes/agents.js'
import { sessionRoutes } from '../../transport/routes/sessions.js'
import { createHttpServer, type HttpServer } from '../../transport/server.js'
import { ActorHost } from '../runtime/host.js'
import { walletDefinition } from '../wallet/definition.js'
import { availableBalance } from '../wallet/ledger.js'
import { walletSessionLedger } from './ledger-port.js'
import { SessionService } from './service.js'
import { parseSseFrames } from '../../test/sse.js'

/**
 * The chat routes over real HTTP (the gateway's uWS server and SSE), with the real wallet
 * actor (reservations, budgets, settlement) on SQLite, the SDK against the local Anthropic
 * server and the MCP client against the test MCP gateway. Sign-in and the vault are
 * stubbed here (the token is the address; the key is fixed): they have their own tests.
 */
describe('chat over HTTP with the real wallet ledger', () => {
  let dir: string
  let store: SqliteEventStore
  let live: LiveFeed
  let fx: AnthropicFixture
  let mcp: McpGatewayFixture
  let jwks: Server
  let server: HttpServer
  let sessions: SessionService
  let wallets: ActorHost<any, any, any>
  let base: string
  const ALICE = '0x00000000000000000000000000000000000A11cE'
  const BOB = '0x0000000000000000000000000000000000000B0b'
  const operator = operatorSigner(generatePrivateKey(), 31337)

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chat-http-'))
    store = await SqliteEventStore.open({ file: join(dir, 'events.db') })
    const logger = pino({ level: 'silent' })
    live = new LiveFeed(store, logger)
    await live.start()
    fx = await startAnthropicFixture()
    const kp = await generateKeyPair('ES256')
    const jwk = await exportJWK(kp.publicKey)
    const kid = await calculateJwkThumbprint(jwk)
    jwks = createServer((_q, s) => s.end(JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] })))
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r))
    mcp = await startMcpGateway({ jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/`, audience: 'mcp-http', operators: [operator.address] })
    wallets = new ActorHost({ definition: walletDefinition, store })
    for (const [i, w] of [ALICE, BOB].entries()) {
      await wallets.send(w.toLowerCase(), { type: 'RegisterWallet', address: w })
      await wallets.send(w.toLowerCase(), { type: 'AssignDepositAddress', index: i, address: w })
    }
    // Alice has $5 (a confirmed deposit); Bob has nothing.
    await wallets.send(ALICE.toLowerCase(), { type: 'ObserveDeposit', txHash: '0x01', logIndex: 0, amount: 5_000_000n, blockNumber: 1n })
    const agents = await loadAgents()
    const getProviderKey = async (address: string) => {
      if (address.toLowerCase() === BOB.toLowerCase()) throw new ValidationError('Anthropic API key required: store it with PUT /wallet/apikey', { needsUnlock: false }, 'missing_secrets')
      return 'sk-ant-http-key'
    }
    sessions = new SessionService({
      store,
      agents,
      callModel: createModelCaller({ baseURL: fx.url, sleep: async () => undefined }),
      mcp: createMcpExecutor({ url: mcp.url, audience: 'mcp-http', issuer: 'http://gw', key: { privateKey: kp.privateKey, kid }, operator }),
      ledger: walletSessionLedger(wallets as never, availableBalance),
      getProviderKey,
    })
    const routes = [...agentRoutes({ agents }), ...sessionRoutes({ sessions, agents, store, live, getProviderKey })]
    const authenticate = async (token: string): Promise<AuthContext> => ({ address: token as `0x${string}`, sub: token.toLowerCase(), jti: token, exp: 2e9, token })
    server = createHttpServer({ routes, logger, metrics: createMetrics(), bodyLimit: 1 << 20, corsOrigins: [], authenticate })
    base = `http://127.0.0.1:${await server.listen('127.0.0.1', 0)}`
  }, 60_000)
  afterAll(async () => {
    sessions?.close()
    await server?.close(1000)
    await live?.stop()
    await store?.close()
    await fx?.close()
    await mcp?.close()
    await new Promise((r) => jwks?.close(r))
    rmSync(dir, { recursive: true, force: true })
  })

  const h = (who: string) => ({ authorization: `Bearer ${who}`, 'content-type': 'application/json' })
  const newSession = async (who = ALICE) => ((await (await fetch(`${base}/agents/assistant/sessions`, { method: 'POST', headers: h(who), body: '{"model":"haiku"}' })).json()) as { id: string }).id
  const settled = async () => (await store.readStream(`wallet-${ALICE.toLowerCase()}`)).filter((e) => e.type === 'SpendSettled')
  const frames = parseSseFrames

  it('GET /agents needs no token and ignores a stale one', async () => {
    const res = await fetch(`${base}/agents`, { headers: { authorization: 'Bearer stale.token.value' } })
    // This test's authenticate accepts anything; the route is 'optional' so a real verifier's refusal is ignored too.
    expect(res.status).toBe(200)
    expect(((await res.json()) as { agents: { id: string }[] }).agents.map((a) => a.id)).toContain('assistant')
    expect((await fetch(`${base}/agents/nope`)).status).toBe(404)
  })

  it('streams a turn with one tool over SSE and the wallet holds one settled spend equal to the formula', async () => {
    const sid = await newSession()
    fx.enqueue(
      toolTurn('add', { a: 20, b: 22 }, { text: 'Adding. ', usage: { input_tokens: 2000, output_tokens: 50, cache_creation_input_tokens: 500, cache_read_input_tokens: 0 } }),
      textTurn('It is 42.', { input_tokens: 2100, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 500 }),
    )
    const res = await fetch(`${base}/agents/assistant/sessions/${sid}/chat`, { method: 'POST', headers: { ...h(ALICE), 'idempotency-key': 'msg-1' }, body: JSON.stringify({ message: 'add 20 and 22' }) })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const raw = await res.text()
    expect(raw.endsWith('data: [DONE]\n\n')).toBe(true)
    const fs = frames(raw)
    expect(fs.map((f) => f.type).filter((t, i, a) => t !== a[i - 1])).toEqual(['text', 'tool_call', 'tool_result', 'text', 'done'])
    const usage = (await store.readStream(`session-${sid}`)).filter((e) => e.type === 'ModelResponded').map((e) => (e.data as any).usage)
    const sum = (k: string) => usage.reduce((a: number, u: any) => a + u[k], 0)
    const expected = priceTurn({
      model: 'haiku',
      usage: { inputTokens: sum('inputTokens'), outputTokens: sum('outputTokens'), cacheCreationInputTokens: sum('cacheWriteTokens'), cacheReadInputTokens: sum('cacheReadTokens') },
      toolCalls: 1,
      toolCosts: 0n,
      byok: true,
    })
    const spends = await settled()
    expect(spends).toHaveLength(1)
    expect((spends[0]!.data as any).amount).toBe(expected.total)
    expect((spends[0]!.data as any).breakdown).toMatchObject({ inputTokens: 4100, outputTokens: 70, cacheCreationInputTokens: 500, cacheReadInputTokens: 500, toolCalls: 1, byok: true })
    const done = fs.at(-1)!.data
    expect(done.costRaw).toBe(expected.total.toString())
    expect(done.balanceRemaining).toBe((5_000_000n - expected.total).toString())
    // Every hold was released or settled.
    const w = (await wallets.read(ALICE.toLowerCase())).snapshot.context.ledger
    expect(w.reserved).toBe(0n)

    // A resend (same Idempotency-Key) replays the turn and is not billed again.
    const again = await fetch(`${base}/agents/assistant/sessions/${sid}/chat`, { method: 'POST', headers: { ...h(ALICE), 'idempotency-key': 'msg-1' }, body: JSON.stringify({ message: 'add 20 and 22' }) })
    expect(frames(await again.text()).at(-1)).toMatchObject({ type: 'done', data: { costRaw: expected.total.toString() } })
    expect(await settled()).toHaveLength(1)
    expect(fx.requests).toHaveLength(2)
  })

  it('refuses over budget with 402 budget_exceeded, no balance with 402 insufficient_balance, no key with 400 — before any model call', async () => {
    const sid = await newSession()
    await wallets.send(ALICE.toLowerCase(), { type: 'SetBudget', agentId: 'assistant', daily: 1n })
    const before = fx.requests.length
    const res = await fetch(`${base}/agents/assistant/sessions/${sid}/chat`, { method: 'POST', headers: h(ALICE), body: JSON.stringify({ message: 'expensive' }) })
    expect(res.status).toBe(402)
    expect(((await res.json()) as { error: string }).error).toBe('budget_exceeded')
    await wallets.send(ALICE.toLowerCase(), { type: 'SetBudget', agentId: 'assistant', daily: null })

    const bobSid = await newSession(BOB)
    const noKey = await fetch(`${base}/agents/assistant/sessions/${bobSid}/chat`, { method: 'POST', headers: h(BOB), body: JSON.stringify({ message: 'hi' }) })
    expect(noKey.status).toBe(400)
    expect(((await noKey.json()) as { error: string; message: string })).toMatchObject({ error: 'missing_secrets', message: expect.stringMatching(/Anthropic API key required/) })
    expect(fx.requests.length).toBe(before)
    // Someone else's session is invisible.
    expect((await fetch(`${base}/agents/assistant/sessions/${sid}`, { headers: h(BOB) })).status).toBe(404)
  })

  it('approves a gated tool without a token, over HTTP, while the stream is open', async () => {
    const sid = await newSession()
    fx.enqueue(toolTurn('delete_note', { id: 'n9' }), textTurn('Done.'))
    const res = await fetch(`${base}/agents/assistant/sessions/${sid}/chat`, { method: 'POST', headers: h(ALICE), body: JSON.stringify({ message: 'delete n9' }) })
    const reader = res.body!.getReader()
    let raw = ''
    let approvalId: string | undefined
    while (approvalId === undefined) {
      const { value, done } = await reader.read()
      if (done) break
      raw += new TextDecoder().decode(value)
      approvalId = /"approvalId":"(apr_[0-9a-f]+)"/.exec(raw)?.[1]
    }
    expect(approvalId).toBeDefined()
    const ok = await fetch(`${base}/agents/assistant/sessions/${sid}/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ approvalId, approved: true }) })
    expect(ok.status).toBe(200)
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      raw += new TextDecoder().decode(value)
    }
    const fs = frames(raw)
    expect(fs.find((f) => f.type === 'tool_result')!.data).toMatchObject({ name: 'delete_note', isError: false, result: 'deleted n9' })
    expect(fs.at(-1)!.type).toBe('done')
  })

  it('re-creates an unknown cached session id for its caller (§11.4) and lists it', async () => {
    fx.enqueue(textTurn('Back again.'))
    const sid = 'cached-session-0001'
    const res = await fetch(`${base}/agents/assistant/sessions/${sid}/chat`, { method: 'POST', headers: h(ALICE), body: JSON.stringify({ message: 'still there?' }) })
    expect(res.status).toBe(200)
    expect(frames(await res.text()).at(-1)!.type).toBe('done')
    const list = (await (await fetch(`${base}/agents/assistant/sessions`, { headers: h(ALICE) })).json()) as { sessions: { id: string; messageCount: number }[] }
    expect(list.sessions).toEqual(expect.arrayContaining([expect.objectContaining({ id: sid, messageCount: 2 })]))
    // Bob cannot take it over, and a deleted session stays gone.
    expect((await fetch(`${base}/agents/assistant/sessions/${sid}/chat`, { method: 'POST', headers: h(BOB), body: JSON.stringify({ message: 'mine?' }) })).status).toBe(404)
    expect((await fetch(`${base}/agents/assistant/sessions/${sid}`, { method: 'DELETE', headers: h(ALICE) })).status).toBe(200)
    expect((await fetch(`${base}/agents/assistant/sessions/${sid}/chat`, { method: 'POST', headers: h(ALICE), body: JSON.stringify({ message: 'again' }) })).status).toBe(404)
  })
})
