import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { DomainError } from '../../shared/errors.js'
import { verifyChain } from '../../store/hash.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import { ActorHost } from '../runtime/host.js'
import { walletDefinition } from './definition.js'
import type { SpendBreakdown } from './events.js'
import { availableBalance, holdFor } from './ledger.js'

/*
 * Cross-process tests at the ActorHost level: two OS processes, each with its own
 * SqliteEventStore and wallet host on one database file (what two gateway processes
 * do underneath their HTTP layer), and a SIGKILL in the middle of settlements.
 */

const dir = mkdtempSync(join(tmpdir(), 'ledger-procs-'))
const children: ChildProcessWithoutNullStreams[] = []
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})
const WALLET = '0x5555555555555555555555555555555555555555'
const CHILD = new URL('../../test/wallet/ledger-child.ts', import.meta.url).pathname

function child(args: string[]) {
  const c = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  children.push(c)
  let stderr = ''
  c.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const lines = createInterface({ input: c.stdout })
  return { c, lines, stderr: () => stderr }
}

async function funded(file: string, amount: bigint) {
  const store = await SqliteEventStore.open({ file })
  const host = new ActorHost({ definition: walletDefinition, store })
  await host.send(WALLET, { type: 'RegisterWallet', address: WALLET })
  await host.send(WALLET, { type: 'AssignDepositAddress', index: 0, address: '0x6666666666666666666666666666666666666666' })
  await host.send(WALLET, { type: 'ObserveDeposit', txHash: '0xfund', logIndex: 0, amount, blockNumber: 1n })
  return { store, host }
}

describe('two processes, one SQLite file, one wallet', () => {
  it('500 concurrent reservations: the sum held never exceeds what was spendable', async () => {
    const file = join(dir, 'concurrent.sqlite')
    const { store } = await funded(file, 1_000_000n) // room for 90 holds of 11,000
    const a = child(['reserve', file, WALLET, '250', 'a'])
    const b = child(['reserve', file, WALLET, '250', 'b'])
    const next = (x: ReturnType<typeof child>) => new Promise<string>((resolve, reject) => {
      x.lines.once('line', resolve)
      x.c.once('exit', (code) => reject(new Error(`child exited ${code}: ${x.stderr()}`)))
    })
    expect(await Promise.all([next(a), next(b)])).toEqual(['ready', 'ready'])
    const results = Promise.all([next(a), next(b)])
    a.c.stdin.write('go\n')
    b.c.stdin.write('go\n')
    const [ra, rb] = (await results).map((l) => JSON.parse(l) as { ok: string[]; refused: Record<string, number> })
    const acknowledged = [...ra!.ok, ...rb!.ok]

    const events = await store.readStream(`wallet-${WALLET}`)
    const reservedEvents = events.filter((e) => e.type === 'SpendReserved')
    const held = reservedEvents.reduce((s, e) => s + (e.data as { hold: bigint }).hold, 0n)
    expect(held).toBeLessThanOrEqual(1_000_000n)
    expect(reservedEvents.length).toBe(90) // exactly as many as fit: refusals only when full
    expect(new Set(reservedEvents.map((e) => (e.data as { reservationId: string }).reservationId))).toEqual(new Set(acknowledged))
    // every request got an answer; every one not held was refused for balance (no lost or doubled writes).
    // Which process wins how many depends on scheduling, so it is not asserted.
    for (const r of [ra!, rb!]) expect(r.ok.length + Object.values(r.refused).reduce((s, n) => s + n, 0)).toBe(250)
    expect((ra!.refused.insufficient_balance ?? 0) + (rb!.refused.insufficient_balance ?? 0)).toBe(500 - 90)
    // a fresh host agrees
    const fresh = new ActorHost({ definition: walletDefinition, store })
    const l = (await fresh.read(WALLET)).snapshot.context.ledger
    expect(l.reserved).toBe(held)
    expect(availableBalance(l) - l.reserved).toBeGreaterThanOrEqual(0n)
    expect(verifyChain(events)).toBeUndefined()
    await store.close()
  })

  it('SIGKILL during settlements: after restart every reservation is settled or released, nothing counted twice', async () => {
    const file = join(dir, 'crash.sqlite')
    const { store } = await funded(file, 10n ** 12n)
    await store.close()
    const x = child(['settle-loop', file, WALLET])
    const settledAcks = new Set<string>()
    await new Promise<void>((resolve, reject) => {
      x.lines.on('line', (line) => {
        const [kind, id] = line.split(' ')
        if (kind === 'settled') settledAcks.add(id!)
        if (settledAcks.size >= 60) resolve()
      })
      x.c.once('exit', (code) => reject(new Error(`child exited ${code}: ${x.stderr()}`)))
    })
    x.c.kill('SIGKILL')
    await new Promise((r) => x.c.once('exit', r))

    // restart: a new process image (fresh store + host), its clock past every TTL
    const store2 = await SqliteEventStore.open({ file })
    const later = new Date(Date.now() + 5 * 60_000)
    const host = new ActorHost({ definition: walletDefinition, store: store2, snapshots: store2.snapshots, now: () => later })
    await host.send(WALLET, { type: 'ReleaseExpiredReservations' })

    const events = await store2.readStream(`wallet-${WALLET}`)
    expect(verifyChain(events)).toBeUndefined()
    const reserved = new Map<string, bigint>()
    const closes = new Map<string, string[]>()
    let settledSum = 0n
    for (const e of events) {
      const d = e.data as { reservationId: string; hold: bigint; amount: bigint }
      if (e.type === 'SpendReserved') reserved.set(d.reservationId, d.hold)
      if (e.type === 'SpendSettled' || e.type === 'SpendReleased') closes.set(d.reservationId, [...(closes.get(d.reservationId) ?? []), e.type])
      if (e.type === 'SpendSettled') settledSum += d.amount
    }
    expect(reserved.size).toBeGreaterThanOrEqual(60)
    for (const id of reserved.keys()) expect(closes.get(id)).toHaveLength(1) // settled XOR released, exactly once
    for (const id of settledAcks) expect(closes.get(id)).toEqual(['SpendSettled']) // nothing acknowledged was lost
    const l = (await host.read(WALLET)).snapshot.context.ledger
    expect(l.reserved).toBe(0n)
    expect(l.totals.settled).toBe(settledSum)
    expect(l.unsettledSpend).toBe(settledSum)

    // the crashed caller's retries after restart change nothing and charge nothing twice
    const b: SpendBreakdown = { model: 'm', inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, baseLlmCost: '0', toolCalls: 0, toolCosts: 950n, platformCost: 0n, byok: true }
    for (const [id, kinds] of closes) {
      const retry = host.send(WALLET, { type: 'SettleSpend', reservationId: id, amount: 950n, breakdown: b })
      if (kinds[0] === 'SpendSettled') expect((await retry).events).toEqual([])
      else await expect(retry).rejects.toSatisfy((e: unknown) => e instanceof DomainError && e.code === 'reservation_closed')
    }
    expect((await host.read(WALLET)).snapshot.context.ledger.totals.settled).toBe(settledSum)
    expect(holdFor(1_000n)).toBe(1_100n)
    await store2.close()
  })
})
