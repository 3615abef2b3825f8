import Database from 'better-sqlite3'
import { decode } from '../codec.js'
import { hashEvent } from '../hash.js'
import type { ExpectedRevision, StreamRevision } from '../types.js'
import { openSqliteFile } from './open-file.js'

/*
 * The write side of the SQLite store: group commit of queued operations into one
 * transaction. It runs either in the store's own thread or in a worker thread
 * (writer-worker.ts), so everything crossing here is structured-clonable data.
 */

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  stream_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  type TEXT NOT NULL,
  data BLOB NOT NULL,
  metadata BLOB,
  recorded_at TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  UNIQUE (stream_id, revision)
);
CREATE TABLE IF NOT EXISTS snapshots (
  stream_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  data BLOB NOT NULL
);
`

/** Opens (creating) the store's file: FULL, so the WAL is fsynced at every commit and an acknowledged append survives power loss. */
export function openDatabase(file: string, busyTimeoutMs: number): Database.Database {
  return openSqliteFile(file, { busyTimeoutMs, synchronous: 'FULL', schema: SCHEMA })
}

export interface WireEvent {
  id: string
  type: string
  dataBytes: Uint8Array
  metadataBytes: Uint8Array | null
}

/** One stream's part of an append op (a plain append has one part). */
export interface WirePart {
  streamId: string
  events: WireEvent[]
  expected: ExpectedRevision
}

export type WireOp =
  | { opId: number; kind: 'append'; parts: WirePart[] }
  | { opId: number; kind: 'snapshot'; streamId: string; version: number; revision: bigint; dataBytes: Uint8Array }

export type WireError =
  | { kind: 'conflict'; streamId: string; expected: ExpectedRevision; actual: StreamRevision | 'no_stream' }
  | { kind: 'duplicate_id'; streamId: string }
  | { kind: 'unavailable'; message: string }

/** What one part stored: enough for the caller to rebuild every RecordedEvent without a read. */
export interface WrittenPart {
  /** Revision of the part's first event. */
  firstRevision: bigint
  /** Hash of the event before the first (its prevHash). */
  prevHash: string
  positions: bigint[]
  hashes: string[]
}

export type Outcome =
  | { opId: number; ok: true; recordedAt: string; parts: WrittenPart[] }
  | { opId: number; ok: false; error: WireError }

export interface WriterStats {
  /** Committed write transactions (one per group commit). */
  transactions: number
  /** Appends committed. */
  appends: number
  /** Events committed. */
  events: number
  /** Appends rejected by an expected-revision check. */
  conflicts: number
}

export interface BatchWriterOptions {
  maxBatchEvents: number
  onDone: (outcomes: Outcome[], delta: WriterStats) => void
}

/**
 * Queues operations and writes each event-loop turn's worth in ONE `BEGIN IMMEDIATE`
 * transaction (one fsync). Every append is checked on its own, seeing the earlier
 * appends of the same batch; a conflict or duplicate id rejects only that append
 * (savepoint). Lock timeout or I/O failure rolls the whole batch back: nothing half-written.
 */
export class BatchWriter {
  readonly #db: Database.Database
  readonly #options: BatchWriterOptions
  readonly #queue: WireOp[] = []
  #scheduled = false
  readonly #stmt: {
    begin: Database.Statement
    commit: Database.Statement
    rollback: Database.Statement
    savepoint: Database.Statement
    release: Database.Statement
    rollbackTo: Database.Statement
    head: Database.Statement<[string], { revision: bigint; hash: string }>
    insert: Database.Statement
    snapshotSave: Database.Statement
  }

  constructor(db: Database.Database, options: BatchWriterOptions) {
    this.#db = db
    this.#options = options
    this.#stmt = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT append_op'),
      release: db.prepare('RELEASE append_op'),
      rollbackTo: db.prepare('ROLLBACK TO append_op'),
      head: db.prepare('SELECT revision, hash FROM events WHERE stream_id = ? ORDER BY revision DESC LIMIT 1'),
      insert: db.prepare(
        'INSERT INTO events (id, stream_id, revision, type, data, metadata, recorded_at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      // Never replace a newer snapshot of the same version by an older one (two hosts may race).
      snapshotSave: db.prepare(
        `INSERT INTO snapshots (stream_id, version, revision, data) VALUES (?, ?, ?, ?)
         ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, revision = excluded.revision, data = excluded.data
         WHERE excluded.version <> snapshots.version OR excluded.revision > snapshots.revision`,
      ),
    }
  }

  /** Queues operations; they are written on the next turn of the event loop. */
  submit(ops: readonly WireOp[]): void {
    for (const op of ops) this.#queue.push(op)
    this.#schedule()
  }

  /** Writes everything queued now (close). */
  drain(): void {
    while (this.#queue.length > 0) this.#flush()
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    // setImmediate, not a microtask: everything submitted in this turn joins one
    // transaction; a batch cut by maxBatchEvents leaves the rest for the next turn.
    setImmediate(() => {
      this.#scheduled = false
      this.#flush()
      if (this.#queue.length > 0) this.#schedule()
    })
  }

  /** The stream's head as this transaction has left it (earlier appends of the batch count). */
  #head(streamId: string, heads: Heads): { revision: bigint; hash: string } | undefined {
    if (heads.has(streamId)) return heads.get(streamId)
    const head = this.#stmt.head.get(streamId)
    heads.set(streamId, head)
    return head
  }

  #firstConflict(parts: readonly WirePart[], heads: Heads): WireError | undefined {
    for (const part of parts) {
      const actual = this.#head(part.streamId, heads)?.revision
      if (!revisionMatches(part.expected, actual)) return { kind: 'conflict', streamId: part.streamId, expected: part.expected, actual: actual ?? 'no_stream' }
    }
    return undefined
  }

  #flush(): void {
    if (this.#queue.length === 0) return
    let count = 0
    let size = 0
    for (const op of this.#queue) {
      const n = op.kind === 'append' ? op.parts.reduce((sum, part) => sum + part.events.length, 0) : 1
      if (count > 0 && size + n > this.#options.maxBatchEvents) break
      size += n
      count++
    }
    const batch = this.#queue.splice(0, count)
    const outcomes: Outcome[] = []
    const delta: WriterStats = { transactions: 0, appends: 0, events: 0, conflicts: 0 }
    try {
      this.#stmt.begin.run()
      const recordedAt = new Date().toISOString()
      // Stream heads as this transaction has left them (earlier appends of the batch count).
      const heads: Heads = new Map()
      for (const op of batch) {
        if (op.kind === 'snapshot') {
          this.#stmt.snapshotSave.run(op.streamId, op.version, op.revision, asBuffer(op.dataBytes))
          outcomes.push({ opId: op.opId, ok: true, recordedAt: '', parts: [] })
          continue
        }
        const conflict = this.#firstConflict(op.parts, heads)
        if (conflict !== undefined) {
          delta.conflicts++
          outcomes.push({ opId: op.opId, ok: false, error: conflict })
          continue
        }
        // One savepoint for every part: a multi-stream append is written whole or not at all.
        this.#stmt.savepoint.run()
        let failedStream = ''
        try {
          const written: WrittenPart[] = []
          const newHeads: [string, { revision: bigint; hash: string }][] = []
          for (const part of op.parts) {
            failedStream = part.streamId
            const head = this.#head(part.streamId, heads)
            let revision = head?.revision ?? -1n
            let prevHash = head?.hash ?? ''
            const w: WrittenPart = { firstRevision: revision + 1n, prevHash, positions: [], hashes: [] }
            for (const e of part.events) {
              revision += 1n
              const data = asBuffer(e.dataBytes)
              // Hash what reads will return (the decoded bytes), so verifyChain holds on read.
              const hash = hashEvent({ streamId: part.streamId, revision, type: e.type, data: decode(data), recordedAt, prevHash })
              const info = this.#stmt.insert.run(
                e.id,
                part.streamId,
                revision,
                e.type,
                data,
                e.metadataBytes === null ? null : asBuffer(e.metadataBytes),
                recordedAt,
                prevHash,
                hash,
              )
              w.positions.push(BigInt(info.lastInsertRowid))
              w.hashes.push(hash)
              prevHash = hash
            }
            written.push(w)
            newHeads.push([part.streamId, { revision, hash: prevHash }])
          }
          this.#stmt.release.run()
          for (const [streamId, head] of newHeads) heads.set(streamId, head)
          delta.appends += op.parts.length
          for (const part of op.parts) delta.events += part.events.length
          outcomes.push({ opId: op.opId, ok: true, recordedAt, parts: written })
        } catch (error) {
          this.#stmt.rollbackTo.run()
          this.#stmt.release.run()
          // A constraint (duplicate event id) is this append's fault alone; anything else
          // (I/O, disk full) fails the whole transaction below.
          if (!isConstraintError(error)) throw error
          outcomes.push({ opId: op.opId, ok: false, error: { kind: 'duplicate_id', streamId: failedStream } })
        }
      }
      this.#stmt.commit.run()
      delta.transactions = 1
    } catch (error) {
      try {
        if (this.#db.inTransaction) this.#stmt.rollback.run()
      } catch {
        // The connection is unusable; the outcome below already says so.
      }
      const message = `The event store could not commit; nothing was written (${error instanceof Error ? error.message : String(error)})`
      this.#options.onDone(
        batch.map((op) => ({ opId: op.opId, ok: false, error: { kind: 'unavailable', message } })),
        { transactions: 0, appends: 0, events: 0, conflicts: 0 },
      )
      return
    }
    this.#options.onDone(outcomes, delta)
  }
}

type Heads = Map<string, { revision: bigint; hash: string } | undefined>

function revisionMatches(expected: ExpectedRevision, actual: StreamRevision | undefined): boolean {
  if (expected === 'any') return true
  if (expected === 'no_stream') return actual === undefined
  if (expected === 'stream_exists') return actual !== undefined
  return actual === expected
}

/** Bytes that crossed a thread arrive as a plain Uint8Array; better-sqlite3 binds Buffers. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function isConstraintError(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code.startsWith('SQLITE_CONSTRAINT')
}
