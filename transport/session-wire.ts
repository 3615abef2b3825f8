import type { RecordedEvent } from '../store/types.js'
import type { TextDelta } from '../actors/session/deltas.js'
import type { SessionEvent, TurnCost } from '../actors/session/events.js'

export interface WireEvent {
  type: string
  data: unknown
}

/** "$0.0140": USDC atomic units as a dollar string with 4 decimals (rounded up), as the CLI parses it. */
export function formatUsd(atomic: bigint): string {
  const tenths = (atomic + 99n) / 100n // units of $0.0001, rounded up
  const whole = tenths / 10_000n
  const frac = (tenths % 10_000n).toString().padStart(4, '0')
  return `$${whole}.${frac}`
}

/** The `done` payload of API §6 for a completed turn. */
export function doneData(model: string, cost: TurnCost, balanceRemaining: bigint | null, toolCallCount: number) {
  return {
    model,
    executionEngine: 'claude',
    engineUsed: 'claude',
    cost: formatUsd(cost.total),
    costRaw: cost.total.toString(),
    ...(balanceRemaining === null ? {} : { balanceRemaining: balanceRemaining.toString() }),
    usage: {
      inputTokens: cost.usage.inputTokens,
      outputTokens: cost.usage.outputTokens,
      cacheCreationInputTokens: cost.usage.cacheWriteTokens,
      cacheReadInputTokens: cost.usage.cacheReadTokens,
    },
    toolCallCount,
    breakdown: { baseLlmCost: cost.baseLlmCost, platformCost: cost.platformCost.toString(), toolCosts: cost.toolCosts.toString(), charged: cost.charged.toString(), byok: cost.byok },
  }
}

/**
 * A stored session event as the client sees it (SSE and WebSocket), without live deltas:
 * a ModelResponded carries its whole text.
 */
export function projectSessionEvent(e: RecordedEvent): WireEvent[] {
  const ev = { type: e.type, data: e.data } as SessionEvent
  switch (ev.type) {
    case 'ModelResponded': {
      const text = ev.data.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('')
      return text.length === 0 ? [] : [{ type: 'text', data: text }]
    }
    case 'ToolCallRequested':
      return [{ type: 'tool_call', data: { id: ev.data.toolUseId, name: ev.data.name, displayName: ev.data.name, args: ev.data.args } }]
    case 'ToolApprovalRequested':
      return [
        {
          type: 'tool_approval_request',
          data: { approvalId: ev.data.approvalId, toolName: ev.data.toolName, args: ev.data.args, description: `Allow the agent to run ${ev.data.toolName}?`, timeoutMs: ev.data.timeoutMs },
        },
      ]
    case 'ToolApprovalResolved':
      return [{ type: 'status', data: { code: ev.data.approved ? 'approval_granted' : 'approval_denied', approvalId: ev.data.approvalId, reason: ev.data.reason } }]
    case 'ToolCallCompleted':
      return [{ type: 'tool_result', data: { id: ev.data.toolUseId, name: ev.data.name, isError: ev.data.isError, result: ev.data.result } }]
    case 'TurnCompleted':
      return [{ type: 'done', data: doneData(ev.data.cost.model, ev.data.cost, ev.data.balanceRemaining, ev.data.cost.toolCalls) }]
    case 'TurnFailed':
      return [{ type: 'error', data: { code: ev.data.code, message: ev.data.message } }]
    case 'TurnInterrupted':
      return [{ type: 'error', data: { code: 'turn_interrupted', message: ev.data.reason } }]
    default:
      return []
  }
}

/** Parses a Last-Event-ID: `<position>` or `<position>-<chars>` (chars of the call started at position). */
export function parseEventId(id: string | undefined): { position: bigint; chars: number } | undefined {
  if (id === undefined) return undefined
  const m = /^(\d{1,30})(?:-(\d{1,12}))?$/.exec(id.trim())
  if (m === null) return undefined
  return { position: BigInt(m[1]!), chars: m[2] === undefined ? 0 : Number(m[2]) }
}

/**
 * Merges stored events (in position order) with live text deltas into one ordered wire
 * stream with no repeated and no lost text: a delta is emitted once its call's starting
 * event has been emitted and only when contiguous; the stored ModelResponded then emits
 * whatever text the deltas did not. Ids: the store position, or `<P>-<chars>` for deltas.
 */
