import { Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client'

/** The gateway's Prometheus metrics, in one registry per gateway instance. */
export interface Metrics {
  registry: Registry
  /** `gateway_http_requests_total` and `gateway_http_request_duration_seconds`, per route pattern. */
  http: HttpRouteMetrics
  storeAppendDuration: Histogram
  actorsInMemory: Gauge<'kind'>
  wsConnections: Gauge
}

export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const http = new HttpRouteMetrics()
  for (const metric of http.promMetrics()) registry.registerMetric(metric)
  return {
    registry,
    http,
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

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const

/** One (method, route pattern): requests by status and a latency histogram. */
export class RouteRecord {
  readonly byStatus = new Map<number, number>()
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1)
  sum = 0
  count = 0

  constructor(
    readonly method: string,
    readonly route: string,
  ) {}

  /** One finished request: plain arithmetic, no label hashing. */
  observe(status: number, seconds: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1)
    let i = 0
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number)) i++
    this.buckets[i] = (this.buckets[i] ?? 0) + 1
    this.sum += seconds
    this.count++
  }
}

/**
 * HTTP request counts and latencies. prom-client's labelled `inc` + `observe` cost about
 * 2.5 µs a request here (label validation and hashing each time), a sixth of a trivial
 * request; so the request path bumps a record it already holds and prom-client reads the
 * records only when /metrics is scraped (through its metric contract: `get()`).
 */
export class HttpRouteMetrics {
  readonly #records = new Map<string, RouteRecord>()

  /** The record for a (method, route pattern); resolve once and keep it. */
  record(method: string, route: string): RouteRecord {
    const key = `${method} ${route}`
    let r = this.#records.get(key)
    if (r === undefined) {
      r = new RouteRecord(method, route)
      this.#records.set(key, r)
    }
    return r
  }

  /** The two prom-client metrics that export these records at scrape time. */
  promMetrics(): Metric[] {
    const records = () => [...this.#records.values()]
    const requests = {
      name: 'gateway_http_requests_total',
      help: 'HTTP requests by method, route pattern and status',
      type: 'counter',
      aggregator: 'sum',
      get: async () => ({
        name: requests.name,
        help: requests.help,
        type: 'counter',
        aggregator: 'sum',
        values: records().flatMap((r) => [...r.byStatus].map(([status, value]) => ({ labels: { method: r.method, route: r.route, status: String(status) }, value }))),
      }),
    }
    const duration = {
      name: 'gateway_http_request_duration_seconds',
      help: 'HTTP request latency until the response is complete (streams excluded)',
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({
        name: duration.name,
        help: duration.help,
        type: 'histogram',
        aggregator: 'sum',
        values: records().flatMap((r) => {
          const labels = { method: r.method, route: r.route }
          let cumulative = 0
          const buckets = [...DURATION_BUCKETS, '+Inf' as const].map((le, i) => {
            cumulative += r.buckets[i] as number
            return { metricName: `${duration.name}_bucket`, labels: { ...labels, le }, value: cumulative }
          })
          return [...buckets, { metricName: `${duration.name}_sum`, labels, value: r.sum }, { metricName: `${duration.name}_count`, labels, value: r.count }]
        }),
      }),
    }
    // prom-client formats any object with its metric shape (name, help, type, get()).
    return [requests, duration] as unknown as Metric[]
  }
}
