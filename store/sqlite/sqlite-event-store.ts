import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type Database from 'better-sqlite3'
import { ValidationError } from '../../shared/errors.js'
import { decode, encode } from '../codec.js'
import { ConcurrencyError, StoreUnavailableError } from '../errors.js'
import type {
  AppendOptions,
  AppendResult,
  StreamAppend,
  EventMetadata,
  EventStore,
  NewEvent,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SnapshotStore,
  StoredSnapshot,
  SubscribeAllOptions,
  Subscription,
} from '../types.js'
import { BatchWriter, openDatabase, type Outcome, type WireError, type WireEvent, type WireOp, type WirePart, type WriterStats, type WrittenPart } from './batch-writer.js'
import type { ToWorker, WriterWorkerData } from './writer-worker.js'

export interface SqliteEventStoreOptions {
  /** Database file; its parent folder is created when missing. */
  file: string
  /** How long a write waits for another process's write lock before failing (ms). Default 5000. */
  busyTimeoutMs?: number
  /** How often live subscriptions look for commits by other processes (ms). Default 25. */
  pollIntervalMs?: number
  /** Upper bound of events written in one group-commit transaction. Default 10,000. */
  maxBatchEvents?: number
  /**
   * Where the group-commit transaction runs: `worker`, a worker thread, so hashing,
   * inserts and fsync never block the event loop (the gateway's setting, SQLITE_WRITER);
   * `inline` (default), this thread: no thread start-up (≈1 s under tsx), for tests and tools.
   */
  writer?: 'worker' | 'inline'
}

/** Counters of the writer (tests and /metrics). */
export type SqliteStoreStats = WriterStats

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

/** The write side as the store sees it: inline or in a worker thread. */
interface Writer {
  submit(ops: WireOp[]): void
  /** Writes what is queued, then stops. */
  close(): Promise<void>
}

type FromWorker = { kind: 'done'; outcomes: Outcome[]; delta: WriterStats } | { kind: 'closed' }

const PAGE_SIZE = 500
/** Streams whose last position is kept for `streamChangedSince` (≈ 100 bytes each) before counting starts over. */
const MAX_TRACKED_STREAMS = 100_000

/**
 * The embedded EventStore: one SQLite file in WAL mode, shareable by several processes.
 *
 * Durability: `synchronous=FULL`, so the WAL is fsynced before an append's promise
 * resolves; an acknowledged append survives a crash or power cut.
 *
 * Group commit: appends are queued and written in one `BEGIN IMMEDIATE` transaction per
 * event-loop turn of the writer (one fsync for all of them), in a worker thread or inline. Each append is still checked on its own: a conflict rejects only that append.
 * Reads and subscriptions use this thread's own connection (WAL readers never block).
 */
