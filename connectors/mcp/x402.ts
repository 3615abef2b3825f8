import { randomUUID } from 'node:crypto'
import { x402Client } from '@x402/core/client'
import { PaymentRequiredSchema } from '@x402/core/schemas'
import type { PaymentPayload, PaymentRequired, PaymentRequirements } from '@x402/core/types'
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

/**
 * Pays x402 `exact` requirements (EIP-3009 transferWithAuthorization) from the wallet's
 * deposit account: only our chain and USDC, only up to the per-call cap, and only after
 * the wallet actor reserved the price (so budgets and balance hold). The retry's
 * settlement outcome settles that reservation as its own spend — paid once, charged once.
 */
export function createX402Payer(p: CreateX402PayerParameters): X402Payer {
  const network = `eip155:${p.chainId}` as const
  const asset = p.asset.toLowerCase()
  /** What we can pay at all: x402's `exact` scheme (EIP-3009), our chain, our USDC. */
  const payable = (r: { scheme: string; network: string; asset: string }): boolean => r.scheme === 'exact' && r.network === network && r.asset.toLowerCase() === asset
  return async ({ wallet, agentId, sessionId, toolName, requirement }) => {
    const parsed = PaymentRequiredSchema.safeParse(requirement)
    if (!parsed.success || parsed.data.x402Version !== 2) throw new GatewayError('x402_unsupported', 'The tool asks for a payment in a form we do not understand (x402 version 2 expected)')
    const required = parsed.data
    if (!required.accepts.some(payable)) throw new GatewayError('x402_unsupported', `The tool asks for a payment we cannot make (only exact USDC on ${network})`)

    // The client chooses the option: our scheme and chain registered, the per-call cap as its
    // spend control on our USDC, and only our USDC (other known assets are allowed by default).
    let selected = false
    let account: LocalAccount | undefined
    let reserved: { reservationId: string; amount: bigint; option: PaymentRequirements } | undefined
    const signer = {
      get address() {
        return account!.address
      },
      signTypedData: (message: never) => account!.signTypedData!(message),
    }
    const client = new x402Client()
      .register(network, new ExactEvmScheme(signer as never))
      .setSpendControls({ maxAmountPerPayment: false, allowedAssets: [{ network, asset: p.asset, maxAmountPerPayment: p.maxPerCall.toString() }] })
      .registerPolicy((_version, options) => options.filter(payable))
      .onBeforePaymentCreation(async ({ selectedRequirements: option }) => {
        selected = true
        if (!/^\d{1,30}$/.test(option.amount)) throw new GatewayError('x402_unsupported', 'The tool asks for a malformed payment amount')
        account = await p.depositAccount(wallet)
        if (account === undefined) throw new GatewayError('x402_unsupported', 'This wallet has no deposit address to pay from yet')
        const amount = BigInt(option.amount)
        const reservationId = `x402:${sessionId}:${randomUUID()}`
        // onChainPayment: the hold must outlive its TTL until we know whether the authorisation was used.
        await p.ledger.reserve({ wallet, agentId, reservationId, amount, purpose: `x402 payment for ${toolName}`, onChainPayment: true })
        reserved = { reservationId, amount, option }
      })
    let signed: PaymentPayload
    try {
      // The schema's parse result is the library's PaymentRequired (zod infers optional fields as `| undefined`).
      signed = await client.createPaymentPayload(required as PaymentRequired)
    } catch (error) {
      if (error instanceof GatewayError) throw error
      // No option selected: the client's spend control refused every one we could pay (over the cap).
      if (!selected) return undefined
      if (reserved !== undefined) await p.ledger.release({ wallet, reservationId: reserved.reservationId, reason: 'x402 signing failed' })
      throw error
    }
    const { reservationId, amount, option } = reserved!
    return {
      // The payment payload as the client built it: version, resource, the accepted option, the signed authorisation.
      meta: { ...signed },
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
