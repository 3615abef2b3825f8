import type { RecordedEvent } from '../store/types.js'

/**
 * Events as the store would record them, for pure fold tests: each call takes the next
 * position (and the same number as revision); hashes are left empty.
 */
export function recordedEvents(recordedAt = '2026-12-02T00:00:00.000Z'): (streamId: string, type: string, data?: object) => RecordedEvent {
  let pos = 0n
  return (streamId, type, data = {}) => ({ id: `e${pos}`, streamId, revision: pos, position: ++pos, type, data, metadata: {}, recordedAt, prevHash: '', hash: '' })
}
