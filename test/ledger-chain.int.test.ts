import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createWalletClient, erc20Abi, getAddress, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { ActorHost } from '../actors/runtime/host.js'
import type { EffectCall } from '../actors/runtime/types.js'
import type { WalletCommand } from '../actors/wallet/commands.js'
import { ensureDepositAddress } from '../actors/wallet/deposit-index.js'
import { walletDefinition } from '../actors/wallet/definition.js'
import { availableBalance, type Ledger } from '../actors/wallet/ledger.js'
import { eventStoreCheckpoint } from '../connectors/chain/checkpoint.js'
import { createChainPort, type ChainConnector } from '../connectors/chain/create-chain-port.js'
import { createDepositKeyring } from '../connectors/chain/deposit-keys.js'
import { startDepositWatcher, type DepositWatcher } from '../connectors/chain/deposit-watcher.js'
import { startWalletChainIndex, type WalletChainIndex } from '../connectors/chain/wallet-chain-index.js'
import { createWalletChainEffects, depositWatcherSink } from '../connectors/chain/wallet-effects.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import { ANVIL_KEYS } from './chain/anvil.js'
import { startChainTestEnv, type ChainTestEnv } from './chain/env.js'
import { eventually } from './eventually.js'

const USDC = (n: number) => BigInt(n) * 1_000_000n
const CONFIRMATIONS = 3
const TREASURY = getAddress('0x00000000000000000000000000000000007Ea5e7')
const LIMITS = { perWithdrawalMax: USDC(1000), dailyMax: USDC(5000), perHour: 10 }

let env: ChainTestEnv
let dir: string
let store: SqliteEventStore
let port: ChainConnector
let index: WalletChainIndex
let watcher: DepositWatcher
const effectErrors: unknown[] = []

function makeHost(withEffects: boolean) {
  const effects = createWalletChainEffects({ port, treasuryAddress: TREASURY, retryDelayMs: 20 })
  const host = new ActorHost({
    definition: walletDefinition,
    store,
    ...(withEffects ? { effects: { broadcastWithdrawal: effects.broadcastWithdrawal, broadcastSettlement: effects.broadcastSettlement } } : {}),
    onEffectError: (err: unknown, _a: EffectCall) => void effectErrors.push(err),
  })
  return { host, effects }
}
let host: ReturnType<typeof makeHost>['host']

const user = privateKeyToAccount(ANVIL_KEYS[2]!)
const walletId = user.address.toLowerCase()

async function ledger(id = walletId): Promise<Ledger> {
  return (await host.read(id)).snapshot.context.ledger
}

async function tokenBalance(a: `0x${string}`) {
  return env.publicClient.readContract({ address: env.usdcAddress, abi: erc20Abi, functionName: 'balanceOf', args: [a] })
}

/** The balance identity with the chain as the truth: nothing may show more than is really there. */
async function expectIdentity() {
  const l = await ledger()
  const onChain = await tokenBalance(getAddress(l.depositAddress!))
  expect(l.onChainBalance).toBe(onChain)
  expect(availableBalance(l)).toBe(onChain - l.unsettledSpend - l.pendingWithdrawals)
}

beforeAll(async () => {
  env = await startChainTestEnv()
  dir = mkdtempSync(join(tmpdir(), 'ledger-chain-'))
  store = new SqliteEventStore({ file: join(dir, 'events.sqlite') })
  port = createChainPort({
    rpcUrl: env.anvil.rpcUrl,
    chainId: env.anvil.chainId,
    usdcAddress: env.usdcAddress,
    relayerPrivateKey: env.relayerKey,
    keyring: createDepositKeyring(env.depositMnemonic),
    pollingIntervalMs: 25,
  })
  host = makeHost(true).host
  index = startWalletChainIndex(store)
  await index.ready
  const checkpoint = eventStoreCheckpoint({ store, streamId: `chainwatch-${env.anvil.chainId}-${env.usdcAddress.toLowerCase()}`, minIntervalMs: 0 })
  watcher = startDepositWatcher({
    publicClient: port.publicClient,
    usdcAddress: port.usdcAddress,
    addresses: () => index.addresses,
    confirmations: CONFIRMATIONS,
    pollMs: 50,
    fromBlock: (await env.publicClient.getBlockNumber()) + 1n,
    autoStart: false,
    loadCheckpoint: checkpoint.load,
    saveCheckpoint: checkpoint.save,
    ...depositWatcherSink({ send: (id, c) => host.send(id, c) }),
  })
})

