import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ActorHost } from '../../actors/runtime/host.js'
import { walletDefinition } from '../../actors/wallet/definition.js'
import type { WalletHost } from '../../actors/wallet/deposit-index.js'
import { availableBalance } from '../../actors/wallet/ledger.js'
import { verifyLines } from '../../cli/audit-verify.js'
import { priceTurn } from '../../pricing/price-turn.js'
import { depositAddressesProjection } from '../../projections/deposit-addresses.js'
import { ProjectionRunner } from '../../projections/runner.js'
import { walletBalancesProjection } from '../../projections/wallet-balances.js'
import { walletTransactionsProjection } from '../../projections/wallet-transactions.js'
import { DomainError, ForbiddenError } from '../../shared/errors.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import { walletLedgerRoutes } from './wallet-ledger.js'
import { authFor, call } from '../../test/wallet/call-route.js'

const A = '0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045' as const
const B = '0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B' as const
const AUDITOR = '0x1234567890123456789012345678901234567890' as const
const depositAddress = (i: number) => `0x${(0xdead0000 + i).toString(16).padStart(40, '0')}`

let dir: string
let store: SqliteEventStore
let host: WalletHost
let runner: ProjectionRunner
let routes: ReturnType<typeof walletLedgerRoutes>
let clock = new Date('2026-11-25T12:00:00.000Z')

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wallet-routes-'))
  store = await SqliteEventStore.open({ file: join(dir, 'events.sqlite') })
  host = new ActorHost({ definition: walletDefinition, store, now: () => clock })
  runner = new ProjectionRunner({
    store,
    file: join(dir, 'projections.sqlite'),
    projections: [walletBalancesProjection, walletTransactionsProjection, depositAddressesProjection],
    streamPrefixes: ['wallet-'],
  })
  runner.start()
  let n = 0
  routes = walletLedgerRoutes({
    wallets: host,
    store,
    projections: runner,
    depositAddress,
    chainId: 8453,
    usdcAddress: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913',
    auditorWallets: [AUDITOR],
    withdrawalLimits: { perWithdrawalMax: 5_000_000n, dailyMax: 6_000_000n, perHour: 2 },
    now: () => clock,
    newId: () => `wd-${++n}`,
  })
  for (const w of [A, B]) await host.send(w.toLowerCase(), { type: 'RegisterWallet', address: w })
})
afterAll(async () => {
  await runner.close()
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

async function settleTurn(wallet: string, id: string, agentId: string) {
  const turn = priceTurn({
    model: 'sonnet',
    usage: { inputTokens: 1200, outputTokens: 350, cacheCreationInputTokens: 100, cacheReadInputTokens: 4000 },
    toolCalls: 2,
    toolCosts: 1000n,
    byok: false,
  })
  await host.send(wallet, { type: 'ReserveSpend', reservationId: id, agentId, amount: 20_000n })
  await host.send(wallet, {
    type: 'SettleSpend',
    reservationId: id,
    amount: turn.total,
    breakdown: {
      model: turn.model,
      inputTokens: 1200,
      outputTokens: 350,
      cacheCreationInputTokens: 100,
      cacheReadInputTokens: 4000,
      baseLlmCost: turn.baseLlmCost,
      toolCalls: 2,
      toolCosts: 1000n,
      platformCost: turn.platformCost,
      byok: false,
      prices: turn.prices,
      sessionId: 's1',
      turnId: id,
    },
  })
  return turn.total
}

describe('wallet ledger routes', () => {
  it('GET /wallet/balance assigns a deposit address and returns every §7/§14 field', async () => {
    const res = await call(routes, 'GET', '/wallet/balance', { auth: authFor(A) })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      walletAddress: A,
      availableBalance: '0',
      availableBalanceUsd: '0.000000',
      onChainBalance: '0',
      unsettledSpend: '0',
      pendingWithdrawals: '0',
      unifiedDepositAddress: depositAddress(0),
      agentSpends: {},
      budgets: {},
      depositInstructions: { network: 'base', chainId: 8453, chainName: 'Base', token: 'USDC', decimals: 6, minimumDeposit: '1000000' },
    })
    // idempotent: the same address next time; the other wallet gets the next index
    expect((await call(routes, 'GET', '/wallet/balance', { auth: authFor(A) })).body.unifiedDepositAddress).toBe(depositAddress(0))
    expect((await call(routes, 'GET', '/wallet/balance', { auth: authFor(B) })).body.unifiedDepositAddress).toBe(depositAddress(1))
  })

  it('reflects deposits, spends and budgets', async () => {
    const a = A.toLowerCase()
    await host.send(a, { type: 'ObserveDeposit', txHash: '0xd1', logIndex: 0, amount: 10_000_000n, blockNumber: 5n })
    const put = await call(routes, 'PUT', '/wallet/budgets/:agentId', { auth: authFor(A), params: { agentId: 'helper' }, body: { daily: '50000', minimumBalance: '1000000' } })
    expect(put.body).toMatchObject({ agentId: 'helper', budget: { daily: { limit: '50000', spent: '0', left: '50000', resetsAt: '2026-11-26T00:00:00.000Z' }, weekly: null, minimumBalance: '1000000' } })
    const spent = await settleTurn(a, 'turn-1', 'helper')
    const bal = await call(routes, 'GET', '/wallet/balance', { auth: authFor(A) })
    expect(bal.body.availableBalance).toBe((10_000_000n - spent).toString())
    expect(bal.body.unsettledSpend).toBe(spent.toString())
    expect(bal.body.agentSpends).toEqual({ helper: { totalSpent: spent.toString() } })
    expect(bal.body.budgets.helper.daily).toMatchObject({ spent: spent.toString(), left: (50_000n - spent).toString() })
    // null clears
    await call(routes, 'PUT', '/wallet/budgets/:agentId', { auth: authFor(A), params: { agentId: 'helper' }, body: { daily: null } })
    expect((await call(routes, 'GET', '/wallet/budgets', { auth: authFor(A) })).body.budgets.helper.daily).toBeNull()
    await expect(call(routes, 'PUT', '/wallet/budgets/:agentId', { auth: authFor(A), params: { agentId: 'x' }, body: { daily: '-1' } })).rejects.toThrow()
  })

  it('withdrawals: guardrails answer 422/429 naming the rule; idempotency key; list', async () => {
    const post = (body: object) => call(routes, 'POST', '/wallet/withdrawals', { auth: authFor(A), body })
    const dest = '0x71C7656EC7ab88b098defB751B7401B5f6d8976F'
    expect((await post({ to: depositAddress(1), amount: '1', idempotencyKey: 'key-00001' })).body).toMatchObject({ error: 'withdrawal_limit', rule: 'destination_deposit_address' })
    const bad = await post({ to: dest.replace('71C7', '71c7'), amount: '1', idempotencyKey: 'key-00002' })
    expect([bad.status, bad.body.rule]).toEqual([422, 'destination_invalid'])
    expect((await post({ to: dest, amount: '5000001', idempotencyKey: 'key-00003' })).status).toBe(422)
    const ok = await post({ to: dest, amount: '1000000', idempotencyKey: 'key-00004' })
    expect(ok.status).toBe(201)
    expect(ok.body).toMatchObject({ withdrawalId: 'wd-4', status: 'requested', amount: '1000000' })
    const again = await post({ to: dest, amount: '1000000', idempotencyKey: 'key-00004' })
    expect([again.status, again.body.withdrawalId]).toEqual([200, 'wd-4'])
    await expect(post({ to: dest, amount: '2', idempotencyKey: 'key-00004' })).rejects.toThrow(DomainError)
    expect((await post({ to: dest, amount: '1', idempotencyKey: 'key-00005' })).status).toBe(201)
    const rate = await post({ to: dest, amount: '1', idempotencyKey: 'key-00006' })
    expect([rate.status, rate.body.rule]).toEqual([429, 'per_hour'])
    const list = await call(routes, 'GET', '/wallet/withdrawals', { auth: authFor(A) })
    expect(list.body.total).toBe(2)
    const bal = await call(routes, 'GET', '/wallet/balance', { auth: authFor(A) })
    expect(bal.body.pendingWithdrawals).toBe('1000001')
  })

  it('GET /wallet/transactions pages newest first from the projection', async () => {
    const head = await store.headPosition()
    expect(await runner.waitFor(head)).toBe(true)
    const all = await call(routes, 'GET', '/wallet/transactions', { auth: authFor(A) })
    expect(all.body.total).toBe(4)
    expect(all.body.transactions.map((t: { type: string }) => t.type)).toEqual(['withdrawal', 'withdrawal', 'spend', 'deposit'])
    expect(all.body.transactions[2]).toMatchObject({ agentId: 'helper', toolCallCount: 2, model: 'claude-sonnet-4-5' })
    const page = await call(routes, 'GET', '/wallet/transactions', { auth: authFor(A), query: { limit: '2', offset: '2' } })
    expect(page.body.transactions.map((t: { type: string }) => t.type)).toEqual(['spend', 'deposit'])
    expect(page.body.hasMore).toBe(false)
  })

  it('ledger exports: /wallet/ledger for the owner, /audit/ledger for auditors only; the audit replays to the actor figures; tampering is named', async () => {
    await settleTurn(B.toLowerCase(), 'turn-b', 'other').catch(() => undefined) // B has no funds: refused, nothing written
    await host.send(B.toLowerCase(), { type: 'ObserveDeposit', txHash: '0xd2', logIndex: 3, amount: 2_000_000n, blockNumber: 6n })
    await settleTurn(B.toLowerCase(), 'turn-b2', 'other')

    const mine = await call(routes, 'GET', '/wallet/ledger', { auth: authFor(A), query: { after: '1' } })
    const mineLines = mine.text!.trim().split('\n').map((l) => JSON.parse(l))
    expect(mineLines[0].revision).toBe(2)
    expect(mineLines.every((l: { streamId: string }) => l.streamId === `wallet-${A.toLowerCase()}`)).toBe(true)

    await expect(call(routes, 'GET', '/audit/ledger', { auth: authFor(A) })).rejects.toThrow(ForbiddenError)
    const audit = await call(routes, 'GET', '/audit/ledger', { auth: authFor(AUDITOR) })
    const lines = audit.text!.trim().split('\n')
    const result = await verifyLines(lines)
    expect(result.ok).toBe(true)
    expect(result.wallets).toHaveLength(2)
    for (const w of result.wallets) {
      const l = (await host.read(w.wallet)).snapshot.context.ledger
      expect(w.availableBalance).toBe(availableBalance(l).toString())
      expect(w.unsettledSpend).toBe(l.unsettledSpend.toString())
      expect(w.pendingWithdrawals).toBe(l.pendingWithdrawals.toString())
      expect(w.agentSpends).toEqual(Object.fromEntries(Object.entries(l.agentSpends).map(([k, v]) => [k, v.totalSpent.toString()])))
    }

    // tamper: one settlement's charge edited → its hash no longer matches, named by line
    const i = lines.findIndex((l) => l.includes('"SpendSettled"'))
    const tampered = [...lines]
    tampered[i] = tampered[i]!.replace(/"amount":\{"\$bigint":"(\d+)"\}/, (_m, v: string) => `"amount":{"$bigint":"${BigInt(v) - 1n}"}`)
    expect(tampered[i]).not.toBe(lines[i])
    const bad = await verifyLines(tampered)
    expect(bad.ok).toBe(false)
    expect(bad.bad).toMatchObject({ line: i + 1, type: 'SpendSettled', reason: expect.stringMatching(/hash/) })
    // an event removed from the middle of a stream breaks the next link
    const removed = lines.filter((_, k) => k !== 2)
    expect((await verifyLines(removed)).bad?.reason).toMatch(/revision gap/)

    // the CLI: exit 0 on the export, exit 1 naming the line on the tampered copy
    const good = join(dir, 'export.ndjson')
    const evil = join(dir, 'tampered.ndjson')
    writeFileSync(good, `${lines.join('\n')}\n`)
    writeFileSync(evil, `${tampered.join('\n')}\n`)
    const run = promisify(execFile)
    const ok = await run(process.execPath, ['--import', 'tsx', 'cli/audit.ts', 'verify', good], { cwd: process.cwd() })
    expect(ok.stdout).toMatch(/OK: every hash chain verifies/)
    const failed = await run(process.execPath, ['--import', 'tsx', 'cli/audit.ts', 'verify', evil], { cwd: process.cwd() }).catch((e: { code: number; stdout: string }) => e)
    expect((failed as { code: number }).code).toBe(1)
    expect((failed as { stdout: string }).stdout).toContain(`FAILED at line ${i + 1}`)
  })
})
