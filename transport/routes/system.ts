import type { EventStore, Position } from '../../store/types.js'
import type { Metrics } from '../metrics.js'
import { json, type Route } from '../route.js'

export interface SystemRoutesDeps {
  store: EventStore
  metrics: Metrics
  version: string
  startedAt: Date
  /**
   * The newest position this process knows (the live feed's), so /health costs no store
   * query: a load balancer polling it must not load the store. It trails commits made by
   * other processes by at most one live-feed poll. Default: ask the store.
   */
  knownPosition?(): Position
  /** API.md §16 `securityPosture`; `degraded` in it makes the status "degraded". */
  securityPosture(): Promise<{ degraded: boolean }>
  /** Refreshes gauges that are read on demand (actors in memory…) before a scrape. */
  beforeScrape?(): void
}

/** GET /health and GET /metrics: public, cheap, never 500 because a dependency is down. */
export function systemRoutes(deps: SystemRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/health',
      auth: 'none',
      // Probed by load balancers and scrapers; costs nothing durable.
      rateLimit: 'exempt',
      handler: async () => {
        const storeHealth = (await deps.store.health?.().catch((e: unknown) => ({ ok: false, reason: String(e) }))) ?? { ok: true }
        const position = !storeHealth.ok
          ? undefined
          : deps.knownPosition !== undefined
            ? deps.knownPosition()
            : await deps.store.headPosition().catch(() => undefined)
        const posture = await deps.securityPosture()
        const degraded = posture.degraded || !storeHealth.ok
        return json({
          status: degraded ? 'degraded' : 'ok',
          version: deps.version,
          uptimeS: Math.floor((Date.now() - deps.startedAt.getTime()) / 1000),
          eventStore: {
            kind: deps.store.kind,
            ok: storeHealth.ok,
            ...(position === undefined ? {} : { position: position.toString() }),
            ...(storeHealth.ok ? {} : { reason: storeHealth.reason ?? 'unreachable' }),
          },
          securityPosture: posture,
        })
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      auth: 'none',
      // Probed by load balancers and scrapers; costs nothing durable.
      rateLimit: 'exempt',
      handler: async () => {
        deps.beforeScrape?.()
        const text = await deps.metrics.registry.metrics()
        return {
          kind: 'stream',
          headers: { 'content-type': deps.metrics.registry.contentType },
          run: async (sink) => {
            await sink.write(text)
          },
        }
      },
    },
  ]
}
