import { z } from 'zod'
import { ValidationError } from '../../shared/errors.js'
import { SLOT_PATTERN } from '../../vault/format.js'
import { PROVIDER_INFO, PROVIDERS, type Provider } from '../../vault/providers.js'
import { type KeyVault, mcpSlot } from '../../vault/vault.js'
import { json, type Route } from '../route.js'

export interface VaultRoutesDeps {
  vault: KeyVault
}

const signature = z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte 0x-prefixed hex signature')
const nonce = z.string().min(1).max(256)
const SIGNED_TOGETHER = { message: 'signature and nonce must be sent together', path: ['signature'] }
const bothOrNeither = (b: { signature?: string | undefined; nonce?: string | undefined }) =>
  (b.signature === undefined) === (b.nonce === undefined)

function apiKey(provider: Provider) {
  const info = PROVIDER_INFO[provider]
  const base = z
    .string()
    .trim()
    .min(8, 'is too short to be an API key')
    .max(4096)
    .regex(/^\S+$/, 'must not contain whitespace')
  return info.prefix === undefined ? base : base.startsWith(info.prefix, `${info.label} API keys start with "${info.prefix}"`)
}

function putKeySchema(provider: Provider) {
  const info = PROVIDER_INFO[provider]
  return z
    .object({ [info.bodyKey]: apiKey(provider), signature: signature.optional(), nonce: nonce.optional() })
    .refine(bothOrNeither, SIGNED_TOGETHER)
}

const unlockSchema = z.object({
  signature,
  nonce,
  providers: z.array(z.string().regex(SLOT_PATTERN, 'is not a provider name')).max(64).optional(),
})

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/
const mcpPutSchema = z
  .object({
    secrets: z
      .record(z.string().regex(SECRET_NAME, 'secret names are letters, digits and _'), z.string().min(1).max(16_384))
      .refine((s) => Object.keys(s).length >= 1 && Object.keys(s).length <= 64, 'send between 1 and 64 secrets'),
    signature: signature.optional(),
    nonce: nonce.optional(),
  })
  .refine(bothOrNeither, SIGNED_TOGETHER)

const SERVER_ID = /^[A-Za-z0-9._-]{1,128}$/

function serverIdOf(params: Record<string, string>): string {
  const id = params.serverId ?? ''
  if (!SERVER_ID.test(id)) throw new ValidationError('serverId must be 1–128 letters, digits, ".", "_" or "-"', {}, 'invalid_request')
  return id
}

function signedOf(body: { signature?: string | undefined; nonce?: string | undefined }) {
  return body.signature !== undefined && body.nonce !== undefined ? { signature: body.signature, nonce: body.nonce } : undefined
}

/**
 * The BYOK vault (API.md §2, §3, §6): per-provider status/put/delete, the derive challenge,
 * unlock, and named MCP server secrets. Bodies are parsed again here (the server already
 * did) so handlers called directly are just as strict. No response carries key material.
 */
export function vaultRoutes(deps: VaultRoutesDeps): Route[] {
  const { vault } = deps
  const routes: Route[] = []

  for (const provider of PROVIDERS) {
    const info = PROVIDER_INFO[provider]
    const schema = putKeySchema(provider)
    routes.push(
      {
        method: 'GET',
        path: `${info.path}/status`,
        handler: async (ctx) => {
          const { names: _names, ...status } = await vault.status(ctx.auth!.sub, provider)
          return json(status)
        },
      },
      {
        method: 'PUT',
        path: info.path,
        body: schema,
        handler: async (ctx) => {
          const body = schema.parse(ctx.body) as Record<string, string | undefined>
          const signed = signedOf(body)
          const { encryptionMode } = await vault.put(ctx.auth!.sub, provider, body[info.bodyKey] as string, signed === undefined ? {} : { signed })
          return json({ success: true, configured: true, encryptionMode, persistent: vault.health().persistent })
        },
      },
      {
        method: 'DELETE',
        path: info.path,
        handler: async (ctx) => {
          await vault.delete(ctx.auth!.sub, provider)
          return json({ success: true, configured: false })
        },
      },
    )
  }

  routes.push(
    {
      method: 'GET',
      path: '/wallet/provider-vault/derive-challenge',
      // Each challenge is a durable nonce record: paid for from the wallet's write bucket.
      rateLimit: 'wallet',
      handler: async (ctx) => json(await vault.deriveChallenge(ctx.auth!.sub)),
    },
    {
      method: 'POST',
      path: '/wallet/provider-vault/unlock',
      body: unlockSchema,
      handler: async (ctx) => {
        const body = unlockSchema.parse(ctx.body)
        return json(await vault.unlock(ctx.auth!.sub, { signature: body.signature, nonce: body.nonce }, body.providers))
      },
    },
    {
      method: 'GET',
      path: '/wallet/mcp-secrets/:serverId',
      handler: async (ctx) => {
        const serverId = serverIdOf(ctx.params)
        const { names, ...status } = await vault.status(ctx.auth!.sub, mcpSlot(serverId))
        return json({ serverId, ...status, secretNames: names ?? [] })
      },
    },
    {
      method: 'PUT',
      path: '/wallet/mcp-secrets/:serverId',
      body: mcpPutSchema,
      handler: async (ctx) => {
        const serverId = serverIdOf(ctx.params)
        const body = mcpPutSchema.parse(ctx.body)
        const names = Object.keys(body.secrets).sort()
        const signed = signedOf(body)
        const { encryptionMode } = await vault.put(ctx.auth!.sub, mcpSlot(serverId), JSON.stringify(body.secrets), {
          names,
          ...(signed === undefined ? {} : { signed }),
        })
        return json({ success: true, configured: true, serverId, secretNames: names, encryptionMode, persistent: vault.health().persistent })
      },
    },
    {
      method: 'DELETE',
      path: '/wallet/mcp-secrets/:serverId',
      handler: async (ctx) => {
        const serverId = serverIdOf(ctx.params)
        await vault.delete(ctx.auth!.sub, mcpSlot(serverId))
        return json({ success: true, configured: false, serverId })
      },
    },
  )
  return routes
}
