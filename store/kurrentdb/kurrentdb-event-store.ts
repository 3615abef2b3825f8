import { createHash, randomUUID } from 'node:crypto'
import {
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  streamNameFilter,
} from '@kurrent/kurrentdb-client'
import type { AppendStreamState, BinaryEventType, EventData, JSONType, ResolvedEvent } from '@kurrent/kurrentdb-client'
import { GatewayError, ValidationError } from '../../shared/errors.js'
import { decode, encode, fromTaggedJson, toTaggedJson } from '../codec.js'
import { ConcurrencyError, StoreUnavailableError } from '../errors.js'
import { hashEvent } from '../hash.js'
import type {
  AppendOptions,
  AppendResult,
  StreamAppend,
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
  SubscribeAllOptions,
  Subscription,
} from '../types.js'

/*
 * Positions. KurrentDB orders `$all` by a pair {commit, prepare} of transaction-log
 * offsets. Every event written over gRPC is "self-committed" (an implicit transaction:
 * no separate commit record), and for those the server reports commit == prepare == the
 * event's own log position — on `$all` reads, on stream reads (server ≥ 22.6) and as the
 * commit position of an append (the log position of the write's last event). That number
 * is unique per event and strictly increasing in `$all` order, so it IS our Position, and
 * it maps back exactly to {commit: p, prepare: p} to resume a read or a subscription.
 * Positions have gaps (they are byte offsets), which the port allows. The only events with
 * commit ≠ prepare were written inside explicit transactions by the legacy TCP API
 * (removed in v24); meeting one of ours is reported as an error rather than guessed at.
 */

/** Events the store records in the event's custom metadata (JSON). */
interface StoredMetadata {
  $correlationId?: string
  $causationId?: string
  recordedAt?: string
  prevHash?: string
  hash?: string
  /** The caller's id when it is not a lowercase UUID (KurrentDB ids must be UUIDs). */
  eventId?: string
}

export interface KurrentDbEventStoreOptions {
  /** e.g. `kurrentdb://host1:2113,host2:2113,host3:2113?tls=true` or `kurrentdb+discover://…`. */
  connectionString: string
  /** Clock for `recordedAt` (tests). */
  now?: () => Date
  /** How long health() waits for the cluster (ms). Default 2000. */
  healthTimeoutMs?: number
  /** Attempts of a read when the cluster is unavailable (reads are safe to repeat). Default 3. */
  readAttempts?: number
  /** Re-reads of the stream head when an `any` / `stream_exists` append loses a race. Default 50. */
  maxChainRetries?: number
  /** First delay before a dropped subscription resubscribes (doubles up to 5 s). Default 100 ms. */
  resubscribeDelayMs?: number
  /** Stream heads remembered to skip the head read before an append. Default 10,000. */
  headCacheSize?: number
}

interface Head {
  revision: bigint
  hash: string
}

/**
 * Snapshot streams (`snapshot-<stream>`): a cache, never events. Not `$snapshot-`: `$`
 * streams are system streams, writable only by admins on a secured cluster.
 */
