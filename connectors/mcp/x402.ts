import { randomUUID } from 'node:crypto'
import { ExactEvmScheme } from '@x402/evm/exact/client'
import type { LocalAccount } from 'viem'
import { GatewayError } from '../../shared/errors.js'
import type { X402Payer } from './executor.js'

/** The spend operations the payer needs (the session's ledger port). */
export interface X402Ledger {
  reserve(p: { wallet: string; agentId: string; reservationId: string; amount: bigint; purpose: string; onChainPayment?: boolean }): Promise<void>
  settle(p: { wallet: string; reservationId: string; amount: bigint; breakdown: any; paidOnChain?: { txHash: string; blockNumber: bigint } }): Promise<unknown>
  release(p: { wallet: string; reservationId: string; reason: string }): Promise<void>
}

export interface CreateX402PayerParameters {
  chainId: number
  /** The USDC contract we pay with (USDC_ADDRESS). */
  asset: string
  /** Per-call price cap in atomic units (X402_MAX_PER_CALL). */
  maxPerCall: bigint
  ledger: X402Ledger
  /** The wallet's deposit account (it holds the wallet's USDC), or undefined when none is assigned. */
  depositAccount(wallet: string): Promise<LocalAccount | undefined>
  /**
   * The block that mined a settlement transaction (its receipt). With it the spend is
   * recorded as an on-chain outflow (SettleSpend.paidOnChain); without it, as ordinary spend.
   */
  receiptBlock?: (txHash: `0x${string}`) => Promise<bigint>
}

interface Requirement {
  scheme: string
  network: string
  asset: string
  amount: string
  payTo: string
  maxTimeoutSeconds: number
  extra: Record<string, unknown>
}

/**
 * Pays x402 `exact` requirements (EIP-3009 transferWithAuthorization) from the wallet's
 * deposit account: only our chain and USDC, only up to the per-call cap, and only after
 * the wallet actor reserved the price (so budgets and balance hold). The retry's
 * settlement outcome settles that reservation as its own spend — paid once, charged once.
 */
export function createX402Payer(p: CreateX402PayerParameters): X402Payer {
  const network = `eip155:${p.chainId}`
  return async ({ wallet, agentId, sessionId, toolName, requirement }) => {
    const req = requirement as { x402Version?: number; accepts?: Requirement[]; resource?: unknown }
    const option = (req.accepts ?? []).find((a) => a.scheme === 'exact' && a.network === network && a.asset.toLowerCase() === p.asset.toLowerCase())
    if (option === undefined) throw new GatewayError('x402_unsupported', `The tool asks for a payment we cannot make (only exact USDC on ${network})`)
    if (!/^\d{1,30}$/.test(option.amount)) throw new GatewayError('x402_unsupported', 'The tool asks for a malformed payment amount')
    const amount = BigInt(option.amount)
    if (amount > p.maxPerCall) return undefined
    const account = await p.depositAccount(wallet)
    if (account === undefined) throw new GatewayError('x402_unsupported', 'This wallet has no deposit address to pay from yet')
    const reservationId = `x402:${sessionId}:${randomUUID()}`
    // onChainPayment: the hold must outlive its TTL until we know whether the authorisation was used.
    await p.ledger.reserve({ wallet, agentId, reservationId, amount, purpose: `x402 payment for ${toolName}`, onChainPayment: true })
    let payload: Record<string, unknown>
    try {
      const scheme = new ExactEvmScheme({ address: account.address, signTypedData: (m: any) => account.signTypedData!(m) } as never)
      const result = await scheme.createPaymentPayload(req.x402Version ?? 2, option as never)
      payload = result.payload
    } catch (error) {
      await p.ledger.release({ wallet, reservationId, reason: 'x402 signing failed' })
      throw error
    }
    return {
      meta: { x402Version: req.x402Version ?? 2, ...(req.resource === undefined ? {} : { resource: req.resource }), accepted: option, payload },
      amount,
      payTo: option.payTo,
      network,
      reservationId,
      async settle(ok: boolean, txHash?: string, outcomeUnknown?: boolean) {
        // Unknown outcome: keep the (TTL-exempt) hold rather than show money the address may no longer hold.
        if (outcomeUnknown === true) return
        if (!ok) {
          await p.ledger.release({ wallet, reservationId, reason: 'x402 payment not settled' })
          return
        }
        let paidOnChain: { txHash: string; blockNumber: bigint } | undefined
        if (txHash !== undefined && p.receiptBlock !== undefined && /^0x[0-9a-fA-F]{64}$/.test(txHash)) {
          paidOnChain = { txHash, blockNumber: await p.receiptBlock(txHash as `0x${string}`) }
        }
        await p.ledger.settle({
          ...(paidOnChain === undefined ? {} : { paidOnChain }),
          wallet,
          reservationId,
          amount,
          breakdown: {
            model: 'x402',
            inputTokens: 0,
            outputTokens: 0,
            cacheCreationInputTokens: 0,
            cacheReadInputTokens: 0,
            baseLlmCost: '0',
            toolCalls: 0,
            toolCosts: amount,
            platformCost: 0n,
            byok: true,
            sessionId,
            ...(txHash === undefined ? {} : { txHash }),
            tool: toolName,
            payTo: option.payTo,
          },
        })
      },
    }
  }
}
