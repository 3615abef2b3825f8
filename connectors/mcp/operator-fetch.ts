import { signedFetch, type EthHttpSigner } from '@slicekit/erc8128'
import { privateKeyToAccount } from 'viem/accounts'

/** An ERC-8128 signer for the operator key (label eth, keyid erc8128:<chainId>:<address>). */
export function operatorSigner(privateKey: `0x${string}`, chainId: number): EthHttpSigner {
  const account = privateKeyToAccount(privateKey)
  return {
    address: account.address,
    chainId,
    signMessage: (message) => account.signMessage({ message: { raw: message } }),
  }
}

/**
 * A fetch that signs every request per ERC-8128: request-bound (@method @authority
 * @path, @query when present, content-digest with a body), non-replayable (nonce),
 * valid for at most 60 s.
 */
export function operatorFetch(signer: EthHttpSigner, base: typeof fetch = fetch): typeof fetch {
  return ((input: string | URL | Request, init?: RequestInit) =>
    signedFetch(input instanceof URL ? input.href : input, init, signer, {
      label: 'eth',
      binding: 'request-bound',
      replay: 'non-replayable',
      ttlSeconds: 60,
      fetch: base,
    })) as typeof fetch
}
