import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ActorHost } from '../actors/runtime/host.js'
import { walletDefinition } from '../actors/wallet/definition.js'
import type { WalletHost } from '../actors/wallet/deposit-index.js'
import { signingKeyFromMaterial, type SigningKey } from '../keys/signing-key.js'
import { openCheckpoint, parseVerifierKey, signCheckpoint, verifierKey } from '../ledger-log/checkpoint.js'
import { LedgerLog } from '../ledger-log/ledger-log.js'
import { ForbiddenError, NotFoundError } from '../shared/errors.js'
import { fromTaggedJson } from '../store/codec.js'
import { hashEvent } from '../store/hash.js'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import type { RecordedEvent } from '../store/types.js'
import { auditLogRoutes } from '../transport/routes/audit-log.js'
import { exportRecord } from '../ledger-log/export-format.js'
import { authFor, call } from '../test/wallet/call-route.js'

const A = '0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045' as const
const B = '0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B' as const
const AUDITOR = '0x1234567890123456789012345678901234567890' as const
const ORIGIN = 'gateway.test/ledger'
const run = promisify(execFile)

let dir: string
let key: SigningKey
let vkey: string
let store: SqliteEventStore
let log: LedgerLog
let host: WalletHost
const servers: Server[] = []

/** Serves a log's public audit routes (and the JWKS) over HTTP, as a gateway would. */
async function serve(l: LedgerLog): Promise<string> {
  const routes = auditLogRoutes({ log: l, store, auditorWallets: [AUDITOR], verifierKey: vkey, kid: key.kid })
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x')
    void (async () => {
      if (url.pathname === '/.well-known/jwks.json') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(key.jwks))
      try {
        const r = await call(routes, 'GET', url.pathname, { query: Object.fromEntries(url.searchParams) })
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body))
      } catch (error) {
        res.writeHead(400).end(JSON.stringify({ error: String(error) }))
      }
    })()
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const cli = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'cli/audit.ts', ...args, '--json'], { cwd: process.cwd() }).then(
    (r) => ({ code: 0, out: JSON.parse(r.stdout) as Record<string, any> }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: (e.stdout === '' ? { stderr: e.stderr } : JSON.parse(e.stdout)) as Record<string, any> }),
  )

async function exportLines(format: 'canonical' | 'plain' = 'canonical'): Promise<string[]> {
  const events = await store.readAll({})
  return events.filter((e) => e.streamId.startsWith('wallet-')).map((e) => JSON.stringify(exportRecord(e, format)))
}

function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

async function caughtUp(): Promise<void> {
  expect(await log.waitFor(await store.headPosition())).toBe(true)
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'audit-log-'))
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })
  key = await signingKeyFromMaterial(JSON.stringify(jwk), 'file')
  vkey = verifierKey(ORIGIN, key.publicKeyObject)
  store = await SqliteEventStore.open({ file: join(dir, 'events.sqlite') })
  log = new LedgerLog({ store, file: join(dir, 'ledger-log.sqlite'), origin: ORIGIN, signingKey: key.privateKeyObject })
  log.start()
  host = new ActorHost({ definition: walletDefinition, store, now: () => new Date('2026-11-25T12:00:00.000Z') })
})

