import Anthropic from '@anthropic-ai/sdk'
import { describe, expect, it } from 'vitest'
import { messageEvents } from './message-events.js'

/** A streamed response whose body arrives in exactly these byte chunks. */
function responseOf(chunks: Uint8Array[]): Response {
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks) controller.enqueue(c)
        controller.close()
      },
    }),
    { headers: { 'content-type': 'text/event-stream', 'request-id': 'req_1' } },
  )
}

async function collect(response: Response): Promise<unknown[]> {
  const events: unknown[] = []
  for await (const e of messageEvents(response)) events.push(e)
  return events
}

describe('messageEvents', () => {
  it('parses named events across any chunking (a character split between chunks too) and skips pings and unnamed events', async () => {
    const text =
      'event: message_start\ndata: {"type":"message_start"}\n\n' +
      'event: ping\ndata: {"type": "ping"}\n\n' +
      'data: {"type":"unnamed"}\n\n' +
      'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"héllo €"}}\n\n' +
      'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    const bytes = new TextEncoder().encode(text)
    const expected = [{ type: 'message_start' }, { type: 'content_block_delta', delta: { type: 'text_delta', text: 'héllo €' } }, { type: 'message_stop' }]
    expect(await collect(responseOf([bytes]))).toEqual(expected)
    // One byte at a time: the two- and three-byte characters are split across chunks.
    expect(await collect(responseOf([...bytes].map((b) => Uint8Array.of(b))))).toEqual(expected)
  })

  it('an error event throws the SDK APIError carrying the error type (an overload is told apart), after the events before it', async () => {
    const text =
      'event: message_start\ndata: {"type":"message_start"}\n\n' +
      'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n' +
      'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    const seen: unknown[] = []
    const error = await (async () => {
      for await (const e of messageEvents(responseOf([new TextEncoder().encode(text)]))) seen.push(e)
    })().catch((e: unknown) => e)
    expect(seen).toEqual([{ type: 'message_start' }])
    expect(error).toBeInstanceOf(Anthropic.APIError)
    expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe('overloaded_error')
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBeUndefined()
  })
})
