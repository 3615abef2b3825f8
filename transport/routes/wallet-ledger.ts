import { z } from 'zod'
import { ensureDepositAddress, type WalletHost } from '../../actors/wallet/deposit-index.js'
import type { Ledger } from '../../actors/wallet/ledger.js'
import { agentReserved, availableBalance, spendableBalance, windowSpent } from '../../actors/wallet/ledger.js'
import { withdrawalRuleStatus, type WithdrawalLimits, type WithdrawalRule } from '../../actors/wallet/withdrawal-guardrails.js'
import { WINDOW_KINDS, windowEnd } from '../../actors/wallet/windows.js'
import type { ProjectionRunner } from '../../projections/runner.js'
import type { DepositAddressRow } from '../../projections/deposit-addresses.js'
import type { TransactionRow } from '../../projections/wallet-transactions.js'
import { DomainError, ForbiddenError, UnavailableError } from '../../shared/errors.js'
import { exportRecord, type ExportFormat } from '../../ledger-log/export-format.js'
import { own, setOwn } from '../../shared/own.js'
import { toTaggedJson } from '../../store/codec.js'
import type { EventStore, RecordedEvent } from '../../store/types.js'
import { json, type Route, type ResponseSink } from '../route.js'

export interface WalletLedgerRoutesDeps {
  wallets: WalletHost
  store: EventStore
  /** Runner holding walletTransactionsProjection and depositAddressesProjection. */
  projections: ProjectionRunner
  /** The chain port's deposit-address derivation; absent when no chain is configured. */
  depositAddress?: (index: number) => string
  chainId: number
  usdcAddress: string
  /** Lower-case or checksummed addresses allowed to read GET /audit/ledger. */
  auditorWallets: readonly string[]
  withdrawalLimits: WithdrawalLimits
  /** Smallest deposit worth sending (atomic units), shown in depositInstructions. Default 1 USDC. */
  minimumDeposit?: bigint
  /** The chain's own instructions (connectors/chain depositInstructions()); defaults describe Base USDC. */
  depositInstructions?: Record<string, unknown>
  /** Extra deposit-address check (e.g. chain.isDepositAddress); the deposit-addresses projection is always consulted. */
  isDepositAddress?: (address: string) => boolean
  /** False when withdrawals cannot be broadcast (no relayer): POST /wallet/withdrawals answers 503. Default true. */
  withdrawalsEnabled?: boolean
  now?: () => Date
  newId?: () => string
}

const atomic = z.string().regex(/^\d{1,30}$/, 'must be an integer amount of USDC atomic units')
const budgetBody = z
  .object({ daily: atomic.nullable(), weekly: atomic.nullable(), monthly: atomic.nullable(), minimumBalance: atomic.nullable() })
  .partial()
  .strict()
const withdrawalBody = z.object({
  to: z.string().min(1).max(64),
  amount: atomic,
  idempotencyKey: z.string().regex(/^[A-Za-z0-9_.:-]{8,128}$/, 'must be 8–128 characters of [A-Za-z0-9_.:-]'),
})
const page = z.object({
  limit: z.coerce.number().int().min(1).max(500).optional(),
  offset: z.coerce.number().int().min(0).optional(),
})
const format = z.enum(['canonical', 'plain']).optional()
const afterRevision = z.object({ after: z.string().regex(/^-?\d{1,19}$/).optional(), format })
const afterPosition = z.object({ after: z.string().regex(/^\d{1,19}$/).optional(), format })
const agentIdPattern = /^[A-Za-z0-9_.:-]{1,128}$/

/** Atomic units → decimal USD string with 6 decimals ("12.345600"). */
export function formatUsd(atomicUnits: bigint): string {
  const neg = atomicUnits < 0n
  const abs = neg ? -atomicUnits : atomicUnits
  const frac = (abs % 1_000_000n).toString().padStart(6, '0')
  return `${neg ? '-' : ''}${abs / 1_000_000n}.${frac}`
}

/** Per-agent budgets with what is spent (settled in the window), held and left (API.md §14). */
export function budgetsView(l: Ledger, now: Date): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [agentId, b] of Object.entries(l.budgets)) {
    const held = agentReserved(l, agentId)
    const view: Record<string, unknown> = { minimumBalance: b.minimumBalance === null ? null : b.minimumBalance.toString() }
    for (const kind of WINDOW_KINDS) {
      const limit = b[kind]
      const spent = windowSpent(l, agentId, kind, now)
      const left = limit === null ? null : limit - spent - held
      view[kind] =
        limit === null
          ? null
          : {
              limit: limit.toString(),
              spent: spent.toString(),
              reserved: held.toString(),
              left: (left! < 0n ? 0n : left!).toString(),
              resetsAt: windowEnd(kind, now).toISOString(),
            }
    }
    setOwn(out, agentId, view)
  }
  return out
}

