import { initialTransition, type AnyStateMachine, type SnapshotFrom } from 'xstate'

/** The machine's initial snapshot, computed purely (its entry actions are not run). */
export function initialSnapshot<Machine extends AnyStateMachine>(machine: Machine): SnapshotFrom<Machine> {
  const [snapshot] = initialTransition(machine as AnyStateMachine, undefined)
  return snapshot as SnapshotFrom<Machine>
}
