import { randomUUID } from 'node:crypto'
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose'
import { getAddress } from 'viem'
import { AuthError } from '../shared/errors.js'
import { LruMap } from '../shared/lru.js'
import type { AuthContext } from './auth-context.js'

export interface SessionTokensParameters {
  /** HS256 key material (≥ 32 bytes of entropy). */
  secret: string
  issuer: string
  audience: string
  ttlS: number
  /** True when the jti was revoked (logout). */
  isRevoked(jti: string): boolean
  now?: () => Date
  /** Verified tokens remembered by their exact string (default 10,000). */
  cacheSize?: number
}

export interface IssuedToken {
  token: string
  jti: string
  /** Expiry, epoch ms. */
  expiresAt: number
}

/**
 * Session JWTs (API.md §1, §12): HS256 only, with issuer and audience pinned on
 * verification, so `alg: none`, a switched algorithm, another audience or an expired
 * token are all refused before any claim is read.
 *
 * A verified token is remembered by its exact string: the signature, issuer, audience and
 * claims of that string cannot change, so only expiry and revocation are checked again on
 * each use (both exactly as on the first verification). Any other string, a tampered copy
 * included, misses and is verified in full.
 */
export class SessionTokens {
  readonly #p: SessionTokensParameters
  readonly #key: Uint8Array
  readonly #verified: LruMap<string, AuthContext>

  constructor(parameters: SessionTokensParameters) {
    this.#p = parameters
    this.#key = new TextEncoder().encode(parameters.secret)
    this.#verified = new LruMap(parameters.cacheSize ?? 10_000)
  }

  async issue(address: `0x${string}`): Promise<IssuedToken> {
    const now = Math.floor(this.#now() / 1000)
    const exp = now + this.#p.ttlS
    const jti = randomUUID()
    const checksummed = getAddress(address)
    const token = await new SignJWT({ walletAddress: checksummed })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(checksummed.toLowerCase())
      .setIssuer(this.#p.issuer)
      .setAudience(this.#p.audience)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(this.#key)
    return { token, jti, expiresAt: exp * 1000 }
  }

  async verify(token: string): Promise<AuthContext> {
    const known = this.#verified.get(token)
    if (known !== undefined) return this.#stillValid(token, known)
    const auth = await this.#verifyInFull(token)
    this.#verified.set(token, auth)
    return auth
  }

  /** Expiry and revocation of a remembered token, checked as jose and #verifyInFull do. */
  #stillValid(token: string, auth: AuthContext): AuthContext {
    // jose's rule: expired once the current second reaches `exp` (no clock tolerance).
    if (Math.floor(this.#now() / 1000) >= auth.exp) {
      this.#verified.delete(token)
      throw new AuthError('token_expired', 'Session expired; sign in again')
    }
    if (this.#p.isRevoked(auth.jti)) {
      this.#verified.delete(token)
      throw new AuthError('token_revoked', 'This session was signed out; sign in again')
    }
    return auth
  }

  async #verifyInFull(token: string): Promise<AuthContext> {
    let payload
    try {
      ;({ payload } = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        issuer: this.#p.issuer,
        audience: this.#p.audience,
        currentDate: new Date(this.#now()),
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      }))
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new AuthError('token_expired', 'Session expired; sign in again')
      throw new AuthError('token_invalid', 'Invalid session token; sign in again')
    }
    const { sub, jti, exp, walletAddress } = payload as { sub: string; jti: string; exp: number; walletAddress?: unknown }
    if (typeof walletAddress !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(walletAddress) || walletAddress.toLowerCase() !== sub)
      throw new AuthError('token_invalid', 'Invalid session token; sign in again')
    if (this.#p.isRevoked(jti)) throw new AuthError('token_revoked', 'This session was signed out; sign in again')
    // Frozen: the same object answers every later request carrying this token.
    return Object.freeze({ address: getAddress(walletAddress), sub, jti, exp, token })
  }

  #now(): number {
    return this.#p.now?.().getTime() ?? Date.now()
  }
}
