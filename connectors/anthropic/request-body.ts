/**
 * The JSON body of a Messages request, its history encoded once. A session's conversation
 * only grows (each state's array is the last one plus what is new, the same message
 * objects), so the encoding of the messages sent last time is kept, keyed by the message it
 * ended with, and the next call of that conversation appends only what was added since. A
 * turn then encodes what is new and the request's head, not its whole history again: in
 * bench/chat's 300-turn sessions the SDK's `JSON.stringify` of the body, its walk of every
 * message and the body's UTF-8 encoding were most of what a late turn cost more than an
 * early one.
 *
 * The bytes are the JSON value `JSON.stringify(body)` gives (the head's keys first, then
 * `messages`).
 */
const kept = new WeakMap<object, { messages: readonly object[]; bytes: Buffer }>()

/** How far back from a conversation's end its kept encoding is looked for (a turn adds a few messages). */
const LOOKBACK = 16

/** A conversation bigger than this (images in base64) is encoded on each call instead of kept twice in memory. */
const MAX_KEPT_BYTES = 8 * 1024 * 1024

const COMMA = Buffer.from(',')
const CLOSE = Buffer.from(']}')

export function messagesRequestBody<Body extends { readonly messages: readonly object[] }>(body: Body): Buffer {
  const { messages, ...head } = body
  const open = JSON.stringify(head)
  const start = Buffer.from(open === '{}' ? '{"messages":[' : `${open.slice(0, -1)},"messages":[`)
  const { earlier, from } = keptPrefix(messages)
  const parts = [start, ...(earlier === undefined ? [] : [earlier])]
  for (let i = from; i < messages.length; i++) {
    if (i > 0) parts.push(COMMA)
    // An element that JSON drops (undefined) is written as null, as JSON.stringify does.
    parts.push(Buffer.from(JSON.stringify(messages[i]) ?? 'null'))
  }
  parts.push(CLOSE)
  const bytes = Buffer.concat(parts)
  const last = messages[messages.length - 1]
  if (last !== undefined && bytes.length <= MAX_KEPT_BYTES) {
    // A view of the body: the messages' bytes without the head and the closing `]}`.
    kept.set(last, { messages, bytes: bytes.subarray(start.length, bytes.length - CLOSE.length) })
    const replaced = messages[from - 1]
    if (replaced !== undefined && replaced !== last) kept.delete(replaced)
  }
  return bytes
}

/** The kept encoding of the longest earlier state of this conversation, and where what follows it starts. */
function keptPrefix(messages: readonly object[]): { earlier: Buffer | undefined; from: number } {
  for (let k = messages.length; k > 0 && k > messages.length - LOOKBACK; k--) {
    const entry = kept.get(messages[k - 1]!)
    if (entry !== undefined && entry.messages.length === k && samePrefix(entry.messages, messages, k)) return { earlier: entry.bytes, from: k }
  }
  return { earlier: undefined, from: 0 }
}

function samePrefix(a: readonly object[], b: readonly object[], n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false
  return true
}
