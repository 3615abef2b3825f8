import { createHash } from 'node:crypto'
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Abi, Account, Chain, PublicClient, Transport, WalletClient } from 'viem'

const require = createRequire(import.meta.url)
const SOURCE_PATH = fileURLToPath(new URL('./TestUSDC.sol', import.meta.url))

export interface CompiledContract {
  abi: Abi
  bytecode: `0x${string}`
}

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[]
  contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>
}

/**
 * Compiles test/chain/TestUSDC.sol with solc-js, resolving `@openzeppelin/...` imports
 * from node_modules. The output is cached in os.tmpdir() keyed by the hash of the source,
 * the OpenZeppelin version and the solc version, since a compile takes about a second.
 */
export function compileTestUsdc(): CompiledContract {
  const source = readFileSync(SOURCE_PATH, 'utf8')
  const solcVersion = (require('solc/package.json') as { version: string }).version
  const ozVersion = (require('@openzeppelin/contracts/package.json') as { version: string }).version
  const key = createHash('sha256').update(source).update(solcVersion).update(ozVersion).digest('hex').slice(0, 16)
  const cacheFile = join(tmpdir(), `agent-gateway-testusdc-${key}.json`)
  if (existsSync(cacheFile)) {
    try {
      return JSON.parse(readFileSync(cacheFile, 'utf8')) as CompiledContract
    } catch {
      // a torn cache file: recompile
    }
  }

  // solc is CommonJS and heavy; load it only on a cache miss.
  const solc = require('solc') as { compile(input: string, opts: { import(path: string): { contents: string } | { error: string } }): string }
  const input = {
    language: 'Solidity',
    sources: { 'TestUSDC.sol': { content: source } },
    settings: {
      // anvil 1.x runs at least Prague; pin so a newer solc default cannot emit unknown opcodes.
      evmVersion: 'cancun',
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  }
  const findImports = (path: string): { contents: string } | { error: string } => {
    if (!path.startsWith('@openzeppelin/')) return { error: `import not allowed: ${path}` }
    try {
      return { contents: readFileSync(require.resolve(path), 'utf8') }
    } catch (e) {
      return { error: `cannot resolve ${path}: ${(e as Error).message}` }
    }
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as SolcOutput
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) throw new Error(`TestUSDC.sol failed to compile:\n${errors.map((e) => e.formattedMessage).join('\n')}`)
  const contract = output.contracts?.['TestUSDC.sol']?.['TestUSDC']
  if (!contract) throw new Error('solc output has no TestUSDC contract')
  const compiled: CompiledContract = { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` }
  // Write then rename so parallel test files never read a half-written cache.
  const tmp = `${cacheFile}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(compiled))
  renameSync(tmp, cacheFile)
  return compiled
}

/** Deploys TestUSDC from `wallet`'s account (which becomes the minter); returns its address. */
export async function deployTestUsdc(
  wallet: WalletClient<Transport, Chain, Account>,
  publicClient: PublicClient,
): Promise<`0x${string}`> {
  const { abi, bytecode } = compileTestUsdc()
  const hash = await wallet.deployContract({ abi, bytecode, args: [] })
  const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 })
  if (receipt.status !== 'success' || !receipt.contractAddress) throw new Error('TestUSDC deployment failed')
  return receipt.contractAddress
}

/** ABI for the test-only `mint(to, amount)` of TestUSDC. */
export const mintAbi = [
  {
    type: 'function',
    name: 'mint',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'to', type: 'address' },
      { name: 'amount', type: 'uint256' },
    ],
    outputs: [],
  },
] as const
