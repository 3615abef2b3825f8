import { z } from 'zod'
import type { RevocationList } from '../../auth/revocations.js'
import type { SignIn } from '../../auth/sign-in.js'
import { MAX_CHALLENGE_NONCE_CHARS } from '../../auth/signed-challenges.js'
import { json, type Route } from '../route.js'

export interface AuthRoutesDeps {
  signIn: SignIn
  revocations: RevocationList
  /** Extra work on logout (e.g. forgetting the wallet's unlocked vault keys). */
  onLogout?(address: `0x${string}`): Promise<void> | void
}

const verifyBody = z.object({
  walletAddress: z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address'),
  signature: z
    .string()
    .regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte 0x-prefixed hex signature')
    .transform((s) => s as `0x${string}`),
  nonce: z.string().min(1).max(MAX_CHALLENGE_NONCE_CHARS),
})

const challengeQuery = z.object({ address: z.string().max(64).optional() }).passthrough()

/** Sign-in (API.md §1, §12) under `/auth/*` and the `/api/auth/*` aliases canvas clients use. */
export function authRoutes(deps: AuthRoutesDeps): Route[] {
  const challenge: Omit<Route, 'path'> = {
    method: 'GET',
    auth: 'none',
    query: challengeQuery,
    handler: async (ctx) => json(await deps.signIn.challenge((ctx.query as z.infer<typeof challengeQuery>).address)),
  }
  const verify: Omit<Route, 'path'> = {
    method: 'POST',
    auth: 'none',
    body: verifyBody,
    handler: async (ctx) => {
      const result = await deps.signIn.verify(ctx.body as z.infer<typeof verifyBody>)
      return json({ token: result.token, expiresAt: result.expiresAt, walletAddress: result.walletAddress })
    },
  }
  const logout: Omit<Route, 'path'> = {
    method: 'POST',
    auth: 'required',
    handler: async (ctx) => {
      const auth = ctx.auth!
      await deps.revocations.revoke(auth.jti, auth.exp)
      await deps.onLogout?.(auth.address)
      return json({ success: true })
    },
  }
  return [
    { ...challenge, path: '/auth/challenge' },
    { ...challenge, path: '/api/auth/challenge' },
    { ...verify, path: '/auth/verify' },
    { ...verify, path: '/api/auth/verify' },
    { ...logout, path: '/auth/logout' },
    { ...logout, path: '/api/auth/logout' },
  ]
}
