import { z } from 'zod'
import { LEDGER_STREAM_PREFIX, type LedgerLog, type StoredCheckpoint } from '../../ledger-log/ledger-log.js'
import { leafHash } from '../../ledger-log/merkle.js'
import { ForbiddenError, NotFoundError, ValidationError } from '../../shared/errors.js'
import { canonicalEventJson } from '../../store/hash.js'
import type { EventStore } from '../../store/types.js'
import { json, type Route } from '../route.js'
import { exportRecord } from '../../ledger-log/export-format.js'

export interface AuditLogRoutesDeps {
  log: LedgerLog
  store: EventStore
  /** Lower-case or checksummed addresses allowed to ask for any event's inclusion proof. */
  auditorWallets: readonly string[]
  /** The checkpoint verifier key (ledger-log/checkpoint.ts verifierKey) and the JWKS kid of the same key. */
  verifierKey: string
  kid: string
}

const count = z.string().regex(/^\d{1,15}$/, 'must be a non-negative integer')
const position = z.string().regex(/^\d{1,19}$/, 'must be a store position (decimal)')
const inclusionQuery = z.object({ position, treeSize: count.optional() })
const consistencyQuery = z.object({ from: count, to: count })
const listQuery = z.object({ after: count.optional(), limit: z.coerce.number().int().min(1).max(1000).optional() })
const proofQuery = z.object({ treeSize: count.optional() })
const NO_STORE = { 'cache-control': 'no-store' }
/** Anonymous GET /audit/checkpoint signs at most this often (the schedule signs too). */
const ON_DEMAND_MIN_INTERVAL_MS = 1_000

const b64 = (b: Buffer) => b.toString('base64')

/**
 * The ledger's transparency log (API.md §14): signed checkpoints and consistency proofs
 * are public (they are hashes and sizes, meant to be gossiped and witnessed); the proof
 * of any event is for auditors, and every wallet may prove its own events.
 */
export function auditLogRoutes(deps: AuditLogRoutesDeps): Route[] {
  const auditors = new Set(deps.auditorWallets.map((a) => a.toLowerCase()))
  const { log } = deps

  const checkpointView = (c: StoredCheckpoint) => {
    const [origin, , root] = c.note.split('\n')
    return { origin, treeSize: c.size, rootHash: root, signedAt: c.signedAt, checkpoint: c.note, verifierKey: deps.verifierKey, kid: deps.kid }
  }

  const sizeFor = (requested: string | undefined, leafIndex: number): { size: number; checkpoint: StoredCheckpoint | undefined } => {
    if (requested === undefined) {
      // The latest checkpoint, unless it predates the event: then one signed now.
      let latest = log.signCheckpoint({ minIntervalMs: ON_DEMAND_MIN_INTERVAL_MS })
      if (latest.size <= leafIndex) latest = log.signCheckpoint()
      return { size: latest.size, checkpoint: latest }
    }
    const size = Number(requested)
    const head = log.head().size
    if (size > head) throw new ValidationError(`treeSize ${size} is beyond the log (${head} leaves)`, { treeSize: head }, 'tree_size_out_of_range')
    return { size, checkpoint: log.checkpointAt(size) }
  }

  /** The inclusion proof of the ledger event at `pos`, or 404 when it is not (yet) logged or not `owner`'s. */
  const proofOf = async (pos: bigint, treeSize: string | undefined, owner?: string) => {
    // Read-your-writes: an event just appended may not be logged yet (never wait for positions beyond the store).
    if (pos <= (await deps.store.headPosition())) await log.waitFor(pos, 2_000)
    const leaf = log.leaf(pos)
    if (leaf === undefined || (owner !== undefined && leaf.streamId !== `${LEDGER_STREAM_PREFIX}${owner}`))
      throw new NotFoundError(`no ledger event of yours at position ${pos}`, 'ledger_event_not_found')
    const { size, checkpoint } = sizeFor(treeSize, leaf.leafIndex)
    if (leaf.leafIndex >= size)
      throw new ValidationError(`the event is leaf ${leaf.leafIndex}, not in a tree of ${size}`, { leafIndex: leaf.leafIndex }, 'tree_size_out_of_range')
    const [event] = await deps.store.readStream(leaf.streamId, { fromRevision: leaf.revision, maxCount: 1 })
    if (event === undefined || event.position !== pos) throw new NotFoundError(`the event at position ${pos} is not in the store`, 'ledger_event_not_found')
    return {
      event: exportRecord(event),
      leafIndex: leaf.leafIndex,
      treeSize: size,
      leafHash: b64(leafHash(canonicalEventJson(event))),
      proof: log.inclusionProof(leaf.leafIndex, size).map(b64),
      ...(checkpoint === undefined ? {} : { checkpoint: checkpoint.note }),
    }
  }

  return [
    {
      method: 'GET',
      path: '/audit/checkpoint',
      auth: 'none',
      // On demand: signs the current tree unless a checkpoint of its size (or one under a second old) exists.
      handler: () => json(checkpointView(log.signCheckpoint({ minIntervalMs: ON_DEMAND_MIN_INTERVAL_MS })), 200, NO_STORE),
    },
    {
      method: 'GET',
      path: '/audit/checkpoints',
      auth: 'none',
      query: listQuery,
      handler: (ctx) => {
        const limit = ctx.query.limit ?? 100
        const rows = log.checkpointsAfter(ctx.query.after === undefined ? -1 : Number(ctx.query.after), limit + 1)
        return json({ checkpoints: rows.slice(0, limit).map(checkpointView), hasMore: rows.length > limit }, 200, NO_STORE)
      },
    },
    {
      method: 'GET',
      path: '/audit/proof/consistency',
      auth: 'none',
      query: consistencyQuery,
      handler: (ctx) => {
        const from = Number(ctx.query.from)
        const to = Number(ctx.query.to)
        if (from > to) throw new ValidationError('from must not exceed to', {}, 'tree_size_out_of_range')
        const head = log.head().size
        if (to > head) throw new ValidationError(`to ${to} is beyond the log (${head} leaves)`, { treeSize: head }, 'tree_size_out_of_range')
        return json({ from, to, proof: log.consistencyProof(from, to).map(b64) }, 200, NO_STORE)
      },
    },
    {
      method: 'GET',
      path: '/audit/proof/inclusion',
      query: inclusionQuery,
      handler: async (ctx) => {
        if (!auditors.has(ctx.auth!.sub)) throw new ForbiddenError('Only auditor wallets (AUDITOR_WALLETS) may ask for any event; use GET /wallet/ledger/:position/proof for your own')
        return json(await proofOf(BigInt(ctx.query.position), ctx.query.treeSize), 200, NO_STORE)
      },
    },
    {
      method: 'GET',
      path: '/wallet/ledger/:position/proof',
      query: proofQuery,
      handler: async (ctx) => {
        const pos = position.safeParse(ctx.params.position)
        if (!pos.success) throw new ValidationError('position must be a store position (decimal)')
        return json(await proofOf(BigInt(pos.data), ctx.query.treeSize, ctx.auth!.sub), 200, NO_STORE)
      },
    },
  ]
}
