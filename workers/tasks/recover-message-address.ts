import { recoverMessageAddress } from 'viem'

export interface RecoverMessageAddressTask {
  message: string
  signature: `0x${string}`
}

/** EIP-191 signer recovery (≈1.6 ms of secp256k1 work: kept off the event loop). */
export default async function recoverMessageAddressTask({ message, signature }: RecoverMessageAddressTask): Promise<string> {
  return recoverMessageAddress({ message, signature })
}
