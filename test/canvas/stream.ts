import { expect } from 'vitest'

export interface CanvasFrame {
  id?: string
  type: string
  data: any
}

/**
 * Reads a canvas SSE response as the SDK's CanvasClient does, frame by frame as bytes
 * arrive (§9 framing: LF only, `data:` JSON lines, comments ignored, `[DONE]` ends),
 * calling `onFrame` for each so a test can act while the stream is open.
 */
export async function readCanvasStream(res: Response, onFrame: (f: CanvasFrame) => void | Promise<void> = () => undefined): Promise<{ frames: CanvasFrame[]; done: boolean; comments: number }> {
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  const frames: CanvasFrame[] = []
  let buffer = ''
  let done = false
  let comments = 0
  for (;;) {
    const chunk = await reader.read()
    if (chunk.done) break
    buffer += decoder.decode(chunk.value, { stream: true })
    expect(buffer.includes('\r')).toBe(false)
    let cut: number
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const raw = buffer.slice(0, cut)
      buffer = buffer.slice(cut + 2)
      if (raw.startsWith(':')) {
        comments++
        continue
      }
      if (raw === 'data: [DONE]') {
        done = true
        continue
      }
      const id = /^id: (.*)$/m.exec(raw)?.[1]
      const parsed = JSON.parse(/^data: (.*)$/m.exec(raw)![1]!) as { type: string; data: unknown }
      const frame: CanvasFrame = id === undefined ? parsed : { id, ...parsed }
      frames.push(frame)
      await onFrame(frame)
    }
  }
  return { frames, done, comments }
}
