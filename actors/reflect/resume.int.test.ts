import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CallModel } from '../../connectors/anthropic/call-model.js'
import { startAnthropicFixture, type AnthropicFixture, type FixtureTurn } from '../../test/anthropic/server.js'
import { eventually } from '../../test/eventually.js'
import { fundWallet, openReflect } from '../../test/reflect/harness.js'
import { storeSession } from '../../test/reflect/sessions.js'

const dir = mkdtempSync(join(tmpdir(), 'reflect-resume-'))
const WALLET = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'
const wallet = WALLET.toLowerCase()
const facetTurn = (marker: string): FixtureTurn => ({
  kind: 'message',
  content: [{ type: 'tool_use', name: 'record_facet', input: { goal: `goal ${marker}`, taskType: 'chat', outcome: 'success', friction: [], learnings: [] } }],
  usage: { input_tokens: 900, output_tokens: 120 },
})

describe('a self-improvement run interrupted mid-run (real SQLite, real SDK)', () => {
  let fx: AnthropicFixture
  beforeAll(async () => {
    fx = await startAnthropicFixture({ respond: (r) => facetTurn(/(s\d)-marker/.exec(JSON.stringify(r.body.messages))?.[1] ?? '?') })
  })
  afterAll(async () => {
    await fx.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('resumes on restart: finished facets are kept, the call that was in flight is charged once, the run completes', async () => {
    const file = join(dir, 'events.sqlite')
    const now = () => new Date('2026-12-02T09:00:00Z')
    let calls = 0
    // The second model call never answers: the process "dies" while it is in flight.
    const hangSecond = (real: CallModel): CallModel => (p) => (++calls === 2 ? new Promise(() => {}) : real(p))
    const h1 = await openReflect({ file, now, anthropicUrl: fx.url, wrapCallModel: hangSecond })
    await fundWallet(h1, WALLET, 10_000_000n)
    for (const id of ['s1', 's2', 's3']) await storeSession(h1.store, { wallet: WALLET, sessionId: id, agentId: 'assistant', messages: [`${id}-marker first`, `${id}-marker second`] })
    const { runId, status } = await h1.service.trigger(WALLET, {})
    expect(status).toBe('started')
    const reflectEvents = async (h: typeof h1) => (await h.store.readStream(`reflect-${wallet}`)).map((e) => e.type)
    await eventually(() => reflectEvents(h1), (t) => t.filter((x) => x === 'FacetExtracted').length === 2 && calls >= 3, 'two facets and the hung call')
    await h1.close()

    const h2 = await openReflect({ file, now, anthropicUrl: fx.url })
    expect(await h2.service.resume([wallet])).toBe(1)
    await eventually(() => h2.service.state(wallet), (s) => s.value === 'idle', 'the resumed run to end')
    const types = await reflectEvents(h2)
    expect(types.filter((t) => t === 'FacetExtracted')).toHaveLength(3)
    expect(types).toContain('RunResumed')
    expect(types.at(-1)).toBe('RunCompleted')

    const ledger = (await h2.store.readStream(`wallet-${wallet}`)).map((e) => ({ type: e.type, data: e.data as any }))
    const ids = (type: string) => ledger.filter((e) => e.type === type && String(e.data.reservationId).startsWith(`reflect:${runId}:`)).map((e) => e.data.reservationId as string)
    // Three facet calls, each reserved once and settled once (the resumed one reused its reservation id).
    expect(new Set(ids('SpendReserved')).size).toBe(3)
    expect(ids('SpendReserved')).toHaveLength(3)
    expect(ids('SpendSettled').sort()).toEqual(ids('SpendReserved').sort())
    const charged = ledger.filter((e) => e.type === 'SpendSettled' && String(e.data.reservationId).startsWith(`reflect:${runId}:`)).reduce((a, e) => a + (e.data.amount as bigint), 0n)
    const run = (await h2.service.history(WALLET)).runs.at(-1)!
    expect(run).toMatchObject({ runId, status: 'completed', facets: 3 })
    expect(BigInt(run.costRaw as string)).toBe(charged)
    await h2.close()
  })

  it('the facet cache re-reads only a session that changed since its facet', async () => {
    const file = join(dir, 'cache.sqlite')
    const now = () => new Date('2026-12-02T09:00:00Z')
    const h = await openReflect({ file, now, anthropicUrl: fx.url })
    await fundWallet(h, WALLET, 10_000_000n)
    for (const id of ['s4', 's5']) await storeSession(h.store, { wallet: WALLET, sessionId: id, agentId: 'assistant', messages: [`${id}-marker a`, `${id}-marker b`] })
    const run = async () => {
      const { runId } = await h.service.trigger(WALLET, {})
      await eventually(() => h.service.state(wallet), (s) => s.value === 'idle', 'the run to end')
      return (await h.service.history(WALLET)).runs.find((r) => r.runId === runId)!
    }
    expect(await run()).toMatchObject({ facets: 2, facetsCached: 0 })
    const before = fx.requests.length
    // s5 gets another user message: only it is read and sent again.
    const [last] = await h.store.readStream('session-s5', { direction: 'backwards', maxCount: 1 })
    await h.store.append('session-s5', [{ type: 'UserMessageReceived', data: { turnId: 'x', text: 's5-marker c', idempotencyKey: 'kx', model: 'claude-haiku-4-5', at: now().toISOString() } }], { expectedRevision: last!.revision })
    expect(await run()).toMatchObject({ facets: 1, facetsCached: 1 })
    expect(fx.requests.slice(before)).toHaveLength(1)
    expect(JSON.stringify(fx.requests.at(-1)!.body.messages)).toContain('s5-marker c')
    await h.close()
  })

  it('a run the balance cannot pay for ends failed with the ledger code, charging only what completed', async () => {
    const file = join(dir, 'poor.sqlite')
    const now = () => new Date('2026-12-02T09:00:00Z')
    const h = await openReflect({ file, now, anthropicUrl: fx.url })
    await fundWallet(h, WALLET, 10n)
    await storeSession(h.store, { wallet: WALLET, sessionId: 's6', agentId: 'assistant', messages: ['s6-marker a', 's6-marker b'] })
    const before = fx.requests.length
    const { runId } = await h.service.trigger(WALLET, {})
    await eventually(() => h.service.state(wallet), (s) => s.value === 'idle', 'the run to end')
    expect((await h.service.history(WALLET)).runs.at(-1)).toMatchObject({ runId, status: 'failed', error: 'insufficient_balance', facets: 0, costRaw: '0' })
    expect(fx.requests.length).toBe(before)
    const ledger = (await h.store.readStream(`wallet-${wallet}`)).map((e) => e.type)
    expect(ledger).not.toContain('SpendSettled')
    expect(ledger).not.toContain('SpendReserved')
    await h.close()
  })
})
