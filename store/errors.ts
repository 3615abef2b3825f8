import { GatewayError, UnavailableError } from '../shared/errors.js'
import type { ExpectedRevision, StreamRevision } from './types.js'

/** The stream was not at the revision the writer expected (another writer won). */
export class ConcurrencyError extends GatewayError {
  override name = 'ConcurrencyError' as const
  readonly streamId: string
  readonly expected: ExpectedRevision
  /** The stream's actual last revision, or 'no_stream'. */
  readonly actual: StreamRevision | 'no_stream'

  constructor(streamId: string, expected: ExpectedRevision, actual: StreamRevision | 'no_stream') {
    super('concurrency_conflict', `Stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`, {
      details: { streamId, expected: String(expected), actual: String(actual) },
    })
    this.streamId = streamId
    this.expected = expected
    this.actual = actual
  }
}

/** The store cannot be reached or written; the append did not happen. */
export class StoreUnavailableError extends UnavailableError {
  override name = 'StoreUnavailableError'
  constructor(message: string, cause?: unknown) {
    super('store_unavailable', message, { cause })
  }
}
