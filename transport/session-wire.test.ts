import { describe, expect, it } from 'vitest'
import type { RecordedEvent } from '../store/types.js'
import { formatUsd, parseEventId, SessionWireMerger, type WireEvent } from './session-wire.js'

const ev = (revision: number, position: number, type: string, data: unknown): RecordedEvent => ({
  id: `e${revision}`,
  streamId: 'session-s',
  revision: BigInt(revision),
  position: BigInt(position),
  type,
  data,
  metadata: {},
  recordedAt: '',
  prevHash: '',
  hash: '',
})
const responded = (rev: number, pos: number, after: number, text: string) => ev(rev, pos, 'ModelResponded', { turnId: 't', afterPosition: BigInt(after), content: [{ type: 'text', text }] })
const delta = (after: number, offset: number, text: string) => ({ sessionId: 's', turnId: 't', afterPosition: BigInt(after), offset, text })

function collect(opts: ConstructorParameters<typeof SessionWireMerger>[1] = { turnId: 't' }) {
  const out: { event: WireEvent; id: string }[] = []
  const m = new SessionWireMerger((event, id) => out.push({ event, id }), opts)
  return { m, out, text: () => out.filter((o) => o.event.type === 'text').map((o) => o.event.data).join('') }
}

describe('SessionWireMerger', () => {
  it('holds deltas until their call started, then emits the rest of the stored text only once', () => {
    const { m, out, text } = collect()
    m.delta(delta(10, 0, 'Hel')) // arrives before the event that started its call
    expect(out).toEqual([])
    m.stored(ev(0, 10, 'TurnStarted', { turnId: 't' }))
    m.delta(delta(10, 3, 'lo'))
    m.stored(responded(1, 12, 10, 'Hello world'))
    m.stored(ev(2, 13, 'TurnCompleted', { turnId: 't', cost: { model: 'm', usage: { inputTokens: 1, outputTokens: 1, cacheWriteTokens: 0, cacheReadTokens: 0 }, toolCalls: 0, baseLlmCost: '1', platformCost: 1n, toolCosts: 0n, total: 1n, charged: 1n, byok: true }, balanceRemaining: 5n }))
    expect(text()).toBe('Hello world')
    expect(out.map((o) => o.id)).toEqual(['10-3', '10-5', '12', '13'])
    expect(m.ended).toBe(true)
  })

  it('dedupes and reorders stored events by revision (two feeds)', () => {
    const { m, text } = collect()
    const a = ev(0, 10, 'TurnStarted', { turnId: 't' })
    const b = responded(1, 11, 10, 'abc')
    m.stored(b)
    m.stored(a)
    m.stored(b)
    m.stored(a)
    expect(text()).toBe('abc')
  })

  it('a client that attached mid-call does not get a partial text: the stored text carries it', () => {
    const { m, text } = collect()
    m.stored(ev(0, 10, 'TurnStarted', { turnId: 't' }))
    m.delta(delta(10, 4, 'efgh'))
    m.delta(delta(10, 8, 'ij'))
    m.stored(responded(1, 12, 10, 'abcdefghij'))
    expect(text()).toBe('abcdefghij')
  })

  it('resumes after <position>-<chars> without repeating text', () => {
    const { m, text } = collect({ after: { position: 10n, chars: 4 } })
    m.stored(ev(0, 10, 'TurnStarted', { turnId: 't' }))
    m.delta(delta(10, 0, 'abcd'))
    m.delta(delta(10, 4, 'ef'))
    m.stored(responded(1, 12, 10, 'abcdefgh'))
    expect(text()).toBe('efgh')
  })

  it('formats costs and parses ids', () => {
    expect(formatUsd(14_000n)).toBe('$0.0140')
    expect(formatUsd(1n)).toBe('$0.0001')
    expect(formatUsd(12_345_678n)).toBe('$12.3457')
    expect(parseEventId('12-40')).toEqual({ position: 12n, chars: 40 })
    expect(parseEventId('7')).toEqual({ position: 7n, chars: 0 })
    expect(parseEventId('x')).toBeUndefined()
  })
})
