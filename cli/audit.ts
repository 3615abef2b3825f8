#!/usr/bin/env node
/**
 * npm run audit -- verify <export|url> [--checkpoint <note|url>] [--key <vkey|jwks|url>] [--threads N] [--json] [--progress]
 * npm run audit -- consistency <old-checkpoint> <new-checkpoint|gateway-url> [--gateway <url>] [--key …] [--json]
 * npm run audit -- inclusion <event-proof-json|url> <checkpoint|url> [--key …] [--json]
 *
 * verify replays a ledger export (NDJSON from GET /audit/ledger or /wallet/ledger): every
 * hash chain, every wallet's balances and charges, and the Merkle log over its events,
 * whose root must equal a signed checkpoint's. consistency proves a later checkpoint
 * extends an earlier one; inclusion proves one event is in a checkpoint's tree.
 * URLs are read with the token in AUDIT_TOKEN (never from the command line).
 *
 * Exit codes: 0 ok · 1 a ledger event fails (chain, balance, charge) · 2 usage or I/O ·
 * 3 a checkpoint signature does not verify · 4 the export's Merkle root differs from the
 * checkpoint (or does not reach its size) · 5 a consistency proof fails · 6 an inclusion proof fails.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import cliProgress from 'cli-progress'
import { CheckpointError, openCheckpoint, parseCheckpointNote, parseVerifierKey, verifierFromJwk, type SignedCheckpoint, type Verifier } from '../ledger-log/checkpoint.js'
import { leafHash, verifyConsistency, verifyInclusion } from '../ledger-log/merkle.js'
import { dataFromExport } from '../ledger-log/export-format.js'
import { canonicalEventJson, hashEvent } from '../store/hash.js'
import type { VerifyResult } from './audit-verify.js'
import { verifyExport } from './verify-export.js'

const EXIT = { ok: 0, ledger: 1, usage: 2, signature: 3, root: 4, consistency: 5, inclusion: 6 } as const

class Fail extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

interface Options {
  command: 'verify' | 'consistency' | 'inclusion'
  args: string[]
  checkpoint?: string
  key?: string
  gateway?: string
  threads: number
  progress: boolean
  json: boolean
}

const USAGE = `usage:
  npm run audit -- verify <export|url> [--checkpoint <note-file|url>] [--key <vkey|jwks-file|url>] [--threads N] [--json] [--progress]
  npm run audit -- consistency <old-checkpoint> <new-checkpoint|gateway-url> [--gateway <url>] [--key …] [--json]
  npm run audit -- inclusion <event-proof-json|url> <checkpoint|url> [--key …] [--json]
  (URLs: the token comes from AUDIT_TOKEN)
`

function usage(message?: string): never {
  throw new Fail(EXIT.usage, `${message === undefined ? '' : `${message}\n`}${USAGE}`)
}

function parseArgs(argv: string[]): Options {
  const [command, ...rest] = argv
  if (command !== 'verify' && command !== 'consistency' && command !== 'inclusion') usage(command === undefined ? undefined : `unknown command: ${command}`)
  const args: string[] = []
  const o: Options = { command, args, threads: availableParallelism(), progress: process.stderr.isTTY === true, json: false }
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!
    const value = () => rest[++i] ?? usage(`${a} needs a value`)
    if (a === '--json') o.json = true
    else if (a === '--progress') o.progress = true
    else if (a === '--no-progress') o.progress = false
    else if (a === '--checkpoint') o.checkpoint = value()
    else if (a === '--key') o.key = value()
    else if (a === '--gateway') o.gateway = value()
    else if (a === '--threads') {
      o.threads = Number(value())
      if (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > 256) usage('--threads must be 1…256')
    } else if (a.startsWith('--')) usage(`unknown option: ${a}`)
    else args.push(a)
  }
  const arity = command === 'verify' ? 1 : 2
  if (args.length !== arity) usage(`${command} takes ${arity === 1 ? 'one file or URL' : 'two arguments'}`)
  return o
}

const isUrl = (s: string) => /^https?:\/\//.test(s)
const authHeaders = (): Record<string, string> => (process.env.AUDIT_TOKEN === undefined ? {} : { authorization: `Bearer ${process.env.AUDIT_TOKEN}` })

async function get(url: string): Promise<Response> {
  let res: Response
  try {
    res = await fetch(url, { headers: authHeaders() })
  } catch (error) {
    throw new Fail(EXIT.usage, `cannot reach ${new URL(url).origin}: ${(error as Error).message}`)
  }
  if (!res.ok) throw new Fail(EXIT.usage, `GET ${new URL(url).pathname} answered ${res.status}`)
  return res
}

async function readText(source: string): Promise<string> {
  if (isUrl(source)) return (await get(source)).text()
  try {
    return readFileSync(source, 'utf8')
  } catch (error) {
    throw new Fail(EXIT.usage, `cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
}

/** A checkpoint note from a file, a gateway's GET /audit/checkpoint (JSON), or a bare gateway URL. */
async function loadCheckpointNote(source: string): Promise<string> {
  if (isUrl(source)) {
    const url = new URL(source)
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/audit/checkpoint'
    const body = (await (await get(url.href)).json()) as { checkpoint?: string }
    if (typeof body.checkpoint !== 'string') throw new Fail(EXIT.usage, `${url.pathname} did not answer a checkpoint`)
    return body.checkpoint
  }
  return readText(source)
}

