/**
 * An in-process TEST DOUBLE of a single KurrentDB node: a @grpc/grpc-js server built on
 * the service definitions that ship inside @kurrent/kurrentdb-client, implementing the
 * parts of the v1 Streams protocol that the real client uses for our adapter's calls:
 *
 * - `Streams/BatchAppend` (bidirectional, what the client uses on real servers) and
 *   `Streams/Append` (client streaming, its fallback): expected revision any / no_stream /
 *   stream_exists / exact, wrong-expected-version answers (a packed WrongExpectedVersion
 *   status for BatchAppend), idempotent re-append of the same ids, atomic writes;
 * - `Streams/Read` (server streaming): a stream forwards/backwards from a revision with a
 *   count (StreamNotFound when missing); `$all` forwards/backwards from a position with a
 *   count and a stream-name / event-type filter (prefixes or regex); a subscription to
 *   `$all` (confirmation, catch-up from an exclusive position, caught-up, then live).
 *
 * Storage is an in-memory log. Every event is written "self-committed", as KurrentDB does
 * for every gRPC append: its commit and prepare positions are both its log position, and
 * positions grow by the record's size, so they have gaps like the real log.
 *
 * NOT covered (this is not KurrentDB): clustering, gossip, leader election, persistence,
 * authentication/ACLs, stream metadata ($maxAge, $maxCount…), deletes/tombstones, links
 * and projections, persistent subscriptions, the v2 protocol (multi-stream appends),
 * stream subscriptions, checkpoints and fell-behind notices, deadlines and size limits.
 */
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import type * as GrpcJs from '@grpc/grpc-js'
import type * as StreamsGrpc from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_grpc_pb.js'
import type * as StreamsPb from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb.js'
import type * as SharedPb from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb.js'
import type * as FeaturesGrpc from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_grpc_pb.js'
import type * as FeaturesPb from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_pb.js'
import type * as StatusPb from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/status_pb.js'
import type * as GoogleAny from 'google-protobuf/google/protobuf/any_pb.js'
import type * as GoogleEmpty from 'google-protobuf/google/protobuf/empty_pb.js'

// Loaded through the client package so the double speaks with the exact grpc-js and
// generated message classes the client itself uses (CommonJS modules).
const clientRequire = createRequire(createRequire(import.meta.url).resolve('@kurrent/kurrentdb-client'))
const generated = '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1'
const grpc = clientRequire('@grpc/grpc-js') as typeof GrpcJs
const streamsGrpc = clientRequire(`${generated}/streams_grpc_pb.js`) as typeof StreamsGrpc
const pb = clientRequire(`${generated}/streams_pb.js`) as typeof StreamsPb
const shared = clientRequire(`${generated}/shared_pb.js`) as typeof SharedPb
const featuresGrpc = clientRequire(`${generated}/serverfeatures_grpc_pb.js`) as typeof FeaturesGrpc
const featuresPb = clientRequire(`${generated}/serverfeatures_pb.js`) as typeof FeaturesPb
const statusPb = clientRequire(`${generated}/status_pb.js`) as typeof StatusPb
const AnyPb = clientRequire('google-protobuf/google/protobuf/any_pb.js') as typeof GoogleAny
const EmptyPb = clientRequire('google-protobuf/google/protobuf/empty_pb.js') as typeof GoogleEmpty
const { Timestamp } = clientRequire('google-protobuf/google/protobuf/timestamp_pb.js') as {
  Timestamp: { fromDate(d: Date): unknown }
}

type ReadReq = StreamsPb.ReadReq
type ReadResp = StreamsPb.ReadResp
type AppendReq = StreamsPb.AppendReq
type AppendResp = StreamsPb.AppendResp
type ReadOptions = StreamsPb.ReadReq.Options

const ReadOpts = pb.ReadReq.Options

/** One event in the double's log. */
export interface DoubleEvent {
  streamId: string
  revision: bigint
  /** Log position: commit == prepare (self-committed record). */
  position: bigint
  id: string
  type: string
  contentType: string
  data: Uint8Array
  customMetadata: Uint8Array
  /** .NET ticks (100 ns) since the Unix epoch, as KurrentDB sends `created`. */
  created: bigint
}

