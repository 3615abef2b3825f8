import { describe, expect, it } from 'vitest'
import { recordedEvents } from '../test/recorded-events.js'
import { evolveWalletChain, walletChainProjection, type WalletChainRow } from './wallet-chain.js'

const recorded = recordedEvents()
const ev = (wallet: string, type: string, data: object = {}) => recorded(`wallet-${wallet}`, type, data)

describe('wallet-chain projection', () => {
  it('folds deposit addresses, unfinished withdrawals and settlements, and sweeps due', () => {
    const events = [
      ev('0xa', 'DepositAddressAssigned', { address: '0xDEP1', index: 0 }),
      ev('0xa', 'WithdrawalRequested', { withdrawalId: 'w1' }),
      ev('0xa', 'WithdrawalRequested', { withdrawalId: 'w2' }),
      ev('0xa', 'WithdrawalConfirmed', { withdrawalId: 'w1' }),
      ev('0xa', 'SpendSettled', { reservationId: 'r1' }),
      ev('0xb', 'SpendSettled', { reservationId: 'r2' }),
      ev('0xb', 'SettlementRequested', { settlementId: 's1' }),
      ev('0xb', 'SettlementFailed', { settlementId: 's1' }),
      ev('0xa', 'SpendReserved', { reservationId: 'r3' }),
    ]
    const rows = new Map<string, WalletChainRow>()
    for (const e of events) {
      if (!walletChainProjection.canHandle(e)) continue
      const key = walletChainProjection.keyOf(e).key
      rows.set(key, evolveWalletChain(rows.get(key), e))
    }
    expect(rows.get('0xa')).toEqual({ walletId: '0xa', addresses: ['0xdep1'], pending: [{ walletId: '0xa', kind: 'withdrawal', id: 'w2' }], toSettle: true })
    expect(rows.get('0xb')).toEqual({ walletId: '0xb', addresses: [], pending: [], toSettle: true })
  })
})
