import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { erc20Abi, getAddress, type Chain, type PublicClient, type Transport } from 'viem'
import { startChainTestEnv, type ChainTestEnv } from '../../test/chain/env.js'
import { createDepositKeyring } from './deposit-keys.js'
import { AuthorizationCanceledError, authorizationNonce, createChainPort, type ChainConnector } from './create-chain-port.js'
import { startDepositWatcher, type DepositWatcherCheckpoint } from './deposit-watcher.js'
import type { Address, DepositObservation } from './types.js'

let env: ChainTestEnv
let port: ChainConnector
const USDC = (n: number) => BigInt(n) * 1_000_000n

beforeAll(async () => {
  env = await startChainTestEnv()
  port = makePort()
})
afterAll(async () => {
  await env?.stop()
})

function makePort(extra: Partial<Parameters<typeof createChainPort>[0]> = {}): ChainConnector {
  return createChainPort({
    rpcUrl: env.anvil.rpcUrl,
    chainId: env.anvil.chainId,
    usdcAddress: env.usdcAddress,
    relayerPrivateKey: env.relayerKey,
    keyring: createDepositKeyring(env.depositMnemonic),
    pollingIntervalMs: 50,
    ...extra,
  })
}

/** A watcher driven by explicit syncOnce() calls, recording everything it reports. */
function recordingWatcher(
  addresses: Map<string, string>,
  confirmations: number,
  fromBlock: bigint,
  cp?: DepositWatcherCheckpoint,
  addressBatchSize = 100,
) {
  const deposits: { obs: DepositObservation; walletId: string }[] = []
  const balances: { address: Address; balance: bigint; blockNumber: bigint; walletId: string }[] = []
  const reorgs: bigint[] = []
  const saved: DepositWatcherCheckpoint[] = []
  const watcher = startDepositWatcher({
    publicClient: env.publicClient as PublicClient<Transport, Chain>,
    usdcAddress: env.usdcAddress,
    addresses: () => addresses,
    confirmations,
    pollMs: 50,
    fromBlock,
    addressBatchSize,
    autoStart: false,
    loadCheckpoint: async () => cp,
    saveCheckpoint: async (c) => void saved.push(c),
    onDeposit: async (obs, walletId) => void deposits.push({ obs, walletId }),
    onBalance: async (address, balance, blockNumber, walletId) => void balances.push({ address, balance, blockNumber, walletId }),
    onDeepReorg: (info) => void reorgs.push(info.blockNumber),
  })
  return { watcher, deposits, balances, reorgs, saved }
}

async function ethBalance(a: Address) {
  return env.publicClient.getBalance({ address: a })
}

async function tokenBalance(a: Address) {
  return env.publicClient.readContract({ address: env.usdcAddress, abi: erc20Abi, functionName: 'balanceOf', args: [a] })
}

