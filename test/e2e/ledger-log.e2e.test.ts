import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openCheckpoint, verifierFromJwk, type SignedCheckpoint } from '../../ledger-log/checkpoint.js'
import { verifyConsistency } from '../../ledger-log/merkle.js'
import { REPO_ROOT, signIn, spawnGatewayProcess, testAccount, type GatewayProcess } from '../gateway.js'

/** Two gateway processes on one SQLite store (and one DATA_DIR): one ledger log, whoever appended. */
describe('the ledger log with two gateway processes on one store', () => {
  let dir: string
  let a: GatewayProcess
  let b: GatewayProcess
  const auditor = testAccount(2)
  const wallets = [testAccount(0), testAccount(1), privateKeyToAccount(generatePrivateKey()), privateKeyToAccount(generatePrivateKey())]
  const env = () => ({
    DATA_DIR: dir,
    JWT_SECRET: 'ledger-log-two-process-secret-0123456789abcdef',
    AUDITOR_WALLETS: auditor.address,
    AUDIT_CHECKPOINT_INTERVAL_MS: '1000',
  })

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agw-log-2p-'))
    ;[a, b] = await Promise.all([spawnGatewayProcess(env()), spawnGatewayProcess(env())])
  }, 120_000)
  afterAll(async () => {
    const codes = await Promise.all([a?.stop(), b?.stop()])
    rmSync(dir, { recursive: true, force: true })
    expect(codes).toEqual([0, 0])
  })

  it('appends through both processes build one log; every checkpoint either signs is consistent with every other', async () => {
    const notes = new Set<string>()
    const collect = async (p: GatewayProcess) => {
      const r = (await (await fetch(`${p.url}/audit/checkpoint`)).json()) as { checkpoint: string }
      notes.add(r.checkpoint)
    }
    // Wallet events written alternately through A and B, checkpoints taken on demand from both meanwhile.
    const tokens = await Promise.all(wallets.map((w, i) => signIn(i % 2 === 0 ? a.url : b.url, w)))
    for (let round = 0; round < 6; round++) {
      await Promise.all(
        tokens.map((token, i) =>
          fetch(`${(i + round) % 2 === 0 ? a.url : b.url}/wallet/settings`, {
            method: 'PUT',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ [`round${round}`]: i }),
          }).then((r) => expect(r.status).toBe(200)),
        ),
      )
      await Promise.all([collect(a), collect(b)])
      await new Promise((r) => setTimeout(r, 1100)) // on-demand signing is limited to one a second
    }
    await new Promise((r) => setTimeout(r, 1500)) // a scheduled checkpoint too
    for (const p of [a, b]) {
      const list = (await (await fetch(`${p.url}/audit/checkpoints?limit=1000`)).json()) as { checkpoints: { checkpoint: string }[] }
      for (const c of list.checkpoints) notes.add(c.checkpoint)
      await collect(p)
    }

    const jwks = (await (await fetch(`${a.url}/.well-known/jwks.json`)).json()) as { keys: Record<string, string>[] }
    expect(await (await fetch(`${b.url}/.well-known/jwks.json`)).json()).toEqual(jwks)
    const first = [...notes][0]!
    const verifier = verifierFromJwk(first.split('\n')[0]!, jwks.keys[0]!)
    const checkpoints: SignedCheckpoint[] = [...notes].map((n) => openCheckpoint(n, verifier)).sort((x, y) => x.size - y.size)
    expect(checkpoints.length).toBeGreaterThan(3)
    // One note per size, whichever process signed it.
    expect(new Set(checkpoints.map((c) => c.size)).size).toBe(checkpoints.length)

    const failures: string[] = []
    for (const [i, older] of checkpoints.entries()) {
      for (const newer of checkpoints.slice(i + 1)) {
        const p = (older.size + newer.size) % 2 === 0 ? a : b
        const { proof } = (await (await fetch(`${p.url}/audit/proof/consistency?from=${older.size}&to=${newer.size}`)).json()) as { proof: string[] }
        if (!verifyConsistency(older.size, newer.size, older.root, newer.root, proof.map((x) => Buffer.from(x, 'base64')))) failures.push(`${older.size}→${newer.size}`)
      }
    }
    expect(failures).toEqual([])

    // The auditor CLI verifies the whole export from one process against the latest checkpoint of the other.
    const token = await signIn(a.url, auditor)
    const latest = checkpoints.at(-1)!
    const cli = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'cli/audit.ts', 'verify', `${a.url}/audit/ledger`, '--checkpoint', `${b.url}/audit/checkpoint`, '--json'],
      { cwd: REPO_ROOT, env: { ...process.env, AUDIT_TOKEN: token } },
    )
    const report = JSON.parse(cli.stdout) as { ok: boolean; merkle: { size: number; checkpoint: { size: number; matches: boolean } } }
    expect(report.ok).toBe(true)
    expect(report.merkle.checkpoint.matches).toBe(true)
    expect(report.merkle.checkpoint.size).toBeGreaterThanOrEqual(latest.size)
    expect(report.merkle.size).toBeGreaterThanOrEqual(report.merkle.checkpoint.size)
  }, 120_000)
})
