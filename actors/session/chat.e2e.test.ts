import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { priceTurn } from '../../pricing/price-turn.js'
import { chainGatewayEnv, startChainTestEnv, type ChainTestEnv } from '../../test/chain/env.js'
import { startAnthropicFixture, textTurn, toolTurn, type AnthropicFixture, type FixtureTurn } from '../../test/anthropic/server.js'
import { fundByDeposit, signIn, startTestGateway, testAccount, type TestGateway } from '../../test/gateway.js'
import { parseSseFrames } from '../../test/sse.js'
import { startMcpGateway, type McpGatewayFixture } from '../../test/mcp/gateway.js'

/** Reads a whole SSE response, checking the §6 framing (LF only, JSON data lines). */
const readSse = async (res: Response) => parseSseFrames(await res.text())

describe('chat end to end over HTTP: sign in → key → session → chat with a tool → one settled spend', () => {
  let chain: ChainTestEnv
  let fx: AnthropicFixture
  let mcp: McpGatewayFixture
  let gw: TestGateway
  let token: string
  const alice = testAccount(0)
  const operatorKey = generatePrivateKey()
  const auth = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' })

  beforeAll(async () => {
    chain = await startChainTestEnv()
    fx = await startAnthropicFixture()
    let gatewayUrl = ''
    mcp = await startMcpGateway({ jwksUrl: () => `${gatewayUrl}/.well-known/jwks.json`, audience: 'mcp-e2e', operators: [privateKeyToAccount(operatorKey).address] })
    gw = await startTestGateway({
      JWT_SECRET: 'chat-e2e-secret-0123456789abcdef0123456789',
      ANTHROPIC_BASE_URL: fx.url,
      MCP_GATEWAY_URL: mcp.url,
      MCP_AUDIENCE: 'mcp-e2e',
      OPERATOR_PRIVATE_KEY: operatorKey,
      ...chainGatewayEnv(chain),
      RESERVATION_TTL_MS: '123000',
      LOG_LEVEL: 'warn',
    })
    gatewayUrl = gw.url
    token = await signIn(gw.url, alice)
    const put = await fetch(`${gw.url}/wallet/apikey`, { method: 'PUT', headers: auth(), body: JSON.stringify({ anthropicApiKey: 'sk-ant-e2e-user-key' }) })
    expect(put.status).toBe(200)
    await fundByDeposit(gw.url, token, chain.mint, 5_000_000n)
  }, 120_000)
  afterAll(async () => {
    await gw?.stop()
    await mcp?.close()
    await fx?.close()
    await chain?.stop()
  })

  const settledSpends = async () => (await gw.store.readStream(`wallet-${alice.address.toLowerCase()}`)).filter((e) => e.type === 'SpendSettled')

  it('streams text, tool_call, tool_result, text, done and settles exactly the formula once; a resend is billed once', async () => {
    const created = await fetch(`${gw.url}/agents/assistant/sessions`, { method: 'POST', headers: auth(), body: JSON.stringify({ model: 'haiku' }) })
    expect(created.status).toBeLessThan(300)
    const session = (await created.json()) as { id: string; agentId: string; model: string; createdAt: string }
    expect(session).toMatchObject({ id: expect.any(String), agentId: 'assistant', model: 'haiku' })

    fx.enqueue(
      toolTurn('echo', { text: 'ping' }, { text: 'Checking. ', usage: { input_tokens: 1500, output_tokens: 30, cache_creation_input_tokens: 200, cache_read_input_tokens: 0 } }),
      textTurn('It said ping.', { input_tokens: 1600, output_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 200 }),
    )
    const headers = { ...auth(), 'idempotency-key': 'e2e-msg-1' }
    const res = await fetch(`${gw.url}/agents/assistant/sessions/${session.id}/chat`, { method: 'POST', headers, body: JSON.stringify({ message: 'Echo ping please' }) })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const frames = await readSse(res)
    const kinds = frames.map((f) => f.type).filter((t, i, all) => t !== all[i - 1])
    expect(kinds).toEqual(['text', 'tool_call', 'tool_result', 'text', 'done'])
    for (const f of frames) expect(f.id).toMatch(/^\d+(-\d+)?$/)
    expect(frames.find((f) => f.type === 'tool_result')!.data).toMatchObject({ name: 'echo', isError: false, result: 'echo: ping' })
    expect(mcp.calls.at(-1)).toMatchObject({ tool: 'echo', kind: 'delegated', wallet: alice.address, agent: 'assistant', session: session.id })

    // Recompute the charge from the usage the session recorded, by the §15 BYOK formula.
    const responded = (await gw.store.readStream(`session-${session.id}`)).filter((e) => e.type === 'ModelResponded').map((e) => (e.data as any).usage)
    expect(responded).toHaveLength(2)
    const sum = (k: string) => responded.reduce((a: number, u: any) => a + u[k], 0)
    const expected = priceTurn({
      model: 'haiku',
      usage: { inputTokens: sum('inputTokens'), outputTokens: sum('outputTokens'), cacheCreationInputTokens: sum('cacheWriteTokens'), cacheReadInputTokens: sum('cacheReadTokens') },
      toolCalls: 1,
      toolCosts: 0n,
      byok: true,
    })
    const spends = await settledSpends()
    expect(spends).toHaveLength(1)
    // The turn's holds live for the configured RESERVATION_TTL_MS.
    const reserved = (await gw.store.readStream(`wallet-${alice.address.toLowerCase()}`)).filter((e) => e.type === 'SpendReserved').map((e) => e.data as { at: string; expiresAt: string })
    expect(reserved.length).toBeGreaterThan(0)
    for (const r of reserved) expect(Date.parse(r.expiresAt) - Date.parse(r.at)).toBe(123_000)
    expect((spends[0]!.data as any).amount).toBe(expected.total)
    const done = frames.at(-1)!.data
    expect(done.costRaw).toBe(expected.total.toString())
    expect(done.toolCallCount).toBe(1)
    expect(done.cost).toMatch(/^\$0\.\d{4}$/)

    // The client resends the same message (§11.2): attached to the finished turn, not billed again.
    const again = await fetch(`${gw.url}/agents/assistant/sessions/${session.id}/chat`, { method: 'POST', headers, body: JSON.stringify({ message: 'Echo ping please' }) })
    const replay = await readSse(again)
    expect(replay.at(-1)).toMatchObject({ type: 'done', data: { costRaw: expected.total.toString() } })
    expect(await settledSpends()).toHaveLength(1)
    expect(fx.requests).toHaveLength(2)

    const detail = (await (await fetch(`${gw.url}/agents/assistant/sessions/${session.id}`, { headers: auth() })).json()) as { messages: { role: string; content: string }[] }
    expect(detail.messages.map((m) => m.role)).toEqual(['user', 'assistant'])
  }, 60_000)

  it('refuses an over-budget turn with 402 before the model is called', async () => {
    const s = (await (await fetch(`${gw.url}/agents/assistant/sessions`, { method: 'POST', headers: auth(), body: '{}' })).json()) as { id: string }
    const budget = await fetch(`${gw.url}/wallet/budgets/assistant`, { method: 'PUT', headers: auth(), body: JSON.stringify({ daily: '1' }) })
    expect(budget.status).toBe(200)
    const before = fx.requests.length
    const res = await fetch(`${gw.url}/agents/assistant/sessions/${s.id}/chat`, { method: 'POST', headers: auth(), body: JSON.stringify({ message: 'Too expensive?' }) })
    expect(res.status).toBe(402)
    expect(((await res.json()) as { error: string }).error).toBe('budget_exceeded')
    expect(fx.requests.length).toBe(before)
    await fetch(`${gw.url}/wallet/budgets/assistant`, { method: 'PUT', headers: auth(), body: JSON.stringify({ daily: null }) })
  }, 30_000)
  it('over WebSocket: a chat frame streams on session:<id>; a client that drops mid-turn resumes with after and sees every event once', async () => {
    const s = (await (await fetch(`${gw.url}/agents/assistant/sessions`, { method: 'POST', headers: auth(), body: JSON.stringify({ model: 'haiku' }) })).json()) as { id: string }
    const spendsBefore = (await settledSpends()).length
    // Slow streams, so the client can drop while the turn is still running.
    const slow = (turn: FixtureTurn): FixtureTurn => (turn.kind === 'message' ? { ...turn, interEventDelayMs: 30 } : turn)
    fx.enqueue(slow(toolTurn('echo', { text: 'ws' }, { text: 'Looking. ' })), slow(textTurn('Done over WebSocket.')))
    type EventFrame = { type: 'event'; topic: string; position: string; event: { type: string; data: any } }
    const open = async (): Promise<{ ws: WebSocket; frames: any[] }> => {
      const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`, ['agent-gateway.v1.json'], { headers: { authorization: `Bearer ${token}` } })
      const frames: any[] = []
      ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString())))
      await new Promise((resolve, reject) => {
        ws.once('open', resolve)
        ws.once('error', reject)
      })
      return { ws, frames }
    }
    const until = async (pred: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 400 && !pred(); i++) await new Promise((r) => setTimeout(r, 25))
      expect(pred(), what).toBe(true)
    }
    const events = (frames: any[]) => frames.filter((f) => f.type === 'event') as EventFrame[]

    const first = await open()
    first.ws.send(JSON.stringify({ type: 'chat', agentId: 'assistant', sessionId: s.id, message: 'Echo ws please', requestId: 'ws-req-1' }))
    await until(() => events(first.frames).some((e) => e.event.type === 'tool_call'), 'tool_call before the drop')
    expect(first.frames.find((f) => f.type === 'ack' && f.of === 'chat')).toMatchObject({ requestId: 'ws-req-1', sessionId: s.id })
    first.ws.terminate() // the connection drops mid-turn
    const seen = events(first.frames)
    const last = seen.at(-1)!.position

    // Reconnect (the turn goes on without the client) and resume after the last position seen.
    const second = await open()
    second.ws.send(JSON.stringify({ type: 'subscribe', topic: `session:${s.id}`, after: last }))
    await until(() => events(second.frames).some((e) => e.event.type === 'done'), 'done after resuming')

    // A third client replays the whole topic: the two halves must be exactly it.
    const third = await open()
    third.ws.send(JSON.stringify({ type: 'subscribe', topic: `session:${s.id}`, after: '0' }))
    await until(() => events(third.frames).some((e) => e.event.type === 'done'), 'full replay')
    const key = (e: EventFrame) => `${e.position}:${e.event.type}:${JSON.stringify(e.event.data)}`
    const stitched = [...seen, ...events(second.frames)].map(key)
    expect(new Set(stitched).size).toBe(stitched.length)
    expect(stitched).toEqual(events(third.frames).map(key))
    const kinds = events(third.frames).map((e) => e.event.type)
    for (const k of ['tool_call', 'tool_result', 'done']) expect(kinds).toContain(k)
    expect(kinds.at(-1)).toBe('done')
    // Resending the same requestId attaches to the same turn: still one settled spend for it.
    second.ws.send(JSON.stringify({ type: 'chat', agentId: 'assistant', sessionId: s.id, message: 'Echo ws please', requestId: 'ws-req-1' }))
    await until(() => second.frames.some((f) => f.type === 'ack' && f.of === 'chat'), 'ack of the resend')
    expect((await settledSpends()).length).toBe(spendsBefore + 1)
    second.ws.close()
    third.ws.close()
  }, 60_000)
})
