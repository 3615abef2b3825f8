import { createWalletClient, http, parseSignature, type Chain, type PublicClient, type Transport } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { usdcAbi } from '../../connectors/chain/abi.js'
import type { PaidToolHooks } from './gateway.js'

export interface AnvilPaidToolParameters {
  chain: Chain
  rpcUrl: string
  publicClient: PublicClient<Transport, Chain>
  usdcAddress: `0x${string}`
  /** Who gets paid. */
  payTo: `0x${string}`
  /** Price per call in atomic units. */
  price: bigint
  /** Key of the account that submits transferWithAuthorization (holds ETH). */
  facilitatorKey: `0x${string}`
}

/**
 * x402 hooks for the test MCP gateway's paid tool: an `exact` requirement in TestUSDC,
 * and a settlement that checks the EIP-3009 authorization against it and submits
 * transferWithAuthorization on anvil (a replayed authorization fails on chain).
 */
export function anvilPaidTool(p: AnvilPaidToolParameters): PaidToolHooks & { settled: string[] } {
  const facilitator = createWalletClient({ chain: p.chain, transport: http(p.rpcUrl), account: privateKeyToAccount(p.facilitatorKey) })
  const settled: string[] = []
  return {
    settled,
    requirement: (resource) => ({
      x402Version: 2,
      error: 'payment required',
      resource: { url: resource, description: 'A premium quote', mimeType: 'text/plain' },
      accepts: [
        {
          scheme: 'exact',
          network: `eip155:${p.chain.id}`,
          asset: p.usdcAddress,
          amount: p.price.toString(),
          payTo: p.payTo,
          maxTimeoutSeconds: 120,
          extra: { name: 'USD Coin', version: '2' },
        },
      ],
    }),
    async settle(payment) {
      const pl = (payment as { payload?: { authorization?: Record<string, string>; signature?: `0x${string}` } }).payload
      const a = pl?.authorization
      if (a === undefined || pl?.signature === undefined) throw new Error('malformed payment')
      if (a.to?.toLowerCase() !== p.payTo.toLowerCase() || BigInt(a.value ?? '0') !== p.price) throw new Error('payment does not match the requirement')
      const sig = parseSignature(pl.signature)
      const hash = await facilitator.writeContract({
        address: p.usdcAddress,
        abi: usdcAbi,
        functionName: 'transferWithAuthorization',
        args: [a.from as `0x${string}`, a.to as `0x${string}`, BigInt(a.value!), BigInt(a.validAfter!), BigInt(a.validBefore!), a.nonce as `0x${string}`, Number(sig.v ?? BigInt(sig.yParity + 27)), sig.r, sig.s],
      })
      const receipt = await p.publicClient.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success') throw new Error('transferWithAuthorization reverted')
      settled.push(hash)
      return { transaction: hash, payer: a.from! }
    },
  }
}
