import type { ResponseSink, StreamResult } from './route.js'
import { bigintReplacer } from '../store/codec.js'

/** What an SSE producer gets: `send` one `{type, data}` event (with its store position as id). */
export interface SseChannel {
  send(event: { type: string; data: unknown }, id?: bigint | string): Promise<void>
  /** Sends `data: [DONE]` (ends the React client's loop). */
  done(): Promise<void>
  readonly signal: AbortSignal
  readonly aborted: boolean
}

export interface SseOptions {
  /** Comment ping interval; clients abort after 60 s of silence. Default 15 s. */
  pingMs?: number
  headers?: Record<string, string>
}

/**
 * An SSE response per API.md §6: headers flushed at once, `data:` JSON lines with LF only,
 * `id:` = store position, `: ping` comments while idle, backpressure through the sink, and
 * the producer's signal aborted when the client goes away.
 */
export function sse(produce: (channel: SseChannel) => Promise<void>, options: SseOptions = {}): StreamResult {
  return {
    kind: 'stream',
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...options.headers,
    },
    async run(sink: ResponseSink) {
      // A first comment makes uWS send the status line and headers now.
      await sink.write(': connected\n\n')
      const timer = setInterval(() => {
        if (!sink.aborted) void sink.write(': ping\n\n')
      }, options.pingMs ?? 15_000)
      const channel: SseChannel = {
        signal: sink.signal,
        get aborted() {
          return sink.aborted
        },
        send(event, id) {
          return sink.write(formatSseEvent(event, id))
        },
        done() {
          return sink.write('data: [DONE]\n\n')
        },
      }
      try {
        await produce(channel)
      } finally {
        clearInterval(timer)
      }
    },
  }
}

/** One SSE event: optional `id:` line, one `data:` line of JSON, blank line; LF only. */
export function formatSseEvent(event: { type: string; data: unknown }, id?: bigint | string): string {
  // JSON.stringify escapes \n and \r inside strings, so one data line is always enough.
  const data = JSON.stringify({ type: event.type, data: event.data }, bigintReplacer)
  return id === undefined ? `data: ${data}\n\n` : `id: ${String(id)}\ndata: ${data}\n\n`
}
