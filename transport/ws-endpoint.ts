import type { TemplatedApp } from './uws.js'

/** Something that serves WebSocket connections on the app (transport/ws.ts). */
export interface WebSocketEndpoint {
  bind(app: TemplatedApp): void
  /** Closes every connection with 1001 (going away). */
  closeAll(): Promise<void>
}
