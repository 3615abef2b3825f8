import type { EventStore } from '../../store/types.js'

export interface OpenTurn {
  sessionId: string
  turnId: string
}

/**
 * Start-up recovery: every turn left running by a stopped process is ended as interrupted
 * (`endTurn` settles its completed calls and charges nothing for the call in flight).
 * `open` lists the candidates (the open-turns projection: what is open, not what was ever
 * written); `endTurn` checks each against the session's own state. Without it (tools,
 * tests) the store is scanned. Returns how many turns were ended.
 */
export async function recoverInterruptedTurns(p: {
  store: EventStore
  open?: Iterable<OpenTurn> | undefined
  endTurn(sessionId: string, turnId: string): Promise<boolean>
  onError(error: unknown, where: string): void
}): Promise<number> {
  const running = new Map<string, string>()
  for (const t of p.open ?? (await scanForRunningTurns(p.store))) running.set(t.sessionId, t.turnId)
  let interrupted = 0
  for (const [sessionId, turnId] of running) {
    const ended = await p.endTurn(sessionId, turnId).catch((e: unknown) => {
      p.onError(e, 'recoverInterrupted')
      return false
    })
    if (ended) interrupted++
  }
  return interrupted
}

/** Every session whose last turn has started and not ended, from a scan of the whole store. */
async function scanForRunningTurns(store: EventStore): Promise<OpenTurn[]> {
  const running = new Map<string, string>()
  let from: bigint | undefined
  for (;;) {
    const batch = await store.readAll(from === undefined ? { maxCount: 1000 } : { fromPosition: from, maxCount: 1000 })
    if (batch.length === 0) break
    for (const e of batch) {
      from = e.position
      if (!e.streamId.startsWith('session-')) continue
      const id = e.streamId.slice('session-'.length)
      if (e.type === 'UserMessageReceived') running.set(id, (e.data as { turnId: string }).turnId)
      else if (e.type === 'TurnCompleted' || e.type === 'TurnFailed' || e.type === 'TurnInterrupted' || e.type === 'SessionDeleted') running.delete(id)
    }
    if (batch.length < 1000) break
  }
  return [...running].map(([sessionId, turnId]) => ({ sessionId, turnId }))
}