function ndjsonLine(e: RecordedEvent, format: ExportFormat): string {
  return `${JSON.stringify(exportRecord(e, format))}\n`
}

const NDJSON = { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' }
const PAGE = 500

/** Balance, transactions, budgets, withdrawals and the ledger exports (API.md §7, §14). */
export function walletLedgerRoutes(deps: WalletLedgerRoutesDeps): Route[] {
  const now = deps.now ?? (() => new Date())
  const newId = deps.newId ?? (() => crypto.randomUUID())
  const auditors = new Set(deps.auditorWallets.map((a) => a.toLowerCase()))

  const depositOf = async (wallet: string): Promise<{ index: number; address: string } | undefined> => {
    if (deps.depositAddress === undefined) {
      const l = (await deps.wallets.read(wallet)).snapshot.context.ledger
      return l.depositIndex === null || l.depositAddress === null ? undefined : { index: l.depositIndex, address: l.depositAddress }
    }
    return ensureDepositAddress({ host: deps.wallets, store: deps.store, wallet, depositAddress: deps.depositAddress })
  }

  const withdrawalView = (w: Ledger['withdrawals'][string]) => ({
    withdrawalId: w.withdrawalId,
    status: w.status,
    to: w.to,
    amount: w.amount.toString(),
    idempotencyKey: w.idempotencyKey,
    requestedAt: w.requestedAt,
    updatedAt: w.updatedAt,
    ...(w.txHash === undefined ? {} : { txHash: w.txHash }),
    ...(w.blockNumber === undefined ? {} : { blockNumber: w.blockNumber.toString() }),
    ...(w.reason === undefined ? {} : { reason: w.reason }),
  })

  return [
    {
      method: 'GET',
      path: '/wallet/balance',
      handler: async (ctx) => {
        const wallet = ctx.auth!.sub
        const deposit = await depositOf(wallet)
        const l = (await deps.wallets.read(wallet)).snapshot.context.ledger
        const available = availableBalance(l)
        const agentSpends: Record<string, { totalSpent: string }> = {}
        for (const [agentId, s] of Object.entries(l.agentSpends)) setOwn(agentSpends, agentId, { totalSpent: s.totalSpent.toString() })
        const minimumDeposit = deps.minimumDeposit ?? 1_000_000n
        return json({
          walletAddress: ctx.auth!.address,
          availableBalance: available.toString(),
          availableBalanceUsd: formatUsd(available),
          onChainBalance: l.onChainBalance.toString(),
          unsettledSpend: l.unsettledSpend.toString(),
          pendingWithdrawals: l.pendingWithdrawals.toString(),
          reservedBalance: l.reserved.toString(),
          spendableBalance: spendableBalance(l).toString(),
          observedAtBlock: l.observedBlock < 0n ? null : l.observedBlock.toString(),
          unifiedDepositAddress: deposit?.address ?? '',
          agentSpends,
          budgets: budgetsView(l, now()),
          depositInstructions: {
            network: 'base',
            chainId: deps.chainId,
            chainName: 'Base',
            token: 'USDC',
            tokenAddress: deps.usdcAddress,
            decimals: 6,
            warning: 'Send only USDC on Base to this address. Other tokens or networks are lost.',
            ...deps.depositInstructions,
            minimumDeposit: minimumDeposit.toString(),
          },
        })
      },
    },
    {
      method: 'GET',
      path: '/wallet/transactions',
      query: page,
      handler: (ctx) => {
        const limit = ctx.query.limit ?? 50
        const offset = ctx.query.offset ?? 0
        const { rows, total } = deps.projections.list<TransactionRow>('wallet-transactions', ctx.auth!.sub, limit, offset)
        return json({ transactions: rows, total, limit, offset, hasMore: offset + rows.length < total })
      },
    },
    {
      method: 'GET',
      path: '/wallet/budgets',
      handler: async (ctx) => {
        const l = (await deps.wallets.read(ctx.auth!.sub)).snapshot.context.ledger
        return json({ budgets: budgetsView(l, now()) })
      },
    },
    {
      method: 'PUT',
      path: '/wallet/budgets/:agentId',
      body: budgetBody,
      handler: async (ctx) => {
        const agentId = ctx.params.agentId ?? ''
        if (!agentIdPattern.test(agentId)) throw new DomainError('invalid_request', 'agentId must be 1–128 characters of [A-Za-z0-9_.:-]')
        const big = (v: string | null | undefined) => (v === undefined ? undefined : v === null ? null : BigInt(v))
        const patch: Record<string, bigint | null> = {}
        for (const key of ['daily', 'weekly', 'monthly', 'minimumBalance'] as const) {
          const v = big(ctx.body[key])
          if (v !== undefined) patch[key] = v
        }
        const { snapshot } = await deps.wallets.send(ctx.auth!.sub, { type: 'SetBudget', agentId, ...patch })
        const view = budgetsView(snapshot.context.ledger, now())
        return json({ agentId, budget: own(view, agentId) ?? { daily: null, weekly: null, monthly: null, minimumBalance: null } })
      },
    },
    {
      method: 'POST',
      path: '/wallet/withdrawals',
      body: withdrawalBody,
      handler: async (ctx) => {
        if (deps.withdrawalsEnabled === false)
          throw new UnavailableError('withdrawals_unavailable', 'Withdrawals are not configured on this gateway (no relayer)')
        const wallet = ctx.auth!.sub
        const deposit = await depositOf(wallet)
        const to = ctx.body.to
        const isDeposit =
          deps.projections.get<DepositAddressRow>('deposit-addresses', to.toLowerCase()) !== undefined || deps.isDepositAddress?.(to) === true
        try {
          const result = await deps.wallets.send(wallet, {
            type: 'RequestWithdrawal',
            withdrawalId: newId(),
            idempotencyKey: ctx.body.idempotencyKey,
            to,
            amount: BigInt(ctx.body.amount),
            limits: deps.withdrawalLimits,
            destinationIsDepositAddress: isDeposit || (deposit !== undefined && deposit.address.toLowerCase() === to.toLowerCase()),
          })
          const l = result.snapshot.context.ledger
          const w = own(l.withdrawals, own(l.withdrawalKeys, ctx.body.idempotencyKey) ?? '')!
          return json(withdrawalView(w), result.events.length > 0 ? 201 : 200)
        } catch (error) {
          // One code, two statuses: rates pass again later (429), amount/destination never do (422).
          if (error instanceof DomainError && error.code === 'withdrawal_limit') {
            const rule = error.details.rule as WithdrawalRule
            return json({ ...error.details, error: error.code, message: error.shortMessage }, withdrawalRuleStatus(rule))
          }
          throw error
        }
      },
    },
    {
      method: 'GET',
      path: '/wallet/withdrawals',
      handler: async (ctx) => {
        const l = (await deps.wallets.read(ctx.auth!.sub)).snapshot.context.ledger
        const list = Object.values(l.withdrawals).sort((a, b) => (a.requestedAt < b.requestedAt ? 1 : a.requestedAt > b.requestedAt ? -1 : 0))
        return json({ withdrawals: list.map(withdrawalView), total: list.length })
      },
    },
    {
      method: 'GET',
      path: '/wallet/ledger',
      query: afterRevision,
      handler: (ctx) => {
        const streamId = `wallet-${ctx.auth!.sub}`
        let from = ctx.query.after === undefined ? 0n : BigInt(ctx.query.after) + 1n
        if (from < 0n) from = 0n
        return {
          kind: 'stream',
          headers: NDJSON,
          run: async (sink: ResponseSink) => {
            for (;;) {
              if (sink.aborted) return
              const events = await deps.store.readStream(streamId, { fromRevision: from, maxCount: PAGE })
              if (events.length > 0) await sink.write(events.map((e) => ndjsonLine(e, ctx.query.format ?? 'canonical')).join(''))
              if (events.length < PAGE) break
              from = events.at(-1)!.revision + 1n
            }
            sink.end()
          },
        }
      },
    },
    {
      method: 'GET',
      path: '/audit/ledger',
      query: afterPosition,
      handler: (ctx) => {
        if (!auditors.has(ctx.auth!.sub)) throw new ForbiddenError('Only auditor wallets (AUDITOR_WALLETS) may read every ledger')
        let from = ctx.query.after === undefined ? 0n : BigInt(ctx.query.after)
        return {
          kind: 'stream',
          headers: NDJSON,
          run: async (sink: ResponseSink) => {
            // Read up to the head at the start: a finite, consistent export.
            const head = await deps.store.headPosition()
            while (from < head) {
              if (sink.aborted) return
              const events = await deps.store.readAll({ fromPosition: from, maxCount: PAGE })
              if (events.length === 0) break
              const lines = events.filter((e) => e.streamId.startsWith('wallet-') && e.position <= head).map((e) => ndjsonLine(e, ctx.query.format ?? 'canonical'))
              if (lines.length > 0) await sink.write(lines.join(''))
              from = events.at(-1)!.position
            }
            sink.end()
          },
        }
      },
    },
  ]
}
