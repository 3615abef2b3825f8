/**
 * Runs `work` once the responses in flight have gone out: read models and the ledger log
 * catch up a millisecond after a commit instead of in the same loop turn, so their SQLite
 * transaction never sits between a committed turn and the bytes its client waits for, and
 * under load one transaction covers every commit of that millisecond.
 */
export function afterResponses(work: () => void): void {
  setTimeout(work, 1)
}
