import { getAddress, isAddress } from 'viem'
import { parseSiweMessage, validateSiweMessage } from 'viem/siwe'
import { AuthError, ValidationError } from '../shared/errors.js'
import { buildChallengeMessage, buildSiweChallengeMessage } from './challenge-message.js'
import type { ChallengeFacts, SignedChallenges } from './signed-challenges.js'
import type { IssuedToken, SessionTokens } from './session-tokens.js'

export interface SignInParameters {
  challenges: SignedChallenges
  tokens: SessionTokens
  /** Runs the EIP-191 signer recovery off the event loop (the gateway passes its worker pool). */
  pool: SignerRecoveryPool
  /** Where users sign in to (PUBLIC_URL, or the listening address once known): host for the message's domain. */
  publicUrl(): string
  chainId: number
  /** Called once the signature checks out, before the token is issued (registers the wallet). */
  onSignedIn(address: `0x${string}`): Promise<void>
}

/** The one worker task sign-in needs, as sign-in sees it (workers/pool.ts implements it). */
export interface SignerRecoveryPool {
  run(task: 'recover-message-address', payload: { message: string; signature: `0x${string}` }): Promise<string>
}

export interface VerifyInput {
  walletAddress: string
  signature: `0x${string}`
  nonce: string
}

const PURPOSE = 'sign-in'

/** secp256k1 group order ÷ 2: an ECDSA `s` above it is the malleable twin of a valid signature (EIP-2). */
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/** True for a 65-byte r‖s‖v signature whose s is in the upper half (Ethereum wallets never produce one). */
export function isHighS(signature: `0x${string}`): boolean {
  return BigInt(`0x${signature.slice(66, 130)}`) > SECP256K1_HALF_N
}

/** Wallet sign-in: challenge → EIP-191 signature → session JWT (API.md §1, §12). */
export class SignIn {
  constructor(private readonly p: SignInParameters) {}

  /** Our own message, or EIP-4361 when the caller names its address. */
  async challenge(address?: string): Promise<{ nonce: string; message: string; expiresAt: string }> {
    let checksummed: `0x${string}` | undefined
    if (address !== undefined) {
      if (!isAddress(address, { strict: false })) throw new ValidationError('address is not a valid Ethereum address')
      checksummed = getAddress(address)
    }
    const facts = this.p.challenges.issue(PURPOSE, this.p.publicUrl(), checksummed)
    return { nonce: facts.nonce, message: this.#message(facts), expiresAt: facts.expiresAt.toISOString() }
  }

  /** The text to sign: a pure function of the challenge, so any process can rebuild it from the nonce. */
  #message(facts: ChallengeFacts): string {
    const common = { domain: new URL(facts.url).host, uri: facts.url, nonce: facts.nonce, issuedAt: facts.issuedAt, expiresAt: facts.expiresAt }
    return facts.address === undefined
      ? buildChallengeMessage(common)
      : buildSiweChallengeMessage({ ...common, address: getAddress(facts.address), chainId: this.p.chainId })
  }

  /** Consumes the nonce (even when the signature then fails) and issues a session token. */
  async verify(input: VerifyInput): Promise<IssuedToken & { walletAddress: `0x${string}` }> {
    const issued = await this.p.challenges.consume(PURPOSE, input.nonce)
    const message = this.#message(issued)
    const claimed = getAddress(input.walletAddress)
    if (issued.address !== undefined) {
      if (issued.address !== claimed.toLowerCase())
        throw new AuthError('signature_invalid', 'This challenge was issued for another address')
      // The SIWE text is ours, but check it as a verifier would: domain, nonce, address, time.
      const fields = parseSiweMessage(message)
      const domain = new URL(this.p.publicUrl()).host
      const valid = validateSiweMessage({ message: fields, address: claimed, domain, nonce: input.nonce })
      if (!valid) throw new AuthError('nonce_expired', 'The sign-in message is no longer valid; request a new one')
    }
    if (isHighS(input.signature)) throw new AuthError('signature_invalid', 'High-s (malleable) signatures are refused: send the low-s form')
    let recovered: string
    try {
      recovered = await this.p.pool.run('recover-message-address', { message, signature: input.signature })
    } catch {
      throw new AuthError('signature_invalid', 'The signature could not be verified')
    }
    if (recovered.toLowerCase() !== claimed.toLowerCase())
      throw new AuthError('signature_invalid', 'The signature was not made by walletAddress over the challenge message')
    await this.p.onSignedIn(claimed)
    const token = await this.p.tokens.issue(claimed)
    return { ...token, walletAddress: claimed }
  }
}
