import { english, generateMnemonic } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startChainTestEnv, type ChainTestEnv } from '../chain/env.js'
import { startRpcSwitch, type RpcSwitch } from '../chain/rpc-switch.js'
import { eventually } from '../eventually.js'
import { signIn, startTestGateway, testAccount, type TestGateway } from '../gateway.js'

/**
 * No deposit is ever missed, through the whole gateway on a real anvil: on a chain younger
 * than CHAIN_CONFIRMATIONS (every fresh development chain), and when the RPC endpoint is
 * down at first start while deposit addresses are already handed out.
 */
describe('deposits through the whole gateway on anvil', () => {
  let env: ChainTestEnv
  const gateways: TestGateway[] = []
  const switches: RpcSwitch[] = []

  beforeAll(async () => {
    env = await startChainTestEnv()
  })
  afterAll(async () => {
    for (const g of gateways) await g.stop().catch(() => undefined)
    for (const s of switches) await s.close()
    await env?.stop()
  })

  const start = async (rpcUrl: string, pollMs = '100', chain = env, dataDir?: string, mnemonic = generateMnemonic(english)) => {
    const gw = await startTestGateway({
      LOG_LEVEL: 'warn',
      CHAIN_RPC_URL: rpcUrl,
      CHAIN_ID: String(chain.anvil.chainId),
      USDC_ADDRESS: chain.usdcAddress,
      // Each gateway its own deposit addresses (two wallets at index 0 would share one).
      DEPOSIT_MNEMONIC: mnemonic,
      CHAIN_CONFIRMATIONS: '2',
      CHAIN_POLL_MS: pollMs,
    }, dataDir)
    gateways.push(gw)
    return gw
  }
  const balance = async (gw: TestGateway, token: string) =>
    (await (await fetch(`${gw.url}/wallet/balance`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      availableBalance: string
      unifiedDepositAddress: `0x${string}`
    }

  const transactions = async (gw: TestGateway, token: string) =>
    ((await (await fetch(`${gw.url}/wallet/transactions`, { headers: { authorization: `Bearer ${token}` } })).json()) as { transactions: { type: string; amount: string }[] })
      .transactions

  it('credits a deposit paid on a chain younger than CHAIN_CONFIRMATIONS', async () => {
    // The chain is only as old as the token deployment: head < CHAIN_CONFIRMATIONS.
    expect(await env.publicClient.getBlockNumber({ cacheTime: 0 })).toBeLessThan(2n)
    // Default-like polling: the deposit and its confirmations all land between two scans.
    const gw = await start(env.anvil.rpcUrl, '4000')
    const token = await signIn(gw.url, testAccount(0))
    const { unifiedDepositAddress } = await balance(gw, token)
    await new Promise((r) => setTimeout(r, 300)) // the watcher has looked at the young head
    await env.mint(unifiedDepositAddress, 2_500_000n)
    await env.mine(3)
    const after = await eventually(() => balance(gw, token), (b) => b.availableBalance === '2500000', 'deposit credited')
    expect(after.availableBalance).toBe('2500000')
    // …and it is a deposit in the history, not only a balance.
    const deposits = () => transactions(gw, token).then((t) => t.filter((x) => x.type === 'deposit').map((x) => x.amount))
    expect(await eventually(deposits, (d) => d.length > 0, 'deposit row')).toEqual(['2500000'])
    await gw.stop()
  }, 60_000)

  it('the start pinned on a young chain survives a restart: a deposit paid while the gateway was down is a deposit', async () => {
    const young = await startChainTestEnv()
    try {
      const mnemonic = generateMnemonic(english)
      const first = await start(young.anvil.rpcUrl, '100', young, undefined, mnemonic)
      const token = await signIn(first.url, testAccount(2))
      const { unifiedDepositAddress } = await balance(first, token)
      await new Promise((r) => setTimeout(r, 300)) // the watcher has seen the young head
      const dir = first.dataDir
      await first.stop({ keepData: true })
      await young.mint(unifiedDepositAddress, 700_000n)
      await young.mine(6)
      const second = await start(young.anvil.rpcUrl, '100', young, dir, mnemonic)
      await eventually(() => balance(second, token), (b) => b.availableBalance === '700000', 'deposit credited after the restart')
      const deposits = () => transactions(second, token).then((t) => t.filter((x) => x.type === 'deposit').map((x) => x.amount))
      expect(await eventually(deposits, (d) => d.length > 0, 'deposit row')).toEqual(['700000'])
      await second.stop()
    } finally {
      await young.stop()
    }
  }, 60_000)

  it('credits a deposit paid while the RPC endpoint was down at first start', async () => {
    await env.mine(5) // an older chain now, so the start block is above the deposit's
    const rpc = await startRpcSwitch(env.anvil.rpcUrl, false)
    switches.push(rpc)
    const gw = await start(rpc.url)
    const token = await signIn(gw.url, testAccount(1))
    const { unifiedDepositAddress } = await balance(gw, token)
    await env.mint(unifiedDepositAddress, 1_250_000n)
    await env.mine(5)
    expect(rpc.refused).toBeGreaterThan(0)
    rpc.up = true
    const after = await eventually(() => balance(gw, token), (b) => b.availableBalance === '1250000', 'deposit credited after the outage')
    expect(after.availableBalance).toBe('1250000')
  }, 90_000)
})
