import { GatewayError } from '../shared/errors.js'

export interface TokenBucketLimits {
  /** Tokens added per second (sustained requests per second); 0 turns the limit off. */
  perSecond: number
  /** Bucket size: how many requests may come at once after a quiet spell. */
  burst: number
}

/** 429 `rate_limited`; the server copies `retryAfterS` into `Retry-After`. */
export class RateLimitedError extends GatewayError {
  constructor(scope: 'client' | 'wallet', retryAfterS: number) {
    super('rate_limited', `Too many requests from this ${scope === 'client' ? 'client address' : 'wallet'}; retry after ${retryAfterS} s`, {
      details: { scope, retryAfterS },
    })
  }
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * Token buckets keyed by client address or wallet. Memory is bounded: beyond `maxKeys`
 * the least recently used key is forgotten (it comes back with a full bucket, which only
 * favours that one client).
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>()
  constructor(
    readonly limits: TokenBucketLimits,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.limits.perSecond > 0
  }

  /** Takes one token for `key`; returns 0 when granted, else the seconds until one is available. */
  take(key: string): number {
    if (!this.enabled) return 0
    const t = this.now()
    const { perSecond, burst } = this.limits
    let b = this.#buckets.get(key)
    if (b === undefined) b = { tokens: burst, at: t }
    else {
      this.#buckets.delete(key) // re-inserted below: Map order is recency order
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * perSecond)
      b.at = t
    }
    this.#buckets.set(key, b)
    if (this.#buckets.size > this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value as string)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / perSecond))
  }
}
