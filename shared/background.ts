/**
 * Runs `work` once the responses in flight have gone out: read models and the ledger log
 * catch up a millisecond after a commit instead of in the same loop turn, so their SQLite
 * transaction never sits between a committed turn and the bytes its client waits for.
 */
export function afterResponses(work: () => void): NodeJS.Timeout {
  return setTimeout(work, 1)
}

/**
 * How long live events gather before a follower of the store (read models, the ledger log)
 * applies them in one transaction, when nobody is waiting for them. At a transaction per
 * commit the BEGIN/COMMIT cost more than the rows; batched, a turn's start and end (its
 * open-turn row written then deleted, its wallet's rows) mostly fold in memory instead.
 * Readers never see the delay: they apply what was delivered first (`LiveFlush.now`).
 */
export const LIVE_BATCH_MS = 20

/** One pending flush of a store follower: batched by default, sooner when someone waits. */
export class LiveFlush {
  readonly #flush: () => void
  #timer: NodeJS.Timeout | undefined
  #soon = false

  constructor(flush: () => void) {
    this.#flush = flush
  }

  /** 'batched': within LIVE_BATCH_MS; 'soon': once the responses in flight are out (replaces a batched one). */
  schedule(when: 'soon' | 'batched'): void {
    if (this.#timer !== undefined && (when === 'batched' || this.#soon)) return
    this.cancel()
    this.#soon = when === 'soon'
    this.#timer = when === 'soon' ? afterResponses(() => this.now()) : setTimeout(() => this.now(), LIVE_BATCH_MS)
  }

  /** Flushes now (a read, a stop, a full catch-up batch); the scheduled one is dropped. */
  now(): void {
    this.cancel()
    this.#flush()
  }

  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#soon = false
  }
}
