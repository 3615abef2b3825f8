/**
 * The chain port: everything the wallet domain needs from Base (or anvil in tests).
 * Addresses are 0x-prefixed; amounts are USDC atomic units (6 decimals) as bigint.
 */

export type Hex = `0x${string}`
export type Address = `0x${string}`

/** Pino-compatible subset used by the chain connector (secrets are never passed to it). */
export interface ChainLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface ChainPort {
  /** Deposit address for BIP-44 index m/44'/60'/0'/0/<index> of DEPOSIT_MNEMONIC (checksummed). */
  depositAddress(index: number): Address
  /**
   * EIP-3009 transferWithAuthorization signed by the deposit key of `depositIndex`, submitted
   * by the relayer (the deposit address never needs gas). Idempotent by idempotencyKey: the
   * EIP-3009 nonce is keccak256(idempotencyKey), so a retry can never pay twice — when the
   * authorization was already used, the existing transaction's hash is returned instead.
   */
  transferFromDeposit(p: { depositIndex: number; to: Address; amount: bigint; idempotencyKey: string }): Promise<{ txHash: Hex }>
  /** Waits until the transaction is mined (and, if configured, `confirmations` deep). */
  waitForReceipt(txHash: Hex): Promise<{ status: 'success' | 'reverted'; blockNumber: bigint }>
  /** USDC balance of `address`, at `blockNumber` when given (otherwise latest). */
  balanceOf(address: Address, blockNumber?: bigint): Promise<bigint>
}

/** One confirmed USDC Transfer log into a deposit address. Unique by (txHash, logIndex). */
export interface DepositObservation {
  address: Address
  txHash: Hex
  logIndex: number
  amount: bigint
  blockNumber: bigint
  from: Address
}
