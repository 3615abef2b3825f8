import type { EventStore, RecordedEvent } from '../store/types.js'

export const REVOCATION_STREAM = 'auth-revocations'

/**
 * Revoked session-token ids. Logout appends `TokenRevoked` to one stream; every process
 * loads it at start and follows it through its live feed, so a revocation reaches every
 * process on the store within one subscription poll.
 */
export class RevocationList {
  readonly #revoked = new Map<string, number>()

  constructor(
    private readonly store: EventStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async load(): Promise<void> {
    for (const e of await this.store.readStream(REVOCATION_STREAM)) this.apply(e)
  }

  has(jti: string): boolean {
    return this.#revoked.has(jti)
  }

  /** Records a revocation durably, then locally (the live feed will apply it again: idempotent). */
  async revoke(jti: string, exp: number): Promise<void> {
    await this.store.append(REVOCATION_STREAM, [{ type: 'TokenRevoked', data: { jti, exp, at: this.now().toISOString() } }], {
      expectedRevision: 'any',
    })
    this.#revoked.set(jti, exp)
  }

  /** Applies a stored event (from load or the live feed). */
  apply(event: RecordedEvent): void {
    if (event.type !== 'TokenRevoked') return
    const { jti, exp } = event.data as { jti: string; exp: number }
    // An expired token is refused anyway: no need to remember it.
    if (exp * 1000 > this.now().getTime()) this.#revoked.set(jti, exp)
  }
}
