import { randomUUID } from 'node:crypto'
import type { AnyStateMachine, SnapshotFrom } from 'xstate'
import { GatewayError } from '../../shared/errors.js'
import { ConcurrencyError } from '../../store/errors.js'
import type { EventMetadata, EventStore, NewEvent, Position, RecordedEvent } from '../../store/types.js'
import { initialSnapshot } from './initial-snapshot.js'
import { pureTransition, type TransitionAction } from './pure-transition.js'
import type {
  ActorState,
  AggregateDefinition,
  DecideContext,
  DomainEvent,
  EffectCall,
  EffectHandler,
  SendResult,
  SnapshotStore,
} from './types.js'

export interface ActorHostParameters<Machine extends AnyStateMachine, Command, Event extends DomainEvent> {
  definition: AggregateDefinition<Machine, Command, Event>
  store: EventStore
  /** Real implementations of the machine's named actions (bound in main.ts). */
  effects?: Partial<Record<string, EffectHandler<Command, SnapshotFrom<Machine>>>>
  snapshots?: SnapshotStore
  /**
   * Store a snapshot every N events (default 100), or every SNAPSHOT_BYTES_PER_EVENT-th of
   * the last snapshot's size when that is more (see #maybeSnapshot).
   */
  snapshotEvery?: number
  /** Idle actors kept in memory (LRU). Default 10,000. */
  cacheSize?: number
  /** Attempts on a concurrency conflict before giving up. Default 25. */
  maxRetries?: number
  now?: () => Date
  newId?: () => string
  /** Where effect failures go (effects run detached from the command). */
  onEffectError?: (error: unknown, action: EffectCall, actorId: string) => void
}

interface Entry<Machine extends AnyStateMachine> extends ActorState<Machine> {
  /** Tail of this actor's mailbox: every command chains onto it. */
  mailbox: Promise<unknown>
  pending: number
  /** Revision of the newest stored snapshot. */
  snapshotRevision: bigint
  /** Its encoded size (0 when none is known). */
  snapshotBytes: number
  /**
   * Store head at which this entry was known to be current (-1n: unknown). Every later
   * commit, by any process, has a greater position, so an unchanged head means nothing to
   * catch up.
   */
  currentAt: Position | -1n
}

/** Encoded snapshot bytes per event between snapshots, at most (see ActorHost #maybeSnapshot). */
export const SNAPSHOT_BYTES_PER_EVENT = 1024

/**
 * An actor whose mailbox is held by a joint decision (actors/runtime/joint.ts): it may
 * decide on a tentative state, then commit what one multi-stream append recorded.
 */
export interface HeldActor<Machine extends AnyStateMachine, Command> {
  readonly streamId: string
  readonly state: ActorState<Machine>
  /** Pure: the actor's own decide on `snapshot` (its state as the joint decision left it). Throws a refusal. */
  decide(snapshot: SnapshotFrom<Machine>, command: Command): readonly DomainEvent[]
  /** Folds proposed events onto a tentative state (effects collected, not run). */
  fold(from: TentativeFold<Machine>, events: readonly DomainEvent[]): TentativeFold<Machine>
  /** Folds what others committed (after a conflict). */
  catchUp(): Promise<void>
  /**
   * Takes the committed events (as recorded), runs their effects, snapshots when due. With
   * `folded`, the tentative fold of exactly these events from the held state, that fold is
   * the new state: a machine is a pure function of its events' type and data, so folding
   * them a second time would give the same state at the same cost again.
   */
  commit(recorded: readonly RecordedEvent[], folded?: TentativeFold<Machine>): Promise<SendResult<Machine>>
}

/** A state reached by folding proposed events, with each event's effect calls in order. */
export interface TentativeFold<Machine extends AnyStateMachine> {
  snapshot: SnapshotFrom<Machine>
  actions: EffectCall[][]
}

/** The actor's commands could not be applied after repeated conflicts with other writers. */
export class ActorBusyError extends GatewayError {
  override name = 'ActorBusyError'
  constructor(streamId: string, attempts: number, cause: unknown) {
    super('actor_busy', `Too many concurrent writers on ${streamId}; try again`, { details: { attempts }, cause })
  }
}

/**
 * Hosts every actor of one aggregate kind. Commands for one actor id run one at a time
 * (a mailbox); state is the fold of the actor's stream through XState's pure
 * `transition`; new events are appended with the expected revision, so two processes
 * sharing a store never lose an update: the loser reloads and decides again.
 */
