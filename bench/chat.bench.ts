/**
 * A chat turn, three contenders in one run, all calling the same local Anthropic stand-in
 * (test/anthropic/server.ts, in its own process; 180 characters in 45 deltas per reply):
 *
 *  - direct: the request sent straight to the stand-in (streaming, and non-streaming);
 *  - us: the whole gateway (startGateway, as main.ts runs it, in a process of its own like
 *    the other two: bench/gateway-child.ts) over HTTP + SSE, each wallet
 *    signed in for real (SIWE-style challenge + signature), its key in the vault, funded
 *    on a local anvil chain through the deposit watcher: a turn authenticates, reserves
 *    spend, records the turn, calls the model through the SDK, settles and completes;
 *  - Portkey's open-source gateway (@portkey-ai/gateway 1.15.2, a child process) routed
 *    to the stand-in with x-portkey-provider / x-portkey-custom-host: it forwards the
 *    request, no authentication of its own, no billing, no durable record. Its streaming
 *    path fails on Node 20 (checked and reported below), so it is compared non-streaming
 *    with direct non-streaming.
 *
 * Reported: added p50/p99 per turn over its direct counterpart (sequential turns,
 * contenders interleaved turn by turn so machine load hits them alike), turns/s with 64
 * concurrent sessions, a session's turns 251–300 against its first ten (each against a direct
 * call carrying the same conversation), and a CPU profile
 * of our turns: main-thread CPU per turn and the Anthropic SDK's share of it.
 *
 *   npx tsx bench/chat.bench.ts
 *   BENCH_CHAT_SEQ=200 (sequential turns per contender)  BENCH_CHAT_SESSIONS=64
 *   BENCH_CHAT_SECONDS=3 (per concurrent row)  BENCH_CHAT_LONG=300 (turns in each long session)
 *   BENCH_CHAT_LONG_SESSIONS=4 (long sessions, their turns taken in rounds)
 *   BENCH_CHAT_PROFILE_FILE=/tmp/chat.cpuprofile (also writes the profiles, for DevTools: the
 *   sequential one there, the concurrent one beside it as chat-concurrent.cpuprofile)
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { chainGatewayEnv, startChainTestEnv } from '../test/chain/env.js'
import { signIn } from '../test/gateway.js'
import { fmt, table } from './lib.js'
import { STAND_IN_REPLY } from './stand-in.js'

const SEQ = Number(process.env.BENCH_CHAT_SEQ ?? 200)
const SESSIONS = Number(process.env.BENCH_CHAT_SESSIONS ?? 64)
const SECONDS = Number(process.env.BENCH_CHAT_SECONDS ?? 3)
const LONG = Number(process.env.BENCH_CHAT_LONG ?? 300)
const LONG_SESSIONS = Number(process.env.BENCH_CHAT_LONG_SESSIONS ?? 4)
const KEY = 'sk-ant-bench-key'
const REPO = new URL('..', import.meta.url).pathname

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}
const median = (xs: number[]) => pct(xs, 50)
const signed = (n: number, digits = 2) => `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n), digits)}`

/** Starts a child process and resolves with the first match of `ready` in its output. */
function startChild(args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> {
  const child = spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start:\n${out}`)), 60_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = ready.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve({ child, match: m, output: () => out })
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}:\n${out}`)))
  })
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