afterAll(async () => {
  await watcher?.stop()
  await index?.close()
  await store?.close()
  await env?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('wallet ledger on a real chain (anvil, EIP-3009 USDC, SQLite event store)', () => {
  it('deposit → detected only after the confirmation depth → balance', async () => {
    await host.send(walletId, { type: 'RegisterWallet', address: user.address })
    const assigned = await ensureDepositAddress({ host, store, wallet: walletId, depositAddress: (i) => port.depositAddress(i) })
    const deposit = getAddress(assigned.address)
    expect(deposit).toBe(port.depositAddress(assigned.index))
    await eventually(async () => index.addresses.get(deposit.toLowerCase()), (v) => v === walletId, 'the index to learn the deposit address')

    // The user pays 100 USDC into the deposit address from their own account.
    await env.mint(user.address, USDC(100))
    const userClient = createWalletClient({ chain: env.chain, transport: http(env.anvil.rpcUrl), account: user })
    const hash = await userClient.writeContract({ address: env.usdcAddress, abi: erc20Abi, functionName: 'transfer', args: [deposit, USDC(100)] })
    const { blockNumber: depositBlock } = await env.publicClient.waitForTransactionReceipt({ hash })

    await watcher.syncOnce()
    await env.mine(CONFIRMATIONS - 1)
    await watcher.syncOnce()
    let l = await ledger()
    expect(l.onChainBalance).toBe(0n)
    expect(availableBalance(l)).toBe(0n)
    expect(Object.keys(l.deposits)).toHaveLength(0)

    await env.mine(1)
    await watcher.syncOnce()
    l = await ledger()
    const keys = Object.keys(l.deposits)
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatch(new RegExp(`^${hash}:\\d+$`))
    expect(l.totals.deposited).toBe(USDC(100))
    expect(l.observedBlock).toBe(depositBlock)
    expect(l.onChainBalance).toBe(USDC(100))
    expect(availableBalance(l)).toBe(USDC(100))
    await expectIdentity()

    // A watcher replaying from scratch (lost checkpoint) re-delivers; the actor counts it once.
    const replay = startDepositWatcher({
      publicClient: port.publicClient,
      usdcAddress: port.usdcAddress,
      addresses: () => index.addresses,
      confirmations: CONFIRMATIONS,
      pollMs: 50,
      fromBlock: 0n,
      autoStart: false,
      loadCheckpoint: async () => undefined,
      saveCheckpoint: async () => {},
      ...depositWatcherSink({ send: (id, c) => host.send(id, c) }),
    })
    await replay.syncOnce()
    await replay.stop()
    const events = await store.readStream(`wallet-${walletId}`)
    expect(events.filter((e) => e.type === 'DepositDetected')).toHaveLength(1)
    expect((await ledger()).totals.deposited).toBe(USDC(100))
  })

  it('withdrawal through the relayer → confirmed; the deposit address never holds gas', async () => {
    const deposit = getAddress((await ledger()).depositAddress!)
    const dest = getAddress('0x000000000000000000000000000000000000d00d')
    await host.send(walletId, {
      type: 'RequestWithdrawal',
      withdrawalId: 'w-1',
      idempotencyKey: 'user-key-1',
      to: dest,
      amount: USDC(30),
      limits: LIMITS,
      destinationIsDepositAddress: false,
    })
    // Until it is confirmed the amount counts as pending: available already excludes it.
    const during = await ledger()
    expect(availableBalance(during)).toBeLessThanOrEqual(USDC(70))

    const l = await eventually(ledger, (x) => x.withdrawals['w-1']?.status === 'confirmed', 'withdrawal confirmed')
    const w = l.withdrawals['w-1']!
    const receipt = await env.publicClient.getTransactionReceipt({ hash: w.txHash as `0x${string}` })
    expect(receipt.status).toBe('success')
    expect(w.blockNumber).toBe(receipt.blockNumber)
    expect(getAddress((await env.publicClient.getTransaction({ hash: w.txHash as `0x${string}` })).from)).toBe(port.relayerAddress!)
    expect(await tokenBalance(dest)).toBe(USDC(30))
    expect(await env.publicClient.getBalance({ address: deposit })).toBe(0n)
    expect(l.pendingWithdrawals).toBe(0n)
    expect(l.totals.withdrawn).toBe(USDC(30))
    await expectIdentity()

    // The watcher's later observation of the same fact does not subtract it twice.
    await env.mine(CONFIRMATIONS)
    await watcher.syncOnce()
    await expectIdentity()
    expect((await ledger()).onChainBalance).toBe(USDC(70))

    // Same idempotency key again: nothing new, nothing paid.
    await host.send(walletId, {
      type: 'RequestWithdrawal',
      withdrawalId: 'w-1-retry',
      idempotencyKey: 'user-key-1',
      to: dest,
      amount: USDC(30),
      limits: LIMITS,
      destinationIsDepositAddress: false,
    })
    expect((await ledger()).withdrawals['w-1-retry']).toBeUndefined()
    expect(await tokenBalance(dest)).toBe(USDC(30))
  })

  it('settlement sweep → unsettled spend falls and the on-chain balance falls by the same amount', async () => {
    await host.send(walletId, { type: 'ReserveSpend', reservationId: 'r-1', agentId: 'agent-1', amount: USDC(10) })
    await host.send(walletId, {
      type: 'SettleSpend',
      reservationId: 'r-1',
      amount: USDC(8),
      breakdown: {
        model: 'claude-test',
        inputTokens: 1000,
        outputTokens: 500,
        cacheCreationInputTokens: 0,
        cacheReadInputTokens: 0,
        baseLlmCost: '8000000',
        toolCalls: 0,
        toolCosts: 0n,
        platformCost: 0n,
        byok: false,
      },
    })
    const before = await ledger()
    expect(before.unsettledSpend).toBe(USDC(8))
    const chainBefore = await tokenBalance(getAddress(before.depositAddress!))
    expect(availableBalance(before)).toBe(chainBefore - USDC(8))

    await host.send(walletId, { type: 'RequestSettlement', settlementId: 's-1' })
    const after = await eventually(ledger, (x) => x.settlements['s-1']?.status === 'confirmed', 'settlement confirmed')
    const swept = after.settlements['s-1']!.amount
    expect(swept).toBe(USDC(8))
    expect(after.unsettledSpend).toBe(before.unsettledSpend - swept)
    expect(after.onChainBalance).toBe(before.onChainBalance - swept)
    expect(await tokenBalance(getAddress(after.depositAddress!))).toBe(chainBefore - swept)
    expect(await tokenBalance(TREASURY)).toBe(swept)
    // Available did not move: the spend was already subtracted before the sweep.
    expect(availableBalance(after)).toBe(availableBalance(before))
    await expectIdentity()

    await env.mine(CONFIRMATIONS)
    await watcher.syncOnce()
    await expectIdentity()
    expect((await ledger()).onChainBalance).toBe(USDC(62))
  })

  it('a transfer left unfinished by a crash is resumed once, and pays once', async () => {
    // A process that committed the request but died before running the effect.
    const crashed = makeHost(false).host
    await crashed.send(walletId, {
      type: 'RequestWithdrawal',
      withdrawalId: 'w-2',
      idempotencyKey: 'user-key-2',
      to: getAddress('0x000000000000000000000000000000000000F00D'),
      amount: USDC(5),
      limits: LIMITS,
      destinationIsDepositAddress: false,
    })
    host.clear()
    const pending = await eventually(async () => index.pending(), (p) => p.some((w) => w.id === 'w-2'), 'the index to see w-2 pending')
    expect((await ledger()).withdrawals['w-2']?.status).toBe('requested')

    // The restarted process resumes it — twice at once, as two resumes would.
    const { effects } = makeHost(true)
    const actors = { send: (id: string, c: WalletCommand) => host.send(id, c), read: (id: string) => host.read(id) }
    await Promise.all([effects.resume(actors, pending), effects.resume(actors, pending)])
    const l = await ledger()
    expect(l.withdrawals['w-2']?.status).toBe('confirmed')
    expect(await tokenBalance(getAddress('0x000000000000000000000000000000000000F00D'))).toBe(USDC(5))
    await expectIdentity()
    await eventually(async () => index.pending(), (p) => p.length === 0, 'no pending work left')
  })

  it('a withdrawal the address cannot cover on chain fails with the reason and restores the balance', async () => {
    // Make the ledger believe in more than the chain holds: only possible if the chain moved
    // without the ledger knowing yet — simulate by draining the address out of band.
    const l0 = await ledger()
    const amount = availableBalance(l0)
    const drain = await port.transferFromDeposit({ depositIndex: l0.depositIndex!, to: TREASURY, amount: USDC(50), idempotencyKey: 'out-of-band' })
    await port.waitForReceipt(drain.txHash)
    await host.send(walletId, {
      type: 'RequestWithdrawal',
      withdrawalId: 'w-3',
      idempotencyKey: 'user-key-3',
      to: getAddress('0x000000000000000000000000000000000000bEEF'),
      amount,
      limits: LIMITS,
      destinationIsDepositAddress: false,
    })
    const l = await eventually(ledger, (x) => x.withdrawals['w-3']?.status === 'failed', 'withdrawal failed')
    expect(l.withdrawals['w-3']!.reason).toMatch(/reverted: ERC20InsufficientBalance/)
    // Before the ledger freed the amount, the authorization was burnt on chain: no stray copy can pay later.
    expect(await port.authorizationStatus({ depositIndex: l.depositIndex!, idempotencyKey: 'withdrawal:w-3' })).toMatchObject({ used: true, canceled: true })
    expect(l.pendingWithdrawals).toBe(0n)
    expect(await tokenBalance(getAddress('0x000000000000000000000000000000000000bEEF'))).toBe(0n)
    // The watcher then brings the balance back to the truth.
    await env.mine(CONFIRMATIONS)
    await watcher.syncOnce()
    await expectIdentity()
    expect(effectErrors).toEqual([])
  })
})
