import WebSocket from 'ws'

/** A JSON-protocol WebSocket client that records every frame and its close code. */
export interface JsonWsClient {
  ws: WebSocket
  frames: Record<string, unknown>[]
  send(frame: Record<string, unknown>): void
  /** Resolves with the first frame matching `pred` (already received or later). */
  next(pred: (f: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
  closed: Promise<number>
}

/** Opens `GET /ws` with the JSON subprotocol (and a bearer token on the upgrade when given). */
export async function openJsonWs(baseUrl: string, token?: string): Promise<JsonWsClient> {
  const ws = new WebSocket(`${baseUrl.replace('http', 'ws')}/ws`, ['agent-gateway.v1.json'], token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
  const frames: Record<string, unknown>[] = []
  const waiters: (() => void)[] = []
  ws.on('message', (d: Buffer) => {
    frames.push(JSON.parse(d.toString()) as Record<string, unknown>)
    for (const w of waiters.splice(0)) w()
  })
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)))
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  return {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(JSON.stringify(frame)),
    async next(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = frames.find(pred)
        if (found !== undefined) return found
        if (Date.now() > deadline) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames)}`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 50)
        })
      }
    },
  }
}