export const SNAPSHOT_STREAM_PREFIX = 'snapshot-'
/** Our events only: `$`-prefixed streams are KurrentDB's own (stats, settings, projections). */
const OUR_STREAMS = `^(?!\\$|${SNAPSHOT_STREAM_PREFIX})`
const PAGE = 1000
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * EventStore on a KurrentDB / EventStoreDB cluster (`@kurrent/kurrentdb-client`).
 *
 * Events are JSON (`application/json`): data through codec.ts toTaggedJson, so a bigint
 * is `{"$bigint":"<decimal>"}` and KurrentDB's UI, projections and other clients read
 * exact values; the custom metadata holds `$correlationId`, `$causationId` (the names
 * KurrentDB's own projections use), `recordedAt`, `prevHash` and `hash`.
 *
 * The hash chain is computed here, before the write: the adapter reads the stream head
 * (or uses the head it wrote last) and appends with that exact revision, so a concurrent
 * writer fails the server's expected-revision check and the chain cannot fork. With
 * `any` / `stream_exists` the caller asked for no check, so a lost race re-reads the head
 * and tries again (bounded) instead of failing.
 */
export class KurrentDbEventStore implements EventStore {
  readonly kind = 'kurrentdb' as const
  /** Actor snapshots in `snapshot-<stream>` streams (a cache; see KurrentDbSnapshotStore). */
  readonly snapshots: KurrentDbSnapshotStore

  readonly #client: KurrentDBClient
  readonly #now: () => Date
  readonly #healthTimeoutMs: number
  readonly #readAttempts: number
  readonly #maxChainRetries: number
  readonly #resubscribeDelayMs: number
  readonly #headCacheSize: number
  /** Last head this process wrote per stream (immutable facts: event R of a stream never changes). */
  readonly #heads = new Map<string, Head>()
  readonly #subscriptions = new Set<KurrentDbSubscription>()
  #closed = false

  constructor(options: KurrentDbEventStoreOptions) {
    this.#now = options.now ?? (() => new Date())
    this.#healthTimeoutMs = options.healthTimeoutMs ?? 2000
    this.#readAttempts = Math.max(1, options.readAttempts ?? 3)
    this.#maxChainRetries = Math.max(0, options.maxChainRetries ?? 50)
    this.#resubscribeDelayMs = Math.max(1, options.resubscribeDelayMs ?? 100)
    this.#headCacheSize = Math.max(0, options.headCacheSize ?? 10_000)
    try {
      this.#client = KurrentDBClient.connectionString(options.connectionString)
    } catch (error) {
      // The message may quote the connection string, which can hold credentials: keep it out.
      throw new ValidationError('KURRENTDB_CONNECTION_STRING is not a valid KurrentDB connection string', {
        reason: error instanceof Error ? error.name : 'invalid',
      })
    }
    this.snapshots = new KurrentDbSnapshotStore(this.#client, () => this.#closed)
  }

  /** Creates the adapter; the connection is made lazily by the first call. */
  static async open(options: KurrentDbEventStoreOptions): Promise<KurrentDbEventStore> {
    return new KurrentDbEventStore(options)
  }

  async append(streamId: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    this.#assertOpen()
    if (typeof streamId !== 'string' || streamId.length === 0) throw new ValidationError('Stream id must be a non-empty string')
    if (events.length === 0) throw new ValidationError('An append needs at least one event')
    if (streamId.startsWith(SNAPSHOT_STREAM_PREFIX)) throw new ValidationError(`Stream ids starting with ${SNAPSHOT_STREAM_PREFIX} are reserved for snapshots`)
    for (const e of events) {
      if (typeof e.type !== 'string' || e.type.length === 0) throw new ValidationError('Event type must be a non-empty string')
    }
    const expected = options.expectedRevision ?? 'any'
    const prepared = events.map(prepareEvent)
    // Only our freshly generated ids can never hit KurrentDB's idempotent replay (which
    // would return an older write's result): only then is our computed head cacheable.
    const cacheable = events.every((e) => e.id === undefined)

    for (let attempt = 0; ; attempt++) {
      const head = await this.#headFor(streamId, expected, attempt === 0)
      const recordedAt = this.#now().toISOString()
      let revision = head === undefined ? -1n : head.revision
      let prevHash = head?.hash ?? ''
      const data: EventData[] = []
      for (const e of prepared) {
        revision += 1n
        const hash = hashEvent({ streamId, revision, type: e.type, data: e.data, recordedAt, prevHash })
        const metadata: StoredMetadata = { ...e.metadata, recordedAt, prevHash, hash }
        data.push({
          id: e.uuid,
          type: e.type,
          contentType: 'application/json',
          data: e.json as JSONType,
          metadata: metadata as unknown as JSONType,
        } as EventData)
        prevHash = hash
      }
      const streamState: AppendStreamState = head === undefined ? 'no_stream' : head.revision
      try {
        const result = await this.#client.appendToStream(streamId, data, { streamState, requiresLeader: true })
        // The write's commit position is the log position of its last event. (Its prepare
        // position has meant different things across server versions: not used.)
        const position = result.position === undefined ? undefined : BigInt(result.position.commit)
        if (position === undefined) throw new GatewayError('store_error', 'KurrentDB did not report the position of an append')
        if (cacheable) this.#remember(streamId, { revision, hash: prevHash })
        else this.#heads.delete(streamId)
        // The server reports one position (the last event's): only a one-event write of our
        // own ids (never an idempotent replay of an older write) is known exactly.
        const only = prepared[0]!
        const recorded: RecordedEvent[] | undefined =
          cacheable && prepared.length === 1
            ? [
                {
                  id: only.uuid,
                  streamId,
                  revision,
                  position,
                  type: only.type,
                  data: only.data,
                  metadata: {
                    ...(only.metadata.$correlationId === undefined ? {} : { correlationId: only.metadata.$correlationId }),
                    ...(only.metadata.$causationId === undefined ? {} : { causationId: only.metadata.$causationId }),
                  },
                  recordedAt,
                  prevHash: head?.hash ?? '',
                  hash: prevHash,
                },
              ]
            : undefined
        return { nextExpectedRevision: result.nextExpectedRevision, position, ...(recorded === undefined ? {} : { recorded }) }
      } catch (error) {
        if (error instanceof WrongExpectedVersionError) {
          this.#heads.delete(streamId)
          const actual = error.actualState === 'no_stream' ? 'no_stream' : error.actualState
          const retryable = (expected === 'any' || (expected === 'stream_exists' && actual !== 'no_stream')) && attempt < this.#maxChainRetries
          if (retryable) {
            // Many writers on one stream: a little jitter keeps them from colliding in lockstep.
            if (attempt > 1) await sleep(Math.random() * Math.min(attempt, 20) * 2)
            continue
          }
          throw new ConcurrencyError(streamId, expected, typeof actual === 'bigint' || actual === 'no_stream' ? actual : 'no_stream')
        }
        throw translate(error, 'append')
      }
    }
  }

  readonly atomicMulti = false

  /**
   * KurrentDB's v1 gRPC protocol (the client's) has no multi-stream append: the parts are
   * written one after another, in the order given, each with its own expected revision.
   * Callers order parts so that a crash between them leaves a state the domain recovers
   * from (the reservation first: a hold without its turn expires and is released).
   */
  async appendMulti(parts: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (parts.length === 0) throw new ValidationError('A multi-stream append needs at least one stream')
    if (new Set(parts.map((p) => p.streamId)).size !== parts.length) throw new ValidationError('A multi-stream append names each stream once')
    const out: AppendResult[] = []
    for (const p of parts) out.push(await this.append(p.streamId, p.events, p.expectedRevision === undefined ? {} : { expectedRevision: p.expectedRevision }))
    return out
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.#assertOpen()
    const maxCount = options.maxCount ?? Number.MAX_SAFE_INTEGER
    if (maxCount <= 0) return []
    const backwards = options.direction === 'backwards'
    return this.#withReadRetry(async () => {
      const out: RecordedEvent[] = []
      try {
        for await (const resolved of this.#client.readStream(streamId, {
          direction: backwards ? BACKWARDS : FORWARDS,
          fromRevision: options.fromRevision ?? (backwards ? END : START),
          maxCount,
        })) {
          const e = toRecorded(resolved)
          if (e !== undefined) out.push(e)
        }
      } catch (error) {
        if (error instanceof StreamNotFoundError) return []
        throw error
      }
      return out
    })
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.#assertOpen()
    const maxCount = options.maxCount ?? Number.MAX_SAFE_INTEGER
    if (maxCount <= 0) return []
    const out: RecordedEvent[] = []
    let from = options.fromPosition ?? 0n
    for (;;) {
      const want = Math.min(PAGE, maxCount - out.length)
      // KurrentDB reads $all forwards from a position inclusively: ask one more, drop the boundary.
      const page = await this.#readAllPage(from, want + 1, 'forwards')
      for (const { event, position } of page.events) {
        if (position <= from) continue
        from = position
        if (event !== undefined) out.push(event)
        if (out.length >= maxCount) return out
      }
      if (page.exhausted) return out
      if (page.lastPosition !== undefined && page.lastPosition > from) from = page.lastPosition
    }
  }

  subscribeAll(options: SubscribeAllOptions = {}): Subscription {
    const subscription = new KurrentDbSubscription({
      client: this.#client,
      from: options.fromPosition ?? 0n,
      prefixes: options.streamPrefixes !== undefined && options.streamPrefixes.length > 0 ? [...options.streamPrefixes] : undefined,
      resubscribeDelayMs: this.#resubscribeDelayMs,
      forget: (s) => this.#subscriptions.delete(s),
    })
    if (this.#closed) void subscription.close()
    else this.#subscriptions.add(subscription)
    return subscription
  }

  async headPosition(): Promise<Position> {
    this.#assertOpen()
    let before: Position | undefined
    // The server already filters out `$` streams, so the first event is nearly always ours:
    // start with a tiny page (GET /health calls this) and widen only if needed.
    for (let size = 8; ; size = Math.min(size * 8, PAGE)) {
      const page = await this.#readAllPage(before, size, 'backwards')
      for (const { event, position } of page.events) if (event !== undefined) return position
      if (page.exhausted || page.lastPosition === undefined) return 0n
      before = page.lastPosition
    }
  }

  /** Reachability: one tiny read of `$all` on the cluster, bounded by healthTimeoutMs. */
  async health(): Promise<{ ok: boolean; reason?: string }> {
    if (this.#closed) return { ok: false, reason: 'closed' }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<{ ok: boolean; reason: string }>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, reason: `no answer from KurrentDB within ${this.#healthTimeoutMs} ms` }), this.#healthTimeoutMs)
    })
    const probe = (async () => {
      try {
        for await (const _ of this.#client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) break
        return { ok: true }
      } catch (error) {
        const t = translate(error, 'health check')
        return { ok: false, reason: t instanceof StoreUnavailableError ? 'KurrentDB unreachable' : `KurrentDB error: ${t.name}` }
      }
    })()
    try {
      return await Promise.race([probe, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Ends subscriptions and disposes the client's connections. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#subscriptions].map((s) => s.close()))
    await this.#client.dispose()
  }

  // ---- internals ----

  #assertOpen(): void {
    if (this.#closed) throw new StoreUnavailableError('The event store is closed')
  }

  #remember(streamId: string, head: Head): void {
    if (this.#headCacheSize === 0) return
    this.#heads.delete(streamId)
    this.#heads.set(streamId, head)
    if (this.#heads.size > this.#headCacheSize) {
      const oldest = this.#heads.keys().next().value
      if (oldest !== undefined) this.#heads.delete(oldest)
    }
  }

  /**
   * The head the new events chain onto, checked against the caller's expectation.
   * `no_stream` needs no read (the server checks it); an exact revision that matches the
   * head this process wrote last needs none either.
   */
  async #headFor(streamId: string, expected: ExpectedRevision, useCache: boolean): Promise<Head | undefined> {
    if (expected === 'no_stream') return undefined
    const cached = useCache ? this.#heads.get(streamId) : undefined
    if (cached !== undefined && (expected === 'any' || expected === 'stream_exists' || cached.revision === expected)) return cached
    const head = await this.#readHead(streamId)
    if (expected === 'stream_exists' && head === undefined) throw new ConcurrencyError(streamId, expected, 'no_stream')
    if (typeof expected === 'bigint' && head?.revision !== expected) {
      throw new ConcurrencyError(streamId, expected, head === undefined ? 'no_stream' : head.revision)
    }
    return head
  }

  async #readHead(streamId: string): Promise<Head | undefined> {
    return this.#withReadRetry(async () => {
      try {
        for await (const resolved of this.#client.readStream(streamId, {
          direction: BACKWARDS,
          fromRevision: END,
          maxCount: 1,
          // A follower may lag: the head must come from the leader that will take the write.
          requiresLeader: true,
        })) {
          const e = resolved.event
          if (e === undefined) continue
          return { revision: e.revision, hash: metadataOf(e.metadata).hash ?? '' }
        }
      } catch (error) {
        if (error instanceof StreamNotFoundError) return undefined
        throw error
      }
      return undefined
    })
  }

  /** One page of `$all` restricted to our streams, converted. */
  async #readAllPage(
    from: Position | undefined,
    maxCount: number,
    direction: 'forwards' | 'backwards',
  ): Promise<{ events: { event: RecordedEvent | undefined; position: Position }[]; exhausted: boolean; lastPosition: Position | undefined }> {
    return this.#withReadRetry(async () => {
      const events: { event: RecordedEvent | undefined; position: Position }[] = []
      let received = 0
      let lastPosition: Position | undefined
      const fromPosition =
        from === undefined || from === 0n ? (direction === 'forwards' ? START : END) : { commit: from, prepare: from }
      for await (const resolved of this.#client.readAll({
        direction: direction === 'forwards' ? FORWARDS : BACKWARDS,
        fromPosition,
        maxCount,
        filter: streamNameFilter({ regex: OUR_STREAMS }),
      })) {
        received++
        const raw = resolved.event
        if (raw === undefined) continue
        const position = toPosition(raw.position)
        lastPosition = position
        events.push({ event: isOurs(raw.streamId, raw.type) ? toRecorded(resolved) : undefined, position })
      }
      return { events, exhausted: received < maxCount, lastPosition }
    })
  }

  /** Runs a read, repeating it while the cluster is unavailable (reads have no effect). */
  async #withReadRetry<T>(read: () => Promise<T>): Promise<T> {
    let delay = 50
    for (let attempt = 1; ; attempt++) {
      try {
        return await read()
      } catch (error) {
        const t = translate(error, 'read')
        if (!(t instanceof StoreUnavailableError) || attempt >= this.#readAttempts || this.#closed) throw t
        await sleep(delay)
        delay *= 2
      }
    }
  }
}