export class ActorHost<Machine extends AnyStateMachine, Command, Event extends DomainEvent> {
  readonly #p: ActorHostParameters<Machine, Command, Event>
  readonly #entries = new Map<string, Entry<Machine>>()
  readonly #loading = new Map<string, Promise<Entry<Machine>>>()
  readonly #ctx: () => DecideContext
  readonly #cacheSize: number
  readonly #snapshotEvery: number
  readonly #transition: ReturnType<typeof pureTransition<Machine>>

  constructor(parameters: ActorHostParameters<Machine, Command, Event>) {
    this.#p = parameters
    this.#transition = pureTransition(parameters.definition.machine)
    this.#cacheSize = parameters.cacheSize ?? 10_000
    this.#snapshotEvery = parameters.snapshotEvery ?? 100
    const now = parameters.now ?? (() => new Date())
    const newId = parameters.newId ?? randomUUID
    this.#ctx = () => ({ now: now(), newId })
  }

  get category(): string {
    return this.#p.definition.category
  }

  /** Actors currently held in memory. */
  get size(): number {
    return this.#entries.size
  }

  streamId(actorId: string): string {
    return `${this.#p.definition.category}-${actorId}`
  }

  /** Runs one command through the actor's mailbox: decide → append → transition → effects. */
  send(actorId: string, command: Command, metadata?: EventMetadata): Promise<SendResult<Machine>> {
    return this.#enqueue(actorId, (entry) => this.#handle(actorId, entry, command, metadata))
  }

