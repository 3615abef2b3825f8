import type { EffectContext } from '../runtime/types.js'
import type { SessionCommand } from './commands.js'

/**
 * The `requestApproval` effect: a pending approval is refused when its time runs out.
 * The timer only shortens the wait; the refusal itself is a command, so a restart that
 * loses the timer loses nothing but the wait (the turn is interrupted at start-up).
 */
export class ApprovalTimers {
  readonly #timers = new Map<string, NodeJS.Timeout>()

  constructor(
    readonly now: () => Date,
    readonly onError: (error: unknown, where: string) => void,
  ) {}

  async request(params: { approvalId: string; expiresAt: string }, ctx: Pick<EffectContext<SessionCommand>, 'send'>): Promise<void> {
    const wait = Math.max(0, Date.parse(params.expiresAt) - this.now().getTime())
    const timer = setTimeout(() => {
      this.#timers.delete(params.approvalId)
      ctx.send({ type: 'ResolveApproval', approvalId: params.approvalId, approved: false, reason: 'timeout' }).catch((e: unknown) => this.onError(e, 'approvalTimeout'))
    }, wait)
    timer.unref()
    this.#timers.set(params.approvalId, timer)
  }

  /** The user answered first. */
  cancel(approvalId: string): void {
    clearTimeout(this.#timers.get(approvalId))
    this.#timers.delete(approvalId)
  }

  /** Shutdown. */
  close(): void {
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
  }
}
