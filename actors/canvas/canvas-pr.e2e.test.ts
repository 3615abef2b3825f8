import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { priceTurn } from '../../pricing/price-turn.js'
import { startAnthropicFixture, textTurn, type AnthropicFixture } from '../../test/anthropic/server.js'
import { readCanvasStream } from '../../test/canvas/stream.js'
import { chainGatewayEnv, startChainTestEnv, type ChainTestEnv } from '../../test/chain/env.js'
import { fundByDeposit, signIn, spawnGatewayProcess, testAccount, type GatewayProcess } from '../../test/gateway.js'
import { startGitHubFixture, type GitHubFixture } from '../../test/github/server.js'

const USAGE = { input_tokens: 1200, output_tokens: 60, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }

/** The PR workflow of issue 11: text-input → agent → approval-gate → create-branch → commit-files → open-draft-pr → results. */
function prWorkflow(gh: GitHubFixture, branch: string) {
  return {
    nodes: [
      { id: 'in', type: 'text-input', data: { value: 'the canvas feature' } },
      { id: 'ag', type: 'agent', data: { prompt: 'Write a short README section about', model: 'haiku' } },
      { id: 'gate', type: 'approval-gate', data: { message: 'Open the pull request?' } },
      { id: 'br', type: 'github-create-branch', data: { owner: gh.owner, repo: gh.repo, branchName: branch, baseBranch: gh.defaultBranch } },
      { id: 'cm', type: 'github-commit-files', data: { filesJson: JSON.stringify([{ path: 'docs/canvas.md', content: '{{input}}\n' }]), message: 'Docs: canvas', consumeUpstream: true } },
      { id: 'pr', type: 'github-open-draft-pr', data: { title: 'Docs: canvas', body: 'Written by a canvas run.', consumeUpstream: true } },
      { id: 'out', type: 'results', data: {} },
    ],
    connections: [
      { source: 'in', target: 'ag' },
      { source: 'ag', target: 'gate' },
      { source: 'gate', target: 'br' },
      { source: 'br', target: 'cm' },
      { source: 'cm', target: 'pr' },
      { source: 'pr', target: 'out' },
    ],
  }
}

