import { transition } from 'xstate'
import { initialSnapshot } from '../../actors/runtime/initial-snapshot.js'
import type { DecideContext } from '../../actors/runtime/types.js'
import type { WalletCommand } from '../../actors/wallet/commands.js'
import { decide, type WalletSnapshot } from '../../actors/wallet/decide.js'
import type { WalletEvent } from '../../actors/wallet/events.js'
import { walletMachine } from '../../actors/wallet/machine.js'
import type { DomainError } from '../../shared/errors.js'

/** Folds events through the machine, returning the snapshot and every named action. */
export function fold(events: readonly WalletEvent[], from: WalletSnapshot = initialSnapshot(walletMachine)) {
  let snapshot = from
  const actions: { type: string; params: unknown }[] = []
  for (const e of events) {
    const [next, acts] = transition(walletMachine, snapshot, e as never)
    snapshot = next
    for (const a of acts as { type: string; params: unknown }[]) if (!a.type.startsWith('xstate.')) actions.push({ type: a.type, params: a.params })
  }
  return { snapshot, actions }
}

export const ctxAt = (iso: string): DecideContext => {
  let n = 0
  return { now: new Date(iso), newId: () => `id-${++n}` }
}

/** Given/when/then for the wallet decider: folds `given`, decides `when` at `now`. */
export function givenWhen(given: readonly WalletEvent[], when: WalletCommand, now = '2026-11-25T12:00:00.000Z'): WalletEvent[] | DomainError {
  return decide(fold(given).snapshot, when, ctxAt(now))
}

/** Applies a command to a snapshot in memory (decide + fold), throwing on refusal. */
export function run(snapshot: WalletSnapshot, command: WalletCommand, now: string): { snapshot: WalletSnapshot; events: WalletEvent[] } {
  const out = decide(snapshot, command, ctxAt(now))
  if (out instanceof Error) throw out
  return { snapshot: fold(out, snapshot).snapshot, events: out }
}
