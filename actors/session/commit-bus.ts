import type { RecordedEvent } from '../../store/types.js'

export type CommitListener = (event: RecordedEvent) => void

/**
 * Events this process committed to a session, handed to its listeners at once (the live
 * feed brings them too, and brings other processes' events; readers dedupe by revision).
 */
export class CommitBus {
  readonly #listeners = new Map<string, Set<CommitListener>>()

  /** Listens to one session's commits; returns the unsubscribe. */
  on(sessionId: string, listener: CommitListener): () => void {
    let set = this.#listeners.get(sessionId)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(sessionId, set)
    }
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.#listeners.delete(sessionId)
    }
  }

  publish(sessionId: string, events: readonly RecordedEvent[] | undefined): void {
    const set = this.#listeners.get(sessionId)
    if (set === undefined || events === undefined) return
    for (const e of events) for (const l of set) l(e)
  }
}