export interface KurrentDbDoubleOptions {
  /** Port to listen on (default 0: any free port). */
  port?: number
  /** Write a few `$`-stream system events at start, as a fresh KurrentDB node has. Default true. */
  systemEvents?: boolean
  /**
   * Advertise BatchAppend in ServerFeatures, as real servers do, so the client appends
   * through it; false: only Append (the client's fallback path). Default true.
   */
  batchAppend?: boolean
}

/** A started double. `connectionString` is what the client (and the adapter) takes. */
export interface KurrentDbDouble {
  readonly port: number
  readonly connectionString: string
  /** The in-memory log, oldest first (tests inspect it). */
  readonly log: readonly DoubleEvent[]
  /**
   * Counts of gRPC calls by method (`Append`, `Read`); `Subscribe` counts the Reads that
   * subscribe and `WrongExpectedVersion` the Appends refused by their expected revision.
   */
  readonly calls: Readonly<Record<string, number>>
  /** Writes an event as the server itself would (e.g. `$stats-…`), to test filtering. */
  appendSystemEvent(streamId: string, type: string): void
  /** Stops listening and drops every connection (the log is kept): simulates an outage. */
  stop(): Promise<void>
  /** Listens again on the same port with the same log. */
  start(): Promise<void>
  /** Stops for good. */
  close(): Promise<void>
}

interface Live {
  filter: (e: DoubleEvent) => boolean
  send: (e: DoubleEvent) => void
}

