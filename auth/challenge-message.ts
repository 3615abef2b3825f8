import { createSiweMessage } from 'viem/siwe'

export interface ChallengeMessageParameters {
  /** Host (and port) the user signs in to, e.g. `gateway.example.com`. */
  domain: string
  uri: string
  nonce: string
  issuedAt: Date
  expiresAt: Date
}

/**
 * Our own sign-in text: deterministic for its inputs, readable in a wallet's prompt, and
 * bound to this gateway (domain, URI), this attempt (nonce) and a short validity window.
 */
export function buildChallengeMessage(p: ChallengeMessageParameters): string {
  return [
    `${p.domain} asks you to sign in to Agent Gateway with your wallet.`,
    '',
    'Signing proves you own this address. It does not send a transaction or cost any fees.',
    '',
    `URI: ${p.uri}`,
    `Nonce: ${p.nonce}`,
    `Issued At: ${p.issuedAt.toISOString()}`,
    `Expiration Time: ${p.expiresAt.toISOString()}`,
  ].join('\n')
}

export interface SiweChallengeParameters extends ChallengeMessageParameters {
  address: `0x${string}`
  chainId: number
}

/** An EIP-4361 (Sign-In with Ethereum) message, built with viem/siwe. */
export function buildSiweChallengeMessage(p: SiweChallengeParameters): string {
  return createSiweMessage({
    address: p.address,
    chainId: p.chainId,
    domain: p.domain,
    nonce: p.nonce,
    uri: p.uri,
    version: '1',
    issuedAt: p.issuedAt,
    expirationTime: p.expiresAt,
    statement: 'Sign in to Agent Gateway. This does not send a transaction or cost any fees.',
  })
}
