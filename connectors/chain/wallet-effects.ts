import { BaseError, ContractFunctionRevertedError, getAddress } from 'viem'
import type { EffectHandler } from '../../actors/runtime/types.js'
import type { WalletCommand } from '../../actors/wallet/commands.js'
import { isInFlight } from '../../actors/wallet/ledger.js'
import { own } from '../../shared/own.js'
import type { BroadcastSettlementParams, BroadcastWithdrawalParams, WalletContext } from '../../actors/wallet/machine.js'
import { AuthorizationCanceledError, type ChainConnector } from './create-chain-port.js'
import type { DepositWatcherCheckpoint, StartDepositWatcherParameters } from './deposit-watcher.js'
import type { Address, ChainLogger, ChainPort } from './types.js'
import type { PendingChainWork } from './wallet-chain-index.js'

/** What the wallet effects need from the chain: the port plus the authorization lookup. */
export type WalletChainPort = ChainPort & Pick<ChainConnector, 'authorizationStatus' | 'cancelAuthorization'>

/** The slice of ActorHost the chain wiring uses (send a command to a wallet, read its state). */
export interface WalletActors {
  send(walletId: string, command: WalletCommand): Promise<unknown>
  read(walletId: string): Promise<{ snapshot: { context: WalletContext } }>
}

export interface WalletChainEffectsParameters {
  port: WalletChainPort
  /** TREASURY_ADDRESS: where settlement sweeps go. */
  treasuryAddress: Address
  log?: ChainLogger
  /** Attempts per transfer for transient failures (RPC down, receipt timeout) before leaving it for the next resume (default 5). */
  attempts?: number
  /** First retry delay; doubles each attempt (default 1000 ms). */
  retryDelayMs?: number
}

type Send = (command: WalletCommand) => Promise<unknown>

interface TransferJob {
  kind: 'withdrawal' | 'settlement'
  id: string
  depositIndex: number
  to: Address
  amount: bigint
}

/** A refusal by the token itself (simulated before sending): retrying cannot help. */
function revertReason(err: unknown): string | undefined {
  if (!(err instanceof BaseError)) return undefined
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
  if (!(reverted instanceof ContractFunctionRevertedError)) return undefined
  return `reverted: ${reverted.data?.errorName ?? reverted.reason ?? 'unknown reason'}`
}

/**
 * Effect handlers for the wallet machine's `broadcastWithdrawal` and `broadcastSettlement`:
 * EIP-3009 transfer out of the deposit address (idempotency key `withdrawal:<id>` /
 * `settlement:<id>`, so the on-chain nonce makes a re-run unable to pay twice) → the
 * Broadcast command → receipt → Confirmed (with its block) or Failed, back to the actor.
 * Also `resume(…)` for transfers left unfinished by a restart.
 */
