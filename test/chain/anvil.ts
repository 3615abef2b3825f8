import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { toHex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'

/** Anvil's default dev mnemonic: account 0 is 0xf39F…2266 with 10,000 ETH. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk'
/** Private key of anvil's default account `i` (derived from its public dev mnemonic; test only). */
export function anvilKey(i: number): `0x${string}` {
  return toHex(mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }).getHdKey().privateKey!)
}

/** Private keys of anvil's default accounts 0..3 (the node is started with 4 funded accounts). */
export const ANVIL_KEYS = [0, 1, 2, 3].map(anvilKey) as readonly `0x${string}`[]

const ANVIL_BIN = fileURLToPath(
  new URL('../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil', import.meta.url),
)

export interface AnvilOptions {
  chainId?: number
  /** Seconds between blocks; omitted = automine (a block per transaction). */
  blockTime?: number
}

export interface Anvil {
  rpcUrl: string
  port: number
  chainId: number
  stop(): Promise<void>
}

/**
 * Starts a real anvil node on 127.0.0.1 with an OS-assigned port (anvil accepts --port 0
 * and prints "Listening on host:port", which we parse) and resolves once it answers.
 */
export async function startAnvil(opts: AnvilOptions = {}): Promise<Anvil> {
  const chainId = opts.chainId ?? 31337
  const args = ['--host', '127.0.0.1', '--port', '0', '--chain-id', String(chainId), '--accounts', '4']
  if (opts.blockTime !== undefined) args.push('--block-time', String(opts.blockTime))
  const child = spawn(ANVIL_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr: string[] = []
  child.stderr?.on('data', (b: Buffer) => stderr.push(b.toString()))

  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`anvil did not start within 15 s: ${stderr.join('')}`))
    }, 15_000)
    rl.on('line', (line) => {
      const m = /Listening on [\d.]+:(\d+)/.exec(line)
      if (m) {
        clearTimeout(timer)
        // Keep draining stdout so anvil never blocks on a full pipe.
        child.stdout?.resume()
        resolve(Number(m[1]))
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`anvil exited early (code ${code}): ${stderr.join('')}`))
    })
  })
  const rpcUrl = `http://127.0.0.1:${port}`
  await waitReady(rpcUrl)
  return { rpcUrl, port, chainId, stop: () => stopChild(child) }
}

async function waitReady(rpcUrl: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      })
      if (res.ok) return
    } catch {
      // not accepting connections yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`anvil at ${rpcUrl} never answered eth_chainId`)
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}
