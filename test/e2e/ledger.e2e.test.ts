import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signIn, startTestGateway, testAccount, type TestGateway } from '../gateway.js'

describe('wallet ledger routes on the whole gateway', () => {
  let gw: TestGateway
  let token: string
  const auditor = testAccount(1)
  const headers = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' })

  beforeAll(async () => {
    gw = await startTestGateway({ AUDITOR_WALLETS: auditor.address })
    token = await signIn(gw.url, testAccount(0))
  })
  afterAll(() => gw?.stop())

  it('GET /wallet/balance carries every field of API §7 and §14', async () => {
    const res = await fetch(`${gw.url}/wallet/balance`, { headers: headers() })
    expect(res.status).toBe(200)
    const b = (await res.json()) as Record<string, any>
    for (const k of ['availableBalance', 'availableBalanceUsd', 'unifiedDepositAddress', 'agentSpends', 'onChainBalance', 'unsettledSpend', 'pendingWithdrawals', 'depositInstructions'])
      expect(b, k).toHaveProperty(k)
    expect(b.availableBalance).toBe('0')
    expect(b.unifiedDepositAddress).toMatch(/^0x[0-9a-fA-F]{40}$/)
    expect(b.depositInstructions).toMatchObject({ chainId: 8453, decimals: 6 })
    // One address per wallet: asking again gives the same one.
    const again = (await (await fetch(`${gw.url}/wallet/balance`, { headers: headers() })).json()) as Record<string, unknown>
    expect(again.unifiedDepositAddress).toBe(b.unifiedDepositAddress)
  })

  it('budgets round-trip, transactions page, and withdrawals without a relayer answer 503', async () => {
    const put = await fetch(`${gw.url}/wallet/budgets/assistant`, { method: 'PUT', headers: headers(), body: JSON.stringify({ daily: '1000000', monthly: null }) })
    expect(put.status).toBe(200)
    const budgets = (await (await fetch(`${gw.url}/wallet/budgets`, { headers: headers() })).json()) as Record<string, unknown>
    expect(JSON.stringify(budgets)).toContain('1000000')
    const bad = await fetch(`${gw.url}/wallet/budgets/assistant`, { method: 'PUT', headers: headers(), body: JSON.stringify({ daily: '-5' }) })
    expect(bad.status).toBe(400)
    const tx = await fetch(`${gw.url}/wallet/transactions?limit=10`, { headers: headers() })
    expect(tx.status).toBe(200)
    expect(await tx.json()).toMatchObject({ transactions: expect.any(Array), total: expect.any(Number) })
    const w = await fetch(`${gw.url}/wallet/withdrawals`, {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ to: testAccount(2).address, amount: '1000', idempotencyKey: 'withdraw-0001' }),
    })
    expect(w.status).toBe(503)
    expect(((await w.json()) as { error: string }).error).toBe('withdrawals_unavailable')
  })

  it('exports the ledger as hash-chained NDJSON, and the audit export only to auditors', async () => {
    const res = await fetch(`${gw.url}/wallet/ledger`, { headers: headers() })
    expect(res.status).toBe(200)
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { revision: string; prevHash: string; hash: string })
    expect(lines.length).toBeGreaterThan(0)
    expect(lines[0]!.prevHash).toBe('')
    for (let i = 1; i < lines.length; i++) expect(lines[i]!.prevHash).toBe(lines[i - 1]!.hash)
    expect((await fetch(`${gw.url}/audit/ledger`, { headers: headers() })).status).toBe(403)
    const auditorToken = await signIn(gw.url, auditor)
    const audit = await fetch(`${gw.url}/audit/ledger`, { headers: { authorization: `Bearer ${auditorToken}` } })
    expect(audit.status).toBe(200)
    expect((await audit.text()).split('\n').filter((l) => l.length > 0).length).toBeGreaterThanOrEqual(lines.length)
  })
})
