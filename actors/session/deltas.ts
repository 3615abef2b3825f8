/** A live text delta of a model call: not stored (ModelResponded stores the whole text). */
export interface TextDelta {
  sessionId: string
  turnId: string
  /** Position of the stored event that started the model call: orders the delta and names it on the wire. */
  afterPosition: bigint
  /** Characters of this call's text streamed before this delta. */
  offset: number
  text: string
}

export type DeltaListener = (delta: TextDelta) => void

/** In-process fan-out of live text deltas by session id. */
export class DeltaBus {
  readonly #listeners = new Map<string, Set<DeltaListener>>()

  publish(delta: TextDelta): void {
    for (const l of this.#listeners.get(delta.sessionId) ?? []) {
      try {
        l(delta)
      } catch {
        /* a broken listener must not break the model stream */
      }
    }
  }

  /** Listens to one session's deltas; returns the unsubscribe. */
  on(sessionId: string, listener: DeltaListener): () => void {
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
}
