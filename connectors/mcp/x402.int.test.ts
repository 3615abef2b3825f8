import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'
import { mnemonicToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { usdcAbi } from '../chain/abi.js'
import { startChainTestEnv, type ChainTestEnv } from '../../test/chain/env.js'
import { startMcpGateway, type McpGatewayFixture } from '../../test/mcp/gateway.js'
import { anvilPaidTool } from '../../test/mcp/x402-anvil.js'
import { DomainError } from '../../shared/errors.js'
import type { DelegationKey } from './delegated-token.js'
import { createMcpExecutor } from './executor.js'
import { createX402Payer, type X402Ledger } from './x402.js'

describe('x402: a paid MCP tool paid by EIP-3009 from the deposit account, settled on anvil', () => {
  let env: ChainTestEnv
  let gw: McpGatewayFixture
  let jwks: Server
  let key: DelegationKey
  let hooks: ReturnType<typeof anvilPaidTool>
  const PRICE = 25_000n
  const payTo = '0x000000000000000000000000000000000000bEEF' as const
  const claims = { wallet: '0x00000000000000000000000000000000000000A1', agent: 'assistant', session: 's-x', tools: ['premium_quote'] }

  beforeAll(async () => {
    env = await startChainTestEnv()
    const kp = await generateKeyPair('ES256')
    const jwk = await exportJWK(kp.publicKey)
    const kid = await calculateJwkThumbprint(jwk)
    key = { privateKey: kp.privateKey, kid }
    jwks = createServer((_q, s) => s.end(JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] })))
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r))
    hooks = anvilPaidTool({ chain: env.chain, rpcUrl: env.anvil.rpcUrl, publicClient: env.publicClient, usdcAddress: env.usdcAddress, payTo, price: PRICE, facilitatorKey: env.relayerKey })
    gw = await startMcpGateway({ jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`, audience: 'mcp-test', operators: [], paid: hooks })
  }, 120_000)
  afterAll(async () => {
    await gw?.close()
    await new Promise((r) => jwks?.close(r))
    await env?.stop()
  })

  function ledger(balance: bigint) {
    const log: string[] = []
    const held = new Map<string, bigint>()
    const l: X402Ledger = {
      async reserve(p) {
        if (p.amount > balance) throw new DomainError('insufficient_balance', 'Insufficient balance')
        held.set(p.reservationId, p.amount)
        log.push(`reserve ${p.amount}`)
      },
      async settle(p) {
        held.delete(p.reservationId)
        log.push(`settle ${p.amount} ${p.breakdown.toolCosts}`)
      },
      async release(p) {
        held.delete(p.reservationId)
        log.push('release')
      },
    }
    return { l, log, held }
  }

  const balanceOf = (a: `0x${string}`) => env.publicClient.readContract({ address: env.usdcAddress, abi: usdcAbi, functionName: 'balanceOf', args: [a] })

  it('pays once within the cap: reserve → sign → retry → on-chain settlement → one settled spend', async () => {
    const deposit = mnemonicToAccount(env.depositMnemonic, { addressIndex: 3 })
    await env.mint(deposit.address, 1_000_000n)
    const { l, log, held } = ledger(1_000_000n)
    const exec = createMcpExecutor({
      url: gw.url,
      audience: 'mcp-test',
      issuer: 'x',
      key,
      x402: createX402Payer({ chainId: env.chain.id, asset: env.usdcAddress, maxPerCall: 100_000n, ledger: l, depositAccount: async () => deposit }),
    })
    const before = await balanceOf(payTo)
    const r = await exec.callTool({ claims, name: 'premium_quote', args: { symbol: 'ETH' } })
    expect(r).toMatchObject({ isError: false, text: 'ETH: 42.00', paid: { amount: PRICE, payTo } })
    expect(r.paid!.txHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect((await balanceOf(payTo)) - before).toBe(PRICE)
    expect(await balanceOf(deposit.address)).toBe(1_000_000n - PRICE)
    expect(log).toEqual([`reserve ${PRICE}`, `settle ${PRICE} ${PRICE}`])
    expect(held.size).toBe(0)
    expect(hooks.settled).toHaveLength(1)
    expect(gw.calls.filter((c) => c.tool === 'premium_quote')).toHaveLength(1)
  }, 60_000)

  it('refuses a price above the per-call cap or beyond the balance without paying', async () => {
    const deposit = mnemonicToAccount(env.depositMnemonic, { addressIndex: 4 })
    await env.mint(deposit.address, 1_000_000n)
    const capped = ledger(1_000_000n)
    const low = createMcpExecutor({ url: gw.url, audience: 'mcp-test', issuer: 'x', key, x402: createX402Payer({ chainId: env.chain.id, asset: env.usdcAddress, maxPerCall: PRICE - 1n, ledger: capped.l, depositAccount: async () => deposit }) })
    const r1 = await low.callTool({ claims, name: 'premium_quote', args: { symbol: 'ETH' } })
    expect(r1.isError).toBe(true)
    expect(r1.text).toMatch(/above the per-call cap/)
    expect(capped.log).toEqual([])
    const poor = ledger(10n)
    const broke = createMcpExecutor({ url: gw.url, audience: 'mcp-test', issuer: 'x', key, x402: createX402Payer({ chainId: env.chain.id, asset: env.usdcAddress, maxPerCall: 100_000n, ledger: poor.l, depositAccount: async () => deposit }) })
    const r2 = await broke.callTool({ claims, name: 'premium_quote', args: { symbol: 'ETH' } })
    expect(r2.isError).toBe(true)
    expect(r2.text).toMatch(/payment was refused: Insufficient balance/)
    expect(await balanceOf(deposit.address)).toBe(1_000_000n)
  }, 60_000)
})