describe('the PR workflow end to end against a real git repository, through two SIGKILLs', () => {
  let chain: ChainTestEnv
  let fx: AnthropicFixture
  let gh: GitHubFixture
  let gw: GatewayProcess
  let dataDir: string
  let env: Record<string, string>
  let token: string
  const alice = testAccount(2)
  const auth = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' })
  const ledger = async () =>
    (await (await fetch(`${gw.url}/wallet/ledger`, { headers: auth() })).text())
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as { type: string; data: any })
  const run = async (runId: string) => (await (await fetch(`${gw.url}/canvas/runs/${runId}`, { headers: auth() })).json()) as any
  const until = async (runId: string, status: string) => {
    for (let i = 0; i < 400; i++) {
      const r = await run(runId)
      if (r.status === status) return r
      await new Promise((res) => setTimeout(res, 50))
    }
    throw new Error(`run ${runId} never reached ${status}: ${JSON.stringify(await run(runId))}`)
  }
  const branchCommits = async (branch: string) => Number((await gh.git(['rev-list', '--count', `${gh.defaultBranch}..${branch}`])).trim())

  beforeAll(async () => {
    chain = await startChainTestEnv()
    fx = await startAnthropicFixture()
    gh = await startGitHubFixture()
    dataDir = mkdtempSync(join(tmpdir(), 'agw-canvas-pr-'))
    env = {
      DATA_DIR: dataDir,
      JWT_SECRET: 'canvas-pr-e2e-secret-0123456789abcdef012345',
      ANTHROPIC_BASE_URL: fx.url,
      GITHUB_API_URL: gh.url,
      GITHUB_TOKEN: gh.token,
      ...chainGatewayEnv(chain),
    }
    gw = await spawnGatewayProcess(env)
    token = await signIn(gw.url, alice)
    expect((await fetch(`${gw.url}/wallet/apikey`, { method: 'PUT', headers: auth(), body: JSON.stringify({ anthropicApiKey: 'sk-ant-canvas-pr' }) })).status).toBe(200)
    await fundByDeposit(gw.url, token, chain.mint, 5_000_000n)
  }, 180_000)
  afterAll(async () => {
    await gw?.kill()
    await gh?.close()
    await fx?.close()
    await chain?.stop()
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true })
  })

  it('approved with the POST while the stream is open: the repository holds the branch and the commit, the draft PR exists, one settled spend', async () => {
    fx.enqueue(textTurn('## Canvas\nWorkflows with approvals.', USAGE))
    const res = await fetch(`${gw.url}/canvas/workflows/execute/stream`, { method: 'POST', headers: auth(), body: JSON.stringify(prWorkflow(gh, 'canvas/docs')) })
    const runId = res.headers.get('x-run-id')!
    const { frames, done } = await readCanvasStream(res, async (f) => {
      if (f.type === 'approval_required') {
        const r = await fetch(`${gw.url}/canvas/runs/${runId}/approvals/${f.data.approvalId}`, { method: 'POST', headers: auth(), body: JSON.stringify({ decision: 'approve' }) })
        expect(r.status).toBe(200)
      }
    })
    expect(done).toBe(true)
    const last = frames.at(-1)!
    expect(last.type).toBe('run_completed')
    expect(last.data.results.pr).toMatchObject({ number: 1, created: true, head: 'canvas/docs', base: gh.defaultBranch })
    expect(await gh.git(['show', 'canvas/docs:docs/canvas.md'])).toBe('## Canvas\nWorkflows with approvals.\n')
    expect(await branchCommits('canvas/docs')).toBe(1)
    expect(gh.pulls()).toEqual([expect.objectContaining({ number: 1, head: 'canvas/docs', base: gh.defaultBranch, draft: true, state: 'open' })])
    expect(gh.violations).toEqual([])
    // Every write recorded its key before it was attempted.
    const logs = frames.filter((f) => f.type === 'node_log').map((f) => `${f.data.nodeId}:${f.data.message}`)
    for (const [node, op] of [['br', 'createBranch'], ['cm', 'commitFiles'], ['pr', 'openDraftPr']] as const) expect(logs).toContain(`${node}:${op}: idempotency key recorded`)
    const spends = (await ledger()).filter((e) => e.type === 'SpendSettled' && e.data.reservationId === `canvas:${runId}:ag`)
    expect(spends).toHaveLength(1)
    const expected = priceTurn({ model: 'haiku', usage: { inputTokens: 1200, outputTokens: 60, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 }, toolCalls: 0, toolCosts: 0n, byok: true })
    expect(BigInt(spends[0]!.data.amount.$bigint ?? spends[0]!.data.amount)).toBe(expected.platformCost)
  }, 60_000)

  it('SIGKILL while waiting for approval, and again in the middle of github-commit-files: after restart exactly one branch, one commit, one PR', async () => {
    const branch = 'canvas/crash'
    fx.enqueue(textTurn('## Crash-proof\nResumed at node granularity.', USAGE))
    const modelCallsBefore = fx.requests.length
    const res = await fetch(`${gw.url}/canvas/workflows/execute/stream`, { method: 'POST', headers: auth(), body: JSON.stringify(prWorkflow(gh, branch)) })
    const runId = res.headers.get('x-run-id')!
    let approvalId = ''
    await readCanvasStream(res, async (f) => {
      if (f.type === 'approval_required') {
        approvalId = f.data.approvalId
        await gw.kill() // the stream breaks here
      }
    }).catch(() => undefined)
    expect(approvalId).not.toBe('')

    // Restart: the run keeps waiting for its approval.
    gw = await spawnGatewayProcess(env)
    const waiting = await until(runId, 'awaiting_approval')
    expect(waiting.nodeStatuses).toMatchObject({ in: 'completed', ag: 'completed', gate: 'awaiting_approval', br: 'pending' })

    // Approve, and kill the gateway once the commit's ref update went through but before it learned so.
    const held = gh.hold('git/update-ref', { after: true })
    expect((await fetch(`${gw.url}/canvas/runs/${runId}/approvals/${approvalId}`, { method: 'POST', headers: auth(), body: JSON.stringify({ decision: 'approve' }) })).status).toBe(200)
    await held.reached
    await gw.kill()
    held.release()
    expect(await branchCommits(branch)).toBe(1) // the write happened

    // Restart: commit-files resumes, finds its commit by the recorded key, and the run completes.
    gw = await spawnGatewayProcess(env)
    const done = await until(runId, 'completed')
    expect(done.nodeResults.cm).toMatchObject({ branch, created: false })
    expect(done.nodeResults.pr).toMatchObject({ head: branch, created: true })
    const branches = (await gh.git(['branch', '--list', 'canvas/*'])).split('\n').map((l) => l.trim()).filter((l) => l.length > 0)
    expect(branches).toEqual(['canvas/crash', 'canvas/docs'])
    expect(await branchCommits(branch)).toBe(1)
    expect(gh.pulls().filter((p) => p.head === branch)).toHaveLength(1)
    expect(gh.violations).toEqual([])
    // The agent node finished before the first kill: never re-entered, one model call, one spend.
    expect(fx.requests.length).toBe(modelCallsBefore + 1)
    expect((await ledger()).filter((e) => e.type === 'SpendSettled' && e.data.reservationId === `canvas:${runId}:ag`)).toHaveLength(1)
  }, 120_000)

  it('SIGKILL during an agent node’s model call: after restart the node runs again under the same reservation and is charged once', async () => {
    // The first answer stalls before its headers (the gateway dies meanwhile); the resumed call gets the second.
    fx.enqueue({ kind: 'message', content: [{ type: 'text', text: 'never delivered' }], delayMs: 60_000 }, textTurn('Resumed answer.', USAGE))
    const before = fx.requests.length
    const res = await fetch(`${gw.url}/canvas/workflows/execute/stream`, {
      method: 'POST',
      headers: auth(),
      body: JSON.stringify({
        nodes: [
          { id: 'in', type: 'text-input', data: { value: 'resume me' } },
          { id: 'ag', type: 'agent', data: { prompt: 'Answer', model: 'haiku' } },
          { id: 'out', type: 'results', data: {} },
        ],
        connections: [
          { source: 'in', target: 'ag' },
          { source: 'ag', target: 'out' },
        ],
      }),
    })
    const runId = res.headers.get('x-run-id')!
    for (let i = 0; i < 400 && fx.requests.length === before; i++) await new Promise((r) => setTimeout(r, 25))
    expect(fx.requests.length).toBe(before + 1)
    await gw.kill()
    await res.body?.cancel().catch(() => undefined)
    gw = await spawnGatewayProcess(env)
    const done = await until(runId, 'completed')
    expect(done.nodeResults.out).toMatchObject({ text: 'Resumed answer.' })
    expect(fx.requests.length).toBe(before + 2)
    const mine = (await ledger()).filter((e) => e.data?.reservationId === `canvas:${runId}:ag`).map((e) => e.type)
    expect(mine).toEqual(['SpendReserved', 'SpendSettled'])
  }, 120_000)
})