/** Starts the double on 127.0.0.1. */
export async function startKurrentDbDouble(options: KurrentDbDoubleOptions = {}): Promise<KurrentDbDouble> {
  const log: DoubleEvent[] = []
  const streams = new Map<string, DoubleEvent[]>()
  const lives = new Set<Live>()
  const calls: Record<string, number> = {}
  // A fresh node's log starts after its epoch and chaser records; the value only needs to be > 0.
  let cursor = 4096n

  const count = (method: string): void => {
    calls[method] = (calls[method] ?? 0) + 1
  }

  function write(streamId: string, proposed: readonly Omit<DoubleEvent, 'streamId' | 'revision' | 'position' | 'created'>[]): DoubleEvent[] {
    const stream = streams.get(streamId) ?? []
    const created = BigInt(Date.now()) * 10_000n
    const written: DoubleEvent[] = []
    for (const p of proposed) {
      const e: DoubleEvent = { ...p, streamId, revision: BigInt(stream.length), position: cursor, created }
      // Advance like a real record: header + names + payloads (positions have gaps).
      cursor += 80n + BigInt(streamId.length + p.type.length + p.data.length + p.customMetadata.length)
      stream.push(e)
      log.push(e)
      written.push(e)
    }
    streams.set(streamId, stream)
    // Live subscribers see the whole write, in log order, after it is complete.
    for (const live of [...lives]) for (const e of written) if (live.filter(e)) live.send(e)
    return written
  }

  function appendSystemEvent(streamId: string, type: string): void {
    write(streamId, [
      { id: randomUUID(), type, contentType: 'application/json', data: Buffer.from('{}'), customMetadata: new Uint8Array() },
    ])
  }

  if (options.systemEvents !== false) {
    appendSystemEvent('$settings', '$settings')
    appendSystemEvent('$scavenges', '$scavengeIndexInitialized')
    appendSystemEvent('$$$scavenges', '$metadata')
  }

  type Proposed = Omit<DoubleEvent, 'streamId' | 'revision' | 'position' | 'created'>
  type Expectation = { kind: 'any' | 'no_stream' | 'stream_exists' } | { kind: 'revision'; revision: bigint }
  type Outcome =
    | { ok: true; first: DoubleEvent | undefined; last: DoubleEvent | undefined; current: bigint | undefined }
    | { ok: false; current: bigint | undefined }

  /** One write, as the leader does it: check the expectation, then append all or nothing. */
  function appendCore(streamId: string, expected: Expectation, proposed: readonly Proposed[]): Outcome {
    const stream = streams.get(streamId) ?? []
    const current = stream.length === 0 ? undefined : BigInt(stream.length - 1)
    // Idempotence (as KurrentDB): the same ids written right after the expected point succeed again.
    const idem = idempotentMatch(stream, proposed, expected)
    if (idem !== undefined) return { ok: true, first: idem, last: idem, current: idem.revision }
    const ok =
      expected.kind === 'any' ||
      (expected.kind === 'no_stream' && current === undefined) ||
      (expected.kind === 'stream_exists' && current !== undefined) ||
      (expected.kind === 'revision' && current === expected.revision)
    if (!ok) {
      count('WrongExpectedVersion')
      return { ok: false, current }
    }
    if (proposed.length === 0) return { ok: true, first: undefined, last: undefined, current }
    const written = write(streamId, proposed)
    const last = written[written.length - 1]!
    return { ok: true, first: written[0], last, current: last.revision }
  }

  /** A proposed message of either append flavour, or the reason it is malformed. */
  function proposedFrom(m: {
    getId(): SharedPb.UUID | undefined
    getMetadataMap(): { get(key: string): string | undefined }
    getData_asU8(): Uint8Array
    getCustomMetadata_asU8(): Uint8Array
  }): Proposed | string {
    const meta = m.getMetadataMap()
    const type = meta.get('type')
    const contentType = meta.get('content-type')
    if (type === undefined) return 'Required metadata property type is missing'
    if (contentType === undefined) return 'Required metadata property content-type is missing'
    return {
      id: uuidToString(m.getId()),
      type,
      contentType,
      data: Buffer.from(m.getData_asU8()),
      customMetadata: Buffer.from(m.getCustomMetadata_asU8()),
    }
  }

  const streamName = (id: SharedPb.StreamIdentifier | undefined): string =>
    Buffer.from(id?.getStreamName_asU8() ?? new Uint8Array()).toString('utf8')

  const append = (
    call: GrpcJs.ServerReadableStream<AppendReq, AppendResp>,
    callback: GrpcJs.sendUnaryData<AppendResp>,
  ): void => {
    count('Append')
    let opts: StreamsPb.AppendReq.Options | undefined
    const proposed: Proposed[] = []
    let failed = false
    const fail = (code: GrpcJs.status, details: string): void => {
      if (failed) return
      failed = true
      callback({ code, details, name: 'Error', message: details, metadata: new grpc.Metadata() })
    }
    call.on('data', (req: AppendReq) => {
      if (req.hasOptions()) {
        opts = req.getOptions()
        return
      }
      const m = req.getProposedMessage()
      if (m === undefined || opts === undefined) return fail(grpc.status.INVALID_ARGUMENT, 'options must come first')
      const p = proposedFrom(m)
      if (typeof p === 'string') return fail(grpc.status.INVALID_ARGUMENT, p)
      proposed.push(p)
    })
    call.on('error', () => {
      failed = true
    })
    call.on('end', () => {
      if (failed) return
      if (opts === undefined) return fail(grpc.status.INVALID_ARGUMENT, 'no options')
      const C = pb.AppendReq.Options.ExpectedStreamRevisionCase
      const expCase = opts.getExpectedStreamRevisionCase()
      const expected: Expectation =
        expCase === C.REVISION
          ? { kind: 'revision', revision: BigInt(opts.getRevision()) }
          : { kind: expCase === C.NO_STREAM ? 'no_stream' : expCase === C.STREAM_EXISTS ? 'stream_exists' : 'any' }
      const outcome = appendCore(streamName(opts.getStreamIdentifier()), expected, proposed)
      const resp = new pb.AppendResp()
      if (!outcome.ok) {
        const w = new pb.AppendResp.WrongExpectedVersion()
        if (outcome.current === undefined) {
          w.setCurrentNoStream(new shared.Empty())
          w.setNoStream2060(new shared.Empty())
        } else {
          w.setCurrentRevision(outcome.current.toString())
          w.setCurrentRevision2060(Number(outcome.current))
        }
        if (expected.kind === 'no_stream') w.setExpectedNoStream(new shared.Empty())
        else if (expected.kind === 'stream_exists') w.setExpectedStreamExists(new shared.Empty())
        else if (expected.kind === 'revision') w.setExpectedRevision(expected.revision.toString())
        else w.setExpectedAny(new shared.Empty())
        resp.setWrongExpectedVersion(w)
        return callback(null, resp)
      }
      const s = new pb.AppendResp.Success()
      if (outcome.current === undefined) s.setNoStream(new shared.Empty())
      else s.setCurrentRevision(outcome.current.toString())
      if (outcome.last === undefined) s.setNoPosition(new shared.Empty())
      else {
        const pos = new pb.AppendResp.Position()
        // The write's commit position is the log position of its last record. For prepare,
        // current servers repeat the commit position and older ones gave the transaction's
        // (first record's) position: the double does the latter, so nothing may rely on it.
        pos.setCommitPosition(outcome.last.position.toString())
        pos.setPreparePosition(outcome.first!.position.toString())
        s.setPosition(pos)
      }
      resp.setSuccess(s)
      callback(null, resp)
    })
  }

  /**
   * BatchAppend (what the client uses against a real server, which lists it): one
   * long-lived bidirectional call carrying many appends, each a run of requests with one
   * correlation id (options first, `is_final` last) answered by one response with that id.
   */
  const batchAppend = (call: GrpcJs.ServerDuplexStream<StreamsPb.BatchAppendReq, StreamsPb.BatchAppendResp>): void => {
    count('BatchAppend')
    const pending = new Map<string, { options: StreamsPb.BatchAppendReq.Options; proposed: Proposed[]; error?: string }>()
    call.on('data', (req: StreamsPb.BatchAppendReq) => {
      const correlation = req.getCorrelationId()
      const key = uuidToString(correlation)
      let entry = pending.get(key)
      if (entry === undefined) {
        const options = req.getOptions()
        if (options === undefined) return
        entry = { options, proposed: [] }
        pending.set(key, entry)
      }
      for (const m of req.getProposedMessagesList()) {
        const p = proposedFrom(m)
        if (typeof p === 'string') entry.error = p
        else entry.proposed.push(p)
      }
      if (!req.getIsFinal()) return
      pending.delete(key)
      const o = entry.options
      const C = pb.BatchAppendReq.Options.ExpectedStreamPositionCase
      const expCase = o.getExpectedStreamPositionCase()
      const expected: Expectation =
        expCase === C.STREAM_POSITION
          ? { kind: 'revision', revision: BigInt(o.getStreamPosition()) }
          : { kind: expCase === C.NO_STREAM ? 'no_stream' : expCase === C.STREAM_EXISTS ? 'stream_exists' : 'any' }
      const resp = new pb.BatchAppendResp()
      resp.setCorrelationId(correlation)
      resp.setStreamIdentifier(o.getStreamIdentifier())
      if (entry.error !== undefined) {
        const status = new statusPb.Status()
        status.setCode(grpc.status.INVALID_ARGUMENT as number as never)
        status.setMessage(entry.error)
        resp.setError(status)
        call.write(resp)
        return
      }
      const outcome = appendCore(streamName(o.getStreamIdentifier()), expected, entry.proposed)
      if (!outcome.ok) {
        // As KurrentDB: a google.rpc.Status whose details pack a WrongExpectedVersion.
        const w = new shared.WrongExpectedVersion()
        if (outcome.current === undefined) w.setCurrentNoStream(new EmptyPb.Empty())
        else w.setCurrentStreamRevision(outcome.current.toString())
        if (expected.kind === 'no_stream') w.setExpectedNoStream(new EmptyPb.Empty())
        else if (expected.kind === 'stream_exists') w.setExpectedStreamExists(new EmptyPb.Empty())
        else if (expected.kind === 'revision') w.setExpectedStreamPosition(expected.revision.toString())
        else w.setExpectedAny(new EmptyPb.Empty())
        const details = new AnyPb.Any()
        details.pack(w.serializeBinary(), 'event_store.client.WrongExpectedVersion')
        const status = new statusPb.Status()
        status.setCode(grpc.status.FAILED_PRECONDITION as number as never)
        status.setMessage('Wrong expected version')
        status.setDetails(details)
        resp.setError(status)
        call.write(resp)
        return
      }
      const s = new pb.BatchAppendResp.Success()
      if (outcome.current === undefined) s.setNoStream(new EmptyPb.Empty())
      else s.setCurrentRevision(outcome.current.toString())
      if (outcome.last === undefined) s.setNoPosition(new EmptyPb.Empty())
      else {
        const pos = new shared.AllStreamPosition()
        pos.setCommitPosition(outcome.last.position.toString())
        pos.setPreparePosition(outcome.first!.position.toString())
        s.setPosition(pos)
      }
      resp.setSuccess(s)
      call.write(resp)
    })
    call.on('end', () => call.end())
    call.on('error', () => undefined)
    batchCalls.add(call)
    call.on('close', () => batchCalls.delete(call))
  }

  const read = (call: GrpcJs.ServerWritableStream<ReadReq, ReadResp>): void => {
    count('Read')
    const o = call.request.getOptions()
    if (o === undefined || !o.hasUuidOption()) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'uuidOption is required' })
      return
    }
    const structured = o.getUuidOption()?.getContentCase() === ReadOpts.UUIDOption.ContentCase.STRUCTURED
    const toResp = (e: DoubleEvent): ReadResp => readResp(e, structured)
    const filter = makeFilter(o)
    const isSubscription = o.getCountOptionCase() === ReadOpts.CountOptionCase.SUBSCRIPTION
    const backwards = o.getReadDirection() === ReadOpts.ReadDirection.BACKWARDS
    const max = o.getCountOptionCase() === ReadOpts.CountOptionCase.COUNT ? BigInt(o.getCount()) : -1n

    if (o.getStreamOptionCase() === ReadOpts.StreamOptionCase.STREAM) {
      if (isSubscription) {
        call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'stream subscriptions are not implemented by the double' })
        return
      }
      const so = o.getStream()!
      const streamId = Buffer.from(so.getStreamIdentifier()?.getStreamName_asU8() ?? new Uint8Array()).toString('utf8')
      const stream = streams.get(streamId)
      if (stream === undefined) {
        const resp = new pb.ReadResp()
        const nf = new pb.ReadResp.StreamNotFound()
        const sid = new shared.StreamIdentifier()
        sid.setStreamName(Buffer.from(streamId, 'utf8'))
        nf.setStreamIdentifier(sid)
        resp.setStreamNotFound(nf)
        call.write(resp)
        call.end()
        return
      }
      const R = ReadOpts.StreamOptions.RevisionOptionCase
      const rc = so.getRevisionOptionCase()
      let selected: DoubleEvent[]
      if (backwards) {
        const from = rc === R.REVISION ? BigInt(so.getRevision()) : BigInt(stream.length - 1)
        selected = stream.filter((e) => e.revision <= from).reverse()
      } else {
        const from = rc === R.REVISION ? BigInt(so.getRevision()) : rc === R.END ? BigInt(stream.length) : 0n
        selected = stream.filter((e) => e.revision >= from)
      }
      if (max >= 0n) selected = selected.slice(0, Number(max))
      for (const e of selected) call.write(toResp(e))
      call.end()
      return
    }

    const ao = o.getAll()
    if (ao === undefined) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'stream or all is required' })
      return
    }
    const A = ReadOpts.AllOptions.AllOptionCase
    const ac = ao.getAllOptionCase()
    const fromPos = ac === A.POSITION ? BigInt(ao.getPosition()!.getCommitPosition()) : undefined

    if (!isSubscription) {
      let selected: DoubleEvent[]
      if (backwards) {
        // Backwards from a position: the records before it (newest first).
        const before = ac === A.POSITION ? log.filter((e) => e.position < fromPos!) : ac === A.START ? [] : [...log]
        selected = before.reverse().filter(filter)
      } else {
        // Forwards from a position is inclusive, as in KurrentDB.
        selected = (ac === A.POSITION ? log.filter((e) => e.position >= fromPos!) : ac === A.END ? [] : log).filter(filter)
      }
      if (max >= 0n) selected = selected.slice(0, Number(max))
      for (const e of selected) call.write(toResp(e))
      call.end()
      return
    }

    // Subscription to $all: confirmation, catch-up (exclusive of the start position),
    // caught-up, then live. Synchronous from the catch-up snapshot to registering the live
    // listener, so no write can fall in between.
    count('Subscribe')
    const confirmation = new pb.ReadResp()
    const conf = new pb.ReadResp.SubscriptionConfirmation()
    conf.setSubscriptionId(randomUUID())
    confirmation.setConfirmation(conf)
    call.write(confirmation)
    const catchUp = ac === A.END ? [] : ac === A.POSITION ? log.filter((e) => e.position > fromPos!) : log
    for (const e of catchUp) if (filter(e)) call.write(toResp(e))
    const caughtUp = new pb.ReadResp()
    const cu = new pb.ReadResp.CaughtUp()
    cu.setTimestamp(Timestamp.fromDate(new Date()) as never)
    caughtUp.setCaughtUp(cu)
    call.write(caughtUp)
    const live: Live = { filter, send: (e) => call.write(toResp(e)) }
    lives.add(live)
    const drop = (): void => {
      lives.delete(live)
    }
    call.on('cancelled', drop)
    call.on('close', drop)
    call.on('error', drop)
    liveCalls.add(call)
    call.on('close', () => liveCalls.delete(call))
  }

  // Both clients (grpc-js and the Rust bridge) ask first. The JS client appends through
  // BatchAppend when it is listed (as on a real server), else through Append.
  const getSupportedMethods = (_call: unknown, callback: GrpcJs.sendUnaryData<FeaturesPb.SupportedMethods>): void => {
    count('GetSupportedMethods')
    const methods = new featuresPb.SupportedMethods()
    methods.setEventStoreServerVersion('25.0.0-test-double')
    methods.setMethodsList(
      (options.batchAppend === false ? ['read', 'append'] : ['read', 'append', 'batchappend']).map((name) => {
        const m = new featuresPb.SupportedMethod()
        m.setServiceName('event_store.client.streams.streams')
        m.setMethodName(name)
        return m
      }),
    )
    callback(null, methods)
  }

  const liveCalls = new Set<GrpcJs.ServerWritableStream<ReadReq, ReadResp>>()
  const batchCalls = new Set<GrpcJs.ServerDuplexStream<StreamsPb.BatchAppendReq, StreamsPb.BatchAppendResp>>()
  let server: GrpcJs.Server | undefined
  let port = options.port ?? 0

  async function start(): Promise<void> {
    if (server !== undefined) return
    const s = new grpc.Server()
    s.addService(streamsGrpc.StreamsService, { read, append, batchAppend } as unknown as GrpcJs.UntypedServiceImplementation)
    s.addService(featuresGrpc.ServerFeaturesService, { getSupportedMethods } as unknown as GrpcJs.UntypedServiceImplementation)
    port = await new Promise<number>((resolve, reject) => {
      s.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      )
    })
    server = s
  }

  async function stop(): Promise<void> {
    const s = server
    if (s === undefined) return
    server = undefined
    lives.clear()
    for (const c of liveCalls) {
      try {
        c.emit('error', { code: grpc.status.UNAVAILABLE, details: 'server stopping' })
      } catch {
        // already closed
      }
    }
    liveCalls.clear()
    for (const c of batchCalls) {
      try {
        c.emit('error', { code: grpc.status.UNAVAILABLE, details: 'server stopping' })
      } catch {
        // already closed
      }
    }
    batchCalls.clear()
    s.forceShutdown()
  }

  await start()
  return {
    get port() {
      return port
    },
    get connectionString() {
      // discoveryInterval: the client's Rust half waits one interval (default 500 ms) before
      // its first connection; a short one keeps tests quick and changes nothing else.
      return `kurrentdb://127.0.0.1:${port}?tls=false&discoveryInterval=20`
    },
    log,
    calls,
    appendSystemEvent,
    stop,
    start,
    close: stop,
  }
}

