import type { Logger } from 'pino'
import type { EventStore, Position, RecordedEvent, Subscription } from '../store/types.js'

export type LiveListener = (event: RecordedEvent) => void

/**
 * The process's one `$all` subscription, started at the head when the gateway starts,
 * fanned out to listeners by stream id. Whatever process wrote an event, every process
 * sees it here, so a client connected anywhere gets every event of its topics.
 */
export class LiveFeed {
  readonly #listeners = new Map<string, Set<LiveListener>>()
  readonly #any = new Set<LiveListener>()
  #subscription: Subscription | undefined
  #position: Position = 0n
  #running: Promise<void> | undefined

  constructor(
    private readonly store: EventStore,
    private readonly logger: Logger,
  ) {}

  /** Position of the newest event dispatched. */
  get position(): Position {
    return this.#position
  }

  async start(): Promise<void> {
    this.#position = await this.store.headPosition()
    const sub = this.store.subscribeAll({ fromPosition: this.#position })
    this.#subscription = sub
    this.#running = (async () => {
      try {
        for await (const event of sub) {
          this.#position = event.position
          for (const l of this.#listeners.get(event.streamId) ?? []) this.#safe(l, event)
          for (const l of this.#any) this.#safe(l, event)
        }
      } catch (error) {
        this.logger.error({ err: error }, 'live feed stopped')
      }
    })()
  }

  /** Calls `listener` for every new event of `streamId`; returns the unsubscribe. */
  onStream(streamId: string, listener: LiveListener): () => void {
    let set = this.#listeners.get(streamId)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(streamId, set)
    }
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.#listeners.delete(streamId)
    }
  }

  /** Calls `listener` for every new event. */
  onAny(listener: LiveListener): () => void {
    this.#any.add(listener)
    return () => this.#any.delete(listener)
  }

  async stop(): Promise<void> {
    await this.#subscription?.close()
    await this.#running
  }

  #safe(listener: LiveListener, event: RecordedEvent): void {
    try {
      listener(event)
    } catch (error) {
      this.logger.error({ err: error, streamId: event.streamId }, 'live listener failed')
    }
  }
}
