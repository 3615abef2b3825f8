import type { AnyStateMachine, SnapshotFrom, StateMachine } from 'xstate'
import type { DomainError } from '../../shared/errors.js'
import type { EventMetadata, RecordedEvent, StreamRevision } from '../../store/types.js'

/** A domain event: plain data, money as bigint. It is also the machine's event. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type
  data: Data
}

/** Inputs that the pure `decide` may not obtain by itself (time, ids). */
export interface DecideContext {
  now: Date
  newId(): string
}

/** An effect the machine named, to run for a freshly committed event. */
export interface EffectCall {
  type: string
  params: unknown
}

export interface EffectContext<Command, Snapshot = unknown> {
  actorId: string
  /** The committed event whose transition returned this action. */
  event: RecordedEvent
  /** The actor's state right after the commit that holds `event` (no re-read needed). */
  snapshot: Snapshot
  /** Sends a command back to this actor (effects report results as commands). */
  send(command: Command, metadata?: EventMetadata): Promise<unknown>
}

export type EffectHandler<Command, Snapshot = unknown> = (action: EffectCall, ctx: EffectContext<Command, Snapshot>) => void | Promise<void>

/** The machine's named actions and their params, as `setup({ actions })` declared them. */
export type EffectParamsOf<Machine> =
  Machine extends StateMachine<infer _C, infer _E, infer _Ch, infer _Ac, infer Action, infer _G, infer _D, infer _S, infer _T, infer _I, infer _O, infer _Em, infer _Me, infer _Sc, infer _Tm>
    ? { [Type in Action['type']]: Extract<Action, { type: Type }>['params'] }
    : never

/** One handler per effect the machine names, each typed with that action's params. */
export type EffectsOf<Machine extends AnyStateMachine, Command> = {
  [Type in keyof EffectParamsOf<Machine>]: (params: EffectParamsOf<Machine>[Type], ctx: EffectContext<Command, SnapshotFrom<Machine>>) => Promise<void>
}

/**
 * One aggregate kind: its stream category, machine and pure decider. Effects are bound
 * separately (main.ts) so the definition stays pure.
 */
export interface AggregateDefinition<
  Machine extends AnyStateMachine,
  Command,
  Event extends DomainEvent,
> {
  /** Streams are named `${category}-${actorId}`. */
  category: string
  machine: Machine
  /** Bump when the machine's persisted shape changes: old snapshots are then ignored. */
  version: number
  /** Pure: the events a command produces in this state, or why it is refused. */
  decide(state: SnapshotFrom<Machine>, command: Command, ctx: DecideContext): readonly Event[] | DomainError
}

/** An actor's folded state, as the host holds it. */
export interface ActorState<Machine extends AnyStateMachine> {
  snapshot: SnapshotFrom<Machine>
  /** Revision of the last folded event; -1n when the stream does not exist. */
  revision: StreamRevision | -1n
}

export interface SendResult<Machine extends AnyStateMachine> extends ActorState<Machine> {
  /** The events this command appended (empty when it changed nothing). */
  events: RecordedEvent[]
}

export type { SnapshotStore, StoredSnapshot } from '../../store/types.js'