describe('chain port on anvil', () => {
  it('derives deposit addresses that hold no ETH', async () => {
    const a = port.depositAddress(0)
    expect(a).toBe(getAddress(a))
    expect(port.depositAddress(0)).toBe(a)
    expect(port.depositAddress(1)).not.toBe(a)
    expect(await ethBalance(a)).toBe(0n)
  })

  it('balanceOf reads latest and historical balances', async () => {
    const a = port.depositAddress(50)
    const b1 = await env.mint(a, USDC(3))
    const b2 = await env.mint(a, USDC(4))
    expect(await port.balanceOf(a)).toBe(USDC(7))
    expect(await port.balanceOf(a, b1)).toBe(USDC(3))
    expect(await port.balanceOf(a, b2)).toBe(USDC(7))
    expect(await port.balanceOf(a, b1 - 1n)).toBe(0n)
  })

  it('transferFromDeposit moves tokens out of a deposit address with zero ETH; the relayer pays gas', async () => {
    const from = port.depositAddress(1)
    const to = getAddress('0x000000000000000000000000000000000000bEEF')
    await env.mint(from, USDC(10))
    const relayerEthBefore = await ethBalance(port.relayerAddress!)

    const { txHash } = await port.transferFromDeposit({ depositIndex: 1, to, amount: USDC(4), idempotencyKey: 'withdrawal-1' })
    const receipt = await port.waitForReceipt(txHash)
    expect(receipt.status).toBe('success')
    expect(receipt.blockNumber).toBeGreaterThan(0n)

    expect(await tokenBalance(from)).toBe(USDC(6))
    expect(await tokenBalance(to)).toBe(USDC(4))
    expect(await ethBalance(from)).toBe(0n)
    expect(await ethBalance(port.relayerAddress!)).toBeLessThan(relayerEthBefore)
    const tx = await env.publicClient.getTransaction({ hash: txHash })
    expect(tx.from.toLowerCase()).toBe(port.relayerAddress!.toLowerCase())
  })

  it('a retry with the same idempotency key never pays twice (same process, new process, concurrent)', async () => {
    const from = port.depositAddress(2)
    const to = getAddress('0x000000000000000000000000000000000000cafE')
    await env.mint(from, USDC(10))
    const p = { depositIndex: 2, to, amount: USDC(3), idempotencyKey: 'settlement-abc' }

    const [a, b] = await Promise.all([port.transferFromDeposit(p), port.transferFromDeposit(p)])
    expect(b.txHash).toBe(a.txHash)
    expect((await port.waitForReceipt(a.txHash)).status).toBe('success')
    const again = await port.transferFromDeposit(p)
    expect(again.txHash).toBe(a.txHash)
    // A fresh port (a restarted process) has no memory: it finds the tx by its AuthorizationUsed log.
    const restarted = makePort()
    const status = await restarted.authorizationStatus({ depositIndex: 2, idempotencyKey: 'settlement-abc' })
    expect(status).toEqual({ nonce: authorizationNonce('settlement-abc'), used: true, txHash: a.txHash })
    expect((await restarted.transferFromDeposit(p)).txHash).toBe(a.txHash)

    expect(await tokenBalance(from)).toBe(USDC(7))
    expect(await tokenBalance(to)).toBe(USDC(3))

    // A different key is a different payment.
    const other = await port.transferFromDeposit({ ...p, idempotencyKey: 'settlement-def' })
    expect(other.txHash).not.toBe(a.txHash)
    await port.waitForReceipt(other.txHash)
    expect(await tokenBalance(from)).toBe(USDC(4))
  })

  it('refuses a transfer the deposit address cannot cover, sending nothing', async () => {
    const from = port.depositAddress(3)
    await env.mint(from, USDC(1))
    const before = await env.publicClient.getTransactionCount({ address: port.relayerAddress! })
    await expect(
      port.transferFromDeposit({ depositIndex: 3, to: port.depositAddress(4), amount: USDC(2), idempotencyKey: 'too-much' }),
    ).rejects.toThrow()
    expect(await env.publicClient.getTransactionCount({ address: port.relayerAddress! })).toBe(before)
    expect((await port.authorizationStatus({ depositIndex: 3, idempotencyKey: 'too-much' })).used).toBe(false)
    expect(await tokenBalance(from)).toBe(USDC(1))
  })

  it('cancelAuthorization makes a transfer impossible; a used authorization cannot be cancelled', async () => {
    const from = port.depositAddress(7)
    await env.mint(from, USDC(5))
    const key = { depositIndex: 7, idempotencyKey: 'to-cancel' }
    const { txHash } = await port.cancelAuthorization(key)
    expect((await port.waitForReceipt(txHash)).status).toBe('success')
    expect(await port.authorizationStatus(key)).toEqual({ nonce: authorizationNonce('to-cancel'), used: true, canceled: true })
    await expect(port.transferFromDeposit({ ...key, to: port.depositAddress(8), amount: USDC(1) })).rejects.toBeInstanceOf(
      AuthorizationCanceledError,
    )
    expect(await tokenBalance(from)).toBe(USDC(5))

    const paid = await port.transferFromDeposit({ depositIndex: 7, to: port.depositAddress(8), amount: USDC(1), idempotencyKey: 'paid' })
    await port.waitForReceipt(paid.txHash)
    await expect(port.cancelAuthorization({ depositIndex: 7, idempotencyKey: 'paid' })).rejects.toThrow(/AuthorizationAlreadyUsed/)
    expect(await tokenBalance(from)).toBe(USDC(4))
  })

  it('detects a wrong EIP-712 domain before signing anything', async () => {
    const bad = makePort({ tokenDomain: { name: 'USD Coin', version: '1' } })
    await env.mint(bad.depositAddress(5), USDC(1))
    await expect(
      bad.transferFromDeposit({ depositIndex: 5, to: port.depositAddress(6), amount: 1n, idempotencyKey: 'x' }),
    ).rejects.toThrow(/domain mismatch/)
  })
})

