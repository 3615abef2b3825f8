import { describe, expect, it } from 'vitest'
import type { ResponseSink } from './route.js'
import { formatSseEvent, sse } from './sse.js'

describe('SSE framing', () => {
  it('writes one data line of JSON, an id line when given, LF only', () => {
    const text = formatSseEvent({ type: 'text', data: 'line1\r\nline2' }, 42n)
    expect(text).toBe('id: 42\ndata: {"type":"text","data":"line1\\r\\nline2"}\n\n')
    expect(text).not.toMatch(/\r/)
    expect(formatSseEvent({ type: 'done', data: { costRaw: 140n } })).toBe('data: {"type":"done","data":{"costRaw":"140"}}\n\n')
  })

  it('flushes a comment first, pings while idle, then the events', async () => {
    const chunks: string[] = []
    const controller = new AbortController()
    const sink: ResponseSink = {
      write: async (c) => {
        chunks.push(String(c))
      },
      end: (last) => {
        if (last !== undefined) chunks.push(last)
      },
      get aborted() {
        return controller.signal.aborted
      },
      signal: controller.signal,
    }
    const result = sse(
      async (channel) => {
        await new Promise((r) => setTimeout(r, 35))
        await channel.send({ type: 'text', data: 'hi' }, 7n)
        await channel.done()
      },
      { pingMs: 10 },
    )
    expect(result.headers['content-type']).toMatch(/^text\/event-stream/)
    await result.run(sink)
    expect(chunks[0]).toBe(': connected\n\n')
    expect(chunks.filter((c) => c === ': ping\n\n').length).toBeGreaterThanOrEqual(2)
    expect(chunks.slice(-2)).toEqual(['id: 7\ndata: {"type":"text","data":"hi"}\n\n', 'data: [DONE]\n\n'])
  })
})
