import type { Slot } from './format.js'

interface Held {
  value: string
  expiresAt: number
}

export interface UnlockedSecretsParameters {
  now?: () => number
  /** How often expired entries are dropped even if nobody asks for them. Default 30 s. */
  sweepEveryMs?: number
}

/**
 * Decrypted secrets, per wallet and slot, in process memory only, each with an expiry.
 * Nothing here is ever serialised: no toJSON, no iteration over values, no logging.
 * (JS strings cannot be wiped; dropping every reference is the most a process can do.)
 */
export class UnlockedSecrets {
  readonly #wallets = new Map<string, Map<Slot, Held>>()
  readonly #now: () => number
  readonly #timer: ReturnType<typeof setInterval>

  constructor(p: UnlockedSecretsParameters = {}) {
    this.#now = p.now ?? Date.now
    this.#timer = setInterval(() => this.sweep(), p.sweepEveryMs ?? 30_000)
    this.#timer.unref()
  }

  /** Holds `value` for (`address`, `slot`) until `expiresAt` (epoch ms). */
  hold(address: string, slot: Slot, value: string, expiresAt: number): void {
    const key = address.toLowerCase()
    let slots = this.#wallets.get(key)
    if (slots === undefined) this.#wallets.set(key, (slots = new Map()))
    slots.set(slot, { value, expiresAt })
  }

  /** The held value, unless absent or expired (an expired one is dropped on the way). */
  get(address: string, slot: Slot): string | undefined {
    const key = address.toLowerCase()
    const slots = this.#wallets.get(key)
    const held = slots?.get(slot)
    if (slots === undefined || held === undefined) return undefined
    if (held.expiresAt <= this.#now()) {
      slots.delete(slot)
      if (slots.size === 0) this.#wallets.delete(key)
      return undefined
    }
    return held.value
  }

  /** Whether a live value is held. */
  has(address: string, slot: Slot): boolean {
    return this.get(address, slot) !== undefined
  }

  /** Drops one slot of a wallet. */
  forget(address: string, slot: Slot): void {
    const key = address.toLowerCase()
    const slots = this.#wallets.get(key)
    slots?.delete(slot)
    if (slots?.size === 0) this.#wallets.delete(key)
  }

  /** Drops everything held for a wallet (logout). */
  lock(address: string): void {
    this.#wallets.delete(address.toLowerCase())
  }

  /** Drops every expired value. */
  sweep(): void {
    const now = this.#now()
    for (const [key, slots] of this.#wallets) {
      for (const [slot, held] of slots) if (held.expiresAt <= now) slots.delete(slot)
      if (slots.size === 0) this.#wallets.delete(key)
    }
  }

  /** Number of wallets with something held (for tests and a gauge; never the values). */
  get walletCount(): number {
    return this.#wallets.size
  }

  /** Drops everything and stops the sweeper. */
  close(): void {
    clearInterval(this.#timer)
    this.#wallets.clear()
  }
}
