import type { KeyObject } from 'node:crypto'
import type Database from 'better-sqlite3'
import { canonicalEventJson } from '../store/hash.js'
import { openSqliteFile } from '../store/sqlite/open-file.js'
import type { EventStore, Position, RecordedEvent, Subscription } from '../store/types.js'
import { signCheckpoint } from './checkpoint.js'
import { consistencyProof, inclusionProof, leafHash, MerkleFrontier, type NodeReader } from './merkle.js'
import { LiveFlush } from '../shared/background.js'

/** Streams whose events are ledger events, in the log and in GET /audit/ledger. */
export const LEDGER_STREAM_PREFIX = 'wallet-'

export interface LedgerLogParameters {
  store: EventStore
  /** SQLite file of the log (e.g. <DATA_DIR>/ledger-log.sqlite), ':memory:' in tests. */
  file: string
  /** Checkpoint origin line and signature key name (c2sp.org/tlog-checkpoint). */
  origin: string
  /** The gateway's ES256 key (keys/signing-key.ts privateKeyObject). */
  signingKey: KeyObject
  /** Called when the follower stops on an error (the log must not skip an event). */
  onError?: (error: unknown) => void
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log_state (id INTEGER PRIMARY KEY CHECK (id = 0), size INTEGER NOT NULL, position INTEGER NOT NULL);
INSERT OR IGNORE INTO log_state (id, size, position) VALUES (0, 0, 0);
CREATE TABLE IF NOT EXISTS leaves (idx INTEGER PRIMARY KEY, position INTEGER NOT NULL UNIQUE, stream_id TEXT NOT NULL, revision INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, signed_at TEXT NOT NULL);
`

export interface LeafRow {
  leafIndex: number
  position: bigint
  streamId: string
  revision: bigint
}

export interface StoredCheckpoint {
  size: number
  note: string
  signedAt: string
}

/**
 * The ledger as an RFC 9162 Merkle log: one leaf per ledger event in the store's global
 * order, leaf bytes = the event's canonical JSON (store/hash.ts canonicalEventJson).
 *
 * Fed from `store.subscribeAll` (so it works on every adapter, off the append path) and
 * kept in its own SQLite file: the leaf index of every position, every completed node
 * (≈ 2 rows per leaf, enough for any proof in O(log n) reads), the size and position it
 * covers, and the signed checkpoints. Each batch is written in one IMMEDIATE
 * transaction that first re-reads the covered position, so several gateway processes
 * sharing the file extend ONE log: whoever holds the write lock appends, the others find
 * the events already logged and only reload the frontier. Processes with separate files
 * (KurrentDB, one DATA_DIR each) build identical logs, since the tree is a function of the
 * $all order alone.
 */
export class LedgerLog {
  readonly #p: LedgerLogParameters
  readonly #db: Database.Database
  #frontier: MerkleFrontier
  #position: Position
  #subscription: Subscription | undefined
  #loop: Promise<void> | undefined
  #pending: RecordedEvent[] = []
  /** Live events are logged in batches; every read logs what was delivered first (#applyRead). */
  readonly #liveFlush = new LiveFlush(() => this.#flush())
  #waiters: { position: Position; resolve: (ok: boolean) => void }[] = []
  #failed: unknown
  readonly #read: NodeReader
  readonly #stmt: {
    state: Database.Statement<[], { size: bigint; position: bigint }>
    setState: Database.Statement
    putLeaf: Database.Statement
    putNode: Database.Statement
    node: Database.Statement<[number, number], { hash: Buffer }>
    leafByPosition: Database.Statement<[bigint], { idx: bigint; position: bigint; stream_id: string; revision: bigint }>
    putCheckpoint: Database.Statement
    latestCheckpoint: Database.Statement<[], { size: bigint; note: string; signed_at: string }>
    checkpointAt: Database.Statement<[number], { size: bigint; note: string; signed_at: string }>
    checkpointsAfter: Database.Statement<[number, number], { size: bigint; note: string; signed_at: string }>
  }
  readonly #extend: (events: readonly RecordedEvent[]) => void

  constructor(parameters: LedgerLogParameters) {
    this.#p = parameters
    // Rebuildable from the store (the tree is a function of the $all order): NORMAL suffices.
    const db = openSqliteFile(parameters.file, { busyTimeoutMs: 5000, synchronous: 'NORMAL', schema: SCHEMA })
    this.#db = db
    this.#stmt = {
      state: db.prepare('SELECT size, position FROM log_state WHERE id = 0'),
      setState: db.prepare('UPDATE log_state SET size = ?, position = ? WHERE id = 0'),
      putLeaf: db.prepare('INSERT INTO leaves (idx, position, stream_id, revision) VALUES (?, ?, ?, ?)'),
      putNode: db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)'),
      node: db.prepare('SELECT hash FROM nodes WHERE level = ? AND idx = ?'),
      leafByPosition: db.prepare('SELECT idx, position, stream_id, revision FROM leaves WHERE position = ?'),
      putCheckpoint: db.prepare('INSERT OR IGNORE INTO checkpoints (size, note, signed_at) VALUES (?, ?, ?)'),
      latestCheckpoint: db.prepare('SELECT size, note, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1'),
      checkpointAt: db.prepare('SELECT size, note, signed_at FROM checkpoints WHERE size = ?'),
      checkpointsAfter: db.prepare('SELECT size, note, signed_at FROM checkpoints WHERE size > ? ORDER BY size LIMIT ?'),
    }
    this.#read = (level, index) => {
      const row = this.#stmt.node.get(level, index)
      if (row === undefined) throw new Error(`ledger log node ${level}/${index} is missing`)
      return row.hash
    }
    const state = this.#state()
    this.#position = state.position
    this.#frontier = MerkleFrontier.load(state.size, this.#read)
    const extend = db.transaction((events: readonly RecordedEvent[]) => {
      const now = this.#state()
      // Another process sharing the file may have logged some or all of these already.
      if (now.size !== this.#frontier.size) this.#frontier = MerkleFrontier.load(now.size, this.#read)
      let position = now.position
      for (const e of events) {
        if (e.position <= position) continue
        const leafIndex = this.#frontier.size
        for (const n of this.#frontier.append(leafHash(canonicalEventJson(e)))) this.#stmt.putNode.run(n.level, n.index, n.hash)
        this.#stmt.putLeaf.run(leafIndex, e.position, e.streamId, e.revision)
        position = e.position
      }
      this.#stmt.setState.run(this.#frontier.size, position)
      return position
    })
    this.#extend = (events) => {
      try {
        // IMMEDIATE: take the write lock before reading the state (no lock-upgrade deadlock between processes).
        const position = extend.immediate(events)
        if (position > this.#position) this.#position = position
      } catch (error) {
        // The in-memory frontier may be ahead of what was rolled back: rebuild it from the file.
        this.#frontier = MerkleFrontier.load(this.#state().size, this.#read)
        throw error
      }
    }
  }

  #state(): { size: number; position: Position } {
    const s = this.#stmt.state.get()!
    return { size: Number(s.size), position: s.position }
  }

  /** Tree size and covered store position as committed (by this or another process). */
  head(): { size: number; position: Position } {
    this.#applyRead()
    return this.#state()
  }

  /** Appends ledger events (in $all order; others and already-logged ones are skipped). The follower calls it; tools building a log from an export may too. */
  append(events: readonly RecordedEvent[]): void {
    const ledger = events.filter((e) => e.streamId.startsWith(LEDGER_STREAM_PREFIX))
    if (ledger.length > 0) this.#extend(ledger)
  }

  /** Follows the store from the covered position: catch-up, then live. */
  start(): void {
    if (this.#loop !== undefined) return
    // Every event is read (filtered here, not by the store) so the in-memory position passes
    // other streams' events too: waitFor(storeHead) then means "caught up".
    const subscription = this.#p.store.subscribeAll({ fromPosition: this.#position })
    this.#subscription = subscription
    this.#loop = (async () => {
      try {
        for await (const event of subscription) {
          this.#pending.push(event)
          // One transaction per burst; sooner when someone waits for this position.
          this.#liveFlush.schedule(this.#waiters.some((w) => w.position <= event.position) ? 'soon' : 'batched')
          if (this.#failed !== undefined) break
        }
      } catch (error) {
        this.#fail(error)
      }
    })()
  }

  /** Before a read: what was delivered from the store is logged, so a read sees every event delivered so far. */
  #applyRead(): void {
    if (this.#pending.length > 0) this.#liveFlush.now()
  }

  #flush(): void {
    const batch = this.#pending
    this.#pending = []
    if (batch.length === 0 || this.#failed !== undefined) return
    try {
      this.append(batch)
      const last = batch[batch.length - 1]!.position
      if (last > this.#position) this.#position = last
      this.#wake()
    } catch (error) {
      this.#fail(error)
    }
  }

  #fail(error: unknown): void {
    this.#failed = error
    this.#p.onError?.(error)
    for (const w of this.#waiters.splice(0)) w.resolve(false)
  }

  #wake(): void {
    const ready = this.#waiters.filter((w) => w.position <= this.#position)
    if (ready.length === 0) return
    this.#waiters = this.#waiters.filter((w) => w.position > this.#position)
    for (const w of ready) w.resolve(true)
  }

  /** Resolves true once the log covers every ledger event up to `position`. */
  waitFor(position: Position, timeoutMs = 5_000): Promise<boolean> {
    this.#applyRead()
    if (this.#state().position >= position || this.#position >= position) return Promise.resolve(true)
    if (this.#failed !== undefined) return Promise.resolve(false)
    return new Promise((resolve) => {
      const waiter = {
        position,
        resolve: (ok: boolean) => {
          clearTimeout(timer)
          resolve(ok)
        },
      }
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter)
        // Another process may have logged it into the shared file.
        resolve(this.#state().position >= position)
      }, timeoutMs)
      this.#waiters.push(waiter)
    })
  }

  /** The leaf of a ledger event, by its store position. */
  leaf(position: Position): LeafRow | undefined {
    this.#applyRead()
    const r = this.#stmt.leafByPosition.get(position)
    return r === undefined ? undefined : { leafIndex: Number(r.idx), position: r.position, streamId: r.stream_id, revision: r.revision }
  }

  /** MTH of the first `size` leaves (size ≤ the committed size). */
  root(size: number): Buffer {
    this.#checkSize(size)
    return rootAt(this.#read, size)
  }

  /** RFC 9162 audit path of a leaf in the tree of `size`. */
  inclusionProof(leafIndex: number, size: number): Buffer[] {
    this.#checkSize(size)
    return inclusionProof(this.#read, leafIndex, size)
  }

  /** RFC 9162 consistency proof from `from` to `to` leaves. */
  consistencyProof(from: number, to: number): Buffer[] {
    this.#checkSize(to)
    return consistencyProof(this.#read, from, to)
  }

  #checkSize(size: number): void {
    this.#applyRead()
    const committed = this.#state().size
    if (!(Number.isSafeInteger(size) && size >= 0 && size <= committed)) throw new RangeError(`tree size ${size} is beyond the log (${committed})`)
  }

  /**
   * Signs a checkpoint of the committed tree unless one of that size exists already
   * (whoever signs a size first wins: one note per size, across processes), or unless the
   * latest is younger than `minIntervalMs` (on-demand requests cannot make it sign per event).
   * Returns the latest.
   */
  signCheckpoint(options: { now?: Date; minIntervalMs?: number } = {}): StoredCheckpoint {
    const now = options.now ?? new Date()
    this.#applyRead()
    const { size } = this.#state()
    const latest = this.latestCheckpoint()
    const recent = latest !== undefined && options.minIntervalMs !== undefined && now.getTime() - Date.parse(latest.signedAt) < options.minIntervalMs
    if (!recent && this.#stmt.checkpointAt.get(size) === undefined) {
      const note = signCheckpoint({ origin: this.#p.origin, size, root: this.root(size) }, this.#p.origin, this.#p.signingKey)
      this.#stmt.putCheckpoint.run(size, note, now.toISOString())
    }
    return this.latestCheckpoint()!
  }

  latestCheckpoint(): StoredCheckpoint | undefined {
    this.#applyRead()
    return rowToCheckpoint(this.#stmt.latestCheckpoint.get())
  }

  checkpointAt(size: number): StoredCheckpoint | undefined {
    return rowToCheckpoint(this.#stmt.checkpointAt.get(size))
  }

  /** Signed checkpoints with a tree size above `after`, oldest first. */
  checkpointsAfter(after: number, limit: number): StoredCheckpoint[] {
    return this.#stmt.checkpointsAfter.all(after, limit).map((r) => rowToCheckpoint(r)!)
  }

  async stop(): Promise<void> {
    await this.#subscription?.close()
    await this.#loop
    this.#liveFlush.now()
    this.#subscription = undefined
    this.#loop = undefined
  }

  async close(): Promise<void> {
    await this.stop()
    for (const w of this.#waiters.splice(0)) w.resolve(false)
    this.#db.close()
  }
}

function rootAt(read: NodeReader, size: number): Buffer {
  return MerkleFrontier.load(size, read).root()
}

function rowToCheckpoint(r: { size: bigint; note: string; signed_at: string } | undefined): StoredCheckpoint | undefined {
  return r === undefined ? undefined : { size: Number(r.size), note: r.note, signedAt: r.signed_at }
}
