import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { generatePrivateKey } from 'viem/accounts'
import { loadAgents } from '../../agents/load-agents.js'
import { agentDefinitionSchema } from '../../agents/schema.js'
import { agentRegistry } from '../../agents/load-agents.js'
import { createModelCaller } from '../../connectors/anthropic/call-model.js'
import { createMcpExecutor } from '../../connectors/mcp/executor.js'
import { operatorSigner } from '../../connectors/mcp/operator-fetch.js'
import type { DelegationKey } from '../../connectors/mcp/delegated-token.js'
import { priceTurn } from '../../pricing/price-turn.js'
import { DomainError, ValidationError } from '../../shared/errors.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import { startAnthropicFixture, textTurn, toolTurn, type AnthropicFixture } from '../../test/anthropic/server.js'
import { startMcpGateway, type McpGatewayFixture } from '../../test/mcp/gateway.js'
import { LiveFeed } from '../../transport/live.js'
import type { RequestContext, Route, StreamResult } from '../../transport/route.js'
import { sessionRoutes } from '../../transport/routes/sessions.js'
import type { SessionLedger } from './ledger-port.js'
import { SessionService } from './service.js'
import { parseSseFrames, type SseFrame } from '../../test/sse.js'

const WALLET = '0x00000000000000000000000000000000000000A1' as const

/** An in-memory ledger with the wallet actor's semantics (hold, settle capped, 402 codes). */
function fakeLedger(balance: bigint) {
  const holds = new Map<string, bigint>()
  const log: { op: string; id: string; amount?: bigint; breakdown?: any }[] = []
  let spent = 0n
  const ledger: SessionLedger = {
    async reserve(p) {
      if (holds.has(p.reservationId)) return
      const held = [...holds.values()].reduce((a, b) => a + b, 0n)
      if (balance - spent - held < p.amount) throw new DomainError('insufficient_balance', 'Insufficient balance for this turn')
      holds.set(p.reservationId, p.amount)
      log.push({ op: 'reserve', id: p.reservationId, amount: p.amount })
    },
    async settle(p) {
      const h = holds.get(p.reservationId)
      if (h === undefined) throw new DomainError('reservation_unknown', 'No such reservation')
      holds.delete(p.reservationId)
      const charged = p.amount < h + h / 10n ? p.amount : h + h / 10n
      spent += charged
      log.push({ op: 'settle', id: p.reservationId, amount: charged, breakdown: p.breakdown })
      return { charged, balanceRemaining: balance - spent }
    },
    async release(p) {
      if (holds.delete(p.reservationId)) log.push({ op: 'release', id: p.reservationId })
    },
  }
  return { ledger, log, holds }
}

type Frame = SseFrame
const parseFrames = parseSseFrames

async function runStream(result: unknown, abortAfterMs?: number): Promise<Frame[]> {
  const r = result as StreamResult
  expect(r.kind).toBe('stream')
  expect(r.headers['content-type']).toMatch(/^text\/event-stream/)
  const ac = new AbortController()
  let out = ''
  const sink = {
    write: async (c: string | Uint8Array) => void (out += String(c)),
    end: (last?: string) => void (out += last ?? ''),
    get aborted() {
      return ac.signal.aborted
    },
    signal: ac.signal,
  }
  if (abortAfterMs !== undefined) setTimeout(() => ac.abort(), abortAfterMs)
  await r.run(sink)
  return parseFrames(out)
}