  /** The actor's current state, caught up with the store (other processes may have written). */
  read(actorId: string): Promise<ActorState<Machine>> {
    return this.#enqueue(actorId, async (entry) => {
      await this.#catchUp(actorId, entry)
      return { snapshot: entry.snapshot, revision: entry.revision }
    })
  }

  /**
   * The actor's state as this process last folded it, without asking the store whether
   * another process wrote since (it is read from the store only when not held here). For
   * a decision whose commit re-checks the revision (a stale state loses the append and is
   * decided again), and for settings where another process's change may land a moment late.
   * Held here, it does not queue on the mailbox: it answers what the last command committed,
   * even while the next one (a joint decision holding the actor) is still under way.
   */
  peek(actorId: string): Promise<ActorState<Machine>> {
    const cached = this.#cached(actorId)
    if (cached !== undefined) return Promise.resolve({ snapshot: cached.snapshot, revision: cached.revision })
    return this.#enqueue(actorId, async (entry) => ({ snapshot: entry.snapshot, revision: entry.revision }))
  }

  /**
   * Runs `work` holding this actor's mailbox: the building block of a decision that spans
   * actors (actors/runtime/joint.ts). Nothing else runs on this actor meanwhile.
   */
  hold<T>(actorId: string, work: (held: HeldActor<Machine, Command>) => Promise<T>): Promise<T> {
    return this.#enqueue(actorId, (entry) =>
      work({
        streamId: this.streamId(actorId),
        get state() {
          return { snapshot: entry.snapshot, revision: entry.revision }
        },
        decide: (snapshot, command) => {
          const decided = this.#p.definition.decide(snapshot, command, this.#ctx())
          if (decided instanceof Error) throw decided
          return decided
        },
        fold: (from, events) => {
          let snapshot = from.snapshot
          const actions = [...from.actions]
          for (const e of events) {
            const [next, calls] = this.#transition(snapshot, { type: e.type, data: e.data })
            snapshot = next
            actions.push(effectCalls(calls))
          }
          return { snapshot, actions }
        },
        catchUp: () => this.#catchUp(actorId, entry),
        commit: (recorded, folded) => this.#commit(actorId, entry, recorded, folded),
      }),
    )
  }

  /** Drops every cached actor (tests; the next access rehydrates from the store). */
  clear(): void {
    for (const [id, e] of this.#entries) if (e.pending === 0) this.#entries.delete(id)
  }

  async #enqueue<T>(actorId: string, work: (entry: Entry<Machine>) => Promise<T>): Promise<T> {
    // #entry counts us as pending before it returns: otherwise another command finishing
    // in between could evict this entry and a later send would hydrate a second copy with
    // its own mailbox (commands for one actor no longer serialised).
    const entry = await this.#entry(actorId)
    const run = entry.mailbox.then(() => work(entry))
    entry.mailbox = run.then(
      () => undefined,
      () => undefined,
    )
    try {
      return await run
    } finally {
      entry.pending--
      this.#evict()
    }
  }

  async #entry(actorId: string): Promise<Entry<Machine>> {
    const cached = this.#cached(actorId)
    if (cached !== undefined) {
      cached.pending++
      return cached
    }
    let loading = this.#loading.get(actorId)
    if (loading === undefined) {
      loading = this.#hydrate(actorId).finally(() => this.#loading.delete(actorId))
      this.#loading.set(actorId, loading)
    }
    const entry = await loading
    const raced = this.#entries.get(actorId)
    if (raced !== undefined) {
      raced.pending++
      return raced
    }
    this.#entries.set(actorId, entry)
    entry.pending++
    return entry
  }

  /** The actor held here, marked as the most recently used (re-inserted). */
  #cached(actorId: string): Entry<Machine> | undefined {
    const cached = this.#entries.get(actorId)
    if (cached !== undefined) {
      this.#entries.delete(actorId)
      this.#entries.set(actorId, cached)
    }
    return cached
  }

  async #hydrate(actorId: string): Promise<Entry<Machine>> {
    const { machine, version } = this.#p.definition
    const streamId = this.streamId(actorId)
    const entry: Entry<Machine> = {
      snapshot: initialSnapshot(machine),
      revision: -1n,
      mailbox: Promise.resolve(),
      pending: 0,
      snapshotRevision: -1n,
      snapshotBytes: 0,
      currentAt: -1n,
    }
    // A snapshot is only a cache: if it cannot be read, fold the whole stream instead.
    const stored = await this.#p.snapshots?.load(streamId).catch(() => undefined)
    if (stored !== undefined && stored.version === version) {
      entry.snapshot = machine.resolveState(stored.snapshot as never) as SnapshotFrom<Machine>
      entry.revision = stored.revision
      entry.snapshotRevision = stored.revision
      entry.snapshotBytes = stored.bytes ?? 0
    }
    await this.#catchUp(actorId, entry)
    return entry
  }

  /**
   * Folds events appended after the entry's revision (by anyone), ignoring their actions.
   * Skipped when the store knows nothing was committed to the stream since the entry was
   * last known current.
   */
  async #catchUp(actorId: string, entry: Entry<Machine>): Promise<void> {
    const streamId = this.streamId(actorId)
    const since = this.#p.store.streamChangedSince?.(streamId, entry.currentAt)
    const head = since?.head
    if (since !== undefined && !since.changed) {
      entry.currentAt = since.head
      return
    }
    const events = await this.#p.store.readStream(streamId, entry.revision === -1n ? {} : { fromRevision: entry.revision + 1n })
    for (const e of events) this.#fold(entry, e)
    // Read before the stream: whatever committed after it has a greater position.
    if (head !== undefined) entry.currentAt = head
    await this.#maybeSnapshot(actorId, entry)
  }

  #fold(entry: Entry<Machine>, event: RecordedEvent): EffectCall[] {
    const [next, actions] = this.#transition(entry.snapshot, { type: event.type, data: event.data })
    entry.snapshot = next
    entry.revision = event.revision
    return effectCalls(actions)
  }

  async #handle(
    actorId: string,
    entry: Entry<Machine>,
    command: Command,
    metadata: EventMetadata | undefined,
  ): Promise<SendResult<Machine>> {
    const maxRetries = this.#p.maxRetries ?? 25
    const streamId = this.streamId(actorId)
    for (let attempt = 1; ; attempt++) {
      const decided = this.#p.definition.decide(entry.snapshot, command, this.#ctx())
      if (decided instanceof Error) throw decided
      if (decided.length === 0) return { snapshot: entry.snapshot, revision: entry.revision, events: [] }
      const proposed: NewEvent[] = decided.map((e) => (metadata === undefined ? { type: e.type, data: e.data } : { type: e.type, data: e.data, metadata }))
      let result: Awaited<ReturnType<EventStore['append']>>
      try {
        result = await this.#p.store.append(streamId, proposed, {
          expectedRevision: entry.revision === -1n ? 'no_stream' : entry.revision,
        })
      } catch (error) {
        if (!(error instanceof ConcurrencyError)) throw error
        if (attempt >= maxRetries) throw new ActorBusyError(streamId, attempt, error)
        // Another writer appended first: fold what it wrote, then decide again.
        await this.#catchUp(actorId, entry)
        if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * attempt * 2))
        continue
      }
      const committed = result.recorded ?? (await this.#p.store.readStream(streamId, { fromRevision: entry.revision + 1n, maxCount: proposed.length }))
      return this.#commit(actorId, entry, committed)
    }
  }

  /** Folds freshly committed events (as the store recorded them), then runs their effects. */
  async #commit(actorId: string, entry: Entry<Machine>, committed: readonly RecordedEvent[], folded?: TentativeFold<Machine>): Promise<SendResult<Machine>> {
    const effects: { action: EffectCall; event: RecordedEvent }[] = []
    if (folded !== undefined && folded.actions.length === committed.length && committed.length > 0) {
      committed.forEach((e, k) => {
        for (const action of folded.actions[k]!) effects.push({ action, event: e })
      })
      entry.snapshot = folded.snapshot
      entry.revision = committed[committed.length - 1]!.revision
    } else for (const e of committed) for (const action of this.#fold(entry, e)) effects.push({ action, event: e })
    // The stream had exactly the expected revision when these were written: current as of their position.
    const last = committed[committed.length - 1]
    if (last !== undefined) entry.currentAt = last.position
    this.#runEffects(actorId, entry.snapshot, effects)
    await this.#maybeSnapshot(actorId, entry)
    return { snapshot: entry.snapshot, revision: entry.revision, events: [...committed] }
  }

  #runEffects(actorId: string, snapshot: SnapshotFrom<Machine>, effects: { action: EffectCall; event: RecordedEvent }[]): void {
    for (const { action, event } of effects) {
      const handler = this.#p.effects?.[action.type]
      if (handler === undefined) continue
      const ctx = {
        actorId,
        event,
        snapshot,
        send: (command: Command, metadata?: EventMetadata) =>
          this.send(actorId, command, metadata ?? { causationId: event.id, ...(event.metadata.correlationId === undefined ? {} : { correlationId: event.metadata.correlationId }) }),
      }
      // Effects run detached: a slow model call must not hold the actor's mailbox.
      queueMicrotask(() => {
        Promise.resolve()
          .then(() => handler(action, ctx))
          .catch((error: unknown) => this.#p.onEffectError?.(error, action, actorId))
      })
    }
  }

  /**
   * Snapshots every `snapshotEvery` events, or every `bytes / SNAPSHOT_BYTES_PER_EVENT` events
   * when the last snapshot was larger: a snapshot re-encodes the whole state, so at a fixed
   * interval a long session's (a 600-turn transcript is ~270 KB) cost per event would grow
   * with its history. Spaced by its size, it stays ≤ 1 KiB of encoding per event appended, and
   * a rehydration folds at most that many events more after decoding it.
   */
  async #maybeSnapshot(actorId: string, entry: Entry<Machine>): Promise<void> {
    const snapshots = this.#p.snapshots
    if (snapshots === undefined || entry.revision < 0n) return
    const every = Math.max(this.#snapshotEvery, Math.ceil(entry.snapshotBytes / SNAPSHOT_BYTES_PER_EVENT))
    if (entry.revision - entry.snapshotRevision < BigInt(every)) return
    const { machine, version } = this.#p.definition
    const previous = entry.snapshotRevision
    entry.snapshotRevision = entry.revision
    try {
      entry.snapshotBytes = await snapshots.save(this.streamId(actorId), {
        version,
        revision: entry.revision,
        snapshot: machine.getPersistedSnapshot(entry.snapshot),
      })
    } catch {
      // The events are committed; a failed cache write must not fail the command. Retry later.
      entry.snapshotRevision = previous
    }
  }

  #evict(): void {
    if (this.#entries.size <= this.#cacheSize) return
    for (const [id, e] of this.#entries) {
      if (this.#entries.size <= this.#cacheSize) break
      if (e.pending === 0) this.#entries.delete(id)
    }
  }
}

/** The machine's own named actions of a transition (xstate's built-ins dropped): what effects run. */
function effectCalls(actions: readonly TransitionAction[]): EffectCall[] {
  return actions.filter((a) => !a.type.startsWith('xstate.')).map((a) => ({ type: a.type, params: a.params }))
}