/** Ids of a proposed write already written right after the expected point: returns its last event. */
function idempotentMatch(
  stream: readonly DoubleEvent[],
  proposed: readonly { id: string }[],
  expected: { kind: string; revision?: bigint },
): DoubleEvent | undefined {
  const first = proposed[0]
  if (first === undefined) return undefined
  const start =
    expected.kind === 'revision'
      ? Number(expected.revision! + 1n)
      : expected.kind === 'no_stream'
        ? 0
        : stream.findIndex((e) => e.id === first.id)
  if (start < 0 || start + proposed.length > stream.length) return undefined
  for (let i = 0; i < proposed.length; i++) if (stream[start + i]!.id !== proposed[i]!.id) return undefined
  return stream[start + proposed.length - 1]
}

/** The request's filter as a predicate (no filter: everything). */
function makeFilter(o: ReadOptions): (e: DoubleEvent) => boolean {
  if (o.getFilterOptionCase() !== ReadOpts.FilterOptionCase.FILTER) return () => true
  const f = o.getFilter()!
  const F = ReadOpts.FilterOptions.FilterCase
  const onStream = f.getFilterCase() === F.STREAM_IDENTIFIER
  const expr = onStream ? f.getStreamIdentifier() : f.getEventType()
  if (expr === undefined) return () => true
  const field = (e: DoubleEvent): string => (onStream ? e.streamId : e.type)
  const regex = expr.getRegex()
  if (regex !== '') {
    const re = new RegExp(regex)
    return (e) => re.test(field(e))
  }
  const prefixes = expr.getPrefixList()
  return (e) => prefixes.some((p) => field(e).startsWith(p))
}

