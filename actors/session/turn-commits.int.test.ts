import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadAgents } from '../../agents/load-agents.js'
import { createModelCaller } from '../../connectors/anthropic/call-model.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import type { RecordedEvent } from '../../store/types.js'
import { startAnthropicFixture, textTurn, type AnthropicFixture } from '../../test/anthropic/server.js'
import { ActorHost } from '../runtime/host.js'
import { walletDefinition } from '../wallet/definition.js'
import { availableBalance } from '../wallet/ledger.js'
import { walletSessionLedger } from './ledger-port.js'
import { SessionService } from './service.js'

/**
 * A chat turn commits twice (real wallet actor, real SQLite, the SDK against the local
 * Anthropic server): the reservation with the message and the turn's start, then the
 * response with the settlement and the completion. A refused reservation commits nothing.
 */
describe('a chat turn in two commits', () => {
  const ALICE = '0x00000000000000000000000000000000000A11cE'
  const BOB = '0x0000000000000000000000000000000000000B0b'
  let dir: string
  let store: SqliteEventStore
  let fx: AnthropicFixture
  let sessions: SessionService
  let wallets: ActorHost<typeof walletDefinition.machine, Parameters<typeof walletDefinition.decide>[1], never>

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'turn-commits-'))
    // Worker writer, as the gateway: the writer's results carry what was recorded across the thread.
    store = await SqliteEventStore.open({ file: join(dir, 'events.db'), writer: 'worker' })
    fx = await startAnthropicFixture()
    wallets = new ActorHost({ definition: walletDefinition, store }) as never
    for (const [i, w] of [ALICE, BOB].entries()) {
      await wallets.send(w.toLowerCase(), { type: 'RegisterWallet', address: w })
      await wallets.send(w.toLowerCase(), { type: 'AssignDepositAddress', index: i, address: w })
    }
    await wallets.send(ALICE.toLowerCase(), { type: 'ObserveDeposit', txHash: '0x01', logIndex: 0, amount: 5_000_000n, blockNumber: 1n })
    sessions = new SessionService({
      store,
      agents: await loadAgents(),
      callModel: createModelCaller({ baseURL: fx.url, sleep: async () => undefined }),
      ledger: walletSessionLedger(wallets, availableBalance),
      getProviderKey: async () => 'sk-ant-turn-key',
    })
  }, 60_000)
  afterEach(async () => {
    sessions.close()
    await store.close()
    await fx.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const turnDone = (sid: string): Promise<RecordedEvent> =>
    new Promise((resolve) => {
      const off = sessions.onCommitted(sid, (e) => {
        if (e.type === 'TurnCompleted' || e.type === 'TurnFailed') {
          off()
          resolve(e)
        }
      })
    })

  it('commits the reservation with the turn start, and the response with settlement and completion', async () => {
    await sessions.create({ sessionId: 'sess-two-commits', agentId: 'assistant', wallet: ALICE, model: 'haiku' })
    fx.enqueue(textTurn('Hello there.', { input_tokens: 1200, output_tokens: 30 }))
    const tx0 = store.stats.transactions
    const done = turnDone('sess-two-commits')
    const started = await sessions.startTurn({ sessionId: 'sess-two-commits', wallet: ALICE, text: 'hi', model: 'haiku' })
    expect((await done).type).toBe('TurnCompleted')
    expect(store.stats.transactions - tx0).toBe(2)

    const session = await store.readStream('session-sess-two-commits')
    const wallet = await store.readStream(`wallet-${ALICE.toLowerCase()}`)
    const byType = (events: RecordedEvent[], type: string) => events.find((e) => e.type === type)!
    const reserved = byType(wallet, 'SpendReserved')
    const message = byType(session, 'UserMessageReceived')
    const turnStarted = byType(session, 'TurnStarted')
    const settled = byType(wallet, 'SpendSettled')
    const responded = byType(session, 'ModelResponded')
    const completed = byType(session, 'TurnCompleted')
    // One transaction each: consecutive positions, one recordedAt, the reservation first.
    expect([message.position, turnStarted.position]).toEqual([reserved.position + 1n, reserved.position + 2n])
    expect(new Set([reserved.recordedAt, message.recordedAt, turnStarted.recordedAt]).size).toBe(1)
    expect([responded.position, completed.position]).toEqual([settled.position + 1n, settled.position + 2n])
    expect(new Set([settled.recordedAt, responded.recordedAt, completed.recordedAt]).size).toBe(1)
    expect(started.fromRevision).toBe(message.revision)
    // The wallet decided the settlement from its reservation; the turn records what it charged.
    expect((reserved.data as { reservationId: string }).reservationId).toBe((turnStarted.data as { reservationId: string }).reservationId)
    expect((completed.data as { cost: { charged: bigint } }).cost.charged).toBe((settled.data as { amount: bigint }).amount)
    expect((settled.data as { amount: bigint }).amount > 0n).toBe(true)
    expect(await sessions.get('sess-two-commits')).toMatchObject({ value: 'idle', context: { turnsCompleted: 1 } })
  })

  it('a refused reservation (402) commits neither the hold nor the message', async () => {
    await sessions.create({ sessionId: 'sess-refused', agentId: 'assistant', wallet: BOB, model: 'haiku' })
    const before = (await store.readStream('session-sess-refused')).length
    const walletBefore = (await store.readStream(`wallet-${BOB.toLowerCase()}`)).length
    await expect(sessions.startTurn({ sessionId: 'sess-refused', wallet: BOB, text: 'hi', model: 'haiku' })).rejects.toMatchObject({ code: 'insufficient_balance' })
    expect(await store.readStream('session-sess-refused')).toHaveLength(before)
    expect(await store.readStream(`wallet-${BOB.toLowerCase()}`)).toHaveLength(walletBefore)
    expect(await sessions.get('sess-refused')).toMatchObject({ value: 'idle' })
    expect(fx.requests).toHaveLength(0)
  })

  it('a resent message attaches to its turn and reserves nothing more', async () => {
    await sessions.create({ sessionId: 'sess-resend', agentId: 'assistant', wallet: ALICE, model: 'haiku' })
    fx.enqueue(textTurn('Once.', { input_tokens: 100, output_tokens: 5 }))
    const done = turnDone('sess-resend')
    const first = await sessions.startTurn({ sessionId: 'sess-resend', wallet: ALICE, text: 'same', model: 'haiku', idempotencyKey: 'k1' })
    await done
    const again = await sessions.startTurn({ sessionId: 'sess-resend', wallet: ALICE, text: 'same', model: 'haiku', idempotencyKey: 'k1' })
    expect(again).toEqual({ turnId: first.turnId, attached: true })
    const reservations = (await store.readStream(`wallet-${ALICE.toLowerCase()}`)).filter((e) => e.type === 'SpendReserved')
    expect(reservations).toHaveLength(1)
  })
})
