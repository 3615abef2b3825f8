import {
  createPublicClient,
  createWalletClient,
  defineChain,
  domainSeparator,
  getAddress,
  http,
  keccak256,
  parseSignature,
  stringToBytes,
  type Chain,
  type PublicClient,
  type Transport,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { authorizationCanceledEvent, authorizationUsedEvent, cancelAuthorizationTypes, transferWithAuthorizationTypes, usdcAbi } from './abi.js'
import type { DepositKeyring } from './deposit-keys.js'
import type { Address, ChainLogger, ChainPort, Hex } from './types.js'

export interface CreateChainPortParameters {
  /** CHAIN_RPC_URL */
  rpcUrl: string
  /** CHAIN_ID (8453 on Base; 31337 on anvil) — every signature and transaction is bound to it. */
  chainId: number
  /** USDC_ADDRESS: an EIP-3009 token (FiatToken v2). */
  usdcAddress: Address
  /** RELAYER_PRIVATE_KEY: pays gas for every transfer out of a deposit address. Without it the port only reads. */
  relayerPrivateKey?: Hex | undefined
  keyring: DepositKeyring
  /** The token's EIP-712 domain; read from `name()` / `version()` when omitted. */
  tokenDomain?: { name: string; version: string }
  /** Blocks a receipt must be buried under before `waitForReceipt` resolves (default 1). */
  receiptConfirmations?: number
  /** CHAIN_POLL_MS (default 4000). */
  pollingIntervalMs?: number
  /** Give up waiting for a receipt after this long (default 10 min); the caller may resubmit safely. */
  receiptTimeoutMs?: number
  /** validBefore = now + this (default 3600 s); an expired unmined authorization is re-signed with the same nonce. */
  authorizationValiditySeconds?: number
  /** How far back to search for the transaction that used an authorization (default 50,000 blocks). */
  authorizationLookbackBlocks?: bigint
  /** Largest block range per eth_getLogs call (default 2,000, what public Base RPCs accept). */
  maxLogRange?: bigint
  log?: ChainLogger
  /** Wall clock in ms (tests); default Date.now. */
  now?: () => number
}

export interface AuthorizationStatus {
  /** The EIP-3009 nonce derived from the idempotency key. */
  nonce: Hex
  /** Used by a transfer or cancelled (EIP-3009 keeps one flag for both). */
  used: boolean
  /** The transfer that used it, when found within the lookback. */
  txHash?: Hex
  /** True when it was cancelled instead (cancelAuthorization): it can never pay. */
  canceled?: boolean
}

/** The authorization for this idempotency key was cancelled on chain: the transfer can never happen. */
export class AuthorizationCanceledError extends Error {
  override name = 'AuthorizationCanceledError' as const
  constructor(readonly nonce: Hex) {
    super(`authorization ${nonce} was cancelled on chain`)
  }
}

/** The ChainPort plus what the deposit watcher and the composition root need. */
export interface ChainConnector extends ChainPort {
  publicClient: PublicClient<Transport, Chain>
  usdcAddress: Address
  /** undefined when no relayer key is configured (transferFromDeposit then throws). */
  relayerAddress: Address | undefined
  /** Whether the authorization for (depositIndex, idempotencyKey) was used on chain, and by which tx. */
  authorizationStatus(p: { depositIndex: number; idempotencyKey: string }): Promise<AuthorizationStatus>
  /**
   * Burns the authorization's nonce on chain (EIP-3009 cancelAuthorization, signed by the
   * deposit key, submitted by the relayer) so no copy of it can ever execute: after its
   * receipt, a transfer is definitely not going to happen. Throws (a contract revert) when
   * the authorization was already used — i.e. the transfer did happen.
   */
  cancelAuthorization(p: { depositIndex: number; idempotencyKey: string }): Promise<{ txHash: Hex }>
}

/** The EIP-3009 nonce for an idempotency key: a retry re-signs the same nonce, so it can pay at most once. */
export function authorizationNonce(idempotencyKey: string): Hex {
  return keccak256(stringToBytes(idempotencyKey))
}

/**
 * Builds the viem-backed ChainPort: deposit addresses from the keyring; transfers out of a
 * deposit address as EIP-3009 `transferWithAuthorization` signed by the deposit key and
 * submitted (and paid for) by the relayer.
 */
export function createChainPort(p: CreateChainPortParameters): ChainConnector {
  const pollingInterval = p.pollingIntervalMs ?? 4000
  const chain = defineChain({
    id: p.chainId,
    name: `chain-${p.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [p.rpcUrl] } },
  })
  const transport = http(p.rpcUrl, { retryCount: 3 })
  const publicClient = createPublicClient({ chain, transport, pollingInterval }) as PublicClient<Transport, Chain>
  const relayer = p.relayerPrivateKey === undefined ? undefined : privateKeyToAccount(p.relayerPrivateKey)
  const walletClient = relayer && createWalletClient({ chain, transport, account: relayer, pollingInterval })
  const usdc = getAddress(p.usdcAddress)
  const now = p.now ?? Date.now
  const validity = BigInt(p.authorizationValiditySeconds ?? 3600)
  const lookback = p.authorizationLookbackBlocks ?? 50_000n
  const maxRange = p.maxLogRange ?? 2_000n
  const receiptConfirmations = p.receiptConfirmations ?? 1
  const receiptTimeout = p.receiptTimeoutMs ?? 10 * 60_000

  // Authorizations this process submitted and that may still be pending: a retry in the
  // same process returns the same hash instead of racing a second copy into the mempool.
  const submitted = new Map<string, Hex>()
  // One relayer account: serialise submissions so each gets its own account nonce.
  let queue: Promise<unknown> = Promise.resolve()
  const serialised = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn)
    queue = run.catch(() => undefined)
    return run
  }

  let domainPromise: Promise<{ name: string; version: string; chainId: number; verifyingContract: Address }> | undefined
  const tokenDomain = () => {
    domainPromise ??= (async () => {
      const nv = p.tokenDomain ?? {
        name: await publicClient.readContract({ address: usdc, abi: usdcAbi, functionName: 'name' }),
        version: await publicClient.readContract({ address: usdc, abi: usdcAbi, functionName: 'version' }),
      }
      const domain = { ...nv, chainId: p.chainId, verifyingContract: usdc }
      // A wrong name/version/chain makes every signature silently invalid: check against the token.
      const onChain = await publicClient
        .readContract({ address: usdc, abi: usdcAbi, functionName: 'DOMAIN_SEPARATOR' })
        .catch(() => undefined)
      if (onChain !== undefined && onChain !== domainSeparator({ domain })) {
        throw new Error(
          `USDC EIP-712 domain mismatch at ${usdc}: name=${nv.name} version=${nv.version} chainId=${p.chainId} does not match DOMAIN_SEPARATOR()`,
        )
      }
      return domain
    })()
    domainPromise.catch(() => {
      domainPromise = undefined // retry on the next call (e.g. RPC was down)
    })
    return domainPromise
  }

  /** Finds the AuthorizationUsed (or AuthorizationCanceled) log for (authorizer, nonce), newest ranges first. */
  async function findAuthorizationTx(
    authorizer: Address,
    nonce: Hex,
    event: typeof authorizationUsedEvent | typeof authorizationCanceledEvent = authorizationUsedEvent,
  ): Promise<Hex | undefined> {
    const head = await publicClient.getBlockNumber({ cacheTime: 0 })
    const floor = head > lookback ? head - lookback : 0n
    for (let to = head; to >= floor; ) {
      const from = to - maxRange + 1n > floor ? to - maxRange + 1n : floor
      const logs = await publicClient.getLogs({
        address: usdc,
        event,
        args: { authorizer, nonce },
        fromBlock: from,
        toBlock: to,
      })
      const hit = logs.at(-1)
      if (hit?.transactionHash) return hit.transactionHash
      if (from === 0n) break
      to = from - 1n
    }
    return undefined
  }

  async function authorizationStatus(q: { depositIndex: number; idempotencyKey: string }): Promise<AuthorizationStatus> {
    const authorizer = p.keyring.address(q.depositIndex)
    const nonce = authorizationNonce(q.idempotencyKey)
    const used = await publicClient.readContract({
      address: usdc,
      abi: usdcAbi,
      functionName: 'authorizationState',
      args: [authorizer, nonce],
    })
    if (!used) return { nonce, used }
    const txHash = await findAuthorizationTx(authorizer, nonce)
    if (txHash) return { nonce, used, txHash }
    if (await findAuthorizationTx(authorizer, nonce, authorizationCanceledEvent)) return { nonce, used, canceled: true }
    return { nonce, used }
  }

  async function transferFromDeposit(t: {
    depositIndex: number
    to: Address
    amount: bigint
    idempotencyKey: string
  }): Promise<{ txHash: Hex }> {
    if (t.amount <= 0n) throw new RangeError('transfer amount must be positive')
    if (!walletClient) throw new Error('RELAYER_PRIVATE_KEY is not configured: cannot send transfers')
    const relayerClient = walletClient
    const to = getAddress(t.to)
    const account = p.keyring.account(t.depositIndex)
    const from = account.address
    const nonce = authorizationNonce(t.idempotencyKey)
    const memoKey = `${from.toLowerCase()}:${nonce}`

    return serialised(async () => {
      const status = await authorizationStatus(t)
      if (status.canceled) throw new AuthorizationCanceledError(nonce)
      if (status.used) {
        const txHash = status.txHash ?? submitted.get(memoKey)
        if (!txHash) throw new Error(`authorization ${nonce} of ${from} is used but its transaction was not found within the lookback`)
        p.log?.info({ from, nonce, txHash }, 'chain: authorization already used; returning the existing transaction')
        return { txHash }
      }
      const pending = submitted.get(memoKey)
      if (pending) {
        // Still in the mempool: return it rather than racing a second copy. Mined while the
        // authorization is unused means it reverted: fall through and submit afresh.
        const tx = await publicClient.getTransaction({ hash: pending }).catch(() => undefined)
        if (tx && tx.blockNumber === null) return { txHash: pending }
      }

      const domain = await tokenDomain()
      const validBefore = BigInt(Math.floor(now() / 1000)) + validity
      const message = { from, to, value: t.amount, validAfter: 0n, validBefore, nonce }
      const signature = await account.signTypedData({
        domain,
        types: transferWithAuthorizationTypes,
        primaryType: 'TransferWithAuthorization',
        message,
      })
      const { r, s, v, yParity } = parseSignature(signature)
      const vNum = Number(v ?? BigInt(yParity + 27))
      try {
        const txHash = await relayerClient.writeContract({
          address: usdc,
          abi: usdcAbi,
          functionName: 'transferWithAuthorization',
          args: [from, to, t.amount, 0n, validBefore, nonce, vNum, r, s],
        })
        submitted.set(memoKey, txHash)
        p.log?.info({ from, to, amount: t.amount.toString(), nonce, txHash }, 'chain: transferWithAuthorization submitted')
        return { txHash }
      } catch (err) {
        // Lost a race with another submitter of the same authorization: report its tx.
        const again = await authorizationStatus(t).catch(() => undefined)
        if (again?.used && again.txHash) return { txHash: again.txHash }
        throw err
      }
    })
  }

  async function cancelAuthorization(q: { depositIndex: number; idempotencyKey: string }): Promise<{ txHash: Hex }> {
    if (!walletClient) throw new Error('RELAYER_PRIVATE_KEY is not configured: cannot send transactions')
    const relayerClient = walletClient
    const account = p.keyring.account(q.depositIndex)
    const nonce = authorizationNonce(q.idempotencyKey)
    return serialised(async () => {
      const domain = await tokenDomain()
      const signature = await account.signTypedData({
        domain,
        types: cancelAuthorizationTypes,
        primaryType: 'CancelAuthorization',
        message: { authorizer: account.address, nonce },
      })
      const { r, s, v, yParity } = parseSignature(signature)
      const txHash = await relayerClient.writeContract({
        address: usdc,
        abi: usdcAbi,
        functionName: 'cancelAuthorization',
        args: [account.address, nonce, Number(v ?? BigInt(yParity + 27)), r, s],
      })
      p.log?.info({ from: account.address, nonce, txHash }, 'chain: cancelAuthorization submitted')
      return { txHash }
    })
  }

  async function waitForReceipt(txHash: Hex): Promise<{ status: 'success' | 'reverted'; blockNumber: bigint }> {
    const receipt = await publicClient.waitForTransactionReceipt({
      hash: txHash,
      confirmations: receiptConfirmations,
      pollingInterval,
      timeout: receiptTimeout,
    })
    return { status: receipt.status, blockNumber: receipt.blockNumber }
  }

  async function balanceOf(address: Address, blockNumber?: bigint): Promise<bigint> {
    return publicClient.readContract({
      address: usdc,
      abi: usdcAbi,
      functionName: 'balanceOf',
      args: [getAddress(address)],
      ...(blockNumber !== undefined ? { blockNumber } : {}),
    })
  }

  return {
    depositAddress: (index) => p.keyring.address(index),
    transferFromDeposit,
    waitForReceipt,
    balanceOf,
    authorizationStatus,
    cancelAuthorization,
    publicClient,
    usdcAddress: usdc,
    relayerAddress: relayer?.address,
  }
}
