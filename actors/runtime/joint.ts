import type { AnyStateMachine, SnapshotFrom } from 'xstate'
import { ConcurrencyError } from '../../store/errors.js'
import type { EventMetadata, EventStore, NewEvent, StreamAppend } from '../../store/types.js'
import { ActorBusyError, type ActorHost, type HeldActor, type TentativeFold } from './host.js'
import type { DomainEvent, SendResult } from './types.js'

/** One actor taking part in a joint decision. */
export interface Party<Machine extends AnyStateMachine = AnyStateMachine, Command = never> {
  host: ActorHost<Machine, Command, DomainEvent>
  actorId: string
}

/** What a plan sees of one party: its state as the plan has left it so far. */
export interface Tentative<Machine extends AnyStateMachine> {
  readonly snapshot: SnapshotFrom<Machine>
  /** The events decided for this party so far (in this attempt). */
  readonly events: readonly DomainEvent[]
}

/** Lets a plan decide commands, each on its party's own state (pure: no effects run). */
export interface JointDecision {
  /** Decides `command` with the party's own `decide` on its tentative state; throws its refusal. */
  decide<Machine extends AnyStateMachine, Command>(party: Party<Machine, Command>, command: Command): Tentative<Machine>
  state<Machine extends AnyStateMachine, Command>(party: Party<Machine, Command>): Tentative<Machine>
}

export interface CommitTogetherResult<Result> {
  result: Result
  /** Per party, in the order given: its state after the commit and the events it recorded. */
  committed: SendResult<AnyStateMachine>[]
}

export interface CommitTogetherOptions {
  metadata?: EventMetadata
  /** Attempts on a concurrency conflict before giving up. Default 25. */
  maxRetries?: number
}

/**
 * One decision across several actors, committed by ONE multi-stream append: every
 * party's mailbox is held (taken in stream-id order, so two joint decisions never wait
 * on each other in a cycle), `plan` decides each party's commands with that party's own
 * pure `decide` on its own state (a wallet still decides its reservation from its
 * balance and budgets), and the events of every party are appended together, each part
 * with its party's expected revision. A conflict on any part catches every party up and
 * plans again. Then each party folds what was recorded and runs its effects.
 *
 * On SQLite the commit is atomic. On KurrentDB (no multi-stream append) the parts are
 * written in the order the parties are given: put first the part whose lone survival
 * the domain recovers from.
 */
export async function commitTogether<Result>(
  store: EventStore,
  parties: readonly Party<AnyStateMachine, never>[],
  plan: (joint: JointDecision) => Result,
  options: CommitTogetherOptions = {},
): Promise<CommitTogetherResult<Result>> {
  const order = parties.map((p, i) => ({ p, i })).sort((a, b) => compare(a.p.host.streamId(a.p.actorId), b.p.host.streamId(b.p.actorId)))
  const held: HeldActor<AnyStateMachine, unknown>[] = new Array(parties.length)
  const run = async (k: number): Promise<CommitTogetherResult<Result>> => {
    if (k < order.length) {
      const { p, i } = order[k]!
      const host = p.host as unknown as ActorHost<AnyStateMachine, unknown, DomainEvent>
      return host.hold(p.actorId, (h) => {
        held[i] = h
        return run(k + 1)
      })
    }
    return decideAndCommit(store, parties, held, plan, options)
  }
  return run(0)
}

async function decideAndCommit<Result>(
  store: EventStore,
  parties: readonly Party<AnyStateMachine, never>[],
  held: HeldActor<AnyStateMachine, unknown>[],
  plan: (joint: JointDecision) => Result,
  options: CommitTogetherOptions,
): Promise<CommitTogetherResult<Result>> {
  const maxRetries = options.maxRetries ?? 25
  for (let attempt = 1; ; attempt++) {
    const tentative = held.map((h) => ({ folded: { snapshot: h.state.snapshot, actions: [] } as TentativeFold<AnyStateMachine>, events: [] as DomainEvent[] }))
    const indexOf = (party: Party<AnyStateMachine, never>): number => {
      const i = parties.indexOf(party)
      if (i < 0) throw new Error('commitTogether: that party is not part of this decision')
      return i
    }
    const joint: JointDecision = {
      decide(party, command) {
        const i = indexOf(party as unknown as Party<AnyStateMachine, never>)
        const h = held[i]!
        const t = tentative[i]!
        const events = h.decide(t.folded.snapshot, command)
        t.folded = h.fold(t.folded, events)
        for (const e of events) t.events.push(e)
        return { snapshot: t.folded.snapshot, events: t.events } as never
      },
      state(party) {
        const t = tentative[indexOf(party as unknown as Party<AnyStateMachine, never>)]!
        return { snapshot: t.folded.snapshot, events: t.events } as never
      },
    }
    const result = plan(joint)
    const writing = tentative.flatMap((t, i) => (t.events.length === 0 ? [] : [i]))
    if (writing.length === 0) return { result, committed: held.map((h) => ({ ...h.state, events: [] })) }
    const parts: StreamAppend[] = writing.map((i) => {
      const h = held[i]!
      const revision = h.state.revision
      return { streamId: h.streamId, events: tentative[i]!.events.map((e) => toNew(e, options.metadata)), expectedRevision: revision === -1n ? 'no_stream' : revision }
    })
    let appended: Awaited<ReturnType<EventStore['appendMulti']>>
    try {
      appended = await store.appendMulti(parts)
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error
      if (attempt >= maxRetries) throw new ActorBusyError(error.streamId, attempt, error)
      for (const h of held) await h.catchUp()
      if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * attempt * 2))
      continue
    }
    const committed: SendResult<AnyStateMachine>[] = held.map((h) => ({ ...h.state, events: [] }))
    for (const [k, i] of writing.entries()) {
      const h = held[i]!
      const part = parts[k]!
      const recorded = appended[k]!.recorded ?? (await store.readStream(part.streamId, { fromRevision: h.state.revision + 1n, maxCount: part.events.length }))
      committed[i] = await h.commit(recorded, tentative[i]!.folded)
    }
    return { result, committed }
  }
}

function toNew(e: DomainEvent, metadata: EventMetadata | undefined): NewEvent {
  return metadata === undefined ? { type: e.type, data: e.data } : { type: e.type, data: e.data, metadata }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