export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite' as const
  /** Snapshot cache on the same file (table `snapshots`), written through the group commit. */
  readonly snapshots: SqliteSnapshotStore

  readonly #db: Database.Database
  readonly #pollIntervalMs: number
  readonly #writer: Writer
  readonly #stats: SqliteStoreStats = { transactions: 0, appends: 0, events: 0, conflicts: 0 }
  readonly #pending = new Map<number, PendingOp>()
  #nextOpId = 1
  #closed = false
  #closing: Promise<void> | undefined

  readonly #subscriptions = new Set<SqliteSubscription>()
  /**
   * Every event up to here was handed to the live subscriptions, with no gap. Local commits
   * move it straight from the writer's result; the one poller moves it for other processes'.
   */
  #dispatched: Position
  /**
   * The last dispatched position of each stream written since `#trackedFrom` (every event
   * in (#trackedFrom, #dispatched] is counted): what answers `streamChangedSince` without a
   * read. Bounded: past MAX_TRACKED_STREAMS it starts over from the dispatched position.
   */
  readonly #lastDispatched = new Map<string, Position>()
  #trackedFrom: Position
  #poller: NodeJS.Timeout | undefined
  #dataVersion: unknown

  readonly #stmt: {
    streamForwards: Database.Statement<[string, bigint, number], EventRow>
    streamBackwards: Database.Statement<[string, bigint, number], EventRow>
    all: Database.Statement<[bigint, number], EventRow>
    headPosition: Database.Statement<[], { p: bigint | null }>
    dataVersion: Database.Statement<[], { data_version: unknown }>
    snapshotLoad: Database.Statement<[string], { version: bigint; revision: bigint; data: Buffer }>
    snapshotClear: Database.Statement
  }

  constructor(options: SqliteEventStoreOptions) {
    this.#pollIntervalMs = options.pollIntervalMs ?? 25
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000
    const maxBatchEvents = options.maxBatchEvents ?? 10_000
    try {
      this.#db = openDatabase(options.file, busyTimeoutMs)
    } catch (error) {
      throw new StoreUnavailableError(`Cannot open the SQLite event store at ${options.file}: ${error instanceof Error ? error.message : String(error)}`, error)
    }
    const db = this.#db
    const columns = 'position, id, stream_id, revision, type, data, metadata, recorded_at, prev_hash, hash'
    this.#stmt = {
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
      snapshotClear: db.prepare('DELETE FROM snapshots'),
    }
    const onDone = (outcomes: Outcome[], delta: WriterStats): void => this.#settle(outcomes, delta)
    this.#writer =
      options.writer !== 'worker'
        ? inlineWriter(new BatchWriter(db, { maxBatchEvents, onDone }))
        : workerWriter({ file: options.file, busyTimeoutMs, maxBatchEvents }, onDone, (error) => this.#writerFailed(error), () => this.#pending.size)
    this.snapshots = new SqliteSnapshotStore(this)
    this.#dispatched = this.#stmt.headPosition.get()?.p ?? 0n
    this.#trackedFrom = this.#dispatched
  }

  /** Opens (creating when missing) the store at `options.file`. */
  static async open(options: SqliteEventStoreOptions): Promise<SqliteEventStore> {
    return new SqliteEventStore(options)
  }

  /** Writer counters since open. */
  get stats(): Readonly<SqliteStoreStats> {
    return { ...this.#stats }
  }

  readonly atomicMulti = true

  append(streamId: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    return this.appendMulti([{ streamId, events, ...(options.expectedRevision === undefined ? {} : { expectedRevision: options.expectedRevision }) }]).then((r) => r[0]!)
  }

  /** Every part in one savepoint of one group-commit transaction: all are written or none. */
  appendMulti(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError('The event store is closed'))
    let parts: WirePart[]
    try {
      if (appends.length === 0) throw new ValidationError('A multi-stream append needs at least one stream')
      const seen = new Set<string>()
      parts = appends.map((a) => {
        if (typeof a.streamId !== 'string' || a.streamId.length === 0) throw new ValidationError('Stream id must be a non-empty string')
        if (a.events.length === 0) throw new ValidationError('An append needs at least one event')
        if (seen.has(a.streamId)) throw new ValidationError('A multi-stream append names each stream once', { streamId: a.streamId })
        seen.add(a.streamId)
        return { streamId: a.streamId, events: a.events.map((e) => prepareEvent(e)), expected: a.expectedRevision ?? 'any' }
      })
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#submit({ opId: 0, kind: 'append', parts }, { appends, parts })
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
    return this.localHead()
  }

  /** max(position) through this connection: sees every committed write, this process's or another's. */
  localHead(): Position {
    this.#assertOpen()
    return this.#stmt.headPosition.get()?.p ?? 0n
  }

  /**
   * Certain only when the file holds nothing this process has not dispatched (its head is
   * the dispatched position): then every event after `position` was counted in
   * `#lastDispatched`, as long as counting had begun by then.
   */
  streamChangedSince(streamId: string, position: Position): { head: Position; changed: boolean } {
    const head = this.localHead()
    if (head === position) return { head, changed: false }
    if (head !== this.#dispatched || position < this.#trackedFrom) return { head, changed: true }
    const last = this.#lastDispatched.get(streamId)
    return { head, changed: last !== undefined && last > position }
  }

  /** Writes every queued append, ends subscriptions and closes the file. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true
      await this.#writer.close()
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

  /** @internal Every event up to this position has been handed to live subscriptions. */
  get dispatched(): Position {
    return this.#dispatched
  }

  /** @internal A subscription is waiting for live events: other processes' commits must be polled. */
  wantLive(): void {
    this.#startPoller()
  }
  /** @internal */
  forget(subscription: SqliteSubscription): void {
    this.#subscriptions.delete(subscription)
  }

  /** @internal */
  async enqueueSnapshot(streamId: string, snapshot: StoredSnapshot): Promise<number> {
    if (this.#closed) throw new StoreUnavailableError('The event store is closed')
    const dataBytes = encode(snapshot.snapshot)
    await this.#submit({ opId: 0, kind: 'snapshot', streamId, version: snapshot.version, revision: snapshot.revision, dataBytes })
    return dataBytes.length
  }

  /** @internal */
  loadSnapshot(streamId: string): StoredSnapshot | undefined {
    this.#assertOpen()
    const row = this.#stmt.snapshotLoad.get(streamId)
    if (row === undefined) return undefined
    return { version: Number(row.version), revision: row.revision, snapshot: decode(row.data), bytes: row.data.length }
  }

  /** @internal */
  clearSnapshots(): void {
    this.#assertOpen()
    this.#stmt.snapshotClear.run()
  }

  #assertOpen(): void {
    if (!this.#db.open) throw new StoreUnavailableError('The event store is closed')
  }

  #submit(op: WireOp, request?: PendingOp['request']): Promise<AppendResult[]> {
    const opId = this.#nextOpId++
    return new Promise((resolve, reject) => {
      this.#pending.set(opId, { resolve, reject, request })
      this.#writer.submit([{ ...op, opId }])
    })
  }

  #settle(outcomes: Outcome[], delta: WriterStats): void {
    this.#stats.transactions += delta.transactions
    this.#stats.appends += delta.appends
    this.#stats.events += delta.events
    this.#stats.conflicts += delta.conflicts
    const committed: RecordedEvent[] = []
    const results: [PendingOp, AppendResult[]][] = []
    for (const o of outcomes) {
      const p = this.#pending.get(o.opId)
      if (p === undefined) continue
      this.#pending.delete(o.opId)
      if (!o.ok) {
        p.reject(toError(o.error))
        continue
      }
      const request = p.request
      if (request === undefined) {
        results.push([p, []])
        continue
      }
      const perPart = o.parts.map((w, i) => {
        const recorded = recordedFrom(request.appends[i]!, request.parts[i]!, w, o.recordedAt)
        for (const e of recorded) committed.push(e)
        const last = recorded[recorded.length - 1]!
        return { nextExpectedRevision: last.revision, position: last.position, recorded }
      })
      results.push([p, perPart])
    }
    // Subscribers first: whoever awaits an append may then rely on the live feed having it.
    if (committed.length > 0) this.#dispatchLocal(committed)
    for (const [p, r] of results) p.resolve(r)
  }

  /**
   * Hands this process's freshly committed events to every live subscription, from the
   * writer's result (no read). Positions are dense (AUTOINCREMENT, rolled-back savepoints
   * give theirs back), so a batch that does not start right after what was dispatched means
   * another process committed in between: then read the gap from the file, in order.
   */
  #dispatchLocal(events: RecordedEvent[]): void {
    if (events.length > 1) events.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0))
    const fresh = events[0]!.position <= this.#dispatched ? events.filter((e) => e.position > this.#dispatched) : events
    if (fresh.length === 0) return
    if (fresh[0]!.position === this.#dispatched + 1n) this.#dispatch(fresh)
    else this.#catchUpFromFile(fresh[fresh.length - 1]!.position)
  }

  /** Reads what was committed after the dispatched position (other connections' commits) and dispatches it. */
  #catchUpFromFile(until?: Position): void {
    for (;;) {
      const rows = this.pageAfter(this.#dispatched)
      if (rows === undefined || rows.length === 0) return
      this.#dispatch(rows.map(toRecorded))
      if (rows.length < PAGE_SIZE || (until !== undefined && this.#dispatched >= until)) return
    }
  }

  #dispatch(events: RecordedEvent[]): void {
    this.#dispatched = events[events.length - 1]!.position
    for (const e of events) this.#lastDispatched.set(e.streamId, e.position)
    if (this.#lastDispatched.size > MAX_TRACKED_STREAMS) {
      this.#lastDispatched.clear()
      this.#trackedFrom = this.#dispatched
    }
    for (const s of this.#subscriptions) s.push(events)
  }

  /** The worker died: nothing it had not acknowledged can be assumed written. */
  #writerFailed(error: unknown): void {
    this.#closed = true
    const unavailable = new StoreUnavailableError('The event store writer stopped', error)
    for (const p of this.#pending.values()) p.reject(unavailable)
    this.#pending.clear()
  }

  /** One poll for every subscription: data_version moves when another connection commits. */
  #startPoller(): void {
    if (this.#poller !== undefined || !this.#db.open) return
    this.#dataVersion = this.#readDataVersion()
    this.#poller = setInterval(() => {
      if (this.#subscriptions.size === 0 || !this.#db.open) {
        this.#stopPoller()
        return
      }
      // data_version changes when another connection (the writer thread, another
      // process) commits; the writer thread's commits are usually dispatched already.
      const version = this.#readDataVersion()
      if (version !== this.#dataVersion) {
        this.#dataVersion = version
        this.#catchUpFromFile()
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

interface PendingOp {
  resolve: (results: AppendResult[]) => void
  reject: (e: unknown) => void
  /** What was asked (undefined for snapshot saves): the recorded events are rebuilt from it. */
  request: { appends: readonly StreamAppend[]; parts: readonly WirePart[] } | undefined
}

/** The RecordedEvents of one written part, from the request and the writer's positions and hashes. */
function recordedFrom(part: StreamAppend, wire: WirePart, written: WrittenPart, recordedAt: string): RecordedEvent[] {
  return part.events.map((e, i) => ({
    id: wire.events[i]!.id,
    streamId: part.streamId,
    revision: written.firstRevision + BigInt(i),
    position: written.positions[i]!,
    type: e.type,
    data: e.data,
    metadata: cleanMetadata(e.metadata) ?? {},
    recordedAt,
    prevHash: i === 0 ? written.prevHash : written.hashes[i - 1]!,
    hash: written.hashes[i]!,
  }))
}

function inlineWriter(batch: BatchWriter): Writer {
  return {
    submit: (ops) => batch.submit(ops),
    close: async () => batch.drain(),
  }
}

/**
 * The writer in a worker thread. Ops of one turn travel in one message. The worker keeps
 * the process alive only while appends are in flight (an idle store must not).
 */
function workerWriter(
  data: WriterWorkerData,
  onDone: (outcomes: Outcome[], delta: WriterStats) => void,
  onFailure: (error: unknown) => void,
  inFlight: () => number,
): Writer {
  const worker = import.meta.url.endsWith('.ts')
    ? // Under tsx/vitest this module is TypeScript and so is the worker; `--import tsx` in a
      // worker's execArgv does not take effect on Node 20, so register tsx's loader inside it.
      new Worker(
        `import(${JSON.stringify(tsxEsmApi())})` +
          `.then((tsx) => tsx.register())` +
          `.then(() => import(${JSON.stringify(new URL('./writer-worker.ts', import.meta.url).href)}))`,
        { eval: true, workerData: data },
      )
    : new Worker(new URL('./writer-worker.js', import.meta.url), { workerData: data })
  worker.unref()
  let outbox: WireOp[] = []
  let scheduled = false
  let closing = false
  let failed = false
  let resolveClosed!: () => void
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve
  })
  const post = (): void => {
    scheduled = false
    if (outbox.length === 0 || failed) return
    const ops = outbox
    outbox = []
    worker.postMessage({ kind: 'ops', ops } satisfies ToWorker)
  }
  worker.on('message', (message: FromWorker) => {
    if (message.kind === 'closed') {
      resolveClosed()
      return
    }
    onDone(message.outcomes, message.delta)
    if (!closing && inFlight() === 0) worker.unref()
  })
  const fail = (error: unknown): void => {
    if (failed) return
    failed = true
    onFailure(error)
    resolveClosed()
  }
  worker.on('error', fail)
  worker.on('exit', (code) => {
    if (!closing) fail(new Error(`writer thread exited with code ${code}`))
    resolveClosed()
  })
  return {
    submit(ops) {
      if (failed) {
        onDone(
          ops.map((op) => ({ opId: op.opId, ok: false, error: { kind: 'unavailable', message: 'The event store writer stopped' } })),
          { transactions: 0, appends: 0, events: 0, conflicts: 0 },
        )
        return
      }
      worker.ref()
      for (const op of ops) outbox.push(op)
      if (!scheduled) {
        scheduled = true
        // One message per turn: every append issued in this turn travels (and commits) together.
        setImmediate(post)
      }
    },
    async close() {
      closing = true
      if (failed) return
      worker.ref()
      post()
      worker.postMessage({ kind: 'close' } satisfies ToWorker)
      await closed
    },
  }
}

/** URL of tsx's ESM register API (the `import` condition; its CJS build cannot be imported here). */
function tsxEsmApi(): string {
  const packageJson = createRequire(import.meta.url).resolve('tsx/package.json')
  return pathToFileURL(join(dirname(packageJson), 'dist', 'esm', 'api', 'index.mjs')).href
}

function toError(error: WireError): Error {
  if (error.kind === 'conflict') return new ConcurrencyError(error.streamId, error.expected, error.actual)
  if (error.kind === 'duplicate_id') return new ValidationError('Duplicate event id', { streamId: error.streamId })
  return new StoreUnavailableError(error.message)
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

  save(streamId: string, snapshot: StoredSnapshot): Promise<number> {
    return this.#store.enqueueSnapshot(streamId, snapshot)
  }

  /** Deletes every snapshot (a cache: the next hydration folds the full streams). */
  async clear(): Promise<void> {
    this.#store.clearSnapshots()
  }
}

/** More live events than this queued for one slow subscription: it drops them and reads the file instead. */
const MAX_QUEUED = 10_000

/**
 * Catch-up then live. Catch-up reads "position > last delivered" from the file; once it
 * reaches what the store has dispatched, the subscription lives on the store's fan-out
 * (events pushed from the writer's results and the shared poll), skipping anything at or
 * below its checkpoint, so the switch has neither a gap nor a duplicate. A consumer that
 * falls more than MAX_QUEUED events behind goes back to reading the file.
 */
class SqliteSubscription implements Subscription {
  readonly #store: SqliteEventStore
  readonly #prefixes: readonly string[] | undefined
  #checkpoint: Position
  #closed = false
  #queue: RecordedEvent[] = []
  #live = false
  #wake: (() => void) | undefined

  constructor(store: SqliteEventStore, from: Position, prefixes: readonly string[] | undefined) {
    this.#store = store
    this.#checkpoint = from
    this.#prefixes = prefixes === undefined || prefixes.length === 0 ? undefined : prefixes
  }

  /** @internal Called by the store with every dispatched batch, in position order. */
  push(events: readonly RecordedEvent[]): void {
    if (this.#closed) return
    if (this.#queue.length + events.length > MAX_QUEUED) {
      this.#queue = []
      this.#live = false
    } else {
      for (const e of events) this.#queue.push(e)
    }
    this.#signal()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<RecordedEvent, void, undefined> {
    try {
      while (!this.#closed) {
        if (!this.#live) {
          const rows = this.#store.pageAfter(this.#checkpoint)
          if (rows === undefined) return
          for (const row of rows) {
            if (this.#closed) return
            this.#checkpoint = row.position
            if (this.#keeps(row.stream_id)) yield toRecorded(row)
          }
          // Synchronous from here to the switch: nothing can be dispatched in between.
          if (rows.length < PAGE_SIZE && this.#checkpoint >= this.#store.dispatched) {
            this.#live = true
            this.#store.wantLive()
          }
          continue
        }
        if (this.#queue.length === 0) {
          await new Promise<void>((resolve) => (this.#wake = resolve))
          continue
        }
        const batch = this.#queue
        this.#queue = []
        for (const e of batch) {
          if (this.#closed) return
          if (e.position <= this.#checkpoint) continue
          this.#checkpoint = e.position
          if (this.#keeps(e.streamId)) yield e
          // Fell behind while the consumer was busy: the rest is read from the file.
          if (!this.#live) break
        }
      }
    } finally {
      this.#closed = true
      this.#signal()
      this.#store.forget(this)
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#signal()
    this.#store.forget(this)
  }

  #keeps(streamId: string): boolean {
    const prefixes = this.#prefixes
    return prefixes === undefined || prefixes.some((p) => streamId.startsWith(p))
  }

  #signal(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}

function prepareEvent(event: NewEvent): WireEvent {
  if (typeof event.type !== 'string' || event.type.length === 0) throw new ValidationError('Event type must be a non-empty string')
  const metadata = cleanMetadata(event.metadata)
  return {
    id: event.id ?? randomUUID(),
    type: event.type,
    dataBytes: encode(event.data),
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