function readResp(e: DoubleEvent, structured: boolean): ReadResp {
  const rec = new pb.ReadResp.ReadEvent.RecordedEvent()
  rec.setId(uuidFromString(e.id, structured))
  const sid = new shared.StreamIdentifier()
  sid.setStreamName(Buffer.from(e.streamId, 'utf8'))
  rec.setStreamIdentifier(sid)
  rec.setStreamRevision(e.revision.toString())
  rec.setCommitPosition(e.position.toString())
  rec.setPreparePosition(e.position.toString())
  const meta = rec.getMetadataMap()
  meta.set('type', e.type)
  meta.set('content-type', e.contentType)
  meta.set('created', e.created.toString())
  rec.setData(e.data)
  rec.setCustomMetadata(e.customMetadata)
  const ev = new pb.ReadResp.ReadEvent()
  ev.setEvent(rec)
  ev.setCommitPosition(e.position.toString())
  const resp = new pb.ReadResp()
  resp.setEvent(ev)
  return resp
}

const U64 = (1n << 64n) - 1n

function uuidToString(uuid: SharedPb.UUID | undefined): string {
  if (uuid === undefined) return randomUUID()
  if (uuid.hasStructured()) {
    const s = uuid.getStructured()!
    const ms = (BigInt(s.getMostSignificantBits()) & U64).toString(16).padStart(16, '0')
    const ls = (BigInt(s.getLeastSignificantBits()) & U64).toString(16).padStart(16, '0')
    return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-${ms.slice(12)}-${ls.slice(0, 4)}-${ls.slice(4)}`
  }
  return uuid.getString()
}

function uuidFromString(id: string, structured: boolean): SharedPb.UUID {
  const uuid = new shared.UUID()
  if (!structured) {
    uuid.setString(id)
    return uuid
  }
  const hex = id.replace(/-/g, '')
  const s = new shared.UUID.Structured()
  s.setMostSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString())
  s.setLeastSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(16)}`)).toString())
  uuid.setStructured(s)
  return uuid
}