export class SessionWireMerger {
  #lastPos: bigint
  /** Chars of text emitted per call (keyed by the call's starting position). */
  readonly #sent = new Map<bigint, number>()
  /** Calls whose ModelResponded was emitted. */
  readonly #closed = new Set<bigint>()
  #pending: TextDelta[] = []
  readonly #gapped = new Set<bigint>()
  #ended = false
  /** Next stream revision to process: events may arrive twice or out of order from two feeds. */
  #nextRevision = 0n
  readonly #early = new Map<bigint, RecordedEvent>()
  readonly #resumeAt: bigint

  constructor(
    private readonly emit: (event: WireEvent, id: string) => void,
    private readonly opts: { turnId?: string; after?: { position: bigint; chars: number }; fromRevision?: bigint } = {},
  ) {
    this.#lastPos = -1n
    // A turn's stream is replayed from its first event, not from the session's start.
    this.#nextRevision = opts.fromRevision ?? 0n
    this.#resumeAt = opts.after?.position ?? -1n
    if (opts.after !== undefined && opts.after.chars > 0) this.#sent.set(opts.after.position, opts.after.chars)
  }

  get ended(): boolean {
    return this.#ended
  }

  get position(): bigint {
    return this.#lastPos
  }

  /**
   * A stored event of the session stream (replay, live feed or the local commit bus, in
   * any order, possibly twice): processed exactly once, in revision order.
   */
  stored(e: RecordedEvent): void {
    if (this.#ended || e.revision < this.#nextRevision) return
    if (e.revision > this.#nextRevision) {
      this.#early.set(e.revision, e)
      return
    }
    this.#process(e)
    for (let next = this.#early.get(this.#nextRevision); next !== undefined && !this.#ended; next = this.#early.get(this.#nextRevision)) {
      this.#early.delete(next.revision)
      this.#process(next)
    }
  }

  #process(e: RecordedEvent): void {
    this.#nextRevision = e.revision + 1n
    this.#lastPos = e.position
    // Already delivered before the client's Last-Event-ID: advance silently.
    if (e.position <= this.#resumeAt) return
    const turnId = (e.data as { turnId?: string }).turnId
    if (this.opts.turnId === undefined || turnId === this.opts.turnId) {
      if (e.type === 'ModelResponded') {
        const d = e.data as { afterPosition: bigint; content: { type: string; text?: string }[] }
        const text = d.content.flatMap((b) => (b.type === 'text' ? [b.text ?? ''] : [])).join('')
        const rest = text.slice(this.#sent.get(d.afterPosition) ?? 0)
        this.#closed.add(d.afterPosition)
        this.#sent.delete(d.afterPosition)
        this.#gapped.delete(d.afterPosition)
        if (rest.length > 0) this.emit({ type: 'text', data: rest }, String(e.position))
      } else {
        for (const w of projectSessionEvent(e)) this.emit(w, String(e.position))
      }
      if (this.opts.turnId !== undefined && (e.type === 'TurnCompleted' || e.type === 'TurnFailed' || e.type === 'TurnInterrupted')) {
        this.#ended = true
        return
      }
    }
    this.#flush()
  }

  /** A live delta. */
  delta(d: TextDelta): void {
    if (this.#ended || (this.opts.turnId !== undefined && d.turnId !== this.opts.turnId) || this.#closed.has(d.afterPosition)) return
    this.#pending.push(d)
    this.#flush()
  }

  #flush(): void {
    const keep: TextDelta[] = []
    for (const d of this.#pending) {
      if (this.#closed.has(d.afterPosition) || this.#gapped.has(d.afterPosition)) continue
      if (d.afterPosition > this.#lastPos) {
        keep.push(d)
        continue
      }
      const sent = this.#sent.get(d.afterPosition) ?? 0
      const end = d.offset + d.text.length
      if (d.offset <= sent) {
        // Contiguous with (or overlapping) what was sent: emit only the new part.
        if (end > sent) {
          this.#sent.set(d.afterPosition, end)
          this.emit({ type: 'text', data: d.text.slice(sent - d.offset) }, `${d.afterPosition}-${end}`)
        }
      } else {
        // Missed this call's start (attached mid-call): its ModelResponded will carry the text.
        this.#gapped.add(d.afterPosition)
      }
    }
    this.#pending = keep
  }
}
