import type { RecordedEvent } from '../../store/types.js'
import { afterEachSlot, improvementSettings, slotAt } from './schedule.js'
import type { TriggerResult } from './service.js'

export interface ReflectSchedulerParameters {
  /** Claims a slot for a wallet (ReflectService.startScheduled): the reflect stream's expected revision decides who wins. */
  startScheduled(wallet: string, slot: string): Promise<TriggerResult>
  /** Wallets whose settings turn self-improvement on, with those settings (a read model: it only says whom to look at). */
  candidates(): Iterable<{ wallet: string; settings: Record<string, unknown> }>
  /** The owner of a session (lower-case), for after_each. */
  sessionWallet(sessionId: string): Promise<string | undefined>
  /** The clock: every decision here takes its time from it. */
  now: () => Date
  /** after_each: how long a session must be idle after a completed turn. */
  idleMs: number
  onError?: (error: unknown, where: string) => void
}

/**
 * The durable scheduler. It holds no state that matters: for `daily`/`weekly`/`biweekly`
 * the due slot follows from the clock and the last slot claimed in the wallet's reflect
 * stream (an event), so a restart changes nothing and two processes ticking together
 * start one run per slot. `after_each` notes completed turns from the live feed and claims
 * `after_each:<session>:<revision>` once the session has been idle for `idleMs`.
 */
export class ReflectScheduler {
  readonly #p: ReflectSchedulerParameters
  /** Sessions with a completed turn waiting to go idle: revision and when it was seen. */
  readonly #pending = new Map<string, { revision: bigint; at: number }>()
  #timer: NodeJS.Timeout | undefined
  #ticking: Promise<number> | undefined

  constructor(p: ReflectSchedulerParameters) {
    this.#p = p
  }

  /** Live-feed listener: a session event. */
  observe(event: RecordedEvent): void {
    if (!event.streamId.startsWith('session-')) return
    const sessionId = event.streamId.slice('session-'.length)
    if (event.type === 'TurnCompleted') this.#pending.set(sessionId, { revision: event.revision, at: this.#p.now().getTime() })
    // Activity after the turn restarts the idle wait at the next completed turn.
    else if (event.type === 'UserMessageReceived' || event.type === 'SessionDeleted') this.#pending.delete(sessionId)
  }

  /** Claims every due slot; resolves with the number of runs started or skipped. One tick at a time. */
  tick(): Promise<number> {
    this.#ticking ??= this.#tick().finally(() => (this.#ticking = undefined))
    return this.#ticking
  }

  async #tick(): Promise<number> {
    const now = this.#p.now()
    let claimed = 0
    const afterEach = new Set<string>()
    for (const { wallet, settings } of this.#p.candidates()) {
      const s = improvementSettings(settings)
      if (!s.enabled || s.schedule === null) continue
      if (s.schedule === 'after_each') {
        afterEach.add(wallet)
        continue
      }
      claimed += await this.#claim(wallet, slotAt(s.schedule, now).id)
    }
    for (const [sessionId, p] of this.#pending) {
      if (now.getTime() - p.at < this.#p.idleMs) continue
      this.#pending.delete(sessionId)
      const wallet = await this.#p.sessionWallet(sessionId).catch(() => undefined)
      if (wallet !== undefined && afterEach.has(wallet)) claimed += await this.#claim(wallet, afterEachSlot(sessionId, p.revision))
    }
    return claimed
  }

  async #claim(wallet: string, slot: string): Promise<number> {
    try {
      const r = await this.#p.startScheduled(wallet, slot)
      return r.status === 'already_claimed' ? 0 : 1
    } catch (error) {
      this.#p.onError?.(error, 'tick')
      return 0
    }
  }

  /** Ticks every `intervalMs` (timer unref'd). */
  start(intervalMs: number): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => void this.tick(), intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
