import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { ValidationError } from '../../shared/errors.js'
import { decode, encode } from '../codec.js'
import { ConcurrencyError, StoreUnavailableError } from '../errors.js'
import { hashEvent } from '../hash.js'
import type {
  AppendOptions,
  AppendResult,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  NewEvent,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SnapshotStore,
  StoredSnapshot,
  StreamRevision,
  SubscribeAllOptions,
  Subscription,
} from '../types.js'

export interface SqliteEventStoreOptions {
  /** Database file; its parent folder is created when missing. */
  file: string
  /** How long a write waits for another process's write lock before failing (ms). Default 5000. */
  busyTimeoutMs?: number
  /** How often live subscriptions look for commits by other processes (ms). Default 25. */
  pollIntervalMs?: number
  /** Upper bound of events written in one group-commit transaction. Default 10,000. */
  maxBatchEvents?: number
  /** Clock for `recordedAt` (tests). */
  now?: () => Date
}

/** Counters of the writer (tests and /metrics). */
export interface SqliteStoreStats {
  /** Committed write transactions (one per group commit). */
  transactions: number
  /** Appends committed. */
  appends: number
  /** Events committed. */
  events: number
  /** Appends rejected by an expected-revision check. */
  conflicts: number
}

interface EventRow {
  position: bigint
  id: string
  stream_id: string
  revision: bigint
  type: string
  data: Buffer
  metadata: Buffer | null
  recorded_at: string
  prev_hash: string
  hash: string
}

interface PreparedEvent {
  id: string
  type: string
  dataBytes: Buffer
  /** The data as it will read back (decoded from dataBytes), so the hash verifies on read. */
  data: unknown
  metadataBytes: Buffer | null
}

type Op =
  | {
      kind: 'append'
      streamId: string
      events: PreparedEvent[]
      expected: ExpectedRevision
      resolve: (result: AppendResult) => void
      reject: (error: unknown) => void
    }
  | {
      kind: 'snapshot'
      streamId: string
      version: number
      revision: bigint
      dataBytes: Buffer
      resolve: () => void
      reject: (error: unknown) => void
    }

const PAGE_SIZE = 500

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

/**
 * The embedded EventStore: one SQLite file in WAL mode, shareable by several processes.
 *
 * Durability: `synchronous=FULL`, so the WAL is fsynced before an append's promise
 * resolves; an acknowledged append survives a crash or power cut.
 *
 * Group commit: appends are queued and written by one flush per event-loop turn, in a
 * single `BEGIN IMMEDIATE` transaction (one fsync for all of them). Each append is still
 * checked and applied on its own (a savepoint each): a conflict rejects only that append.
 */
