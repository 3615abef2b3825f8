import { describe, expect, it } from 'vitest'
import { createMetrics } from './metrics.js'

describe('HTTP metrics: per-route records exported through prom-client', () => {
  it('exports request counts by status and a cumulative latency histogram in the text format', async () => {
    const m = createMetrics()
    const health = m.http.record('GET', '/health')
    health.observe(200, 0.0004)
    health.observe(200, 0.003)
    health.observe(503, 3)
    expect(m.http.record('GET', '/health')).toBe(health)
    m.http.record('POST', '/auth/verify').observe(401, 0.02)

    const text = await m.registry.metrics()
    expect(text).toContain('# TYPE gateway_http_requests_total counter')
    expect(text).toContain('gateway_http_requests_total{method="GET",route="/health",status="200"} 2')
    expect(text).toContain('gateway_http_requests_total{method="GET",route="/health",status="503"} 1')
    expect(text).toContain('gateway_http_requests_total{method="POST",route="/auth/verify",status="401"} 1')
    expect(text).toContain('# TYPE gateway_http_request_duration_seconds histogram')
    expect(text).toContain('gateway_http_request_duration_seconds_bucket{method="GET",route="/health",le="0.0005"} 1')
    expect(text).toContain('gateway_http_request_duration_seconds_bucket{method="GET",route="/health",le="0.0025"} 1')
    expect(text).toContain('gateway_http_request_duration_seconds_bucket{method="GET",route="/health",le="0.005"} 2')
    expect(text).toContain('gateway_http_request_duration_seconds_bucket{method="GET",route="/health",le="2.5"} 2')
    expect(text).toContain('gateway_http_request_duration_seconds_bucket{method="GET",route="/health",le="+Inf"} 3')
    expect(text).toContain('gateway_http_request_duration_seconds_count{method="GET",route="/health"} 3')
    expect(text).toMatch(/gateway_http_request_duration_seconds_sum\{method="GET",route="\/health"\} 3\.0034/)
  })
})
