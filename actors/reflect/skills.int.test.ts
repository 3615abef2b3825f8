import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startAnthropicFixture, type AnthropicFixture, type FixtureTurn } from '../../test/anthropic/server.js'
import { eventually } from '../../test/eventually.js'
import { fundWallet, openReflect } from '../../test/reflect/harness.js'
import { storeSession } from '../../test/reflect/sessions.js'

const dir = mkdtempSync(join(tmpdir(), 'reflect-skills-'))
const WALLET = '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65'
const wallet = WALLET.toLowerCase()
const usage = { input_tokens: 700, output_tokens: 90 }

/** Every session teaches "pin-the-version", quoting its own transcript; each skill answer names how many sessions it saw. */
function respond(r: { body: any }): FixtureTurn {
  const text = JSON.stringify(r.body.messages)
  if (r.body.tool_choice?.name === 'record_facet') {
    return { kind: 'message', usage, content: [{ type: 'tool_use', name: 'record_facet', input: { goal: 'g', taskType: 't', outcome: 'success', friction: [], learnings: [{ topic: 'pin-the-version', text: 'Pin the dependency version.', excerpt: 'pinned the version' }] } }] }
  }
  const seen = /Seen in (\d+) conversations/.exec(text)?.[1] ?? '?'
  return { kind: 'message', usage, content: [{ type: 'tool_use', name: 'write_skill', input: { name: 'pin-versions', description: `Pin dependency versions (seen ${seen} times).`, whenToUse: 'A build broke after an update.', steps: ['Pin the version.'] } }] }
}

describe('skills across runs (real SQLite, real SDK)', () => {
  let fx: AnthropicFixture
  beforeAll(async () => {
    fx = await startAnthropicFixture({ respond })
  })
  afterAll(async () => {
    await fx.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('new evidence makes a new revision that replaces the skill; a lesson that lost its support is pruned', async () => {
    const now = () => new Date('2026-12-02T09:00:00Z')
    const h = await openReflect({ file: join(dir, 'events.sqlite'), now, anthropicUrl: fx.url })
    await fundWallet(h, WALLET, 10_000_000n)
    const session = (id: string) => storeSession(h.store, { wallet: WALLET, sessionId: id, agentId: 'assistant', messages: [`${id}: the build broke`, `${id}: I pinned the version and it works`] })
    const run = async () => {
      const { runId } = await h.service.trigger(WALLET, {})
      await eventually(() => h.service.state(wallet), (s) => s.value === 'idle', 'the run to end')
      return (await h.service.history(WALLET)).runs.find((r) => r.runId === runId)!
    }
    await session('p1')
    expect(await run()).toMatchObject({ facets: 1, skills: 0 })
    expect(await h.service.skills(WALLET)).toEqual([])

    await session('p2')
    expect(await run()).toMatchObject({ facets: 1, facetsCached: 1, skills: 1 })
    let [skill] = await h.service.skills(WALLET)
    expect(skill).toMatchObject({ name: 'pin-versions', revision: 1, description: 'Pin dependency versions (seen 2 times).', provenance: { sourceSessions: ['p1', 'p2'] } })

    await session('p3')
    expect(await run()).toMatchObject({ skills: 1 })
    const skills = await h.service.skills(WALLET)
    expect(skills).toHaveLength(1)
    skill = skills[0]
    expect(skill).toMatchObject({ name: 'pin-versions', revision: 2, description: 'Pin dependency versions (seen 3 times).', provenance: { sourceSessions: ['p1', 'p2', 'p3'] } })

    // Two of its sessions are deleted: the lesson rests on one session only, so the skill goes.
    for (const id of ['p2', 'p3']) {
      const [last] = await h.store.readStream(`session-${id}`, { direction: 'backwards', maxCount: 1 })
      await h.store.append(`session-${id}`, [{ type: 'SessionDeleted', data: { at: now().toISOString() } }], { expectedRevision: last!.revision })
    }
    expect(await run()).toMatchObject({ sessionsSkipped: 2, skillsPruned: 1, skills: 0 })
    expect(await h.service.skills(WALLET)).toEqual([])
    const deleted = (await h.store.readStream(`reflect-${wallet}`)).filter((e) => e.type === 'SkillDeleted').map((e) => e.data)
    expect(deleted).toEqual([expect.objectContaining({ name: 'pin-versions', reason: 'stale' })])
    await h.close()
  })
})
