import { Readable } from 'node:stream'
import { Agent, request, type Dispatcher } from 'undici'

/** Statuses whose response has no body (a Response with one would throw). */
const NULL_BODY = new Set([101, 103, 204, 205, 304])

/**
 * A `fetch` for the Anthropic SDK over undici's `request`: the same HTTP client as Node's
 * own fetch, without the WHATWG Request, request Headers and request-body stream that fetch
 * builds per call: 0.14–0.28 ms less CPU per streamed call, a tenth to a quarter, in two runs
 * of bench/model-call.bench.ts. The SDK sends JSON strings, call-model.ts bytes it encoded
 * itself (request-body.ts); any other body (a stream, form data) goes to global fetch.
 * The response is a standard Response (its body a web stream over undici's, pulled only on
 * demand), so the SDK's status, header, error and SSE handling see exactly what fetch would
 * give them.
 */
export function undiciFetch(dispatcher: Dispatcher = new Agent()): typeof fetch {
  return async (input, init) => {
    const body = init?.body
    if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) return fetch(input, init)
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const headers: Record<string, string> = {}
    new Headers(init?.headers).forEach((value, name) => (headers[name] = value))
    const r = await request(url, {
      method: (init?.method ?? 'GET') as Dispatcher.HttpMethod,
      headers,
      ...(body === undefined || body === null ? {} : { body }),
      ...(init?.signal === undefined || init.signal === null ? {} : { signal: init.signal }),
      dispatcher,
    })
    const responseHeaders = new Headers()
    for (const [name, value] of Object.entries(r.headers)) {
      if (Array.isArray(value)) for (const v of value) responseHeaders.append(name, v)
      else if (value !== undefined) responseHeaders.append(name, value)
    }
    if (NULL_BODY.has(r.statusCode)) {
      r.body.resume()
      return new Response(null, { status: r.statusCode, headers: responseHeaders })
    }
    const response = new Response(pulledOnDemand(r.body), { status: r.statusCode, headers: responseHeaders })
    nodeBodies.set(response, r.body)
    return response
  }
}

/** The undici body stream of each response this fetch made, for a reader that wants it as it is. */
const nodeBodies = new WeakMap<Response, Readable>()

/**
 * The Node stream behind `response`'s body, when it came from `undiciFetch` and its web body
 * was never read: a streaming reader (call-model.ts) reads the bytes as they arrive, without
 * the web-stream layer and the SDK's SSE decoder on top (a fifth of the call's CPU, bench/model-call).
 */
export function nodeBodyOf(response: Response): Readable | undefined {
  return response.bodyUsed ? undefined : nodeBodies.get(response)
}

/**
 * A web stream that reads `body` only when pulled (high-water mark 0: nothing is read ahead),
 * so the Node stream stays whole for `nodeBodyOf` until someone reads the web one.
 */
function pulledOnDemand(body: Readable): ReadableStream<Uint8Array> {
  let chunks: AsyncIterator<Buffer> | undefined
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        chunks ??= body[Symbol.asyncIterator]()
        const next = await chunks.next()
        if (next.done === true) controller.close()
        else controller.enqueue(new Uint8Array(next.value.buffer, next.value.byteOffset, next.value.byteLength))
      },
      cancel(reason) {
        body.destroy(reason instanceof Error ? reason : undefined)
      },
    },
    { highWaterMark: 0 },
  )
}
