import type Database from 'better-sqlite3'
import { decode, encode } from '../store/codec.js'
import { openSqliteFile } from '../store/sqlite/open-file.js'
import type { EventStore, Position, RecordedEvent, Subscription } from '../store/types.js'
import type { Projection } from './types.js'
import { LiveFlush } from '../shared/background.js'

/** Events per catch-up transaction: large enough to amortise the commit, small enough (a few ms) not to stall the loop. */
const BATCH_SIZE = 1_000
/** Events read (most skipped by a runner that follows a few streams) before the loop yields anyway. */
const READ_BATCH_SIZE = 10_000
/** Skipped events read before the stored checkpoint moves past them (the most a restart re-reads). */
const STORE_SKIPPED_EVERY = 1_000

/** A read-model row as a batch folds it: written once at the end of the batch. */
interface BatchRow {
  projection: string
  key: string
  owner: string
  /** Whether the row was in the file when the batch began. */
  stored: boolean
  sort: bigint | undefined
  value: unknown
  /** Deleted by an event of this batch (a later one may write it again). */
  recreate?: boolean
}

export interface ProjectionRunnerParameters {
  store: EventStore
  /** SQLite file of the read models (e.g. <DATA_DIR>/projections.sqlite), ':memory:' in tests. */
  file: string
  projections: readonly Projection<any>[]
  /** Only streams with these prefixes are applied (default: every projection sees everything). */
  streamPrefixes?: readonly string[]
  /** Checkpoint name (one per runner). Default 'main'. */
  name?: string
  /** Called when an event cannot be applied (the runner stops: a read model must not skip events). */
  onError?: (error: unknown, event: RecordedEvent | undefined) => void
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
  projection TEXT NOT NULL,
  key TEXT NOT NULL,
  owner TEXT NOT NULL,
  sort INTEGER NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (projection, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rows_by_owner ON rows (projection, owner, sort);
CREATE TABLE IF NOT EXISTS projections (name TEXT PRIMARY KEY);
`

/**
 * Feeds read models from `store.subscribeAll`. Each event's row changes AND the
 * checkpoint are written in one SQLite transaction, so after a crash the read models
 * resume exactly after the last applied event: nothing skipped, nothing applied twice.
 */
export class ProjectionRunner {
  readonly #p: ProjectionRunnerParameters
  readonly #db: Database.Database
  readonly #name: string
  #checkpoint: Position
  #subscription: Subscription | undefined
  #loop: Promise<void> | undefined
  #waiters: { position: Position; resolve: () => void }[] = []
  #failed: unknown
  readonly #stmt: {
    get: Database.Statement<[string, string], { value: Buffer; sort: bigint }>
    put: Database.Statement
    del: Database.Statement
    checkpoint: Database.Statement
    list: Database.Statement<[string, string, number, number], { value: Buffer }>
    count: Database.Statement<[string, string], { n: bigint }>
    owners: Database.Statement<[string], { value: Buffer }>
  }
  /** Applies relevant events in one transaction (rows and checkpoint, moved to `readUpTo`, together). */
  readonly #apply: (events: readonly RecordedEvent[], readUpTo: Position) => void
  /** The event being applied (reported to onError when applying fails). */
  #applying: RecordedEvent | undefined
  /** Events read but not yet applied, and the position of the last one read. */
  #pending: RecordedEvent[] = []
  #read: Position = 0n
  #pendingUpTo: Position = 0n
  #readSinceFlush = 0
  /** Events read since the stored checkpoint last moved (skipped ones move it only in memory until enough add up). */
  #readSinceStored = 0
  /** Live events are applied in batches; reads (`get`, `list`, `all`, `waitFor`) apply what was read first. */
  readonly #liveFlush = new LiveFlush(() => this.#flush())

  constructor(parameters: ProjectionRunnerParameters) {
    this.#p = parameters
    this.#name = parameters.name ?? 'main'
    // A read model is rebuildable from the store: NORMAL is durable enough and ~20× cheaper per
    // commit. Two gateway processes may share one projections file: writes wait for the other's lock.
    const db = openSqliteFile(parameters.file, { busyTimeoutMs: 5000, synchronous: 'NORMAL', schema: SCHEMA })
    this.#db = db
    this.#stmt = {
      get: db.prepare('SELECT value, sort FROM rows WHERE projection = ? AND key = ?'),
      put: db.prepare(
        'INSERT INTO rows (projection, key, owner, sort, value) VALUES (?, ?, ?, ?, ?) ON CONFLICT (projection, key) DO UPDATE SET value = excluded.value',
      ),
      del: db.prepare('DELETE FROM rows WHERE projection = ? AND key = ?'),
      checkpoint: db.prepare('INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position'),
      list: db.prepare('SELECT value FROM rows WHERE projection = ? AND owner = ? ORDER BY sort DESC LIMIT ? OFFSET ?'),
      count: db.prepare('SELECT count(*) AS n FROM rows WHERE projection = ? AND owner = ?'),
      owners: db.prepare('SELECT value FROM rows WHERE projection = ? ORDER BY key'),
    }
    const readCheckpoint = db.prepare<[string], { position: bigint }>('SELECT position FROM checkpoints WHERE name = ?')
    // A projection added to a file that already has a checkpoint never saw the earlier
    // events: rebuild every read model once from the first event (rows and checkpoint).
    db.transaction(() => {
      const known = new Set(db.prepare<[], { name: string }>('SELECT name FROM projections').all().map((r) => r.name))
      const added = parameters.projections.filter((p) => !known.has(p.name))
      if (added.length === 0) return
      if ((readCheckpoint.get(this.#name)?.position ?? 0n) > 0n) db.exec('DELETE FROM rows; DELETE FROM checkpoints;')
      const insert = db.prepare('INSERT OR IGNORE INTO projections (name) VALUES (?)')
      for (const p of parameters.projections) insert.run(p.name)
    }).immediate()
    this.#checkpoint = readCheckpoint.get(this.#name)?.position ?? 0n
    const apply = db.transaction((events: readonly RecordedEvent[], readUpTo: Position) => {
      // Another process sharing this file may have applied some already: apply each event once.
      const applied = readCheckpoint.get(this.#name)?.position ?? 0n
      let last: Position | undefined
      // Each row is read and written once per batch, however many of its events the batch
      // holds (a turn's reservation and settlement, its start and end): the fold runs in memory.
      const rows = new Map<string, BatchRow>()
      for (const event of events) {
        if (event.position <= applied) continue
        this.#applying = event
        for (const projection of this.#p.projections) {
          if (!projection.canHandle(event)) continue
          const { key, owner } = projection.keyOf(event)
          const id = `${projection.name}\u0000${key}`
          let row = rows.get(id)
          if (row === undefined) {
            const stored = this.#stmt.get.get(projection.name, key)
            row = { projection: projection.name, key, owner, stored: stored !== undefined, sort: stored?.sort, value: stored === undefined ? undefined : decode(stored.value), recreate: false }
            rows.set(id, row)
          }
          row.value = projection.evolve(row.value, event)
          row.owner = owner
          // A row keeps the position it was first written at as its sort key, as long as it lives.
          if (row.value === undefined) {
            row.sort = undefined
            row.recreate = row.stored
          } else row.sort ??= event.position
        }
        last = event.position
      }
      for (const row of rows.values()) {
        // Deleted and written again within the batch: a new row, as if applied event by event.
        if (row.stored && (row.value === undefined || row.recreate)) this.#stmt.del.run(row.projection, row.key)
        if (row.value !== undefined) this.#stmt.put.run(row.projection, row.key, row.owner, row.sort, encode(row.value))
      }
      // The checkpoint commits with the rows: after a crash the read models resume exactly after
      // the batch. It passes the irrelevant events read with it too (every process sharing the
      // file runs the same read models, so what this one skipped, the others would skip).
      const to = last !== undefined && last > readUpTo ? last : readUpTo
      if (to > applied) this.#stmt.checkpoint.run(this.#name, to)
    })
    // IMMEDIATE: take the write lock before reading the checkpoint (no lock-upgrade deadlock between processes).
    this.#apply = (events, readUpTo) => apply.immediate(events, readUpTo)
  }

  /** Position of the last applied event. */
  get checkpoint(): Position {
    return this.#checkpoint
  }

  /** Starts following the store from the checkpoint (catch-up, then live). */
  start(): void {
    if (this.#loop !== undefined) return
    // Every event is read (prefixes are filtered here, not by the store) so the in-memory
    // checkpoint passes skipped events too: waitFor(storeHead) then means "caught up".
    const subscription = this.#p.store.subscribeAll({ fromPosition: this.#checkpoint })
    const prefixes = this.#p.streamPrefixes
    this.#subscription = subscription
    this.#read = this.#checkpoint
    this.#pendingUpTo = this.#checkpoint
    this.#loop = (async () => {
      try {
        for await (const event of subscription) {
          if (this.#failed !== undefined) break
          if (event.position <= this.#read) continue
          this.#read = event.position
          const relevant =
            (prefixes === undefined || prefixes.some((p) => event.streamId.startsWith(p))) && this.#p.projections.some((p) => p.canHandle(event))
          if (relevant) this.#pending.push(event)
          // Irrelevant events are not applied, but the checkpoint passes them with the batch they were read in.
          this.#pendingUpTo = event.position
          this.#readSinceFlush++
          if (this.#pending.length >= BATCH_SIZE || this.#readSinceFlush >= READ_BATCH_SIZE) {
            // Catch-up: a full batch commits now, then the event loop gets a turn before the next one.
            this.#liveFlush.now()
            await new Promise((resolve) => setImmediate(resolve))
          } else if (this.#waiters.some((w) => w.position <= this.#pendingUpTo)) {
            // Someone waits for this position: apply once the responses in flight are out.
            this.#liveFlush.schedule('soon')
          } else this.#liveFlush.schedule('batched')
        }
      } catch (error) {
        this.#fail(error, undefined)
      }
    })()
  }

  /** Before a read: what was read from the store is applied, so a read sees every event delivered so far. */
  #applyRead(): void {
    if (this.#pending.length > 0 || this.#pendingUpTo > this.#checkpoint) this.#liveFlush.now()
  }

  /** Applies the pending events in one transaction and moves the checkpoint past everything read. */
  #flush(stopping = false): void {
    if (this.#failed !== undefined) return
    this.#readSinceStored += this.#readSinceFlush
    this.#readSinceFlush = 0
    const batch = this.#pending
    const upTo = this.#pendingUpTo
    this.#pending = []
    // Skipped events are persisted in bulk (not a write per commit they pass), so a restart
    // re-reads at most STORE_SKIPPED_EVERY of them: start-up does not grow with the store.
    const store = batch.length > 0 || this.#readSinceStored >= STORE_SKIPPED_EVERY || (stopping && this.#readSinceStored > 0)
    try {
      if (store) this.#apply(batch, upTo)
    } catch (error) {
      this.#fail(error, this.#applying)
      return
    }
    if (store) this.#readSinceStored = 0
    if (upTo > this.#checkpoint) this.#checkpoint = upTo
    this.#wake()
  }

  #fail(error: unknown, event: RecordedEvent | undefined): void {
    if (this.#failed !== undefined) return
    this.#failed = error
    this.#p.onError?.(error, event)
    for (const w of this.#waiters.splice(0)) w.resolve()
  }

  /** Resolves true once every event up to `position` is applied (read-your-writes; start-up catch-up with the store head). */
  waitFor(position: Position, timeoutMs = 5_000): Promise<boolean> {
    if (this.#checkpoint < position) this.#applyRead()
    if (this.#checkpoint >= position) return Promise.resolve(true)
    if (this.#failed !== undefined) return Promise.resolve(false)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter)
        resolve(false)
      }, timeoutMs)
      const waiter = {
        position,
        resolve: () => {
          clearTimeout(timer)
          resolve(this.#checkpoint >= position)
        },
      }
      this.#waiters.push(waiter)
    })
  }

  #wake(): void {
    if (this.#waiters.length === 0) return
    const ready = this.#waiters.filter((w) => w.position <= this.#checkpoint)
    if (ready.length === 0) return
    this.#waiters = this.#waiters.filter((w) => w.position > this.#checkpoint)
    for (const w of ready) w.resolve()
  }

  /** One row of a projection. */
  get<Row>(projection: string, key: string): Row | undefined {
    this.#applyRead()
    const r = this.#stmt.get.get(projection, key)
    return r === undefined ? undefined : decode<Row>(r.value)
  }

  /** Rows of one owner, newest first, with the total count. */
  list<Row>(projection: string, owner: string, limit: number, offset: number): { rows: Row[]; total: number } {
    this.#applyRead()
    const rows = this.#stmt.list.all(projection, owner, limit, offset).map((r) => decode<Row>(r.value))
    const total = Number(this.#stmt.count.get(projection, owner)?.n ?? 0n)
    return { rows, total }
  }

  /** Every row of a projection, by key (tests, audit). */
  all<Row>(projection: string): Row[] {
    this.#applyRead()
    return this.#stmt.owners.all(projection).map((r) => decode<Row>(r.value))
  }

  /** Raw dump of every row and the checkpoint (rebuild equality). */
  dump(): { checkpoint: string; rows: { projection: string; key: string; owner: string; sort: string; value: string }[] } {
    this.#applyRead()
    const rows = this.#db
      .prepare<[], { projection: string; key: string; owner: string; sort: bigint; value: Buffer }>(
        'SELECT projection, key, owner, sort, value FROM rows ORDER BY projection, key',
      )
      .all()
      .map((r) => ({ projection: r.projection, key: r.key, owner: r.owner, sort: r.sort.toString(), value: r.value.toString('hex') }))
    return { checkpoint: this.#checkpoint.toString(), rows }
  }

  /** Stops following the store; the database stays open for reads until close(). */
  async stop(): Promise<void> {
    await this.#subscription?.close()
    await this.#loop
    // What was read before the stop is applied, and the checkpoint stored past it, now (a scheduled flush then finds nothing to do).
    this.#liveFlush.cancel()
    this.#flush(true)
    this.#subscription = undefined
    this.#loop = undefined
  }

  /** Drops every row and the checkpoint, then follows the store again from position 0. */
  async rebuild(): Promise<void> {
    await this.stop()
    this.#db.exec('DELETE FROM rows; DELETE FROM checkpoints;')
    this.#checkpoint = 0n
    this.start()
  }

  async close(): Promise<void> {
    await this.stop()
    this.#db.close()
  }
}
