import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts'
import { loadConfig } from '../config.js'
import { startGateway, type Gateway } from '../gateway.js'
import { REDACT_PATHS } from '../transport/logger.js'

/** Root of the repository (this file lives in test/). */
export const REPO_ROOT = new URL('..', import.meta.url).pathname

export interface TestGateway extends Gateway {
  dataDir: string
  /** Every log line the gateway wrote (JSON text), for secret-leak checks. */
  logLines: string[]
  /** Stops the gateway and deletes its data folder (unless keepData). */
  stop(options?: { keepData?: boolean }): Promise<void>
}

/** Starts a whole gateway in this process on 127.0.0.1 with a free port and a temp data folder. */
export async function startTestGateway(env: Record<string, string> = {}, dataDir?: string): Promise<TestGateway> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'agw-'))
  const logLines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.length > 0) logLines.push(line)
      done()
    },
  })
  const logger = pino({ level: env.LOG_LEVEL ?? 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink)
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: dir, NODE_ENV: 'test', WORKER_THREADS: '1', ...env })
  const gateway = await startGateway(config, { logger })
  return {
    ...gateway,
    dataDir: dir,
    logLines,
    async stop(options = {}) {
      await gateway.close()
      if (options.keepData !== true && dataDir === undefined) rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface GatewayProcess {
  url: string
  port: number
  child: ChildProcess
  output(): string
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>
  /** SIGKILL and wait. */
  kill(): Promise<void>
}

/** Starts `main.ts` as a separate process (for multi-process and crash tests). */
export async function spawnGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', NODE_ENV: 'test', LOG_LEVEL: 'warn', WORKER_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start within 60 s:\n${out}`)), 60_000)
    const onData = (): void => {
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out)
      if (m?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(m[1])
      }
    }
    child.stdout?.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`gateway exited with ${code}:\n${out}`))
    })
  })
  return {
    url,
    port: Number(new URL(url).port),
    child,
    output: () => out,
    async stop() {
      child.kill('SIGTERM')
      return exited
    },
    async kill() {
      child.kill('SIGKILL')
      await exited
    },
  }
}

/** A wallet that signs in like a client holding only viem and fetch (API.md §1). */
export async function signIn(baseUrl: string, account: PrivateKeyAccount): Promise<string> {
  const challenge = (await (await fetch(`${baseUrl}/auth/challenge`)).json()) as { nonce: string; message: string }
  const signature = await account.signMessage({ message: challenge.message })
  const res = await fetch(`${baseUrl}/auth/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ walletAddress: account.address, signature, nonce: challenge.nonce }),
  })
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { token: string }).token
}

/**
 * Funds a signed-in wallet the way a user does: USDC minted to its deposit address
 * (`mint`, e.g. the chain fixture's), then waits until the deposit watcher has credited it.
 */
export async function fundByDeposit(baseUrl: string, token: string, mint: (to: `0x${string}`, amount: bigint) => Promise<unknown>, amount: bigint): Promise<void> {
  const balance = async () => (await (await fetch(`${baseUrl}/wallet/balance`, { headers: { authorization: `Bearer ${token}` } })).json()) as { unifiedDepositAddress: `0x${string}`; availableBalance: string }
  await mint((await balance()).unifiedDepositAddress, amount)
  for (let i = 0; i < 200; i++) {
    if (BigInt((await balance()).availableBalance) >= amount) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`the deposit of ${amount} was not credited within 20 s`)
}

/** Well-known anvil test keys: deterministic, public, never used for real funds. */
export const TEST_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
] as const

export function testAccount(i: 0 | 1 | 2): PrivateKeyAccount {
  return privateKeyToAccount(TEST_KEYS[i])
}
