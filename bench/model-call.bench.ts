/**
 * One streamed model call, the gateway's way against the SDK's default way, in one process
 * against the local Anthropic stand-in (bench/stand-in.ts, its own process):
 *
 *  - baseline: `new Anthropic()` as its README shows it: `messages.stream()` with the
 *    MessageStream helper, Node's global fetch, OpenTelemetry spans on (the default);
 *  - the same with its OpenTelemetry spans off, then also with our undici.request fetch
 *    (connectors/anthropic/undici-fetch.ts): each of our changes on its own;
 *  - the SDK's raw event stream (`messages.create({ stream: true })`, its own SSE reader)
 *    folded by message-fold.ts, on that client;
 *  - ours: `createModelCaller` (connectors/anthropic/call-model.ts): all of the above, but the
 *    response body read straight from undici's stream by message-events.ts (eventsource-parser)
 *    instead of the SDK's web-stream SSE reader, and the request sent through the SDK's `post`
 *    with its body encoded by request-body.ts (one short message here: what that saves grows
 *    with a conversation's length, measured by bench/chat's long sessions).
 *
 * Reported: p50 ms per call and process CPU µs per call, rounds interleaved so machine
 * load hits both alike, and their ratio.
 *
 *   npx tsx bench/model-call.bench.ts        BENCH_MODEL_CALLS=300 (per round)  BENCH_MODEL_ROUNDS=8
 */
import { spawn } from 'node:child_process'
import Anthropic from '@anthropic-ai/sdk'
import { createModelCaller } from '../connectors/anthropic/call-model.js'
import { contentOf, emptyMessage, foldMessageEvent } from '../connectors/anthropic/message-fold.js'
import { undiciFetch } from '../connectors/anthropic/undici-fetch.js'
import { fmt, table } from './lib.js'

const CALLS = Number(process.env.BENCH_MODEL_CALLS ?? 300)
const ROUNDS = Number(process.env.BENCH_MODEL_ROUNDS ?? 8)
const KEY = 'sk-ant-bench-key'

const standIn = spawn(process.execPath, ['--import', 'tsx', new URL('./stand-in.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] })
const url = await new Promise<string>((resolve) =>
  standIn.stdout!.on('data', (d: Buffer) => {
    const m = /listening (\S+)/.exec(d.toString())
    if (m !== null) resolve(m[1]!)
  }),
)
const messages = [{ role: 'user' as const, content: 'hi' }]
const sdk = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 })
const ours = createModelCaller({ baseURL: url })

/** The SDK's MessageStream helper on a client built with `options`: what an SDK user writes. */
const helperCall = (client: Anthropic) => async () => {
  const s = client.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages })
  let text = ''
  s.on('text', (t) => (text += t))
  await s.finalMessage()
  return text
}
/** The SDK's raw event stream and its own SSE reader, folded as call-model.ts folds it. */
const rawStreamCall = (client: Anthropic) => async () => {
  const message = emptyMessage()
  let text = ''
  for await (const event of await client.messages.create({ stream: true, model: 'claude-haiku-4-5', max_tokens: 100, messages })) text += foldMessageEvent(message, event) ?? ''
  if (contentOf(message).length === 0) throw new Error('no content')
  return text
}
// Each step of ours on its own, so every change's share is measured in this same run.
const contenders = {
  'SDK default (messages.stream, global fetch, spans on)': helperCall(sdk),
  'SDK, spans off': helperCall(new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0, openTelemetry: false })),
  'SDK, spans off, undici.request fetch': helperCall(new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0, openTelemetry: false, fetch: undiciFetch() })),
  'SDK raw event stream (create, stream: true), folded; spans off, undici fetch': rawStreamCall(new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0, openTelemetry: false, fetch: undiciFetch() })),
  'ours (createModelCaller: all of those, the body read by eventsource-parser, sent by post)': async () => {
    let text = ''
    await ours({ apiKey: KEY, model: 'claude-haiku-4-5', maxTokens: 100, messages, onText: (t) => (text += t) })
    return text
  },
}
type Name = keyof typeof contenders
const names = Object.keys(contenders) as Name[]
for (const name of names) for (let i = 0; i < 100; i++) if ((await contenders[name]()).length === 0) throw new Error(`${name}: no text`)

const ms: Record<string, number[]> = {}
const cpuUs: Record<string, number> = {}
for (let round = 0; round < ROUNDS; round++) {
  for (const name of names) {
    const times: number[] = (ms[name] ??= [])
    const c0 = process.cpuUsage()
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now()
      await contenders[name]()
      times.push(performance.now() - t0)
    }
    const used = process.cpuUsage(c0)
    cpuUs[name] = (cpuUs[name] ?? 0) + (used.user + used.system) / (CALLS * ROUNDS)
  }
}
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const base = names[0]!
const us = names[names.length - 1]!
console.log(`\nOne streamed call (180 characters in 45 deltas), ${ROUNDS} interleaved rounds of ${CALLS}\n`)
console.log(table(['contender', 'p50 ms', 'CPU µs per call', 'CPU vs SDK default'], names.map((n) => [n, fmt(p50(ms[n]!), 3), fmt(cpuUs[n]!, 0), `${fmt(cpuUs[n]! / cpuUs[base]!, 2)}×`])))
console.log(`\nOurs / SDK default: p50 ${fmt(p50(ms[us]!) / p50(ms[base]!), 2)}×, CPU ${fmt(cpuUs[us]! / cpuUs[base]!, 2)}×`)
standIn.kill('SIGTERM')
process.exit(0)
