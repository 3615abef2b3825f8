import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'
import { pino } from 'pino'
import { mnemonicToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadAgents } from '../../agents/load-agents.js'
import { usdcAbi } from '../../connectors/chain/abi.js'
import { createModelCaller } from '../../connectors/anthropic/call-model.js'
import { createMcpExecutor } from '../../connectors/mcp/executor.js'
import { createX402Payer } from '../../connectors/mcp/x402.js'
import { priceTurn } from '../../pricing/price-turn.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import { startAnthropicFixture, textTurn, toolTurn, type AnthropicFixture } from '../../test/anthropic/server.js'
import { startChainTestEnv, type ChainTestEnv } from '../../test/chain/env.js'
import { startMcpGateway, type McpGatewayFixture } from '../../test/mcp/gateway.js'
import { anvilPaidTool } from '../../test/mcp/x402-anvil.js'
import { LiveFeed } from '../../transport/live.js'
import type { RequestContext, StreamResult } from '../../transport/route.js'
import { sessionRoutes } from '../../transport/routes/sessions.js'
import { ActorHost } from '../runtime/host.js'
import { walletDefinition } from '../wallet/definition.js'
import { availableBalance } from '../wallet/ledger.js'
import { walletSessionLedger } from './ledger-port.js'
import { SessionService } from './service.js'