export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite' as const
  /** Snapshot cache on the same file (table `snapshots`), written through the group commit. */
  readonly snapshots: SqliteSnapshotStore

  readonly #db: Database.Database
  readonly #now: () => Date
  readonly #pollIntervalMs: number
  readonly #maxBatchEvents: number
  readonly #stats: SqliteStoreStats = { transactions: 0, appends: 0, events: 0, conflicts: 0 }
  readonly #queue: Op[] = []
  #flushScheduled = false
  #closed = false
  #closing: Promise<void> | undefined

  /** Wake-ups of live subscriptions waiting for new events. */
  readonly #waiters = new Set<() => void>()
  readonly #subscriptions = new Set<SqliteSubscription>()
  #poller: NodeJS.Timeout | undefined
  #dataVersion: unknown

  readonly #stmt: {
    begin: Database.Statement
    commit: Database.Statement
    rollback: Database.Statement
    savepoint: Database.Statement
    release: Database.Statement
    rollbackTo: Database.Statement
    head: Database.Statement<[string], { revision: bigint; hash: string }>
    insert: Database.Statement
    streamForwards: Database.Statement<[string, bigint, number], EventRow>
    streamBackwards: Database.Statement<[string, bigint, number], EventRow>
    all: Database.Statement<[bigint, number], EventRow>
    headPosition: Database.Statement<[], { p: bigint | null }>
    dataVersion: Database.Statement<[], { data_version: unknown }>
    snapshotLoad: Database.Statement<[string], { version: bigint; revision: bigint; data: Buffer }>
    snapshotSave: Database.Statement
    snapshotClear: Database.Statement
  }

  constructor(options: SqliteEventStoreOptions) {
    this.#now = options.now ?? (() => new Date())
    this.#pollIntervalMs = options.pollIntervalMs ?? 25
    this.#maxBatchEvents = options.maxBatchEvents ?? 10_000
    try {
      mkdirSync(dirname(options.file), { recursive: true })
      this.#db = new Database(options.file)
      this.#db.defaultSafeIntegers(true)
      // busy_timeout first: the other pragmas and the schema may wait on another process.
      this.#db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`)
      this.#db.pragma('journal_mode = WAL')
      this.#db.pragma('synchronous = FULL')
      this.#db.exec(SCHEMA)
    } catch (error) {
      throw new StoreUnavailableError(`Cannot open the SQLite event store at ${options.file}`, error)
    }
    const db = this.#db
    const columns = 'position, id, stream_id, revision, type, data, metadata, recorded_at, prev_hash, hash'
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
      streamForwards: db.prepare(
        `SELECT ${columns} FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision ASC LIMIT ?`,
      ),
      streamBackwards: db.prepare(
        `SELECT ${columns} FROM events WHERE stream_id = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`,
      ),
      all: db.prepare(`SELECT ${columns} FROM events WHERE position > ? ORDER BY position ASC LIMIT ?`),
      headPosition: db.prepare('SELECT max(position) AS p FROM events'),
      dataVersion: db.prepare('PRAGMA data_version'),
      snapshotLoad: db.prepare('SELECT version, revision, data FROM snapshots WHERE stream_id = ?'),
      // Never replace a newer snapshot of the same version by an older one (two hosts may race).
      snapshotSave: db.prepare(
        `INSERT INTO snapshots (stream_id, version, revision, data) VALUES (?, ?, ?, ?)
         ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, revision = excluded.revision, data = excluded.data
         WHERE excluded.version <> snapshots.version OR excluded.revision > snapshots.revision`,
      ),
      snapshotClear: db.prepare('DELETE FROM snapshots'),
    }
    this.snapshots = new SqliteSnapshotStore(this)
  }

  /** Opens (creating when missing) the store at `options.file`. */
  static async open(options: SqliteEventStoreOptions): Promise<SqliteEventStore> {
    return new SqliteEventStore(options)
  }

  /** Writer counters since open. */
  get stats(): Readonly<SqliteStoreStats> {
    return { ...this.#stats }
  }

  append(streamId: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError('The event store is closed'))
    let prepared: PreparedEvent[]
    try {
      if (typeof streamId !== 'string' || streamId.length === 0) throw new ValidationError('Stream id must be a non-empty string')
      if (events.length === 0) throw new ValidationError('An append needs at least one event')
      prepared = events.map((e) => prepareEvent(e))
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.#enqueue({ kind: 'append', streamId, events: prepared, expected: options.expectedRevision ?? 'any', resolve, reject })
    })
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.#assertOpen()
    const limit = options.maxCount ?? -1
    if (limit === 0) return []
    const rows =
      options.direction === 'backwards'
        ? this.#stmt.streamBackwards.all(streamId, options.fromRevision ?? 0x7fffffffffffffffn, limit)
        : this.#stmt.streamForwards.all(streamId, options.fromRevision ?? 0n, limit)
    return rows.map(toRecorded)
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.#assertOpen()
    const limit = options.maxCount ?? -1
    if (limit === 0) return []
    return this.#stmt.all.all(options.fromPosition ?? 0n, limit).map(toRecorded)
  }

  subscribeAll(options: SubscribeAllOptions = {}): Subscription {
    const subscription = new SqliteSubscription(this, options.fromPosition ?? 0n, options.streamPrefixes)
    if (this.#closed) void subscription.close()
    else this.#subscriptions.add(subscription)
    return subscription
  }

  async headPosition(): Promise<Position> {
    this.#assertOpen()
    return this.#stmt.headPosition.get()?.p ?? 0n
  }

  /** Writes every queued append, ends subscriptions and closes the file. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true
      while (this.#queue.length > 0) this.#flush()
      for (const s of [...this.#subscriptions]) await s.close()
      this.#stopPoller()
      this.#db.close()
    })()
    return this.#closing
  }

  // ---- internals used by SqliteSubscription and SqliteSnapshotStore ----

  /** @internal Rows after `position`, or undefined once the store is closed. */
  pageAfter(position: Position): EventRow[] | undefined {
    if (!this.#db.open) return undefined
    return this.#stmt.all.all(position, PAGE_SIZE)
  }

  /** @internal Resolves on the next local commit or a commit seen from another connection. */
  waitForChange(): { promise: Promise<void>; cancel: () => void } {
    let wake!: () => void
    const promise = new Promise<void>((resolve) => {
      wake = resolve
    })
    const waiter = (): void => {
      this.#waiters.delete(waiter)
      wake()
    }
    this.#waiters.add(waiter)
    this.#startPoller()
    return { promise, cancel: waiter }
  }

  /** @internal */
  forget(subscription: SqliteSubscription): void {
    this.#subscriptions.delete(subscription)
  }

  /** @internal */
  enqueueSnapshot(streamId: string, snapshot: StoredSnapshot): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError('The event store is closed'))
    let dataBytes: Buffer
    try {
      dataBytes = encode(snapshot.snapshot)
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise<void>((resolve, reject) => {
      this.#enqueue({ kind: 'snapshot', streamId, version: snapshot.version, revision: snapshot.revision, dataBytes, resolve, reject })
    })
  }

  /** @internal */
  loadSnapshot(streamId: string): StoredSnapshot | undefined {
    this.#assertOpen()
    const row = this.#stmt.snapshotLoad.get(streamId)
    if (row === undefined) return undefined
    return { version: Number(row.version), revision: row.revision, snapshot: decode(row.data) }
  }

  /** @internal */
  clearSnapshots(): void {
    this.#assertOpen()
    this.#stmt.snapshotClear.run()
  }

  #assertOpen(): void {
    if (!this.#db.open) throw new StoreUnavailableError('The event store is closed')
  }

  #enqueue(op: Op): void {
    this.#queue.push(op)
    this.#scheduleFlush()
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    // setImmediate, not a microtask: appends issued anywhere in this event-loop turn (by
    // many actors' mailboxes) join one transaction. A batch cut by maxBatchEvents leaves
    // the rest for the next turn so I/O callbacks run in between.
    setImmediate(() => {
      this.#flushScheduled = false
      this.#flush()
      if (this.#queue.length > 0) this.#scheduleFlush()
    })
  }

  /** Writes one batch of queued operations in one transaction. */
  #flush(): void {
    if (this.#queue.length === 0) return
    let count = 0
    let events = 0
    for (const op of this.#queue) {
      const size = op.kind === 'append' ? op.events.length : 1
      if (count > 0 && events + size > this.#maxBatchEvents) break
      events += size
      count++
    }
    const batch = this.#queue.splice(0, count)
    if (!this.#db.open) {
      for (const op of batch) op.reject(new StoreUnavailableError('The event store is closed'))
      return
    }
    const settle: (() => void)[] = []
    let appended = 0
    let appendedEvents = 0
    let conflicts = 0
    try {
      this.#stmt.begin.run()
      const recordedAt = this.#now().toISOString()
      // Stream heads as this transaction has left them (earlier appends of the batch count).
      const heads = new Map<string, { revision: bigint; hash: string } | undefined>()
      for (const op of batch) {
        if (op.kind === 'snapshot') {
          this.#stmt.snapshotSave.run(op.streamId, op.version, op.revision, op.dataBytes)
          settle.push(() => op.resolve())
          continue
        }
        const head = heads.has(op.streamId) ? heads.get(op.streamId) : this.#stmt.head.get(op.streamId)
        const actual = head?.revision
        if (!revisionMatches(op.expected, actual)) {
          conflicts++
          const error = new ConcurrencyError(op.streamId, op.expected, actual ?? 'no_stream')
          settle.push(() => op.reject(error))
          continue
        }
        this.#stmt.savepoint.run()
        try {
          let revision = actual ?? -1n
          let prevHash = head?.hash ?? ''
          let position = 0n
          for (const e of op.events) {
            revision += 1n
            const hash = hashEvent({ streamId: op.streamId, revision, type: e.type, data: e.data, recordedAt, prevHash })
            const info = this.#stmt.insert.run(
              e.id,
              op.streamId,
              revision,
              e.type,
              e.dataBytes,
              e.metadataBytes,
              recordedAt,
              prevHash,
              hash,
            )
            position = BigInt(info.lastInsertRowid)
            prevHash = hash
          }
          this.#stmt.release.run()
          heads.set(op.streamId, { revision, hash: prevHash })
          appended++
          appendedEvents += op.events.length
          const result: AppendResult = { nextExpectedRevision: revision, position }
          settle.push(() => op.resolve(result))
        } catch (error) {
          this.#stmt.rollbackTo.run()
          this.#stmt.release.run()
          // A constraint (duplicate event id) is this append's fault alone; anything else
          // (I/O, disk full) fails the whole transaction below.
          if (!isConstraintError(error)) throw error
          settle.push(() => op.reject(new ValidationError('Duplicate event id', { streamId: op.streamId })))
        }
      }
      this.#stmt.commit.run()
    } catch (error) {
      try {
        if (this.#db.inTransaction) this.#stmt.rollback.run()
      } catch {
        // The connection is unusable; the error below already says so.
      }
      const unavailable = new StoreUnavailableError('The event store could not commit; nothing was written', error)
      for (const op of batch) op.reject(unavailable)
      return
    }
    this.#stats.transactions++
    this.#stats.appends += appended
    this.#stats.events += appendedEvents
    this.#stats.conflicts += conflicts
    for (const s of settle) s()
    if (appended > 0) this.#notify()
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter()
  }

  #startPoller(): void {
    if (this.#poller !== undefined || !this.#db.open) return
    this.#dataVersion = this.#readDataVersion()
    this.#poller = setInterval(() => {
      if (this.#waiters.size === 0 || !this.#db.open) {
        this.#stopPoller()
        return
      }
      // data_version changes when another connection (another process) commits.
      const version = this.#readDataVersion()
      if (version !== this.#dataVersion) {
        this.#dataVersion = version
        this.#notify()
      }
    }, this.#pollIntervalMs)
    this.#poller.unref()
  }

  #stopPoller(): void {
    if (this.#poller !== undefined) clearInterval(this.#poller)
    this.#poller = undefined
  }

  #readDataVersion(): unknown {
    try {
      return this.#stmt.dataVersion.get()?.data_version
    } catch {
      return undefined
    }
  }
}

