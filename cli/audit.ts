#!/usr/bin/env node
/**
 * npm run audit -- verify <file|url> [--progress] [--json]
 *
 * Replays a ledger export (NDJSON from GET /audit/ledger or GET /wallet/ledger): verifies
 * every hash chain, recomputes every wallet's balances and spends from the events alone,
 * prints a summary and exits 1 naming the first bad event (2 on usage or I/O errors).
 * For a URL, the session token is read from AUDIT_TOKEN (never from the command line,
 * where other users could see it).
 */
import { createReadStream, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { LedgerVerifier, type VerifyResult } from './audit-verify.js'

interface Options {
  source: string
  progress: boolean
  json: boolean
}

function usage(message?: string): never {
  if (message !== undefined) process.stderr.write(`${message}\n`)
  process.stderr.write('usage: npm run audit -- verify <file|url> [--progress] [--json]\n  (URL: the token comes from AUDIT_TOKEN)\n')
  process.exit(2)
}

function parseArgs(argv: string[]): Options {
  const [command, ...rest] = argv
  if (command !== 'verify') usage(command === undefined ? undefined : `unknown command: ${command}`)
  const positional = rest.filter((a) => !a.startsWith('--'))
  const flags = new Set(rest.filter((a) => a.startsWith('--')))
  for (const f of flags) if (f !== '--progress' && f !== '--json') usage(`unknown option: ${f}`)
  if (positional.length !== 1) usage('give exactly one file or URL')
  return { source: positional[0]!, progress: flags.has('--progress') || process.stderr.isTTY === true, json: flags.has('--json') }
}

async function open(source: string): Promise<{ stream: NodeJS.ReadableStream; total: number | undefined }> {
  if (/^https?:\/\//.test(source)) {
    const token = process.env.AUDIT_TOKEN
    const res = await fetch(source, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
    if (!res.ok || res.body === null) throw new Error(`GET ${new URL(source).pathname} answered ${res.status}`)
    const length = Number(res.headers.get('content-length'))
    return { stream: Readable.fromWeb(res.body as never), total: Number.isFinite(length) && length > 0 ? length : undefined }
  }
  return { stream: createReadStream(source), total: statSync(source).size }
}

/** A one-line progress bar on stderr, redrawn at most 10 times a second. */
function progressBar(total: number | undefined) {
  let last = 0
  const started = Date.now()
  return {
    update(bytes: number, events: number, force = false) {
      const now = Date.now()
      if (!force && now - last < 100) return
      last = now
      const rate = Math.round(events / Math.max(0.001, (now - started) / 1000))
      let bar = ''
      if (total !== undefined) {
        const f = Math.min(1, bytes / total)
        const width = 30
        bar = `[${'#'.repeat(Math.round(f * width)).padEnd(width, '.')}] ${(f * 100).toFixed(1).padStart(5)}% `
      }
      process.stderr.write(`\r${bar}${events.toLocaleString('en-US')} events, ${rate.toLocaleString('en-US')}/s`)
    },
    done() {
      process.stderr.write('\n')
    },
  }
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

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const started = Date.now()
  let input
  try {
    input = await open(options.source)
  } catch (error) {
    process.stderr.write(`cannot read ${options.source}: ${(error as Error).message}\n`)
    process.exit(2)
  }
  const verifier = new LedgerVerifier()
  const bar = options.progress ? progressBar(input.total) : undefined
  let bytes = 0
  const lines = createInterface({ input: input.stream, crlfDelay: Infinity })
  for await (const line of lines) {
    bytes += Buffer.byteLength(line) + 1
    const ok = verifier.push(line)
    bar?.update(bytes, verifier.events)
    if (!ok) break
  }
  lines.close()
  bar?.update(bytes, verifier.events, true)
  bar?.done()
  const result = verifier.result()
  if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  else printSummary(result, (Date.now() - started) / 1000)
  process.exit(result.ok ? 0 : 1)
}

await main()