/**
 * The trusted key: a verifier key text (name+id+key) or a file holding one, a JWKS file,
 * or a JWKS URL. Without --key, the JWKS of the gateway named by a URL argument (that
 * trusts the gateway's own word for its key: pin --key, or check the key against its
 * attestation report, to do better).
 */
async function loadVerifiers(o: Options, fallbackGateway: string | undefined, keyName: string): Promise<Verifier[]> {
  let source = o.key
  if (source === undefined) {
    if (fallbackGateway === undefined) usage('give --key (a verifier key, a JWKS file or URL) to check the checkpoint signature')
    source = `${new URL(fallbackGateway).origin}/.well-known/jwks.json`
  }
  if (/^[^\s+]+\+[0-9a-fA-F]{8}\+[A-Za-z0-9+/=]+$/.test(source.trim())) return [parseVerifierKey(source)]
  const text = (await readText(source)).trim()
  if (!text.startsWith('{')) return [parseVerifierKey(text)]
  const jwks = JSON.parse(text) as { keys?: { kty?: string; crv?: string; x?: string; y?: string }[] }
  const keys = (jwks.keys ?? []).filter((k) => k.kty === 'EC' && k.crv === 'P-256')
  if (keys.length === 0) throw new Fail(EXIT.usage, 'the JWKS holds no P-256 key')
  return keys.map((k) => verifierFromJwk(keyName, k as never))
}

function open(note: string, verifiers: Verifier[]): SignedCheckpoint {
  let last: unknown
  for (const v of verifiers) {
    try {
      return openCheckpoint(note, v)
    } catch (error) {
      last = error
    }
  }
  throw new Fail(EXIT.signature, `checkpoint signature: ${(last as Error).message}`)
}

/** A checkpoint from a source (or a note's own text), with its signature verified against the trusted key. */
async function trustedCheckpoint(source: string, o: Options, gateway: string | undefined): Promise<SignedCheckpoint> {
  const note = source.includes('\n\n\u2014 ') ? source : await loadCheckpointNote(source)
  let parsed
  try {
    parsed = parseCheckpointNote(note)
  } catch (error) {
    throw new Fail(EXIT.signature, `not a checkpoint note: ${(error as CheckpointError).message}`)
  }
  return open(note, await loadVerifiers(o, gateway ?? (isUrl(source) ? source : undefined), parsed.checkpoint.origin))
}

/** Progress on stderr: a cli-progress bar with events/s and ETA on a terminal, a plain line every second otherwise. */
function progressReporter(enabled: boolean, totalEvents: number | undefined) {
  const started = Date.now()
  const rate = (n: number) => Math.round(n / Math.max(0.001, (Date.now() - started) / 1000))
  if (process.stderr.isTTY === true && enabled) {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: totalEvents === undefined ? '{value} events | {rate} events/s' : '{bar} {percentage}% | {value}/{total} events | {rate} events/s | ETA {eta_formatted}', hideCursor: true },
      cliProgress.Presets.shades_classic,
    )
    bar.start(totalEvents ?? 0, 0, { rate: 0 })
    return { update: (n: number) => bar.update(n, { rate: rate(n).toLocaleString('en-US') }), stop: () => bar.stop() }
  }
  let last = 0
  return {
    update: (n: number) => {
      if (!enabled || Date.now() - last < 1000) return
      last = Date.now()
      process.stderr.write(`verified ${n.toLocaleString('en-US')} events (${rate(n).toLocaleString('en-US')}/s)\n`)
    },
    stop: () => undefined,
  }
}

