/**
 * Self-improvement over a long history: facet extraction and skill synthesis over 1,000
 * stored sessions (real SQLite, real wallet ledger, the real Anthropic SDK against the local
 * server answering with structured outputs), then a second run on the same store, where
 * the facet cache skips every unchanged session. Baselines measured in the same run:
 * the bare model calls the first run makes (the same requests straight through the SDK,
 * same concurrency, no billing, no events) and the bare cache probe (one backwards read
 * per session stream).
 *
 *   npm run bench -- reflect        (BENCH_REFLECT_SESSIONS=1000)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FACET_SYSTEM, FACET_TOOL, facetPrompt } from '../actors/reflect/prompts.js'
import { sessionTranscript } from '../actors/reflect/transcript.js'
import { createModelCaller } from '../connectors/anthropic/call-model.js'
import { startAnthropicFixture, type FixtureTurn, type RecordedRequest } from '../test/anthropic/server.js'
import { fundWallet, openReflect } from '../test/reflect/harness.js'
import { storeSession } from '../test/reflect/sessions.js'
import { fmt, table } from './lib.js'

const SESSIONS = Number(process.env.BENCH_REFLECT_SESSIONS ?? 1_000)
const CONCURRENCY = 4
const WALLET = '0x90F79bf6EB2c4f870365E785982E1f101E93b906'
const TOPICS = ['run-focused-tests', 'read-the-error-first', 'pin-the-version', 'check-the-config', 'write-a-failing-test']
const usage = { input_tokens: 900, output_tokens: 150 }

function respond(req: RecordedRequest): FixtureTurn {
  const forced = req.body.tool_choice?.name as string | undefined
  const text = JSON.stringify(req.body.messages)
  if (forced === 'record_facet') {
    const topic = TOPICS.find((t) => text.includes(t)) ?? TOPICS[0]!
    return {
      kind: 'message',
      usage,
      content: [{ type: 'tool_use', name: 'record_facet', input: { goal: 'fix a test', taskType: 'debugging', outcome: 'success', friction: [], learnings: [{ topic, text: `Lesson: ${topic}.`, excerpt: `lesson ${topic} applies` }] } }],
    }
  }
  const topic = /Lesson topic: ([a-z-]+)/.exec(text)?.[1] ?? 'x'
  return { kind: 'message', usage, content: [{ type: 'tool_use', name: 'write_skill', input: { name: topic, description: `Apply ${topic}.`, whenToUse: 'When a test fails.', steps: ['Do it.'] } }] }
}

const dir = mkdtempSync(join(tmpdir(), 'reflect-bench-'))
const fx = await startAnthropicFixture({ respond, record: false })
try {
  const now = () => new Date('2026-12-02T09:00:00Z')
  // Every lesson fits in one run's skill cap, so the second run has nothing new to write.
  const h = await openReflect({ file: join(dir, 'events.sqlite'), now, anthropicUrl: fx.url, maxSkillsPerRun: TOPICS.length })
  await fundWallet(h, WALLET, 10n ** 12n)
  const ids = Array.from({ length: SESSIONS }, (_, i) => `bench-${i}`)
  for (const [i, id] of ids.entries()) {
    const topic = TOPICS[i % TOPICS.length]!
    await storeSession(h.store, { wallet: WALLET, sessionId: id, agentId: 'assistant', messages: [`My test fails; lesson ${topic} applies here.`, 'Thanks, fixed.'] })
  }

  // Baseline 1: the first run's facet requests, straight through the SDK (no reserve/settle, no events).
  const callModel = createModelCaller({ baseURL: fx.url })
  const prompts = await Promise.all(ids.map(async (id) => facetPrompt(sessionTranscript(id, await h.store.readStream(`session-${id}`)))))
  let t = performance.now()
  const queue = [...prompts]
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift())
        await callModel({ apiKey: 'sk-ant-bench', model: 'claude-haiku-4-5', system: FACET_SYSTEM, messages: [{ role: 'user', content: p }], tools: [FACET_TOOL], toolChoice: { type: 'tool', name: FACET_TOOL.name }, maxTokens: 2048 })
    }),
  )
  const bareCallsMs = performance.now() - t

  const run = async () => {
    const start = performance.now()
    const { runId } = await h.service.trigger(WALLET, { includeBackfill: true })
    for (;;) {
      const s = await h.service.state(WALLET)
      if (s.value === 'idle') break
      await new Promise((r) => setTimeout(r, 2))
    }
    const ms = performance.now() - start
    const r = (await h.service.history(WALLET)).runs.find((x) => x.runId === runId)!
    return { ms, r }
  }
  const cold = await run()
  const warm = await run()

  // Baseline 2: the bare cache probe, one backwards read of each session stream.
  t = performance.now()
  for (const id of ids) await h.store.readStream(`session-${id}`, { direction: 'backwards', maxCount: 1 })
  const bareProbeMs = performance.now() - t

  const perMin = (ms: number) => 60_000 / ms
  console.log(`${SESSIONS} stored sessions (2 user messages each), facet calls ${CONCURRENCY} at a time, SQLite inline writer\n`)
  console.log(
    table(
      ['run', 'wall time', 'runs/min', 'sessions analysed', 'facets cached', 'skills', 'model calls', 'baseline', 'ratio'],
      [
        ['first (cold cache)', `${fmt(cold.ms)} ms`, fmt(perMin(cold.ms), 2), String(cold.r.sessions), String(cold.r.facetsCached), String(cold.r.skills), String(Number(cold.r.facets) + Number(cold.r.skills) + Number(cold.r.skillsRejected)), `bare SDK calls ${fmt(bareCallsMs)} ms`, `${fmt(cold.ms / bareCallsMs, 2)}×`],
        ['second (same store)', `${fmt(warm.ms)} ms`, fmt(perMin(warm.ms), 1), String(warm.r.sessions), String(warm.r.facetsCached), String(warm.r.skills), String(Number(warm.r.facets) + Number(warm.r.skills) + Number(warm.r.skillsRejected)), `bare cache probe ${fmt(bareProbeMs)} ms`, `${fmt(warm.ms / bareProbeMs, 2)}×`],
      ],
    ),
  )
  console.log(`\nfacet cache: second run skipped ${warm.r.facetsCached}/${SESSIONS} sessions (${fmt((100 * Number(warm.r.facetsCached)) / SESSIONS, 1)} %) and every model call; it took ${fmt((100 * warm.ms) / cold.ms, 1)} % of the first run's time (${fmt(cold.ms / warm.ms, 1)}× faster)`)
  console.log(`first run cost on the ledger: ${String(cold.r.cost)}; second: ${String(warm.r.cost)}`)
  await h.close()
} finally {
  await fx.close()
  rmSync(dir, { recursive: true, force: true })
}
