/**
 * Vault key derivation: what an unlock costs and what the worker pool buys.
 * Baseline: viem recoverMessageAddress on the event loop (the bare secp256k1 recovery).
 * Compared: deriveVaultKeys (recovery + normalisation + HKDF for a key check and 3 entries)
 * inline, and through the Piscina pool (task derive-vault-key), with the event loop's
 * worst stall while each runs.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { recoverMessageAddress } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { deriveVaultKeys, randomSalt } from '../vault/crypto.js'
import { deriveMessage } from '../vault/messages.js'
import { createWorkerPool } from '../workers/pool.js'
import { fmt, table } from './lib.js'

const N = 200
const account = privateKeyToAccount(generatePrivateKey())
const address = account.address.toLowerCase()
const message = deriveMessage(address, 1)
const signature = await account.signMessage({ message })
const payload = () => ({ address, message, signature, checkSalt: randomSalt(), entrySalts: [randomSalt(), randomSalt(), randomSalt()] })

async function measure(run: () => Promise<void>): Promise<{ perSec: number; maxStallMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const t0 = performance.now()
  await run()
  const ms = performance.now() - t0
  h.disable()
  return { perSec: (N * 1000) / ms, maxStallMs: h.max / 1e6 }
}

// Warm up JIT and curve tables.
for (let i = 0; i < 20; i++) await deriveVaultKeys(payload())

const baseline = await measure(async () => {
  for (let i = 0; i < N; i++) await recoverMessageAddress({ message, signature })
})
const inline = await measure(async () => {
  for (let i = 0; i < N; i++) await deriveVaultKeys(payload())
})
const pool = createWorkerPool({ threads: 2 })
await Promise.all(Array.from({ length: 8 }, () => pool.run('derive-vault-key', payload()))) // start both threads
const pooled = await measure(async () => {
  await Promise.all(Array.from({ length: N }, () => pool.run('derive-vault-key', payload())))
})
await pool.destroy()

console.log(
  table(
    ['variant', 'derivations/s', 'vs baseline', 'worst event-loop stall (ms)'],
    [
      ['recoverMessageAddress inline (baseline)', fmt(baseline.perSec), '1.00×', fmt(baseline.maxStallMs, 1)],
      ['deriveVaultKeys inline (check + 3 entries)', fmt(inline.perSec), `${fmt(inline.perSec / baseline.perSec, 2)}×`, fmt(inline.maxStallMs, 1)],
      ['deriveVaultKeys in pool (2 threads)', fmt(pooled.perSec), `${fmt(pooled.perSec / baseline.perSec, 2)}×`, fmt(pooled.maxStallMs, 1)],
    ],
  ),
)
