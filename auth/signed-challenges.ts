import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { AuthError } from '../shared/errors.js'
import { ConcurrencyError } from '../store/errors.js'
import type { EventStore } from '../store/types.js'

/** What a sign-in challenge carried, recovered from its nonce. */
export interface ChallengeFacts {
  nonce: string
  /** Lower-case address the challenge is bound to (SIWE), when it named one. */
  address?: string
  /** The issuing process's public URL (the message's domain and URI). */
  url: string
  issuedAt: Date
  expiresAt: Date
}

export interface SignedChallengesParameters {
  /** HMAC key; every process on one store must share it (derived from JWT_SECRET). */
  key: Uint8Array
  store: EventStore
  ttlMs: number
  now?: () => Date
}

const VERSION = 1
const RANDOM_BYTES = 12
const MAC_BYTES = 16
const MAX_URL_BYTES = 255
/** Longest nonce this format produces (hex): verify bodies are bounded by it. */
export const MAX_CHALLENGE_NONCE_CHARS = 2 * (1 + RANDOM_BYTES + 6 + 6 + 1 + 20 + 1 + MAX_URL_BYTES + MAC_BYTES)

/**
 * Sign-in challenges that cost nothing durable until they are used. The nonce is the
 * challenge itself, HMAC-signed: version, 12 random bytes, issue and expiry times, the bound
 * address (SIWE) and the issuer's URL, so any process holding the key can rebuild the
 * message and check it. Only consumption is recorded (`NonceConsumed` on `nonce-<random>`,
 * expecting no stream), which keeps single use across processes on one store. An anonymous
 * `GET /auth/challenge` therefore writes nothing; an expired or forged nonce writes nothing.
 */
export class SignedChallenges {
  readonly #p: SignedChallengesParameters
  constructor(parameters: SignedChallengesParameters) {
    this.#p = parameters
  }

  issue(purpose: string, url: string, address?: string): ChallengeFacts {
    const urlBytes = Buffer.from(url, 'utf8')
    if (urlBytes.length > MAX_URL_BYTES) throw new Error(`PUBLIC_URL longer than ${MAX_URL_BYTES} bytes`)
    const issuedAt = this.#now()
    const expiresAt = new Date(issuedAt.getTime() + this.#p.ttlMs)
    const addr = address === undefined ? Buffer.alloc(0) : Buffer.from(address.slice(2), 'hex')
    const head = Buffer.concat([
      Buffer.from([VERSION]),
      randomBytes(RANDOM_BYTES),
      uint48(issuedAt.getTime()),
      uint48(expiresAt.getTime()),
      Buffer.from([addr.length]),
      addr,
      Buffer.from([urlBytes.length]),
      urlBytes,
    ])
    const nonce = Buffer.concat([head, this.#mac(purpose, head)]).toString('hex')
    return { nonce, url, issuedAt, expiresAt, ...(address === undefined ? {} : { address: address.toLowerCase() }) }
  }

  /**
   * Checks the nonce and records it used. Throws AuthError `nonce_unknown` (malformed or
   * not ours), `nonce_expired` or `nonce_reused`. A valid unexpired nonce is spent by this
   * call, whatever happens next (a failed signature cannot be retried with it).
   */
  async consume(purpose: string, nonce: string): Promise<ChallengeFacts> {
    const facts = this.#open(purpose, nonce)
    if (facts === undefined) throw new AuthError('nonce_unknown', 'Unknown or malformed nonce')
    if (facts.expiresAt.getTime() <= this.#now().getTime()) throw new AuthError('nonce_expired', 'The challenge has expired; request a new one')
    try {
      await this.#p.store.append(`nonce-${nonce.slice(2, 2 + 2 * RANDOM_BYTES)}`, [{ type: 'NonceConsumed', data: { purpose, at: this.#now().toISOString() } }], {
        expectedRevision: 'no_stream',
      })
    } catch (error) {
      if (error instanceof ConcurrencyError) throw new AuthError('nonce_reused', 'This nonce has already been used; request a new challenge')
      throw error
    }
    return facts
  }

  #open(purpose: string, nonce: string): ChallengeFacts | undefined {
    if (nonce.length > MAX_CHALLENGE_NONCE_CHARS || !/^(?:[0-9a-f]{2})+$/.test(nonce)) return undefined
    const bytes = Buffer.from(nonce, 'hex')
    if (bytes.length < 1 + RANDOM_BYTES + 12 + 2 + MAC_BYTES || bytes[0] !== VERSION) return undefined
    const head = bytes.subarray(0, bytes.length - MAC_BYTES)
    if (!timingSafeEqual(this.#mac(purpose, head), bytes.subarray(bytes.length - MAC_BYTES))) return undefined
    let at = 1 + RANDOM_BYTES
    const issuedAt = new Date(head.readUIntBE(at, 6))
    const expiresAt = new Date(head.readUIntBE(at + 6, 6))
    at += 12
    const addrLen = head[at]!
    const address = addrLen === 0 ? undefined : `0x${head.subarray(at + 1, at + 1 + addrLen).toString('hex')}`
    at += 1 + addrLen
    const url = head.subarray(at + 1, at + 1 + head[at]!).toString('utf8')
    return { nonce, url, issuedAt, expiresAt, ...(address === undefined ? {} : { address }) }
  }

  #mac(purpose: string, head: Uint8Array): Buffer {
    return createHmac('sha256', this.#p.key).update(`${purpose}\n`).update(head).digest().subarray(0, MAC_BYTES)
  }

  #now(): Date {
    return this.#p.now?.() ?? new Date()
  }
}

function uint48(n: number): Buffer {
  const b = Buffer.alloc(6)
  b.writeUIntBE(n, 0, 6)
  return b
}

/** The challenge HMAC key, derived from the session-token secret every process already shares. */
export function challengeKey(jwtSecret: string): Uint8Array {
  return createHmac('sha256', jwtSecret).update('agent-gateway sign-in challenges v1').digest()
}
