import type { RecordedEvent } from '../store/types.js'

/**
 * A read model as a pure fold (emmett style): `canHandle` picks the events, `keyOf` names
 * the row an event changes (and the wallet that owns it, for listing), `evolve` computes
 * the row's next value (undefined deletes it). The runner stores rows; evolve never does I/O.
 */
export interface Projection<Row> {
  name: string
  canHandle(event: RecordedEvent): boolean
  keyOf(event: RecordedEvent): { key: string; owner: string }
  evolve(current: Row | undefined, event: RecordedEvent): Row | undefined
}

/** The lower-case wallet address of a `wallet-<address>` stream. */
export function walletOf(event: { streamId: string }): string {
  return event.streamId.slice('wallet-'.length)
}
