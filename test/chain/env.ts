import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  type Account,
  type Chain,
  type PublicClient,
  type TestClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { generateMnemonic, english, privateKeyToAccount } from 'viem/accounts'
import { startAnvil, ANVIL_KEYS, type Anvil } from './anvil.js'
import { deployTestUsdc, mintAbi } from './usdc.js'

/** A running anvil with TestUSDC deployed, plus clients to drive it from tests. */
export interface ChainTestEnv {
  anvil: Anvil
  chain: Chain
  publicClient: PublicClient<Transport, Chain>
  testClient: TestClient<'anvil', Transport, Chain>
  /** Account 0: deployer and minter of TestUSDC. */
  funder: WalletClient<Transport, Chain, Account>
  usdcAddress: `0x${string}`
  /** Anvil account 1's key: the relayer (it holds ETH). */
  relayerKey: `0x${string}`
  /** A fresh mnemonic whose addresses hold no ETH at all. */
  depositMnemonic: string
  /** Mints TestUSDC to `to` (one mined block). */
  mint(to: `0x${string}`, amount: bigint): Promise<bigint>
  /** Mines `n` empty blocks. */
  mine(n: number): Promise<void>
  stop(): Promise<void>
}

/** Starts anvil (automine), deploys TestUSDC and returns helpers. */
export async function startChainTestEnv(): Promise<ChainTestEnv> {
  const anvil = await startAnvil()
  const chain = defineChain({
    id: anvil.chainId,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [anvil.rpcUrl] } },
  })
  const transport = http(anvil.rpcUrl)
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 }) as PublicClient<Transport, Chain>
  const testClient = createTestClient({ chain, transport, mode: 'anvil' })
  const funder = createWalletClient({ chain, transport, account: privateKeyToAccount(ANVIL_KEYS[0]!) })
  const usdcAddress = await deployTestUsdc(funder, publicClient)
  return {
    anvil,
    chain,
    publicClient,
    testClient,
    funder,
    usdcAddress,
    relayerKey: ANVIL_KEYS[1]!,
    depositMnemonic: generateMnemonic(english),
    async mint(to, amount) {
      const hash = await funder.writeContract({ address: usdcAddress, abi: mintAbi, functionName: 'mint', args: [to, amount] })
      const r = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 })
      if (r.status !== 'success') throw new Error('mint reverted')
      return r.blockNumber
    },
    async mine(n) {
      await testClient.mine({ blocks: n })
    },
    stop: () => anvil.stop(),
  }
}

/** The gateway settings that point it at this chain: its deposit watcher polls every 100 ms and counts a deposit at once. */
export function chainGatewayEnv(chain: ChainTestEnv): Record<string, string> {
  return {
    CHAIN_RPC_URL: chain.anvil.rpcUrl,
    CHAIN_ID: String(chain.chain.id),
    USDC_ADDRESS: chain.usdcAddress,
    DEPOSIT_MNEMONIC: chain.depositMnemonic,
    RELAYER_PRIVATE_KEY: chain.relayerKey,
    CHAIN_CONFIRMATIONS: '0',
    CHAIN_POLL_MS: '100',
  }
}
