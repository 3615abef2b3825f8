import { randomBytes } from 'node:crypto'
import { AuthError } from '../shared/errors.js'
import { ConcurrencyError } from '../store/errors.js'
import type { EventStore } from '../store/types.js'

/** What was recorded when a nonce was issued; returned when it is consumed. */
export interface IssuedNonce {
  nonce: string
  purpose: string
  /** The exact text the client is asked to sign (not secret). */
  message: string
  /** Lower-case address the nonce is bound to, when the challenge named one. */
  address?: string
  issuedAt: string
  expiresAt: string
}

export interface NonceRegistryParameters {
  store: EventStore
  ttlMs: number
  now?: () => Date
}

const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/

/**
 * Single-use nonces kept as tiny event streams (`nonce-<value>`): issuing appends
 * `NonceIssued` to a new stream, consuming appends `NonceConsumed` expecting revision 0.
 * The store's optimistic concurrency makes a nonce usable exactly once, also across
 * several gateway processes on one store.
 */
export class NonceRegistry {
  readonly #p: NonceRegistryParameters
  constructor(parameters: NonceRegistryParameters) {
    this.#p = parameters
  }

  /** Creates a nonce; `build` turns it (and its times) into the message to sign. */
  async issue(
    purpose: string,
    build: (nonce: string, issuedAt: Date, expiresAt: Date) => string,
    address?: string,
  ): Promise<IssuedNonce> {
    const now = this.#now()
    const nonce = randomBytes(16).toString('hex')
    const expires = new Date(now.getTime() + this.#p.ttlMs)
    const issued: IssuedNonce = {
      nonce,
      purpose,
      message: build(nonce, now, expires),
      ...(address === undefined ? {} : { address: address.toLowerCase() }),
      issuedAt: now.toISOString(),
      expiresAt: expires.toISOString(),
    }
    await this.#p.store.append(`nonce-${nonce}`, [{ type: 'NonceIssued', data: issued }], { expectedRevision: 'no_stream' })
    return issued
  }

  /**
   * Marks the nonce used and returns what was issued. Throws AuthError
   * `nonce_unknown`, `nonce_expired` or `nonce_reused`; the nonce is spent either way
   * once this returns or throws after the lookup (an expired nonce cannot be retried).
   */
  async consume(purpose: string, nonce: string): Promise<IssuedNonce> {
    if (!NONCE_PATTERN.test(nonce)) throw new AuthError('nonce_unknown', 'Unknown or malformed nonce')
    const streamId = `nonce-${nonce}`
    const events = await this.#p.store.readStream(streamId, { maxCount: 2 })
    const first = events[0]
    if (first === undefined || first.type !== 'NonceIssued') throw new AuthError('nonce_unknown', 'Unknown or malformed nonce')
    const issued = first.data as IssuedNonce
    if (issued.purpose !== purpose) throw new AuthError('nonce_unknown', 'Unknown or malformed nonce')
    if (events.length > 1) throw new AuthError('nonce_reused', 'This nonce has already been used; request a new challenge')
    try {
      await this.#p.store.append(streamId, [{ type: 'NonceConsumed', data: { at: this.#now().toISOString() } }], {
        expectedRevision: 0n,
      })
    } catch (error) {
      if (error instanceof ConcurrencyError) throw new AuthError('nonce_reused', 'This nonce has already been used; request a new challenge')
      throw error
    }
    if (Date.parse(issued.expiresAt) <= this.#now().getTime())
      throw new AuthError('nonce_expired', 'The challenge has expired; request a new one')
    return issued
  }

  #now(): Date {
    return this.#p.now?.() ?? new Date()
  }
}
