import { setOwn } from '../shared/own.js'
import type { RecordedEvent } from '../store/types.js'
import { walletOf, type Projection } from './types.js'

/** A wallet's open reservations (id → expiresAt); the row is deleted when none is open. */
export interface OpenReservationsRow {
  wallet: string
  open: Record<string, string>
}

/** Which wallets hold reservations, and until when: the TTL timer reads it instead of every wallet. */
export const openReservationsProjection: Projection<OpenReservationsRow> = {
  name: 'open-reservations',
  canHandle: (e) => e.streamId.startsWith('wallet-') && (e.type === 'SpendReserved' || e.type === 'SpendSettled' || e.type === 'SpendReleased'),
  keyOf: (e) => ({ key: walletOf(e), owner: walletOf(e) }),
  evolve: (current: OpenReservationsRow | undefined, e: RecordedEvent) => {
    const d = e.data as { reservationId: string; expiresAt?: string }
    const open = { ...(current?.open ?? {}) }
    if (e.type === 'SpendReserved') setOwn(open, d.reservationId, d.expiresAt!)
    else delete open[d.reservationId]
    return Object.keys(open).length === 0 ? undefined : { wallet: walletOf(e), open }
  },
}
