import { createRequire } from 'node:module'
import uWS from '@trufflesuite/uws-js-unofficial'

/**
 * The package silently falls back to a slow pure-JS server when its native binary does
 * not load for this Node ABI. We refuse to run on the fallback: the gateway's throughput
 * figures and backpressure behaviour assume the native server.
 */
export function loadNativeUws(): typeof uWS {
  const require = createRequire(import.meta.url)
  const fallback: unknown = require('@trufflesuite/uws-js-unofficial/dist/index')
  if ((uWS as unknown) === fallback || typeof uWS.us_socket_local_port !== 'function') {
    throw new Error(
      `uWebSockets.js native binary did not load for Node ${process.version} (ABI ${process.versions.modules}); ` +
        'refusing to start on the pure-JS fallback. Use Node 20.x on linux x64/arm64.',
    )
  }
  // No `uWebSockets: 20` header on every response: it only tells scanners what runs here.
  uWS._cfg('silent')
  return uWS
}

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from '@trufflesuite/uws-js-unofficial'