describe('deposit watcher on anvil', () => {
  it('reports a deposit only after the confirmation depth, exactly once, with the confirmed balance', async () => {
    const addr = port.depositAddress(10)
    const addresses = new Map([[addr.toLowerCase(), 'wallet-10']])
    const start = await env.publicClient.getBlockNumber()
    const w = recordingWatcher(addresses, 3, start + 1n)

    const minedAt = await env.mint(addr, USDC(25))
    await w.watcher.syncOnce()
    expect(w.deposits).toHaveLength(0)
    await env.mine(2) // head = minedAt + 2: still one block short of the depth
    await w.watcher.syncOnce()
    expect(w.deposits).toHaveLength(0)
    expect(w.balances).toHaveLength(0)

    await env.mine(1) // head = minedAt + 3: now confirmed
    await w.watcher.syncOnce()
    expect(w.deposits).toHaveLength(1)
    const { obs, walletId } = w.deposits[0]!
    expect(walletId).toBe('wallet-10')
    expect(obs.address).toBe(addr)
    expect(obs.amount).toBe(USDC(25))
    expect(obs.blockNumber).toBe(minedAt)
    expect(obs.from).toBe('0x0000000000000000000000000000000000000000')
    expect(typeof obs.logIndex).toBe('number')
    expect(w.balances).toEqual([{ address: addr, balance: USDC(25), blockNumber: minedAt, walletId: 'wallet-10' }])
    expect(w.saved.at(-1)?.blockNumber).toBe(minedAt)

    await env.mine(5)
    await w.watcher.syncOnce()
    expect(w.deposits).toHaveLength(1)

    // A restarted watcher resumes from the checkpoint and delivers nothing twice.
    const resumed = recordingWatcher(addresses, 3, 0n, w.saved.at(-1))
    await env.mine(1)
    await resumed.watcher.syncOnce()
    expect(resumed.deposits).toHaveLength(0)
    expect(resumed.reorgs).toHaveLength(0)
    await w.watcher.stop()
    await resumed.watcher.stop()
  })

  it('never reports a deposit that a reorg within the depth removed', async () => {
    const addr = port.depositAddress(11)
    const addresses = new Map([[addr.toLowerCase(), 'wallet-11']])
    const w = recordingWatcher(addresses, 3, (await env.publicClient.getBlockNumber()) + 1n)

    const snap = await env.testClient.snapshot()
    await env.mint(addr, USDC(99))
    await env.mine(1)
    await w.watcher.syncOnce() // the deposit is 1 block deep: below the depth of 3
    expect(w.deposits).toHaveLength(0)
    await env.testClient.revert({ id: snap }) // the fork without the deposit wins
    await env.mine(6)
    await w.watcher.syncOnce()
    expect(w.deposits).toHaveLength(0)
    expect(w.reorgs).toHaveLength(0)
    expect(await tokenBalance(addr)).toBe(0n)

    // The watcher still works on the new fork and reports only the real deposit.
    const minedAt = await env.mint(addr, USDC(7))
    await env.mine(3)
    await w.watcher.syncOnce()
    expect(w.deposits.map((d) => d.obs.amount)).toEqual([USDC(7)])
    expect(w.deposits[0]!.obs.blockNumber).toBe(minedAt)
    expect(w.balances.at(-1)).toMatchObject({ address: addr, balance: USDC(7) })
  })

  it('a reorg deeper than the depth is detected and the balance re-read (documented limit)', async () => {
    const addr = port.depositAddress(12)
    const addresses = new Map([[addr.toLowerCase(), 'wallet-12']])
    const w = recordingWatcher(addresses, 1, (await env.publicClient.getBlockNumber()) + 1n)

    const snap = await env.testClient.snapshot()
    await env.mint(addr, USDC(5))
    await env.mine(2)
    await w.watcher.syncOnce()
    expect(w.deposits).toHaveLength(1) // reported at depth 1…
    await env.testClient.revert({ id: snap }) // …then a 3-block reorg removes it
    await env.mine(4)
    await w.watcher.syncOnce()
    expect(w.reorgs).toHaveLength(1)
    // The balance (what the ledger spends from) returns to the truth.
    expect(w.balances.at(-1)).toMatchObject({ address: addr, balance: 0n })
  })

  it('reports balances after outgoing transfers and ignores transfers between strangers', async () => {
    const addr = port.depositAddress(13)
    const addresses = new Map([[addr.toLowerCase(), 'wallet-13']])
    const w = recordingWatcher(addresses, 0, (await env.publicClient.getBlockNumber()) + 1n)
    await env.mint(port.depositAddress(14), USDC(1)) // not watched
    await env.mint(addr, USDC(10))
    const { txHash } = await port.transferFromDeposit({ depositIndex: 13, to: port.depositAddress(14), amount: USDC(4), idempotencyKey: 'out-1' })
    const { blockNumber } = await port.waitForReceipt(txHash)
    await w.watcher.syncOnce()
    expect(w.deposits.map((d) => d.obs.amount)).toEqual([USDC(10)])
    expect(w.balances.at(-1)).toEqual({ address: addr, balance: USDC(6), blockNumber, walletId: 'wallet-13' })
  })

  it('reports the balance of an address added after start, and filters addresses in batches', async () => {
    const addresses = new Map<string, string>()
    const w = recordingWatcher(addresses, 0, (await env.publicClient.getBlockNumber()) + 1n, undefined, 10)
    await w.watcher.syncOnce() // no addresses yet
    const late = port.depositAddress(20)
    await env.mint(late, USDC(2)) // before it is watched: seen as a balance, not as a deposit
    await w.watcher.syncOnce()
    for (let i = 21; i < 21 + 25; i++) addresses.set(port.depositAddress(i).toLowerCase(), `wallet-${i}`)
    addresses.set(late.toLowerCase(), 'wallet-20')
    await env.mint(port.depositAddress(21 + 24), USDC(1)) // lands in the third batch of 10
    await w.watcher.syncOnce()
    expect(w.balances.find((b) => b.walletId === 'wallet-20')?.balance).toBe(USDC(2))
    expect(w.deposits.map((d) => d.walletId)).toEqual(['wallet-45'])
  })
})
