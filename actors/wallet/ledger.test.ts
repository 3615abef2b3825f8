import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { initialSnapshot } from '../runtime/initial-snapshot.js'
import { DomainError } from '../../shared/errors.js'
import { decide, type WalletSnapshot } from './decide.js'
import { walletMachine } from './machine.js'
import { fold } from '../../test/wallet/fold.js'
import { opArb, simulate, type Executor } from '../../test/wallet/simulation.js'
import type { WalletEvent } from './events.js'
import { evolveLedger, initialLedger, isLedgerEvent } from './ledger.js'

/** The pure executor: decide + fold in memory; a "crash" replays every event from scratch. */
function pureExecutor(): Executor & { events: WalletEvent[] } {
  let snapshot: WalletSnapshot = initialSnapshot(walletMachine)
  const events: WalletEvent[] = []
  let n = 0
  return {
    events,
    async send(command, now) {
      const out = decide(snapshot, command, { now, newId: () => `id-${++n}` })
      if (out instanceof DomainError) return out
      events.push(...out)
      snapshot = fold(out, snapshot).snapshot
    },
    async ledger() {
      return snapshot.context.ledger
    },
    async crash() {
      snapshot = fold(events).snapshot
    },
  }
}

describe('ledger invariants under random interleavings (pure)', () => {
  it('available ≤ truth at every step, holds/unsettled/pending consistent, no budget window exceeded, replay deterministic', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 80 }), async (ops) => {
        const ex = pureExecutor()
        await simulate(ops, ex)
        // replay determinism: folding the events again (machine and bare evolveLedger) gives the same ledger
        const replayed = fold(ex.events).snapshot.context.ledger
        expect(replayed).toEqual(await ex.ledger())
        const bare = ex.events.filter(isLedgerEvent).reduce(evolveLedger, initialLedger())
        expect(bare).toEqual(replayed)
      }),
      { numRuns: 300 },
    )
  })
})