async function exportLines(source: string): Promise<AsyncIterable<string>> {
  let stream: NodeJS.ReadableStream
  if (isUrl(source)) {
    const res = await get(source)
    if (res.body === null) throw new Fail(EXIT.usage, 'empty response')
    stream = Readable.fromWeb(res.body as never)
  } else {
    try {
      statSync(source)
    } catch (error) {
      throw new Fail(EXIT.usage, `cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    stream = createReadStream(source)
  }
  return createInterface({ input: stream, crlfDelay: Infinity })
}

function printSummary(r: VerifyResult, seconds: number): void {
  const out = process.stdout
  out.write(`Verified ${r.events} events in ${r.streams} streams (${seconds.toFixed(2)} s)\n`)
  for (const w of r.wallets) {
    out.write(
      `  ${w.wallet}${w.partial ? ' (partial export)' : ''}: available ${w.availableBalance} = on-chain ${w.onChainBalance} − unsettled ${w.unsettledSpend} − pending withdrawals ${w.pendingWithdrawals}; ` +
        `deposited ${w.deposited}, spent ${w.settled}, withdrawn ${w.withdrawn}, swept ${w.swept}, reserved ${w.reserved}\n`,
    )
    for (const [agent, spent] of Object.entries(w.agentSpends)) out.write(`      agent ${agent}: spent ${spent}\n`)
  }
  if (r.bad !== undefined) {
    const b = r.bad
    out.write(`FAILED at line ${b.line}: stream ${b.streamId} revision ${b.revision} (${b.type}): ${b.reason}\n`)
  } else {
    out.write('OK: every hash chain verifies and every figure replays\n')
  }
}

async function verify(o: Options): Promise<number> {
  const source = o.args[0]!
  const started = Date.now()
  // A gateway URL: its latest checkpoint, fetched before the export so the export covers it.
  let checkpoint: SignedCheckpoint | undefined
  if (o.checkpoint !== undefined) checkpoint = await trustedCheckpoint(o.checkpoint, o, isUrl(source) ? source : undefined)
  else if (isUrl(source)) {
    // Best effort: a gateway without the log (or a plain file server) still gets its chains verified.
    const note = await loadCheckpointNote(`${new URL(source).origin}/audit/checkpoint`).catch(() => undefined)
    if (note !== undefined) checkpoint = await trustedCheckpoint(note, o, source)
  }
  const lines = await exportLines(source)
  const progress = progressReporter(o.progress, checkpoint?.size)
  const v = await verifyExport(lines, { threads: o.threads, rootsAt: checkpoint === undefined ? [] : [checkpoint.size], onProgress: (n) => progress.update(n) })
  progress.stop()
  const r = v.result
  let code: number = r.ok ? EXIT.ok : EXIT.ledger
  let merkle: Record<string, unknown> = { size: v.size, root: v.root.toString('base64') }
  if (checkpoint !== undefined && r.ok) {
    const partial = r.wallets.some((w) => w.partial)
    const at = v.roots.get(checkpoint.size)
    const matches = !partial && at !== undefined && at.equals(checkpoint.root)
    const reason = partial
      ? 'the export starts mid-stream (after=): only a whole export can be checked against a checkpoint'
      : at === undefined
        ? `the export has ${v.size} events, fewer than the checkpoint's ${checkpoint.size}`
        : matches
          ? undefined
          : `the export's root at size ${checkpoint.size} is not the signed one: the export is not the log that was signed`
    merkle = {
      ...merkle,
      checkpoint: { origin: checkpoint.origin, size: checkpoint.size, root: checkpoint.root.toString('base64'), signature: 'verified', matches, ...(reason === undefined ? {} : { reason }) },
    }
    if (!matches) code = EXIT.root
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ ...r, ok: code === EXIT.ok, merkle }, null, 2)}\n`)
  else {
    printSummary(r, (Date.now() - started) / 1000)
    process.stdout.write(`Merkle log of the export: ${v.size} leaves, root ${v.root.toString('base64')}\n`)
    if (checkpoint === undefined) process.stdout.write('(no checkpoint given: the root was not checked against a signature)\n')
    else if (code === EXIT.root) process.stdout.write(`FAILED (${checkpoint.origin}): ${String((merkle.checkpoint as { reason?: string }).reason)}\n`)
    else if (code === EXIT.ok) process.stdout.write(`OK: the export's first ${checkpoint.size} events are exactly the signed checkpoint of ${checkpoint.origin}\n`)
  }
  return code
}