/**
 * Snapshots on KurrentDB: each actor stream's snapshots go to `snapshot-<stream>` as
 * msgpack (codec.ts, same as SQLite: bigint and every XState value survive), newest last,
 * with `$maxCount: 2` so the server drops old ones. They are a cache: never hash-chained,
 * never returned by readAll or subscriptions. `clear()` is not offered (it would have to
 * enumerate every snapshot stream); deleting them by hand changes nothing but start-up time.
 */
export class KurrentDbSnapshotStore implements SnapshotStore {
  readonly #client: KurrentDBClient
  readonly #closed: () => boolean
  /** Snapshot streams whose $maxCount this process has already set. */
  readonly #limited = new Set<string>()

  constructor(client: KurrentDBClient, closed: () => boolean) {
    this.#client = client
    this.#closed = closed
  }

  async load(streamId: string): Promise<StoredSnapshot | undefined> {
    if (this.#closed()) throw new StoreUnavailableError('The event store is closed')
    try {
      for await (const resolved of this.#client.readStream(SNAPSHOT_STREAM_PREFIX + streamId, {
        direction: BACKWARDS,
        fromRevision: END,
        maxCount: 1,
      })) {
        const e = resolved.event
        if (e === undefined || !(e.data instanceof Uint8Array)) return undefined
        const meta = metadataOf(e.metadata) as { version?: unknown; revision?: unknown }
        if (typeof meta.version !== 'number' || typeof meta.revision !== 'string') return undefined
        return { version: meta.version, revision: BigInt(meta.revision), snapshot: decode(e.data), bytes: e.data.byteLength }
      }
      return undefined
    } catch (error) {
      if (error instanceof StreamNotFoundError) return undefined
      throw translate(error, 'snapshot load')
    }
  }

  async save(streamId: string, snapshot: StoredSnapshot): Promise<number> {
    if (this.#closed()) throw new StoreUnavailableError('The event store is closed')
    const stream = SNAPSHOT_STREAM_PREFIX + streamId
    const data = encode(snapshot.snapshot)
    const event = {
      id: randomUUID(),
      type: 'Snapshot',
      contentType: 'application/octet-stream',
      data,
      metadata: { version: snapshot.version, revision: snapshot.revision.toString(), of: streamId },
    } as unknown as EventData<BinaryEventType>
    try {
      await this.#client.appendToStream(stream, event, { streamState: 'any' })
      if (!this.#limited.has(stream)) {
        await this.#client.setStreamMetadata(stream, { maxCount: 2 })
        this.#limited.add(stream)
        if (this.#limited.size > 100_000) this.#limited.clear()
      }
    } catch (error) {
      throw translate(error, 'snapshot save')
    }
    return data.length
  }
}

interface SubscriptionParams {
  client: KurrentDBClient
  from: Position
  prefixes: string[] | undefined
  resubscribeDelayMs: number
  forget: (s: KurrentDbSubscription) => void
}

/**
 * Catch-up then live on `$all`, filtered server-side (our prefixes, or every non-`$`
 * stream). When the connection drops it resubscribes from the last event it delivered
 * (KurrentDB's subscription start is exclusive, and we drop anything at or before it
 * anyway), so a consumer sees no gap and no duplicate across outages.
 */
class KurrentDbSubscription implements Subscription {
  readonly #p: SubscriptionParams
  #checkpoint: Position
  #closed = false
  #stop: (() => void) | undefined
  readonly #stopped: Promise<void>
  #active: { unsubscribe(): Promise<void> } | undefined

  constructor(params: SubscriptionParams) {
    this.#p = params
    this.#checkpoint = params.from
    this.#stopped = new Promise<void>((resolve) => {
      this.#stop = resolve
    })
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<RecordedEvent, void, undefined> {
    let delay = this.#p.resubscribeDelayMs
    try {
      while (!this.#closed) {
        const filter =
          this.#p.prefixes !== undefined ? streamNameFilter({ prefixes: this.#p.prefixes }) : streamNameFilter({ regex: OUR_STREAMS })
        const sub = this.#p.client.subscribeToAll({
          fromPosition: this.#checkpoint === 0n ? START : { commit: this.#checkpoint, prepare: this.#checkpoint },
          filter,
        })
        this.#active = sub
        const iterator = sub[Symbol.asyncIterator]()
        try {
          for (;;) {
            const next = await Promise.race([iterator.next(), this.#stopped.then(() => undefined)])
            if (next === undefined || this.#closed) return
            if (next.done === true) break
            delay = this.#p.resubscribeDelayMs
            const raw = next.value.event
            if (raw === undefined) continue
            const position = toPosition(raw.position)
            if (position <= this.#checkpoint) continue
            this.#checkpoint = position
            if (!isOurs(raw.streamId, raw.type)) continue
            if (this.#p.prefixes !== undefined && !this.#p.prefixes.some((p) => raw.streamId.startsWith(p))) continue
            const event = toRecorded(next.value as ResolvedEvent)
            if (event !== undefined) yield event
          }
        } catch (error) {
          if (this.#closed) return
          const t = translate(error, 'subscription')
          if (!(t instanceof StoreUnavailableError)) throw t
        } finally {
          await sub.unsubscribe().catch(() => undefined)
          this.#active = undefined
        }
        // The server ended or dropped the subscription: resume from the checkpoint.
        await Promise.race([sleep(delay), this.#stopped])
        delay = Math.min(delay * 2, 5000)
      }
    } finally {
      this.#closed = true
      this.#p.forget(this)
    }
  }

  async close(): Promise<void> {
    if (this.#closed && this.#active === undefined) return
    this.#closed = true
    this.#stop?.()
    const active = this.#active
    this.#active = undefined
    await active?.unsubscribe().catch(() => undefined)
    this.#p.forget(this)
  }
}

interface PreparedEvent {
  uuid: string
  type: string
  /** Data as it reads back (tagged JSON decoded), so the hash verifies on read. */
  data: unknown
  json: unknown
  metadata: StoredMetadata
}

function prepareEvent(event: NewEvent): PreparedEvent {
  const json = toTaggedJson(event.data) ?? null
  const metadata: StoredMetadata = {}
  if (event.metadata?.correlationId !== undefined) metadata.$correlationId = event.metadata.correlationId
  if (event.metadata?.causationId !== undefined) metadata.$causationId = event.metadata.causationId
  let uuid: string
  if (event.id === undefined) uuid = randomUUID()
  else if (UUID_RE.test(event.id)) uuid = event.id
  else {
    // KurrentDB needs a UUID: derive one deterministically (so a resent append keeps its
    // identity) and keep the caller's id in the metadata.
    uuid = uuidFromName(event.id)
    metadata.eventId = event.id
  }
  return { uuid, type: event.type, data: fromTaggedJson(JSON.parse(JSON.stringify(json))), json, metadata }
}

/** A UUID (version 8, RFC 9562 "custom") from SHA-256 of the name. */
function uuidFromName(name: string): string {
  const b = createHash('sha256').update('agent-gateway/event-id\0').update(name).digest().subarray(0, 16)
  b[6] = (b[6]! & 0x0f) | 0x80
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

function isOurs(streamId: string, type: string): boolean {
  return !streamId.startsWith('$') && !type.startsWith('$') && !streamId.startsWith(SNAPSHOT_STREAM_PREFIX)
}

function metadataOf(raw: unknown): StoredMetadata {
  if (raw !== null && typeof raw === 'object' && !(raw instanceof Uint8Array)) return raw as StoredMetadata
  return {}
}

/** Our Position from a KurrentDB position (see the note at the top of this file). */
function toPosition(p: { commit: bigint; prepare: bigint } | undefined): Position {
  if (p === undefined) {
    throw new GatewayError('store_error', 'KurrentDB returned an event without a position (server older than 22.6?)')
  }
  const commit = BigInt(p.commit)
  const prepare = BigInt(p.prepare)
  if (commit !== prepare) {
    throw new GatewayError('store_error', 'Event written by a legacy explicit transaction (commit ≠ prepare position) is not supported', {
      details: { commit: commit.toString(), prepare: prepare.toString() },
    })
  }
  return commit
}

function toRecorded(resolved: ResolvedEvent): RecordedEvent | undefined {
  const e = resolved.event
  if (e === undefined) return undefined
  const meta = metadataOf(e.metadata)
  const metadata: EventMetadata = {}
  if (typeof meta.$correlationId === 'string') metadata.correlationId = meta.$correlationId
  if (typeof meta.$causationId === 'string') metadata.causationId = meta.$causationId
  let data: unknown = e.data
  if (e.isJson) data = fromTaggedJson(e.data)
  return {
    id: typeof meta.eventId === 'string' ? meta.eventId : e.id,
    streamId: e.streamId,
    revision: BigInt(e.revision),
    position: toPosition(e.position),
    type: e.type,
    data,
    metadata,
    // Events not written by this adapter have no chain fields; verifyChain then reports them.
    recordedAt: typeof meta.recordedAt === 'string' ? meta.recordedAt : isoOrEpoch(e.created),
    prevHash: typeof meta.prevHash === 'string' ? meta.prevHash : '',
    hash: typeof meta.hash === 'string' ? meta.hash : '',
  }
}

function isoOrEpoch(d: Date): string {
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString()
}

const UNAVAILABLE_TYPES = new Set(['unavailable', 'deadline-exceeded', 'not-leader', 'timeout', 'cancelled'])

/** Vendor error → ours: connection trouble becomes StoreUnavailableError (HTTP 503). */
function translate(error: unknown, during: string): Error {
  if (error instanceof GatewayError) return error
  const e = error as { type?: unknown; code?: unknown; name?: unknown; message?: unknown } | null
  const type = typeof e?.type === 'string' ? e.type : undefined
  const code = typeof e?.code === 'number' ? e.code : undefined
  const message = typeof e?.message === 'string' ? e.message : ''
  // gRPC status 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED (raw errors surface before the client converts them).
  if (
    (type !== undefined && UNAVAILABLE_TYPES.has(type)) ||
    code === 14 ||
    code === 4 ||
    /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|ETIMEDOUT|connection|transport|unavailable/i.test(message)
  ) {
    return new StoreUnavailableError(`KurrentDB is unreachable (${during})`, error)
  }
  if (type === 'access-denied') {
    return new StoreUnavailableError(`KurrentDB refused the credentials (${during})`, error)
  }
  return error instanceof Error ? error : new Error(String(error))
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}