export function createWalletChainEffects(p: WalletChainEffectsParameters) {
  const attempts = p.attempts ?? 5
  const baseDelay = p.retryDelayMs ?? 1000
  const treasury = getAddress(p.treasuryAddress)
  // One driver per transfer in this process: an effect and a resume never race each other.
  const inFlight = new Map<string, Promise<void>>()

  const commands = (job: TransferJob) =>
    job.kind === 'withdrawal'
      ? {
          broadcast: (txHash: string): WalletCommand => ({ type: 'WithdrawalBroadcast', withdrawalId: job.id, txHash }),
          confirmed: (txHash: string, blockNumber: bigint): WalletCommand => ({ type: 'WithdrawalConfirmed', withdrawalId: job.id, txHash, blockNumber }),
          failed: (reason: string): WalletCommand => ({ type: 'WithdrawalFailed', withdrawalId: job.id, reason }),
        }
      : {
          broadcast: (txHash: string): WalletCommand => ({ type: 'SettlementBroadcast', settlementId: job.id, txHash }),
          confirmed: (txHash: string, blockNumber: bigint): WalletCommand => ({ type: 'SettlementConfirmed', settlementId: job.id, txHash, blockNumber }),
          failed: (reason: string): WalletCommand => ({ type: 'SettlementFailed', settlementId: job.id, reason }),
        }

  /**
   * The token refused the transfer in simulation. Before telling the ledger it failed (which
   * frees the amount for spending), cancel the authorization on chain: an earlier copy
   * still in some mempool (a crashed attempt) could otherwise execute later and pay after
   * all. True once the cancellation is mined; false when the authorization turns out to be
   * used (the transfer did happen: the next attempt finds and confirms it).
   */
  async function finalRefusal(job: TransferJob, idempotencyKey: string): Promise<boolean> {
    let txHash: `0x${string}`
    try {
      ;({ txHash } = await p.port.cancelAuthorization({ depositIndex: job.depositIndex, idempotencyKey }))
    } catch (err) {
      if (revertReason(err) !== undefined) return false // already used (or cancelled) on chain
      throw err
    }
    const receipt = await p.port.waitForReceipt(txHash)
    return receipt.status === 'success'
  }

  async function driveOnce(job: TransferJob, send: Send): Promise<void> {
    const idempotencyKey = `${job.kind}:${job.id}`
    const cmd = commands(job)
    let lastError: unknown
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, baseDelay * 2 ** (attempt - 2)))
      let txHash: `0x${string}`
      try {
        ;({ txHash } = await p.port.transferFromDeposit({ depositIndex: job.depositIndex, to: job.to, amount: job.amount, idempotencyKey }))
      } catch (err) {
        if (err instanceof AuthorizationCanceledError) {
          // An earlier attempt cancelled it but stopped before reporting: report now.
          await send(cmd.failed('authorization cancelled'))
          return
        }
        lastError = err
        const reason = revertReason(err)
        if (reason === undefined) continue
        try {
          if (await finalRefusal(job, idempotencyKey)) {
            p.log?.warn({ kind: job.kind, id: job.id, reason }, 'chain: transfer refused by the token; authorization cancelled')
            await send(cmd.failed(reason))
            return
          }
        } catch (cancelErr) {
          lastError = cancelErr
        }
        continue
      }
      await send(cmd.broadcast(txHash))
      let receipt: { status: 'success' | 'reverted'; blockNumber: bigint }
      try {
        receipt = await p.port.waitForReceipt(txHash)
      } catch (err) {
        // Timed out or RPC trouble: the next attempt returns the tx that used the authorization, or resubmits.
        lastError = err
        continue
      }
      if (receipt.status === 'success') {
        await send(cmd.confirmed(txHash, receipt.blockNumber))
        return
      }
      // Reverted: perhaps another copy used the authorization first; the next attempt finds out.
      lastError = new Error(`transaction ${txHash} reverted`)
    }
    p.log?.error({ kind: job.kind, id: job.id, err: (lastError as Error)?.message }, 'chain: transfer still unfinished; will resume on restart')
    throw lastError
  }

  function drive(walletId: string, job: TransferJob, send: Send): Promise<void> {
    const key = `${walletId}:${job.kind}:${job.id}`
    let run = inFlight.get(key)
    if (!run) {
      run = driveOnce(job, send).finally(() => inFlight.delete(key))
      inFlight.set(key, run)
    }
    return run
  }

  const broadcastWithdrawal: EffectHandler<WalletCommand> = (action, ctx) => {
    const a = action.params as BroadcastWithdrawalParams
    return drive(ctx.actorId, { kind: 'withdrawal', id: a.withdrawalId, depositIndex: a.depositIndex, to: getAddress(a.to), amount: a.amount }, ctx.send)
  }
  const broadcastSettlement: EffectHandler<WalletCommand> = (action, ctx) => {
    const a = action.params as BroadcastSettlementParams
    return drive(ctx.actorId, { kind: 'settlement', id: a.settlementId, depositIndex: a.depositIndex, to: treasury, amount: a.amount }, ctx.send)
  }

  /**
   * Re-drives transfers that were requested or broadcast but never finished (the process
   * stopped in between): the host does not re-run effects of rehydrated events.
   */
  async function resume(actors: WalletActors, work: readonly PendingChainWork[]): Promise<void> {
    await Promise.all(
      work.map(async (w) => {
        const { ledger } = (await actors.read(w.walletId)).snapshot.context
        const send: Send = (c) => actors.send(w.walletId, c)
        if (ledger.depositIndex === null) return
        if (w.kind === 'withdrawal') {
          const r = own(ledger.withdrawals, w.id)
          if (!r || !isInFlight(r)) return
          await drive(w.walletId, { kind: 'withdrawal', id: w.id, depositIndex: ledger.depositIndex, to: getAddress(r.to), amount: r.amount }, send).catch(
            () => undefined,
          )
        } else {
          const r = own(ledger.settlements, w.id)
          if (!r || !isInFlight(r)) return
          await drive(w.walletId, { kind: 'settlement', id: w.id, depositIndex: ledger.depositIndex, to: treasury, amount: r.amount }, send).catch(
            () => undefined,
          )
        }
      }),
    )
  }

  return { broadcastWithdrawal, broadcastSettlement, resume }
}

/** The deposit watcher's callbacks, delivering observations to the wallet actors as commands. */
export function depositWatcherSink(actors: Pick<WalletActors, 'send'>): Pick<StartDepositWatcherParameters, 'onDeposit' | 'onBalance'> {
  return {
    onDeposit: async (obs, walletId) => {
      await actors.send(walletId, { type: 'ObserveDeposit', txHash: obs.txHash, logIndex: obs.logIndex, amount: obs.amount, blockNumber: obs.blockNumber })
    },
    onBalance: async (_address, balance, blockNumber, walletId) => {
      await actors.send(walletId, { type: 'ObserveOnChainBalance', balance, blockNumber })
    },
  }
}

export type { DepositWatcherCheckpoint }
