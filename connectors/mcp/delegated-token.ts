import { randomUUID } from 'node:crypto'
import { SignJWT, type CryptoKey, type KeyObject } from 'jose'
import type { DelegatedClaims } from '../../actors/billing/tool-port.js'

/** The gateway's ES256 signing key (keys/signing-key.ts) as this module needs it. */
export interface DelegationKey {
  privateKey: CryptoKey | KeyObject
  /** RFC 7638 thumbprint of the public key (the JWKS `kid`). */
  kid: string
}

export type { DelegatedClaims }

export interface SignDelegatedTokenParameters {
  key: DelegationKey
  issuer: string
  /** The MCP gateway's URL or configured audience. */
  audience: string
  claims: DelegatedClaims
  now: Date
  /** Lifetime in seconds, at most 300 (API §12). Default 120. */
  ttlS?: number
}

/** Signs a short-lived ES256 JWT that lets the MCP gateway act for one wallet/agent/session (API §12). */
export async function signDelegatedToken(p: SignDelegatedTokenParameters): Promise<string> {
  const ttl = Math.min(300, Math.max(1, p.ttlS ?? 120))
  const iat = Math.floor(p.now.getTime() / 1000)
  return new SignJWT({ wallet: p.claims.wallet, agent: p.claims.agent, session: p.claims.session, tools: p.claims.tools, scope: 'mcp:tools.call' })
    .setProtectedHeader({ alg: 'ES256', kid: p.key.kid, typ: 'JWT' })
    .setIssuer(p.issuer)
    .setSubject(p.claims.wallet.toLowerCase())
    .setAudience(p.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .setJti(randomUUID())
    .sign(p.key.privateKey)
}
