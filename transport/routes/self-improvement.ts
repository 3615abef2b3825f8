import { z } from 'zod'
import type { ReflectService } from '../../actors/reflect/service.js'
import { json, type Route } from '../route.js'

export interface SelfImprovementRoutesDeps {
  reflect: ReflectService
}

const triggerSchema = z.object({
  agentId: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be an agent id').optional(),
  includeBackfill: z.boolean().optional(),
})

/** API.md §8: GET status, POST trigger, GET history. */
export function selfImprovementRoutes(deps: SelfImprovementRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/wallet/self-improvement/status',
      handler: async (ctx) => json(await deps.reflect.status(ctx.auth!.address)),
    },
    {
      method: 'POST',
      path: '/wallet/self-improvement/trigger',
      body: triggerSchema,
      handler: async (ctx) => {
        const r = await deps.reflect.trigger(ctx.auth!.address, {
          ...(ctx.body.agentId === undefined ? {} : { agentId: ctx.body.agentId }),
          ...(ctx.body.includeBackfill === undefined ? {} : { includeBackfill: ctx.body.includeBackfill }),
        })
        // A skipped run is a recorded outcome (history says why), not a failed request.
        return json({ success: r.status === 'started', runId: r.runId, status: r.status, ...(r.reason === undefined ? {} : { skipReason: r.reason, skipCode: r.code }) }, 202)
      },
    },
    {
      method: 'GET',
      path: '/wallet/self-improvement/history',
      handler: async (ctx) => json(await deps.reflect.history(ctx.auth!.address)),
    },
  ]
}
