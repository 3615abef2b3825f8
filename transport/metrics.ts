import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The gateway's Prometheus metrics, in one registry per gateway instance. */
export interface Metrics {
  registry: Registry
  httpRequests: Counter<'method' | 'route' | 'status'>
  httpDuration: Histogram<'method' | 'route'>
  storeAppendDuration: Histogram
  actorsInMemory: Gauge<'kind'>
  wsConnections: Gauge
}

export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  return {
    registry,
    httpRequests: new Counter({
      name: 'gateway_http_requests_total',
      help: 'HTTP requests by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'gateway_http_request_duration_seconds',
      help: 'HTTP request latency until the response is complete (streams excluded)',
      labelNames: ['method', 'route'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    storeAppendDuration: new Histogram({
      name: 'gateway_store_append_duration_seconds',
      help: 'Event store append latency (queue wait + durable commit)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: [registry],
    }),
    actorsInMemory: new Gauge({
      name: 'gateway_actors_in_memory',
      help: 'Actors held in the host caches',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    wsConnections: new Gauge({ name: 'gateway_ws_connections', help: 'Open WebSocket connections', registers: [registry] }),
  }
}