async function consistency(o: Options): Promise<number> {
  const [oldSource, newSource] = o.args as [string, string]
  const gateway = o.gateway ?? (isUrl(newSource) ? newSource : undefined)
  if (gateway === undefined) usage('consistency needs the new checkpoint as a gateway URL, or --gateway <url> to fetch the proof from')
  const older = await trustedCheckpoint(oldSource, o, gateway)
  const newer = await trustedCheckpoint(newSource, o, gateway)
  const [a, b] = older.size <= newer.size ? [older, newer] : [newer, older]
  const base = new URL(gateway).origin
  const proof = ((await (await get(`${base}/audit/proof/consistency?from=${a.size}&to=${b.size}`)).json()) as { proof: string[] }).proof
  const ok = a.origin === b.origin && verifyConsistency(a.size, b.size, a.root, b.root, proof.map((p) => Buffer.from(p, 'base64')))
  const report = { ok, from: { size: a.size, root: a.root.toString('base64') }, to: { size: b.size, root: b.root.toString('base64') }, origin: b.origin, proofLength: proof.length }
  if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else
    process.stdout.write(
      ok
        ? `OK: the tree of ${b.size} leaves extends the tree of ${a.size} (${b.origin}): the log only grew\n`
        : `FAILED: the tree of ${b.size} leaves does not extend the tree of ${a.size}: history was rewritten or the checkpoints are of different logs\n`,
    )
  return ok ? EXIT.ok : EXIT.consistency
}

interface EventProof {
  event: { streamId: string; revision: number | string; type: string; data: unknown; bigints?: unknown; recordedAt: string; prevHash: string; hash: string; position: number | string }
  leafIndex: number
  treeSize: number
  proof: string[]
}

async function inclusion(o: Options): Promise<number> {
  const [proofSource, checkpointSource] = o.args as [string, string]
  const body = JSON.parse(await readText(proofSource)) as EventProof
  if (typeof body.event !== 'object' || !Array.isArray(body.proof) || typeof body.leafIndex !== 'number') throw new Fail(EXIT.usage, 'the event JSON is not a GET /wallet/ledger/:position/proof answer')
  const gateway = isUrl(checkpointSource) ? checkpointSource : isUrl(proofSource) ? proofSource : undefined
  const checkpoint = await trustedCheckpoint(checkpointSource, o, gateway)
  const e = body.event
  const fields = { streamId: e.streamId, revision: BigInt(e.revision), type: e.type, data: dataFromExport(e), recordedAt: e.recordedAt, prevHash: e.prevHash }
  const hashOk = hashEvent(fields) === e.hash
  const sizeOk = body.treeSize === checkpoint.size
  const ok = hashOk && sizeOk && verifyInclusion(leafHash(canonicalEventJson(fields)), body.leafIndex, checkpoint.size, body.proof.map((p) => Buffer.from(p, 'base64')), checkpoint.root)
  const reason = !hashOk ? 'the event does not match its own hash' : !sizeOk ? `the proof is for a tree of ${body.treeSize}, the checkpoint has ${checkpoint.size}` : ok ? undefined : 'the audit path does not lead to the checkpoint root'
  const report = { ok, streamId: e.streamId, revision: String(e.revision), position: String(e.position), leafIndex: body.leafIndex, treeSize: checkpoint.size, origin: checkpoint.origin, ...(reason === undefined ? {} : { reason }) }
  if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else
    process.stdout.write(
      ok
        ? `OK: ${e.streamId} revision ${e.revision} is leaf ${body.leafIndex} of the signed tree of ${checkpoint.size} (${checkpoint.origin})\n`
        : `FAILED: ${reason}\n`,
    )
  return ok ? EXIT.ok : EXIT.inclusion
}

async function main(): Promise<void> {
  let code: number
  try {
    const o = parseArgs(process.argv.slice(2))
    code = o.command === 'verify' ? await verify(o) : o.command === 'consistency' ? await consistency(o) : await inclusion(o)
  } catch (error) {
    if (!(error instanceof Fail)) throw error
    process.stderr.write(`${error.message}\n`)
    code = error.code
  }
  process.exit(code)
}

await main()
