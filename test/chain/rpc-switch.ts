import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A JSON-RPC endpoint in front of a real node that can be switched off (503) and on: an RPC outage. */
export interface RpcSwitch {
  url: string
  up: boolean
  /** Requests refused while down. */
  refused: number
  close(): Promise<void>
}

/** Forwards every POST to `upstream` while `up`; answers 503 otherwise. */
export async function startRpcSwitch(upstream: string, up = true): Promise<RpcSwitch> {
  const state = { up, refused: 0 }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (!state.up) {
        state.refused++
        res.writeHead(503).end('rpc down')
        return
      }
      fetch(upstream, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) })
        .then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(Buffer.from(await r.arrayBuffer())))
        .catch(() => res.writeHead(502).end())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    get up() {
      return state.up
    },
    set up(v: boolean) {
      state.up = v
    },
    get refused() {
      return state.refused
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