/** Reads a streamed body to its end. */
async function drain(res: Response): Promise<string> {
  let text = ''
  const decoder = new TextDecoder()
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true })
  return text
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-bench-'))
  const standIn = await startChild(['--import', 'tsx', 'bench/stand-in.ts'], /listening (http:\/\/[\d.:]+)/)
  const standInUrl = standIn.match[1] as string
  const portkeyPort = await freePort()
  // Its documented CLI: --port=<n> (default 8787), --headless (no UI); prints "Ready for connections!".
  const portkey = await startChild(['node_modules/@portkey-ai/gateway/build/start-server.js', `--port=${portkeyPort}`, '--headless'], /Ready for connections/)
  const portkeyUrl = `http://127.0.0.1:${portkeyPort}`
  const chain = await startChainTestEnv()
  const gatewayChild = await startChild(['--import', 'tsx', 'bench/gateway-child.ts'], /listening (http:\/\/[\d.:]+)/, {
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dir,
    LOG_LEVEL: 'warn',
    WORKER_THREADS: '1',
    ANTHROPIC_BASE_URL: standInUrl,
    ...chainGatewayEnv(chain),
    // One client address signs in every bench wallet and sends every turn: rate limits off (a throughput bench, not an abuse test).
    RATE_LIMIT_CLIENT_PER_S: '0',
    RATE_LIMIT_WALLET_PER_S: '0',
  })
  const gateway = { url: gatewayChild.match[1] as string }
  /** One request over the child's IPC channel and its answer. */
  const ask = <T>(message: object) =>
    new Promise<T>((resolve) => {
      gatewayChild.child.once('message', (m) => resolve(m as T))
      gatewayChild.child.send(message)
    })

  // Wallets: real sign-in, the key in the vault, USDC minted to the deposit address and credited by the watcher.
  const wallets = await Promise.all(
    Array.from({ length: SESSIONS + 1 }, async () => {
      const account = privateKeyToAccount(generatePrivateKey())
      const token = await signIn(gateway.url, account)
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
      const put = await fetch(`${gateway.url}/wallet/apikey`, { method: 'PUT', headers, body: JSON.stringify({ anthropicApiKey: KEY }) })
      if (put.status !== 200) throw new Error(`PUT /wallet/apikey ${put.status}: ${await put.text()}`)
      const balance = (await (await fetch(`${gateway.url}/wallet/balance`, { headers })).json()) as { unifiedDepositAddress: `0x${string}` }
      return { headers, depositAddress: balance.unifiedDepositAddress }
    }),
  )
  for (const w of wallets) await chain.mint(w.depositAddress, 1_000_000_000n)
  for (const w of wallets) {
    for (let i = 0; ; i++) {
      const b = (await (await fetch(`${gateway.url}/wallet/balance`, { headers: w.headers })).json()) as { availableBalance: string }
      if (BigInt(b.availableBalance) >= 1_000_000_000n) break
      if (i > 300) throw new Error('deposit not credited')
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const newSession = async (w: (typeof wallets)[number]) => {
    const r = await fetch(`${gateway.url}/agents/assistant/sessions`, { method: 'POST', headers: w.headers, body: '{"model":"haiku"}' })
    return ((await r.json()) as { id: string }).id
  }
  const sessions = await Promise.all(wallets.slice(0, SESSIONS).map(async (w) => ({ w, sid: await newSession(w) })))

  let counter = 0
  const anthropicBody = (stream: boolean) =>
    JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 4096, stream, messages: [{ role: 'user', content: `hello ${counter++}` }] })
  const anthropicHeaders = { 'x-api-key': KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }
  const timed = async (send: () => Promise<Response>, check: (text: string) => boolean): Promise<number> => {
    const t0 = performance.now()
    const res = await send()
    const text = await drain(res)
    const ms = performance.now() - t0
    if (res.status !== 200 || !check(text)) throw new Error(`turn failed ${res.status}: ${text.slice(0, 300)}`)
    return ms
  }
  const contenders = {
    directStream: () => timed(() => fetch(`${standInUrl}/v1/messages`, { method: 'POST', headers: anthropicHeaders, body: anthropicBody(true) }), (t) => t.includes('message_stop')),
    directJson: () => timed(() => fetch(`${standInUrl}/v1/messages`, { method: 'POST', headers: anthropicHeaders, body: anthropicBody(false) }), (t) => t.includes('"end_turn"')),
    portkey: () =>
      timed(
        () =>
          fetch(`${portkeyUrl}/v1/messages`, {
            method: 'POST',
            headers: { ...anthropicHeaders, 'x-portkey-provider': 'anthropic', 'x-portkey-custom-host': `${standInUrl}/v1` },
            body: anthropicBody(false),
          }),
        (t) => t.includes('"end_turn"'),
      ),
    us: (i = 0) => {
      const s = sessions[i % sessions.length]!
      return timed(
        () => fetch(`${gateway.url}/agents/assistant/sessions/${s.sid}/chat`, { method: 'POST', headers: s.w.headers, body: JSON.stringify({ message: `hello ${counter++}` }) }),
        (t) => t.includes('"type":"done"'),
      )
    },
  }
  type Name = keyof typeof contenders

  // Portkey's streaming path, as a user would try it first.
  const portkeyStream = await fetch(`${portkeyUrl}/v1/messages`, {
    method: 'POST',
    headers: { ...anthropicHeaders, 'x-portkey-provider': 'anthropic', 'x-portkey-custom-host': `${standInUrl}/v1` },
    body: anthropicBody(true),
  })
  const portkeyStreamText = await drain(portkeyStream)
  const portkeyStreams = portkeyStream.status === 200 && portkeyStreamText.includes('message_stop')

  // Warm-up: JIT, connection pools, SQLite pages.
  for (let k = 0; k < 30; k++) for (const name of Object.keys(contenders) as Name[]) await contenders[name](k)

  // Sequential: one turn of each contender per round, so load spikes hit all of them. Our
  // turns rotate over the sessions, so history length (measured apart below) stays short.
  const seq: Record<Name, number[]> = { directStream: [], directJson: [], portkey: [], us: [] }
  for (let k = 0; k < SEQ; k++) for (const name of Object.keys(contenders) as Name[]) seq[name].push(await contenders[name](k))

  // Concurrent: SESSIONS sessions, each sending turns back to back for SECONDS.
  const concurrent = async (name: Name): Promise<{ perS: number; done: number }> => {
    let done = 0
    const until = performance.now() + SECONDS * 1000
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: SESSIONS }, async (_, i) => {
        while (performance.now() < until) {
          await contenders[name](i)
          done++
        }
      }),
    )
    return { perS: (done / (performance.now() - t0)) * 1000, done }
  }
  const perS: Partial<Record<Name, number>> = {}
  for (const name of ['directStream', 'us', 'directJson', 'portkey'] as const) perS[name] = (await concurrent(name)).perS

  // History: LONG_SESSIONS fresh sessions, LONG turns each (taken in rounds, a turn of each
  // session per round), every turn paired with a direct turn in the same round that carries
  // the same conversation (a model needs the whole of it on every turn, through us or not):
  // what is compared is what we add, at the 10th turn and at the 300th. Several sessions, so
  // the first-ten median has more than ten samples on this noisy machine.
  const longWallet = wallets[SESSIONS]!
  const longSessions = await Promise.all(
    Array.from({ length: LONG_SESSIONS }, async () => ({ sid: await newSession(longWallet), conversation: [] as { role: 'user' | 'assistant'; content: string }[], added: [] as number[] })),
  )
  for (let k = 0; k < LONG; k++) {
    for (const s of longSessions) {
      const message = `hello ${counter++}`
      const ours = await timed(
        () => fetch(`${gateway.url}/agents/assistant/sessions/${s.sid}/chat`, { method: 'POST', headers: longWallet.headers, body: JSON.stringify({ message }) }),
        (t) => t.includes('"type":"done"'),
      )
      s.conversation.push({ role: 'user', content: message })
      const direct = await timed(
        () =>
          fetch(`${standInUrl}/v1/messages`, {
            method: 'POST',
            headers: anthropicHeaders,
            body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 4096, stream: true, messages: s.conversation }),
          }),
        (t) => t.includes('message_stop'),
      )
      s.conversation.push({ role: 'assistant', content: STAND_IN_REPLY })
      s.added.push(ours - direct)
    }
  }
  const firstTen = median(longSessions.flatMap((s) => s.added.slice(0, 10)))
  const lastFifty = median(longSessions.flatMap((s) => s.added.slice(-50)))

  // Profiles of the gateway process: our sequential turns, then our turns under the
  // concurrent load (where the main thread saturates and its shares decide the ceiling).
  const profiled = async (run: () => Promise<number>) => {
    await ask({ profile: 'start' })
    const turns = await run()
    const { profile, cpuUs } = await ask<{ profile: Parameters<typeof profileShares>[0]; cpuUs: number }>({ profile: 'stop' })
    return { turns, cpuUs, profile, shares: profileShares(profile) }
  }
  const PROFILED = Math.max(50, Math.floor(SEQ / 2))
  const sequentialProfile = await profiled(async () => {
    for (let k = 0; k < PROFILED; k++) await contenders.us(k % SESSIONS)
    return PROFILED
  })
  const concurrentProfile = await profiled(async () => (await concurrent('us')).done)
  if (process.env.BENCH_CHAT_PROFILE_FILE !== undefined) {
    writeFileSync(process.env.BENCH_CHAT_PROFILE_FILE, JSON.stringify(sequentialProfile.profile))
    writeFileSync(process.env.BENCH_CHAT_PROFILE_FILE.replace(/(\.cpuprofile)?$/, '-concurrent.cpuprofile'), JSON.stringify(concurrentProfile.profile))
  }

  const d = seq.directStream
  const u = seq.us
  const dj = seq.directJson
  const pk = seq.portkey
  const added50 = (xs: number[], base: number[]) => pct(xs, 50) - pct(base, 50)
  const added99 = (xs: number[], base: number[]) => pct(xs, 99) - pct(base, 99)
  console.log(`\nChat turns, same run: ${SEQ} sequential turns per contender (interleaved), ${SESSIONS} concurrent sessions for ${SECONDS} s per row\n`)
  console.log(
    table(
      ['contender', 'p50 / p99 ms', 'added p50 / p99 ms (vs its direct counterpart)', `turns/s, ${SESSIONS} sessions`],
      [
        ['direct to the stand-in, streaming', `${fmt(pct(d, 50), 2)} / ${fmt(pct(d, 99), 2)}`, '—', fmt(perS.directStream ?? NaN)],
        ['through us (SSE; auth, reserve, record, SDK call, settle)', `${fmt(pct(u, 50), 2)} / ${fmt(pct(u, 99), 2)}`, `${signed(added50(u, d))} / ${signed(added99(u, d))}`, fmt(perS.us ?? NaN)],
        ['direct to the stand-in, non-streaming', `${fmt(pct(dj, 50), 2)} / ${fmt(pct(dj, 99), 2)}`, '—', fmt(perS.directJson ?? NaN)],
        ['through Portkey 1.15.2, non-streaming (forward only)', `${fmt(pct(pk, 50), 2)} / ${fmt(pct(pk, 99), 2)}`, `${signed(added50(pk, dj))} / ${signed(added99(pk, dj))}`, fmt(perS.portkey ?? NaN)],
      ],
    ),
  )
  console.log(`\nOur added p50 / Portkey's added p50: ${fmt(added50(u, d) / added50(pk, dj), 2)}×`)
  // Its body names no cause; its own log does.
  const portkeyLogged = /\b\w*Error: [^\n]*/.exec(portkey.output())?.[0] ?? 'no error in its log'
  console.log(`Portkey streaming: ${portkeyStreams ? 'works' : `fails (HTTP ${portkeyStream.status}: ${portkeyStreamText.slice(0, 80)}; its log: ${portkeyLogged.slice(0, 120)})`}`)
  console.log(
    `History (${LONG_SESSIONS} sessions): added p50 in a session's turns 1–10: ${signed(firstTen)} ms; turns ${LONG - 49}–${LONG}: ${signed(lastFifty)} ms (${signed(lastFifty - firstTen)} ms, ${signed((100 * (lastFifty - firstTen)) / Math.max(firstTen, 1e-9), 0)} %)`,
  )
  for (const [label, p] of [
    [`${PROFILED} sequential turns`, sequentialProfile],
    [`${fmt(concurrentProfile.turns)} turns of ${SESSIONS} concurrent sessions`, concurrentProfile],
  ] as const) {
    const perTurn = (us: number) => fmt(us / p.turns, 0)
    console.log(
      `Profile of ${label} through us: gateway process CPU ${perTurn(p.cpuUs)} µs per turn (all its threads: main, writer worker, pool), ` +
        `main thread busy ${perTurn(p.shares.busyUs)} µs per turn; of that the Anthropic SDK's stacks hold ${fmt(100 * p.shares.sdkShare, 1)} % (≈ ${perTurn(p.shares.sdkShare * p.shares.busyUs)} µs per turn; with undici's own stacks, its HTTP client, ${fmt(100 * p.shares.sdkOrUndiciShare, 1)} %, ≈ ${perTurn(p.shares.sdkOrUndiciShare * p.shares.busyUs)} µs), ` +
        `SQLite ${fmt(100 * p.shares.sqliteShare, 1)} %, GC ${fmt(100 * p.shares.gcShare, 1)} %`,
    )
  }

  gatewayChild.child.disconnect()
  await new Promise((resolve) => gatewayChild.child.once('exit', resolve))
  await chain.stop()
  standIn.child.kill('SIGTERM')
  portkey.child.kill('SIGTERM')
  rmSync(dir, { recursive: true, force: true })
}

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string }
  children?: number[] | undefined
}