/** A chat turn whose tool is x402-paid: paid once on chain, charged once on the ledger, on top of the turn. */
describe('a paid MCP tool inside a chat turn', () => {
  let env: ChainTestEnv
  let dir: string
  let store: SqliteEventStore
  let live: LiveFeed
  let fx: AnthropicFixture
  let mcp: McpGatewayFixture
  let jwks: Server
  let sessions: SessionService
  let routes: ReturnType<typeof sessionRoutes>
  const PRICE = 30_000n
  const payTo = '0x000000000000000000000000000000000000cafe' as const
  const WALLET = '0x00000000000000000000000000000000000A11cE'

  beforeAll(async () => {
    env = await startChainTestEnv()
    dir = mkdtempSync(join(tmpdir(), 'paid-'))
    store = await SqliteEventStore.open({ file: join(dir, 'events.db') })
    live = new LiveFeed(store, pino({ level: 'silent' }))
    await live.start()
    fx = await startAnthropicFixture()
    const kp = await generateKeyPair('ES256')
    const jwk = await exportJWK(kp.publicKey)
    const kid = await calculateJwkThumbprint(jwk)
    jwks = createServer((_q, s) => s.end(JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] })))
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r))
    const hooks = anvilPaidTool({ chain: env.chain, rpcUrl: env.anvil.rpcUrl, publicClient: env.publicClient, usdcAddress: env.usdcAddress, payTo, price: PRICE, facilitatorKey: env.relayerKey })
    mcp = await startMcpGateway({ jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/`, audience: 'mcp-paid', operators: [], paid: hooks })
    const deposit = mnemonicToAccount(env.depositMnemonic, { addressIndex: 0 })
    await env.mint(deposit.address, 2_000_000n)
    const wallets = new ActorHost({ definition: walletDefinition, store })
    await wallets.send(WALLET.toLowerCase(), { type: 'RegisterWallet', address: WALLET })
    await wallets.send(WALLET.toLowerCase(), { type: 'AssignDepositAddress', index: 0, address: deposit.address })
    await wallets.send(WALLET.toLowerCase(), { type: 'ObserveDeposit', txHash: '0x01', logIndex: 0, amount: 2_000_000n, blockNumber: 1n })
    const ledger = walletSessionLedger(wallets as never, availableBalance)
    const agents = await loadAgents()
    const getProviderKey = async () => 'sk-ant-paid'
    sessions = new SessionService({
      store,
      agents,
      callModel: createModelCaller({ baseURL: fx.url }),
      mcp: createMcpExecutor({
        url: mcp.url,
        audience: 'mcp-paid',
        issuer: 'http://gw',
        key: { privateKey: kp.privateKey, kid },
        x402: createX402Payer({
          chainId: env.chain.id,
          asset: env.usdcAddress,
          maxPerCall: 100_000n,
          ledger,
          depositAccount: async () => deposit,
          receiptBlock: async (hash) => (await env.publicClient.getTransactionReceipt({ hash })).blockNumber,
        }),
      }),
      ledger,
      getProviderKey,
    })
    routes = sessionRoutes({ sessions, agents, store, live, getProviderKey })
  }, 120_000)
  afterAll(async () => {
    sessions?.close()
    await live?.stop()
    await store?.close()
    await fx?.close()
    await mcp?.close()
    await new Promise((r) => jwks?.close(r))
    await env?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const call = async (path: string, params: Record<string, string>, body: unknown, headers: Record<string, string> = {}) => {
    const route = routes.find((r) => r.method === 'POST' && r.path === path)!
    const ctx: RequestContext = {
      method: 'POST', path, params, query: {}, headers, body: route.body!.parse(body), requestId: 'r', remoteAddress: '127.0.0.1',
      auth: { address: WALLET, sub: WALLET.toLowerCase(), jti: 'j', exp: 0, token: 't' }, signal: new AbortController().signal,
    }
    return route.handler(ctx)
  }
  async function stream(result: unknown) {
    let out = ''
    const ac = new AbortController()
    await (result as StreamResult).run({ write: async (c) => void (out += String(c)), end: (last?: string) => void (out += last ?? ''), aborted: false, signal: ac.signal })
    return out.split('\n\n').filter((f) => f.startsWith('id:')).map((f) => JSON.parse(/^data: (.*)$/m.exec(f)![1]!) as { type: string; data: any })
  }

  it('pays the tool once on chain, settles it as its own spend, and adds it to the turn cost', async () => {
    const s = (await call('/agents/:id/sessions', { id: 'assistant' }, { model: 'haiku' })) as { body: { id: string } }
    const sid = s.body.id
    fx.enqueue(toolTurn('premium_quote', { symbol: 'ETH' }, { usage: { input_tokens: 800, output_tokens: 20 } }), textTurn('ETH is 42.', { input_tokens: 900, output_tokens: 10 }))
    const frames = await stream(await call('/agents/:id/sessions/:sid/chat', { id: 'assistant', sid }, { message: 'quote ETH' }, { 'idempotency-key': 'q1' }))
    expect(frames.find((f) => f.type === 'tool_result')!.data).toMatchObject({ name: 'premium_quote', isError: false, result: 'ETH: 42.00' })
    const turn = priceTurn({ model: 'haiku', usage: { inputTokens: 1700, outputTokens: 30, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 }, toolCalls: 1, toolCosts: 0n, byok: true })
    const done = frames.at(-1)!
    expect(done.type).toBe('done')
    expect(done.data.costRaw).toBe((turn.platformCost + PRICE).toString())

    const balanceOf = (a: `0x${string}`) => env.publicClient.readContract({ address: env.usdcAddress, abi: usdcAbi, functionName: 'balanceOf', args: [a] })
    expect(await balanceOf(payTo)).toBe(PRICE)
    const settledEvents = (await store.readStream(`wallet-${WALLET.toLowerCase()}`)).filter((e) => e.type === 'SpendSettled').map((e) => e.data as any)
    expect(settledEvents.map((d) => d.amount).sort()).toEqual([turn.platformCost, PRICE].sort())
    // The x402 spend is recorded as an on-chain outflow at its block (never swept again).
    const x402 = settledEvents.find((d) => d.amount === PRICE)
    expect(x402.paidOnChain).toMatchObject({ txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/), blockNumber: expect.any(BigInt) })

    // Resent: attached to the finished turn — no second payment, no second charge.
    await stream(await call('/agents/:id/sessions/:sid/chat', { id: 'assistant', sid }, { message: 'quote ETH' }, { 'idempotency-key': 'q1' }))
    expect(await balanceOf(payTo)).toBe(PRICE)
    expect((await store.readStream(`wallet-${WALLET.toLowerCase()}`)).filter((e) => e.type === 'SpendSettled')).toHaveLength(2)
    expect(mcp.calls.filter((c) => c.tool === 'premium_quote')).toHaveLength(1)
  }, 60_000)
})
