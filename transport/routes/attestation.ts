import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import type { AttestationService } from '../../attest/service.js'
import type { SecurityPosture } from '../../attest/posture.js'
import { json, type Route } from '../route.js'

export interface AttestationRouteDeps {
  service: AttestationService
  /** The composed posture (main.ts builds it with buildSecurityPosture). */
  posture: () => SecurityPosture | Promise<SecurityPosture>
}

/** `nonce`: hex, 1..64 bytes; absent → the server picks 32 random bytes (returned). */
export const reportQuery = z.object({
  nonce: z
    .string()
    .regex(/^(?:[0-9a-fA-F]{2}){1,64}$/, 'nonce must be hex, 1 to 64 bytes')
    .optional(),
})

// Evidence changes only with keys or build; a short max-age keeps peers from hammering.
const PUBLIC_CACHE = { 'cache-control': 'public, max-age=60' }
const NO_STORE = { 'cache-control': 'no-store' }

/** Public attestation endpoints (API §10, §16) and the JWKS. */
export function attestationRoutes(deps: AttestationRouteDeps): Route[] {
  const { service } = deps
  return [
    {
      method: 'GET',
      path: '/api/attestation',
      auth: 'none',
      handler: () => json(service.summary(), 200, NO_STORE),
    },
    {
      method: 'GET',
      path: '/api/attestation/report',
      auth: 'none',
      query: reportQuery,
      handler: async (ctx) => {
        const q = reportQuery.parse(ctx.query ?? {})
        const nonce = q.nonce === undefined ? randomBytes(32) : Buffer.from(q.nonce, 'hex')
        return json(await service.report(nonce), 200, NO_STORE)
      },
    },
    {
      method: 'GET',
      path: '/api/attestation/security',
      auth: 'none',
      handler: async () => json(await deps.posture(), 200, NO_STORE),
    },
    {
      method: 'GET',
      path: '/api/attestation/build-info',
      auth: 'none',
      handler: () => json(service.buildInfo, 200, PUBLIC_CACHE),
    },
    {
      method: 'GET',
      path: '/api/attestation/provenance',
      auth: 'none',
      handler: () => json(service.provenanceEnvelope(), 200, PUBLIC_CACHE),
    },
    {
      method: 'GET',
      path: '/.well-known/jwks.json',
      auth: 'none',
      handler: () => json(service.jwks(), 200, PUBLIC_CACHE),
    },
  ]
}
