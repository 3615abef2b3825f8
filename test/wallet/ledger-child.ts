/**
 * A separate gateway-like process for the ledger's cross-process tests: its own
 * SqliteEventStore and wallet ActorHost on a shared database file.
 *
 *   reserve <file> <wallet> <count> <prefix>  — waits for "go" on stdin, fires <count>
 *       concurrent ReserveSpend (10,000 atomic each), prints one JSON summary line
 *   settle-loop <file> <wallet>               — reserve + settle pairs, 8 in flight, forever,
 *       printing "settled <id>" after each acknowledged settlement (killed with SIGKILL)
 */
import { createInterface } from 'node:readline'
import { ActorHost } from '../../actors/runtime/host.js'
import { DomainError } from '../../shared/errors.js'
import { SqliteEventStore } from '../../store/sqlite/sqlite-event-store.js'
import { walletDefinition } from '../../actors/wallet/definition.js'
import { toolOnlyBreakdown } from './breakdown.js'

const [mode, file, wallet, countText, prefix] = process.argv.slice(2)
const store = await SqliteEventStore.open({ file: file! })
const host = new ActorHost({ definition: walletDefinition, store, snapshots: store.snapshots, snapshotEvery: 20, maxRetries: 200 })
if (mode === 'reserve') {
  await host.read(wallet!)
  process.stdout.write('ready\n')
  const rl = createInterface({ input: process.stdin })
  for await (const line of rl) if (line.trim() === 'go') break
  const ok: string[] = []
  const refused: Record<string, number> = {}
  await Promise.all(
    Array.from({ length: Number(countText) }, async (_, i) => {
      const id = `${prefix}-${i}`
      try {
        const r = await host.send(wallet!, { type: 'ReserveSpend', reservationId: id, agentId: 'agent', amount: 10_000n })
        if (r.events.length === 1) ok.push(id)
      } catch (error) {
        const code = error instanceof DomainError || (error as { code?: string }).code !== undefined ? String((error as { code: string }).code) : 'error'
        refused[code] = (refused[code] ?? 0) + 1
      }
    }),
  )
  process.stdout.write(`${JSON.stringify({ ok, refused })}\n`)
  await store.close()
  process.exit(0)
} else if (mode === 'settle-loop') {
  let n = 0
  const worker = async () => {
    for (;;) {
      const id = `${process.pid}-${n++}`
      await host.send(wallet!, { type: 'ReserveSpend', reservationId: id, agentId: 'agent', amount: 1_000n, ttlMs: 60_000 })
      process.stdout.write(`reserved ${id}\n`)
      await host.send(wallet!, { type: 'SettleSpend', reservationId: id, amount: 900n + BigInt(n % 200), breakdown: toolOnlyBreakdown(900n + BigInt(n % 200)) })
      process.stdout.write(`settled ${id}\n`)
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
}
