import { getAddress } from 'viem'

export interface DepositInstructions {
  network: string
  chainId: number
  chainName: string
  token: string
  tokenAddress: string
  decimals: number
  warning: string
}

const NAMES: Record<number, { network: string; chainName: string }> = {
  8453: { network: 'base', chainName: 'Base' },
  84532: { network: 'base-sepolia', chainName: 'Base Sepolia' },
  31337: { network: 'anvil', chainName: 'Anvil (local)' },
}

/** The `depositInstructions` object of GET /wallet/balance (API.md §7) for the configured chain and token. */
export function depositInstructions(p: { chainId: number; usdcAddress: string; confirmations: number }): DepositInstructions {
  const known = NAMES[p.chainId] ?? { network: `eip155:${p.chainId}`, chainName: `Chain ${p.chainId}` }
  return {
    network: known.network,
    chainId: p.chainId,
    chainName: known.chainName,
    token: 'USDC',
    tokenAddress: getAddress(p.usdcAddress),
    decimals: 6,
    warning:
      `Send only USDC on ${known.chainName} (chain id ${p.chainId}) to this address; other tokens or networks cannot be credited. ` +
      `Deposits are credited after ${p.confirmations} confirmation${p.confirmations === 1 ? '' : 's'}.`,
  }
}