/**
 * Shares of the main thread's busy samples whose stacks pass through the SDK or SQLite.
 * Samples are wall-clock, so absolute times come from process.cpuUsage instead. Async
 * continuations (undici's socket reads for the SDK's request) carry no SDK frame: the
 * SDK's share is a lower bound, and the share with undici's stacks counted too is given
 * beside it (undici also serves nothing else in the gateway's chat path).
 */
function profileShares(profile: { nodes: ProfileNode[]; samples?: number[] | undefined; timeDeltas?: number[] | undefined }) {
  const parent = new Map<number, number>()
  const byId = new Map<number, ProfileNode>()
  for (const n of profile.nodes) {
    byId.set(n.id, n)
    for (const c of n.children ?? []) parent.set(c, n.id)
  }
  const within = (id: number, test: (n: ProfileNode) => boolean): boolean => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) if (test(byId.get(cur)!)) return true
    return false
  }
  let busy = 0
  let sdk = 0
  let sdkOrUndici = 0
  let sqlite = 0
  let gc = 0
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!
    const us = deltas[i + 1] ?? deltas[i] ?? 0
    const name = byId.get(id)!.callFrame.functionName
    if (name === '(idle)' || name === '(program)' || name === '(root)') continue
    busy += us
    if (name === '(garbage collector)') gc += us
    if (within(id, (n) => n.callFrame.url.includes('/@anthropic-ai/sdk/'))) sdk += us
    if (within(id, (n) => /\/@anthropic-ai\/sdk\/|\/undici\/|deps\/undici/.test(n.callFrame.url))) sdkOrUndici += us
    if (within(id, (n) => n.callFrame.url.includes('/better-sqlite3/') || /sqlite-event-store/.test(n.callFrame.url))) sqlite += us
  }
  return { busyUs: busy, sdkShare: sdk / busy, sdkOrUndiciShare: sdkOrUndici / busy, sqliteShare: sqlite / busy, gcShare: gc / busy }
}

await main()
process.exit(0)