afterAll(async () => {
  for (const s of servers) s.close()
  await log.close()
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('the ledger as a transparency log', () => {
  it('detects a rewrite that re-hashes a whole chain: verify against an earlier checkpoint and consistency fail; honest later checkpoints pass', async () => {
    for (const [i, w] of [A, B].entries()) {
      await host.send(w.toLowerCase(), { type: 'RegisterWallet', address: w })
      await host.send(w.toLowerCase(), { type: 'AssignDepositAddress', index: i, address: `0x${String(i + 1).repeat(40)}` })
    }
    await host.send(A.toLowerCase(), { type: 'ObserveDeposit', txHash: '0xd1', logIndex: 0, amount: 5_000_000n, blockNumber: 5n })
    await host.send(B.toLowerCase(), { type: 'ObserveDeposit', txHash: '0xd2', logIndex: 0, amount: 7_000_000n, blockNumber: 6n })
    await host.send(A.toLowerCase(), { type: 'ObserveDeposit', txHash: '0xd3', logIndex: 1, amount: 1_000_000n, blockNumber: 7n })
    await caughtUp()
    const c1 = log.signCheckpoint()
    const e1 = await exportLines()
    expect(c1.size).toBe(e1.length)
    expect(openCheckpoint(c1.note, parseVerifierKey(vkey)).size).toBe(e1.length)
    const c1File = file('c1.note', c1.note)

    // Honest growth, then a later checkpoint.
    await host.send(B.toLowerCase(), { type: 'ObserveDeposit', txHash: '0xd4', logIndex: 2, amount: 2_000_000n, blockNumber: 8n })
    await caughtUp()
    const c2 = log.signCheckpoint()
    expect(c2.size).toBeGreaterThan(c1.size)
    const e2 = await exportLines()
    const honest = await serve(log)

    // The operator rewrites A's first deposit (5 USDC → 50 USDC) and re-hashes A's chain from there on.
    const target = e1.findIndex((l) => l.includes('"0xd1"'))
    const rewritten = [...e1]
    const aStream = `wallet-${A.toLowerCase()}`
    let prev: string | undefined
    for (let i = target; i < rewritten.length; i++) {
      const r = JSON.parse(rewritten[i]!) as Record<string, any>
      if (r.streamId !== aStream) continue
      if (i === target) r.data.amount = { $bigint: '50000000' }
      if (prev !== undefined) r.prevHash = prev
      r.hash = hashEvent({ streamId: r.streamId, revision: BigInt(r.revision), type: r.type, data: fromTaggedJson(r.data), recordedAt: r.recordedAt, prevHash: r.prevHash })
      prev = r.hash
      rewritten[i] = JSON.stringify(r)
    }
    const evilExport = file('rewritten.ndjson', `${rewritten.join('\n')}\n`)

    // Every chain still links: without a checkpoint the rewrite is invisible (why checkpoints exist).
    const blind = await cli('verify', evilExport)
    expect(blind.code).toBe(0)
    expect(blind.out.wallets.find((w: { wallet: string }) => w.wallet === A.toLowerCase()).deposited).toBe('51000000')

    // Against the checkpoint signed before the rewrite: the root differs.
    const caught = await cli('verify', evilExport, '--checkpoint', c1File, '--key', vkey)
    expect(caught.code).toBe(4)
    expect(caught.out.merkle.checkpoint).toMatchObject({ size: c1.size, signature: 'verified', matches: false })
    // The same checks on one thread agree.
    expect((await cli('verify', evilExport, '--checkpoint', c1File, '--key', vkey, '--threads', '1')).code).toBe(4)

    // The operator now runs its rewritten log (plus new events) and signs a checkpoint with the same key.
    const evilLog = new LedgerLog({ store, file: join(dir, 'evil-log.sqlite'), origin: ORIGIN, signingKey: key.privateKeyObject })
    const records = [...rewritten, ...e2.slice(e1.length)].map((l): RecordedEvent => {
      const r = JSON.parse(l) as Record<string, any>
      return { ...r, id: `${r.streamId}/${r.revision}`, metadata: {}, revision: BigInt(r.revision), position: BigInt(r.position), data: fromTaggedJson(r.data) } as RecordedEvent
    })
    evilLog.append(records)
    const evilCheckpoint = evilLog.signCheckpoint()
    expect(evilCheckpoint.size).toBe(c2.size)
    const evil = await serve(evilLog)
    // Its own checkpoint and export agree (a consistent lie) …
    const evilAtC1 = signCheckpoint({ origin: ORIGIN, size: c1.size, root: evilLog.root(c1.size) }, ORIGIN, key.privateKeyObject)
    expect((await cli('verify', evilExport, '--checkpoint', file('evil-c1.note', evilAtC1), '--key', vkey)).code).toBe(0)
    // … but it cannot prove it extends what it signed before.
    const broken = await cli('consistency', c1File, evil, '--key', vkey)
    expect(broken.code).toBe(5)
    expect(broken.out).toMatchObject({ ok: false, from: { size: c1.size }, to: { size: c2.size } })
    await evilLog.close()

    // The honest log: the later checkpoint extends the earlier one, and a longer export still matches both.
    const grew = await cli('consistency', c1File, honest, '--key', vkey)
    expect(grew).toMatchObject({ code: 0, out: { ok: true, from: { size: c1.size }, to: { size: c2.size } } })
    const e2File = file('e2.ndjson', `${e2.join('\n')}\n`)
    expect((await cli('verify', e2File, '--checkpoint', c1File, '--key', vkey)).code).toBe(0)
    const latest = await cli('verify', e2File, '--checkpoint', file('c2.note', c2.note), '--key', honest + '/.well-known/jwks.json')
    expect(latest.code).toBe(0)
    expect(latest.out.merkle).toMatchObject({ size: c2.size, checkpoint: { matches: true } })
    // The readable export (bigints as decimal strings) verifies to the same root.
    const plain = await exportLines('plain')
    expect(plain.join('\n')).toContain('"amount":"7000000"')
    const plainReport = await cli('verify', file('e2-plain.ndjson', `${plain.join('\n')}\n`), '--checkpoint', file('c2.note', c2.note), '--key', vkey)
    expect(plainReport).toMatchObject({ code: 0, out: { merkle: { root: latest.out.merkle.root, checkpoint: { matches: true } } } })
    // A checkpoint signed by another key is refused as such.
    const other = await signingKeyFromMaterial(JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })), 'file')
    expect((await cli('verify', e2File, '--checkpoint', c1File, '--key', verifierKey(ORIGIN, other.publicKeyObject))).code).toBe(3)
  }, 120_000)

  it('a wallet proves its own event is in a signed checkpoint; auditors may ask for any; the CLI checks the proof', async () => {
    const routes = auditLogRoutes({ log, store, auditorWallets: [AUDITOR], verifierKey: vkey, kid: key.kid })
    const events = (await store.readAll({})).filter((e) => e.streamId === `wallet-${A.toLowerCase()}`)
    const mine = events.at(-1)!
    const proof = await call(routes, 'GET', '/wallet/ledger/:position/proof', { auth: authFor(A), params: { position: String(mine.position) } })
    expect(proof.body).toMatchObject({ event: { streamId: mine.streamId, hash: mine.hash }, treeSize: log.head().size })
    expect(proof.body.checkpoint).toContain(`${ORIGIN}\n${log.head().size}\n`)
    await expect(call(routes, 'GET', '/wallet/ledger/:position/proof', { auth: authFor(B), params: { position: String(mine.position) } })).rejects.toThrow(NotFoundError)
    await expect(call(routes, 'GET', '/audit/proof/inclusion', { auth: authFor(A), query: { position: String(mine.position) } })).rejects.toThrow(ForbiddenError)
    const audited = await call(routes, 'GET', '/audit/proof/inclusion', { auth: authFor(AUDITOR), query: { position: String(mine.position) } })
    expect(audited.body.proof).toEqual(proof.body.proof)

    const proofFile = file('proof.json', JSON.stringify(proof.body))
    const checkpointFile = file('proof-c.note', proof.body.checkpoint)
    expect(await cli('inclusion', proofFile, checkpointFile, '--key', vkey)).toMatchObject({ code: 0, out: { ok: true, leafIndex: proof.body.leafIndex } })
    // An edited event (and re-hashed, so its own hash matches) is not in the tree.
    const edited = structuredClone(proof.body)
    edited.event.data.amount = { $bigint: '999' }
    edited.event.hash = hashEvent({ ...edited.event, revision: BigInt(edited.event.revision), data: fromTaggedJson(edited.event.data) })
    const refused = await cli('inclusion', file('edited.json', JSON.stringify(edited)), checkpointFile, '--key', vkey)
    expect(refused).toMatchObject({ code: 6, out: { ok: false, reason: expect.stringMatching(/audit path/) } })
  }, 60_000)
})