describe('chat sessions (service + routes on SQLite, local Anthropic and MCP servers)', () => {
  let dir: string
  let store: SqliteEventStore
  let live: LiveFeed
  let fx: AnthropicFixture
  let gw: McpGatewayFixture
  let jwks: Server
  let key: DelegationKey
  const operator = operatorSigner(generatePrivateKey(), 31337)
  let routes: Route[]
  let service: SessionService
  let ledger: ReturnType<typeof fakeLedger>
  let vaultKey: string | undefined

  beforeAll(async () => {
    const kp = await generateKeyPair('ES256')
    const jwk = await exportJWK(kp.publicKey)
    const kid = await calculateJwkThumbprint(jwk)
    key = { privateKey: kp.privateKey, kid }
    jwks = createServer((_q, s) => s.end(JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] })))
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r))
    gw = await startMcpGateway({ jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`, audience: 'mcp-test', operators: [operator.address] })
  })
  afterAll(async () => {
    await gw.close()
    await new Promise((r) => jwks.close(r))
  })

  async function boot(balance = 10_000_000n, keepLedger = false) {
    const base = (await loadAgents()).get('assistant')!
    const agents = agentRegistry([agentDefinitionSchema.parse({ ...base, approvalTimeoutMs: 1000 })])
    if (!keepLedger) ledger = fakeLedger(balance)
    service = new SessionService({
      store,
      agents,
      callModel: createModelCaller({ baseURL: fx.url, sleep: async () => undefined }),
      mcp: createMcpExecutor({ url: gw.url, audience: 'mcp-test', issuer: 'http://gw.test', key, operator }),
      ledger: ledger.ledger,
      getProviderKey: async () => {
        if (vaultKey === undefined) throw new ValidationError('Anthropic API key required', {}, 'missing_secrets')
        return vaultKey
      },
      onError: (e, where) => console.error(where, e),
    })
    const getProviderKey = async () => vaultKey ?? Promise.reject(new ValidationError('Anthropic API key required', {}, 'missing_secrets'))
    routes = sessionRoutes({ sessions: service, agents, store, live, getProviderKey, pingMs: 60_000 })
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'session-'))
    store = await SqliteEventStore.open({ file: join(dir, 'events.db') })
    live = new LiveFeed(store, pino({ level: 'silent' }))
    await live.start()
    fx = await startAnthropicFixture()
    vaultKey = 'sk-ant-user-key'
    await boot()
  })
  afterEach(async () => {
    service.close()
    await live.stop()
    await store.close()
    await fx.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const call = async (method: string, path: string, params: Record<string, string>, body?: unknown, opts: { auth?: boolean; headers?: Record<string, string> } = {}) => {
    const route = routes.find((r) => r.method === method && r.path === path)!
    const parsed = route.body === undefined ? body : route.body.parse(body)
    const ctx: RequestContext = {
      method: method as never,
      path,
      params,
      query: {},
      headers: opts.headers ?? {},
      body: parsed,
      requestId: 'r',
      remoteAddress: '127.0.0.1',
      auth: opts.auth === false ? undefined : { address: WALLET, sub: WALLET.toLowerCase(), jti: 'j', exp: 0, token: 't' },
      signal: new AbortController().signal,
    }
    return route.handler(ctx)
  }
  const createSession = async () => ((await call('POST', '/agents/:id/sessions', { id: 'assistant' }, { model: 'haiku' })) as { body: any }).body.id as string
  const chat = (sid: string, message: string, headers: Record<string, string> = {}) => call('POST', '/agents/:id/sessions/:sid/chat', { id: 'assistant', sid }, { message }, { headers })

  it('runs a turn with one tool call: SSE order, delegated call, one settled spend recomputable from usage', async () => {
    const sid = await createSession()
    const u1 = { input_tokens: 1200, output_tokens: 40, cache_creation_input_tokens: 300, cache_read_input_tokens: 0 }
    const u2 = { input_tokens: 1300, output_tokens: 25, cache_creation_input_tokens: 0, cache_read_input_tokens: 300 }
    fx.enqueue(toolTurn('add', { a: 2, b: 40 }, { text: 'Let me add. ', usage: u1 }), textTurn('The answer is 42.', u2))
    const frames = await runStream(await chat(sid, 'What is 2 + 40?'))
    const types = frames.map((f) => f.type)
    expect(types.filter((t, i) => t !== types[i - 1])).toEqual(['text', 'tool_call', 'tool_result', 'text', 'done'])
    expect(frames.filter((f) => f.type === 'text').map((f) => f.data).join('')).toBe('Let me add. The answer is 42.')
    const toolCall = frames.find((f) => f.type === 'tool_call')!
    expect(toolCall.data).toMatchObject({ name: 'add', args: { a: 2, b: 40 } })
    expect(frames.find((f) => f.type === 'tool_result')!.data).toMatchObject({ id: toolCall.data.id, name: 'add', isError: false, result: '42' })
    for (const f of frames) expect(f.id).toMatch(/^\d+(-\d+)?$/)

    // The MCP gateway saw one delegated call for this wallet, agent and session.
    expect(gw.calls.at(-1)).toMatchObject({ tool: 'add', wallet: WALLET, agent: 'assistant', session: sid })
    // The model got the tool result on the second call, with the user's key.
    expect(fx.requests).toHaveLength(2)
    expect(fx.requests[1]!.apiKey).toBe('sk-ant-user-key')
    expect(fx.requests[1]!.body.messages.at(-1).content[0]).toMatchObject({ type: 'tool_result', tool_use_id: toolCall.data.id, content: '42' })

    const settles = ledger.log.filter((l) => l.op === 'settle')
    expect(settles).toHaveLength(1)
    const expected = priceTurn({
      model: 'haiku',
      usage: { inputTokens: 2500, outputTokens: 65, cacheCreationInputTokens: 300, cacheReadInputTokens: 300 },
      toolCalls: 1,
      toolCosts: 0n,
      byok: true,
    }).total
    expect(settles[0]!.amount).toBe(expected)
    expect(ledger.holds.size).toBe(0)
    const done = frames.at(-1)!.data
    expect(done.costRaw).toBe(expected.toString())
    expect(done.cost).toMatch(/^\$\d+\.\d{4}$/)
    expect(done.toolCallCount).toBe(1)
    expect(done.usage).toMatchObject({ inputTokens: 2500, outputTokens: 65 })
    expect(done.balanceRemaining).toBe((10_000_000n - expected).toString())

    const detail = ((await call('GET', '/agents/:id/sessions/:sid', { id: 'assistant', sid })) as { body: any }).body
    expect(detail.messages).toEqual([
      { role: 'user', content: 'What is 2 + 40?', timestamp: expect.any(String) },
      { role: 'assistant', content: 'Let me add. The answer is 42.', timestamp: expect.any(String) },
    ])
    const list = ((await call('GET', '/agents/:id/sessions', { id: 'assistant' })) as { body: any }).body
    expect(list.sessions).toEqual([expect.objectContaining({ id: sid, agentId: 'assistant', messageCount: 2 })])
  })

  it('attaches a resent message to its turn and bills it once', async () => {
    const sid = await createSession()
    fx.enqueue({ kind: 'message', content: [{ type: 'text', text: 'slow reply here' }], interEventDelayMs: 20 })
    const first = runStream(await chat(sid, 'hello'))
    await new Promise((r) => setTimeout(r, 50))
    const again = runStream(await chat(sid, 'hello'))
    const [a, b] = await Promise.all([first, again])
    const text = (fs: Frame[]) => fs.filter((f) => f.type === 'text').map((f) => f.data).join('')
    expect(text(a)).toBe('slow reply here')
    expect(text(b)).toBe('slow reply here')
    expect(b.at(-1)!.type).toBe('done')
    // After completion, a third resend replays the finished turn.
    const c = await runStream(await chat(sid, 'hello'))
    expect(text(c)).toBe('slow reply here')
    expect(fx.requests).toHaveLength(1)
    expect(ledger.log.filter((l) => l.op === 'reserve')).toHaveLength(1)
    expect(ledger.log.filter((l) => l.op === 'settle')).toHaveLength(1)
  })

  it('refuses an over-budget turn with 402 before the model is called, and a missing key with 400', async () => {
    await boot(10n)
    const sid = await createSession()
    await expect(chat(sid, 'hi')).rejects.toMatchObject({ code: 'insufficient_balance' })
    vaultKey = undefined
    await expect(chat(sid, 'hi again')).rejects.toMatchObject({ code: 'missing_secrets' })
    expect(fx.requests).toHaveLength(0)
    expect(ledger.holds.size).toBe(0)
    const detail = ((await call('GET', '/agents/:id/sessions/:sid', { id: 'assistant', sid })) as { body: any }).body
    expect(detail.messages).toEqual([])
  })

  it('a bad key ends the turn with provider_auth_failed and releases the hold', async () => {
    vaultKey = 'bad-key'
    const sid = await createSession()
    const frames = await runStream(await chat(sid, 'hi'))
    expect(frames.at(-1)).toMatchObject({ type: 'error', data: { code: 'provider_auth_failed' } })
    expect(ledger.log.filter((l) => l.op === 'settle')).toHaveLength(0)
    expect(ledger.holds.size).toBe(0)
  })

  it('holds a tool needing approval until approved (no token), or denies it on timeout', async () => {
    const sid = await createSession()
    fx.enqueue(toolTurn('delete_note', { id: 'n1' }), textTurn('Deleted.'), toolTurn('delete_note', { id: 'n2' }), textTurn('Not deleted.'))
    const stream = runStream(await chat(sid, 'delete n1'))
    let approvalId: string | undefined
    for (let i = 0; i < 100 && approvalId === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20))
      const s = await service.get(sid)
      approvalId = s?.context.turn?.tools[0]?.approvalId ?? undefined
    }
    expect(approvalId).toMatch(/^apr_[0-9a-f]{64}$/)
    await expect(call('POST', '/agents/:id/sessions/:sid/approve', { id: 'assistant', sid }, { approvalId: 'apr_wrong_id', approved: true }, { auth: false })).rejects.toMatchObject({ code: 'approval_not_found' })
    await call('POST', '/agents/:id/sessions/:sid/approve', { id: 'assistant', sid }, { approvalId, approved: true }, { auth: false })
    const frames = await stream
    const kinds = frames.map((f) => f.type).filter((t, i, all) => t !== all[i - 1])
    expect(kinds).toEqual(['tool_call', 'tool_approval_request', 'status', 'tool_result', 'text', 'done'])
    expect(frames[1]!.data).toMatchObject({ approvalId, toolName: 'delete_note', args: { id: 'n1' }, timeoutMs: 1000 })
    expect(frames[3]!.data).toMatchObject({ isError: false, result: 'deleted n1' })

    const timedOut = await runStream(await chat(sid, 'delete n2'))
    expect(timedOut.find((f) => f.type === 'tool_result')!.data).toMatchObject({ isError: true, result: expect.stringMatching(/did not approve/) })
    expect(timedOut.at(-1)!.type).toBe('done')
    expect(timedOut.at(-1)!.data.toolCallCount).toBe(0)
    expect(gw.calls.filter((c) => c.tool === 'delete_note' && c.session === sid)).toHaveLength(1)
  })

  it('resumes the events stream from a Last-Event-ID without repeating or losing text', async () => {
    const sid = await createSession()
    fx.enqueue(textTurn('abcdefghijklmnop'))
    const frames = await runStream(await chat(sid, 'go'))
    const textFrames = frames.filter((f) => f.type === 'text')
    expect(textFrames.length).toBeGreaterThan(2)
    const cut = textFrames[1]!
    const before = textFrames.slice(0, 2).map((f) => f.data).join('')
    const resumed = await runStream(await call('GET', '/agents/:id/sessions/:sid/events', { id: 'assistant', sid }, undefined, { headers: { 'last-event-id': cut.id! } }), 300)
    expect(before + resumed.filter((f) => f.type === 'text').map((f) => f.data).join('')).toBe('abcdefghijklmnop')
    expect(resumed.at(-1)!.type).toBe('done')
  })

  it('marks a turn left running by a crash as interrupted and settles only completed calls', async () => {
    const sid = await createSession()
    fx.enqueue(toolTurn('add', { a: 1, b: 1 }, { usage: { input_tokens: 100, output_tokens: 10 } }), { kind: 'message', content: [{ type: 'text', text: 'x'.repeat(50) }], interEventDelayMs: 200 })
    const stream = runStream(await chat(sid, 'add'), 400)
    await stream
    // Simulate the crash: a new service over the same store (the old one's effects are abandoned).
    const before = (await service.get(sid))!
    expect(before.value).toBe('running')
    service.close()
    await boot(10_000_000n, true)
    expect(await service.recoverInterrupted()).toBe(1)
    const after = (await service.get(sid))!
    expect(after.value).toBe('idle')
    const events = await store.readStream(`session-${sid}`)
    const interrupted = events.find((e) => e.type === 'TurnInterrupted')!.data as any
    const expected = priceTurn({ model: 'haiku', usage: { inputTokens: 100, outputTokens: 10, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 }, toolCalls: 1, toolCosts: 0n, byok: true })
    expect(interrupted.cost.platformCost).toBe(expected.platformCost)
    // The completed call and tool were settled on the turn's current hold; nothing stays held.
    expect(ledger.log.filter((l) => l.op === 'settle').map((l) => l.amount)).toEqual([expected.total])
    expect(ledger.holds.size).toBe(0)
  })
})
