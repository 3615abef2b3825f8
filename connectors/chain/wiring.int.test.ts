import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { erc20Abi, getAddress } from 'viem'
import { ActorHost } from '../../actors/runtime/host.js'
import { ensureDepositAddress } from '../../actors/wallet/deposit-index.js'
import { walletDefinition } from '../../actors/wallet/definition.js'
import type { Ledger } from '../../actors/wallet/ledger.js'
import { loadConfig } from '../../config.js'
import { ConfigError } from '../../shared/errors.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import { startChainTestEnv, type ChainTestEnv } from '../../test/chain/env.js'
import { eventually } from '../../test/eventually.js'
import { createChain } from './wiring.js'

const quiet = { info() {}, warn() {}, error() {} }
const TREASURY = '0x000000000000000000000000000000000000a11c'
let env: ChainTestEnv
let dir: string

beforeAll(async () => {
  env = await startChainTestEnv()
  dir = mkdtempSync(join(tmpdir(), 'chain-wiring-'))
})
afterAll(async () => {
  await env?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('createChain (composition-root wiring)', () => {
  it('refuses to start in production without DEPOSIT_MNEMONIC', async () => {
    const store = new SqliteEventStore({ file: join(dir, 'prod.sqlite') })
    try {
      const config = loadConfig({ NODE_ENV: 'production' })
      expect(() => createChain({ config, dataDir: join(dir, 'prod'), store, log: quiet })).toThrow(ConfigError)
    } finally {
      await store.close()
    }
  })

  it('without CHAIN_RPC_URL offers deposit addresses only', async () => {
    const store = new SqliteEventStore({ file: join(dir, 'norpc.sqlite') })
    const chain = createChain({ config: loadConfig({ NODE_ENV: 'development' }), dataDir: join(dir, 'norpc'), store, log: quiet })
    try {
      expect(chain.watching).toBe(false)
      expect(chain.canWithdraw).toBe(false)
      expect(chain.effects).toEqual({})
      expect(chain.depositAddress(3)).toBe(getAddress(chain.depositAddress(3)))
      const host = new ActorHost({ definition: walletDefinition, store })
      await chain.start(host)
    } finally {
      await chain.stop()
      await store.close()
    }
  })

  it('on anvil: watches deposits after the depth and sweeps settled spend to the treasury on its own', async () => {
    const store = new SqliteEventStore({ file: join(dir, 'anvil.sqlite') })
    const config = loadConfig({
      NODE_ENV: 'development',
      DEPOSIT_MNEMONIC: env.depositMnemonic,
      CHAIN_RPC_URL: env.anvil.rpcUrl,
      CHAIN_ID: String(env.anvil.chainId),
      USDC_ADDRESS: env.usdcAddress,
      TREASURY_ADDRESS: TREASURY,
      RELAYER_PRIVATE_KEY: env.relayerKey,
      CHAIN_CONFIRMATIONS: '2',
      CHAIN_POLL_MS: '100',
    })
    const chain = createChain({ config, dataDir: join(dir, 'anvil'), store, log: quiet, settlementIntervalMs: 100, settlementMinimum: 1n })
    const errors: unknown[] = []
    const host = new ActorHost({ definition: walletDefinition, store, effects: chain.effects, onEffectError: (e) => void errors.push(e) })
    try {
      expect(chain.canWithdraw && chain.canSettle).toBe(true)
      await chain.start(host)
      const wallet = '0x00000000000000000000000000000000000000aa'
      await host.send(wallet, { type: 'RegisterWallet', address: getAddress(wallet) })
      const { address } = await ensureDepositAddress({ host, store, wallet, depositAddress: chain.depositAddress })
      await eventually(async () => chain.isDepositAddress(address), Boolean, 'index sees the address')

      await env.mint(getAddress(address), 20_000_000n)
      const ledger = async (): Promise<Ledger> => (await host.read(wallet)).snapshot.context.ledger
      // Not mined deep enough yet: the watcher keeps polling but must not report it.
      await new Promise((r) => setTimeout(r, 300))
      expect((await ledger()).onChainBalance).toBe(0n)
      await env.mine(2)
      await eventually(ledger, (l) => l.onChainBalance === 20_000_000n, 'deposit observed')

      await host.send(wallet, { type: 'ReserveSpend', reservationId: 'r', agentId: 'a', amount: 3_000_000n })
      await host.send(wallet, {
        type: 'SettleSpend',
        reservationId: 'r',
        amount: 3_000_000n,
        breakdown: { model: 'm', inputTokens: 1, outputTokens: 1, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, baseLlmCost: '3000000', toolCalls: 0, toolCosts: 0n, platformCost: 0n, byok: false },
      })
      // Receipts also wait for CHAIN_CONFIRMATIONS: keep mining while the sweeper works.
      const l = await eventually(
        async () => (await env.mine(1), ledger()),
        (x) => Object.values(x.settlements).some((s) => s.status === 'confirmed'),
        'sweep confirmed',
      )
      expect(l.unsettledSpend).toBe(0n)
      expect(l.onChainBalance).toBe(17_000_000n)
      expect(
        await env.publicClient.readContract({ address: env.usdcAddress, abi: erc20Abi, functionName: 'balanceOf', args: [getAddress(TREASURY)] }),
      ).toBe(3_000_000n)
      expect(Object.keys(l.settlements)).toHaveLength(1)
      expect(errors).toEqual([])
    } finally {
      await chain.stop()
      await store.close()
    }
  })
})
