import { expect } from 'vitest'

/** One SSE event as the SDK reads it: the JSON `{type, data}` of its data line, and its `id:`. */
export interface SseFrame {
  id?: string
  type: string
  data: any
}

/**
 * Parses a whole SSE body the way API.md §6's clients do, asserting its framing on the way:
 * LF only, comments and `[DONE]` skipped, one JSON data line per event.
 */
export function parseSseFrames(raw: string): SseFrame[] {
  expect(raw.includes('\r')).toBe(false)
  return raw
    .split('\n\n')
    .filter((f) => f.length > 0 && !f.startsWith(':') && f !== 'data: [DONE]')
    .map((f) => {
      const id = /^id: (.*)$/m.exec(f)?.[1]
      const data = JSON.parse(/^data: (.*)$/m.exec(f)![1]!) as { type: string; data: unknown }
      return id === undefined ? data : { id, ...data }
    })
}
