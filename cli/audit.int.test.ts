import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { toTaggedJson } from '../store/codec.js'
import { hashEvent } from '../store/hash.js'

const run = promisify(execFile)
const AT = '2026-11-25T12:00:00.000Z'
const streamId = 'wallet-0x9999999999999999999999999999999999999999'
const lines: string[] = []
let prev = ''
const events: [string, unknown][] = [
  ['WalletRegistered', { address: '0x9999999999999999999999999999999999999999', at: AT }],
  ['DepositAddressAssigned', { index: 4, address: '0x4444444444444444444444444444444444444444', at: AT }],
  ['DepositDetected', { txHash: '0xabc', logIndex: 1, amount: 3_000_000n, blockNumber: 9n, at: AT }],
  ['DepositDetected', { txHash: '0xabc', logIndex: 1, amount: 3_000_000n, blockNumber: 9n, at: AT }],
]
for (const [i, [type, data]] of events.entries()) {
  const hash = hashEvent({ streamId, revision: BigInt(i), type, data, recordedAt: AT, prevHash: prev })
  lines.push(JSON.stringify({ streamId, revision: i, position: i + 1, type, data: toTaggedJson(data), recordedAt: AT, prevHash: prev, hash }))
  prev = hash
}

const server = createServer((req, res) => {
  if (req.headers.authorization !== 'Bearer audit-token') return void res.writeHead(403).end('{"error":"forbidden"}')
  const n = req.url === '/audit/ledger?bad' ? 4 : 3
  res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(`${lines.slice(0, n).join('\n')}\n`)
})
let base = ''
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

const cli = (url: string, token?: string) =>
  run(process.execPath, ['--import', 'tsx', 'cli/audit.ts', 'verify', url, '--json'], {
    cwd: process.cwd(),
    env: { ...process.env, ...(token === undefined ? {} : { AUDIT_TOKEN: token }) },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )

it('verifies an export over HTTP with AUDIT_TOKEN, recomputing the balance', async () => {
  const ok = await cli(`${base}/audit/ledger`, 'audit-token')
  expect(ok.code).toBe(0)
  const result = JSON.parse(ok.stdout)
  expect(result.wallets[0]).toMatchObject({ onChainBalance: '3000000', availableBalance: '3000000', deposited: '3000000' })
})

it('names a deposit counted twice (valid hashes, bad ledger), and fails with 2 on HTTP errors', async () => {
  const bad = await cli(`${base}/audit/ledger?bad`, 'audit-token')
  expect(bad.code).toBe(1)
  expect(JSON.parse(bad.stdout).bad).toMatchObject({ line: 4, revision: '3', type: 'DepositDetected', reason: expect.stringMatching(/counted twice/) })
  const denied = await cli(`${base}/audit/ledger`, 'wrong')
  expect(denied.code).toBe(2)
  expect(denied.stderr).toMatch(/403/)
  expect(denied.stderr).not.toMatch(/wrong/) // the token never appears in output
})
