import type { ResponseSink, StreamResult } from './route.js'
import { bigintReplacer } from '../store/codec.js'

/** One SSE event and its store position (the `id:` line), when it has one. */
export interface SseEvent {
  event: { type: string; data: unknown }
  id?: bigint | string | undefined
}

/** What an SSE producer gets: `send` one `{type, data}` event (with its store position as id). */
export interface SseChannel {
  send(event: { type: string; data: unknown }, id?: bigint | string): Promise<void>
  /** Sends every event of `batch` in one write; with `done`, `[DONE]` follows and the response ends in that same write. */
  sendAll(batch: readonly SseEvent[], options?: { done?: boolean }): Promise<void>
  /** Sends `data: [DONE]` (ends the React client's loop) and ends the response. */
  done(): Promise<void>
  readonly signal: AbortSignal
  readonly aborted: boolean
}

export interface SseOptions {
  /** Comment ping interval; clients abort after 60 s of silence. Default 15 s. */
  pingMs?: number
  headers?: Record<string, string>
}

const DONE = 'data: [DONE]\n\n'

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
        sendAll(batch, o = {}) {
          // One write per batch: a burst of deltas costs one syscall, not one each.
          let text = ''
          for (const { event, id } of batch) text += formatSseEvent(event, id)
          if (o.done === true) {
            sink.end(text + DONE)
            return Promise.resolve()
          }
          return text.length === 0 ? Promise.resolve() : sink.write(text)
        },
        done() {
          sink.end(DONE)
          return Promise.resolve()
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

/**
 * A producer's wake-up, deferred to the next turn of the event loop: events that arrive
 * in one burst (a TCP read of model deltas, parsed one microtask each) are queued first
 * and go out in one write, instead of one write and one syscall each.
 */
export function coalescingWake(): { wait(): Promise<void>; notify(): void; notifyNow(): void } {
  let wake: (() => void) | undefined
  let scheduled = false
  const fire = (): void => {
    scheduled = false
    const w = wake
    wake = undefined
    w?.()
  }
  return {
    wait: () => new Promise<void>((r) => (wake = r)),
    notify() {
      if (scheduled) return
      scheduled = true
      setImmediate(fire)
    },
    /** Wakes the producer in this turn: for the last event of a stream, which nothing will follow. */
    notifyNow: fire,
  }
}
