import type { WalletEvent } from '../actors/wallet/events.js'
import type { RecordedEvent } from '../store/types.js'
import { walletOf, type Projection } from './types.js'

/** One row of GET /wallet/transactions (API.md §7); amounts in atomic units as strings. */
export interface TransactionRow {
  id: string
  type: 'spend' | 'deposit' | 'settlement' | 'withdrawal'
  amount: string
  agentId?: string
  timestamp: string
  createdAt: string
  status?: string
  txHash?: string
  blockNumber?: string
  to?: string
  toolCallCount?: number
  model?: string
  inputTokens?: number
  outputTokens?: number
  byok?: boolean
  reservationId?: string
}

const HANDLED = new Set([
  'DepositDetected',
  'SpendSettled',
  'WithdrawalRequested',
  'WithdrawalBroadcast',
  'WithdrawalConfirmed',
  'WithdrawalFailed',
  'SettlementRequested',
  'SettlementBroadcast',
  'SettlementConfirmed',
  'SettlementFailed',
])

function rowKey(e: WalletEvent): string {
  switch (e.type) {
    case 'DepositDetected':
      return `deposit:${e.data.txHash}:${e.data.logIndex}`
    case 'SpendSettled':
      return `spend:${e.data.reservationId}`
    case 'WithdrawalRequested':
    case 'WithdrawalBroadcast':
    case 'WithdrawalConfirmed':
    case 'WithdrawalFailed':
      return `withdrawal:${e.data.withdrawalId}`
    case 'SettlementRequested':
    case 'SettlementBroadcast':
    case 'SettlementConfirmed':
    case 'SettlementFailed':
      return `settlement:${e.data.settlementId}`
    default:
      return ''
  }
}

/** Pure: the transaction row after one event. */
export function evolveTransaction(current: TransactionRow | undefined, event: RecordedEvent): TransactionRow | undefined {
  const e = { type: event.type, data: event.data } as WalletEvent
  const id = rowKey(e)
  switch (e.type) {
    case 'DepositDetected':
      return current ?? {
        id,
        type: 'deposit',
        amount: e.data.amount.toString(),
        timestamp: e.data.at,
        createdAt: e.data.at,
        status: 'confirmed',
        txHash: e.data.txHash,
        blockNumber: e.data.blockNumber.toString(),
      }
    case 'SpendSettled': {
      const b = e.data.breakdown
      return current ?? {
        id,
        type: 'spend',
        amount: e.data.amount.toString(),
        agentId: e.data.agentId,
        timestamp: e.data.at,
        createdAt: e.data.at,
        toolCallCount: b.toolCalls,
        model: b.model,
        inputTokens: b.inputTokens + b.cacheCreationInputTokens + b.cacheReadInputTokens,
        outputTokens: b.outputTokens,
        byok: b.byok,
        reservationId: e.data.reservationId,
      }
    }
    case 'WithdrawalRequested':
      return current ?? { id, type: 'withdrawal', amount: e.data.amount.toString(), timestamp: e.data.at, createdAt: e.data.at, status: 'requested', to: e.data.to }
    case 'SettlementRequested':
      return current ?? { id, type: 'settlement', amount: e.data.amount.toString(), timestamp: e.data.at, createdAt: e.data.at, status: 'requested' }
    case 'WithdrawalBroadcast':
    case 'SettlementBroadcast':
      return current === undefined ? undefined : { ...current, status: 'broadcast', txHash: e.data.txHash, timestamp: e.data.at }
    case 'WithdrawalConfirmed':
    case 'SettlementConfirmed':
      return current === undefined
        ? undefined
        : { ...current, status: 'confirmed', txHash: e.data.txHash, blockNumber: e.data.blockNumber.toString(), timestamp: e.data.at }
    case 'WithdrawalFailed':
    case 'SettlementFailed':
      return current === undefined ? undefined : { ...current, status: 'failed', timestamp: e.data.at }
    default:
      return current
  }
}

export const walletTransactionsProjection: Projection<TransactionRow> = {
  name: 'wallet-transactions',
  canHandle: (e) => e.streamId.startsWith('wallet-') && HANDLED.has(e.type),
  keyOf: (e) => ({ key: `${walletOf(e)}/${rowKey({ type: e.type, data: e.data } as WalletEvent)}`, owner: walletOf(e) }),
  evolve: evolveTransaction,
}