/** Snapshots in the store's `snapshots` table; saves ride on the next group commit. */
export class SqliteSnapshotStore implements SnapshotStore {
  readonly #store: SqliteEventStore
  constructor(store: SqliteEventStore) {
    this.#store = store
  }

  async load(streamId: string): Promise<StoredSnapshot | undefined> {
    return this.#store.loadSnapshot(streamId)
  }

  save(streamId: string, snapshot: StoredSnapshot): Promise<void> {
    return this.#store.enqueueSnapshot(streamId, snapshot)
  }

  /** Deletes every snapshot (a cache: the next hydration folds the full streams). */
  async clear(): Promise<void> {
    this.#store.clearSnapshots()
  }
}

/**
 * Catch-up then live: always reads "position > last delivered", so the switch from
 * catch-up to live has neither a gap nor a duplicate. Reads only when the consumer pulls.
 */
class SqliteSubscription implements Subscription {
  readonly #store: SqliteEventStore
  readonly #prefixes: readonly string[] | undefined
  #checkpoint: Position
  #closed = false
  #cancelWait: (() => void) | undefined

  constructor(store: SqliteEventStore, from: Position, prefixes: readonly string[] | undefined) {
    this.#store = store
    this.#checkpoint = from
    this.#prefixes = prefixes === undefined || prefixes.length === 0 ? undefined : prefixes
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<RecordedEvent, void, undefined> {
    try {
      while (!this.#closed) {
        const rows = this.#store.pageAfter(this.#checkpoint)
        if (rows === undefined) return
        if (rows.length === 0) {
          // Registered synchronously after the read: no commit can slip in between.
          const { promise, cancel } = this.#store.waitForChange()
          this.#cancelWait = cancel
          await promise
          this.#cancelWait = undefined
          continue
        }
        for (const row of rows) {
          if (this.#closed) return
          this.#checkpoint = row.position
          const prefixes = this.#prefixes
          if (prefixes !== undefined && !prefixes.some((p) => row.stream_id.startsWith(p))) continue
          yield toRecorded(row)
        }
      }
    } finally {
      this.#closed = true
      this.#store.forget(this)
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#cancelWait?.()
    this.#store.forget(this)
  }
}

function revisionMatches(expected: ExpectedRevision, actual: StreamRevision | undefined): boolean {
  if (expected === 'any') return true
  if (expected === 'no_stream') return actual === undefined
  if (expected === 'stream_exists') return actual !== undefined
  return actual === expected
}

function prepareEvent(event: NewEvent): PreparedEvent {
  if (typeof event.type !== 'string' || event.type.length === 0) throw new ValidationError('Event type must be a non-empty string')
  const dataBytes = encode(event.data)
  const metadata = cleanMetadata(event.metadata)
  return {
    id: event.id ?? randomUUID(),
    type: event.type,
    dataBytes,
    data: decode(dataBytes),
    metadataBytes: metadata === undefined ? null : encode(metadata),
  }
}

function cleanMetadata(metadata: EventMetadata | undefined): EventMetadata | undefined {
  if (metadata === undefined) return undefined
  const out: EventMetadata = {}
  if (metadata.correlationId !== undefined) out.correlationId = metadata.correlationId
  if (metadata.causationId !== undefined) out.causationId = metadata.causationId
  return Object.keys(out).length === 0 ? undefined : out
}

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    streamId: row.stream_id,
    revision: row.revision,
    position: row.position,
    type: row.type,
    data: decode(row.data),
    metadata: row.metadata === null ? {} : decode<EventMetadata>(row.metadata),
    recordedAt: row.recorded_at,
    prevHash: row.prev_hash,
    hash: row.hash,
  }
}

function isConstraintError(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code.startsWith('SQLITE_CONSTRAINT')
}
