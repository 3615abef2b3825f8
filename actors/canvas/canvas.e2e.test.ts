import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { priceTurn } from '../../pricing/price-turn.js'
import { startAnthropicFixture, textTurn, toolTurn, type AnthropicFixture } from '../../test/anthropic/server.js'
import { readCanvasStream } from '../../test/canvas/stream.js'
import { chainGatewayEnv, startChainTestEnv, type ChainTestEnv } from '../../test/chain/env.js'
import { fundByDeposit, signIn, startTestGateway, testAccount, type TestGateway } from '../../test/gateway.js'
import { startMcpGateway, type McpGatewayFixture } from '../../test/mcp/gateway.js'
import { startGitHubFixture, type GitHubFixture } from '../../test/github/server.js'

describe('canvas runs end to end over HTTP (SSE, approvals, runs, workflows, WebSocket)', () => {
  let chain: ChainTestEnv
  let fx: AnthropicFixture
  let mcp: McpGatewayFixture
  let gh: GitHubFixture
  let gw: TestGateway
  let token: string
  let bobToken: string
  let page: Server
  let pagePort = 0
  const alice = testAccount(0)
  const bob = testAccount(1)
  const operatorKey = generatePrivateKey()
  const auth = (t = token) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' })
  const execute = (body: unknown, t = token) => fetch(`${gw.url}/canvas/workflows/execute/stream`, { method: 'POST', headers: auth(t), body: JSON.stringify(body) })

  beforeAll(async () => {
    // The page browser-verify nodes visit (its address is the only one on the allow-list).
    page = createServer((req, res) => {
      res.writeHead(req.url === '/' ? 200 : 404, { 'content-type': 'text/html' })
      res.end('<!doctype html><title>t</title><h1>Hello canvas</h1><ul><li>a</li><li>b</li><li>c</li></ul>')
    })
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r))
    pagePort = (page.address() as AddressInfo).port
    chain = await startChainTestEnv()
    fx = await startAnthropicFixture()
    gh = await startGitHubFixture()
    let gatewayUrl = ''
    mcp = await startMcpGateway({ jwksUrl: () => `${gatewayUrl}/.well-known/jwks.json`, audience: 'mcp-canvas', operators: [privateKeyToAccount(operatorKey).address] })
    gw = await startTestGateway({
      JWT_SECRET: 'canvas-e2e-secret-0123456789abcdef0123456789',
      ANTHROPIC_BASE_URL: fx.url,
      MCP_GATEWAY_URL: mcp.url,
      MCP_AUDIENCE: 'mcp-canvas',
      OPERATOR_PRIVATE_KEY: operatorKey,
      ...chainGatewayEnv(chain),
      CANVAS_TEAM_MODE: 'true',
      // No GITHUB_TOKEN: GitHub nodes must find the wallet's own token in its vault.
      GITHUB_API_URL: gh.url,
      // 127.0.0.1:<page port> explicitly; `localhost` by name only, so its loopback address stays forbidden on other ports.
      CANVAS_BROWSER_ALLOWED_HOSTS: `127.0.0.1:${pagePort},localhost`,
      LOG_LEVEL: 'warn',
    })
    gatewayUrl = gw.url
    token = await signIn(gw.url, alice)
    bobToken = await signIn(gw.url, bob)
    expect((await fetch(`${gw.url}/wallet/apikey`, { method: 'PUT', headers: auth(), body: JSON.stringify({ anthropicApiKey: 'sk-ant-canvas-key' }) })).status).toBe(200)
    await fundByDeposit(gw.url, token, chain.mint, 5_000_000n)
  }, 120_000)
  afterAll(async () => {
    await gw?.stop()
    await mcp?.close()
    await gh?.close()
    await fx?.close()
    await chain?.stop()
    await new Promise((r) => page?.close(r))
  })

  const spends = async () => (await gw.store.readStream(`wallet-${alice.address.toLowerCase()}`)).filter((e) => e.type === 'SpendSettled')

  it('text-input → agent → approval-gate → results: streams, pauses at the gate, approved by POST while the stream is open; one settled spend by the formula', async () => {
    fx.enqueue(textTurn('A haiku about canvases.', { input_tokens: 900, output_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }))
    const spendsBefore = (await spends()).length
    const res = await execute({
      nodes: [
        { id: 'in', type: 'textInputNode', data: { value: 'canvases' } },
        { id: 'ag', type: 'agentNode', data: { prompt: 'Write a haiku about', model: 'haiku' } },
        { id: 'gate', type: 'approvalNode', data: { message: 'Publish the haiku?' } },
        { id: 'out', type: 'results', data: {} },
      ],
      connections: [
        { source: 'in', target: 'ag' },
        { source: 'ag', target: 'gate' },
        { source: 'gate', target: 'out' },
      ],
    })
    const runId = res.headers.get('x-run-id')!
    const decisions: number[] = []
    const { frames, done } = await readCanvasStream(res, async (f) => {
      if (f.type === 'run_started') {
        // Committed before it was sent: the run is readable at once.
        const got = await fetch(`${gw.url}/canvas/runs/${f.data.runId}`, { headers: auth() })
        expect(got.status).toBe(200)
      }
      if (f.type === 'approval_required') {
        const url = `${gw.url}/canvas/runs/${f.data.runId}/approvals/${f.data.approvalId}`
        // Only the owner may decide.
        decisions.push((await fetch(url, { method: 'POST', headers: auth(bobToken), body: JSON.stringify({ decision: 'approve' }) })).status)
        decisions.push((await fetch(url, { method: 'POST', headers: auth(), body: JSON.stringify({ decision: 'approve', reason: 'looks good' }) })).status)
        decisions.push((await fetch(url, { method: 'POST', headers: auth(), body: JSON.stringify({ decision: 'approve' }) })).status)
        decisions.push((await fetch(url, { method: 'POST', headers: auth(), body: JSON.stringify({ decision: 'reject' }) })).status)
      }
    })
    expect(decisions).toEqual([404, 200, 200, 409])
    expect(done).toBe(true)
    for (const f of frames.filter((x) => x.type !== 'text')) expect(f.id).toMatch(/^\d+$/)
    const kinds = frames.map((f) => `${f.type}${f.data?.nodeId === undefined ? '' : `:${f.data.nodeId}`}`).filter((k, i, all) => k !== all[i - 1])
    expect(kinds).toEqual([
      'run_started',
      'node_started:in',
      'node_completed:in',
      'node_started:ag',
      'text',
      'node_completed:ag',
      'node_started:gate',
      'approval_required:gate',
      'approval_resolved:gate',
      'node_completed:gate',
      'node_started:out',
      'node_completed:out',
      'run_completed',
    ])
    expect(frames.filter((f) => f.type === 'text').map((f) => f.data).join('')).toBe('A haiku about canvases.')
    expect(frames.find((f) => f.type === 'approval_resolved')!.data).toMatchObject({ decision: 'approve', reason: 'looks good', automatic: false })
    const completed = frames.at(-1)!
    expect(completed.data).toMatchObject({ runId, status: 'completed' })
    expect(Array.isArray(completed.data.logs)).toBe(true)
    expect(fx.requests.at(-1)!.apiKey).toBe('sk-ant-canvas-key')
    expect(JSON.stringify(fx.requests.at(-1)!.body.messages)).toContain('Write a haiku about\\n\\ncanvases')

    // One settled spend, by the §15 BYOK formula from the usage the provider reported.
    const after = await spends()
    expect(after.length).toBe(spendsBefore + 1)
    const expected = priceTurn({ model: 'haiku', usage: { inputTokens: 900, outputTokens: 40, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 }, toolCalls: 0, toolCosts: 0n, byok: true })
    expect((after.at(-1)!.data as any).amount).toBe(expected.platformCost)
    expect((after.at(-1)!.data as any).reservationId).toBe(`canvas:${runId}:ag`)
    expect(completed.data.results.ag.costRaw).toBe(expected.platformCost.toString())

    // GET the run: unwrapped, nodeResults equal to run_completed.results.
    const run = (await (await fetch(`${gw.url}/canvas/runs/${runId}`, { headers: auth() })).json()) as any
    expect(run).toMatchObject({ runId, walletAddress: alice.address, status: 'completed', nodeStatuses: { in: 'completed', ag: 'completed', gate: 'completed', out: 'completed' } })
    expect(run.nodeResults).toEqual(completed.data.results)
    expect(run.approvals).toEqual([expect.objectContaining({ nodeId: 'gate', status: 'approved', reason: 'looks good', resolvedAt: expect.any(String) })])
    expect((await fetch(`${gw.url}/canvas/runs/${runId}`, { headers: auth(bobToken) })).status).toBe(404)

    // Last-Event-ID resumes after a position: the rest of the stream, and [DONE].
    const cut = frames.find((f) => f.type === 'node_completed' && f.data.nodeId === 'gate')!.id!
    const resumed = await readCanvasStream(await fetch(`${gw.url}/canvas/runs/${runId}/events`, { headers: { ...auth(), 'last-event-id': cut } }))
    expect(resumed.frames.map((f) => f.type)).toEqual(['node_started', 'node_completed', 'run_completed'])
    expect(resumed.done).toBe(true)
  }, 60_000)

  it('rejects an invalid workflow with 400 listing every problem, before anything runs', async () => {
    const before = fx.requests.length
    const res = await execute({
      nodes: [
        { id: 'in', type: 'text-input', data: {} },
        { id: 'a', type: 'agent', data: {} },
        { id: 'b', type: 'agent', data: {} },
        { id: 'br', type: 'github-create-branch', data: { branchName: 'x', owner: 'o', repo: 'r' } },
        { id: 'ready', type: 'github-mark-pr-ready', data: {} },
      ],
      connections: [
        { source: 'in', target: 'a' },
        { source: 'a', target: 'b' },
        { source: 'b', target: 'a' },
        { source: 'in', target: 'br' },
        { source: 'in', target: 'ready' },
      ],
    })
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: string; message: string; problems: { code: string; nodeIds?: string[] }[] }
    expect(body.error).toBe('invalid_workflow')
    expect(body.problems.map((p) => p.code).sort()).toEqual(['cycle', 'type_mismatch', 'write_without_approval', 'write_without_approval'])
    expect(body.message).toContain('a → b → a')
    const ro = await execute({ nodes: [{ id: 'in', type: 'text-input' }, { id: 'g', type: 'approval-gate' }, { id: 'br', type: 'githubNode', data: { action: 'createBranch', branchName: 'x' } }], connections: [{ source: 'in', target: 'g' }, { source: 'g', target: 'br' }], runtime: { mode: 'read_only' } })
    expect(ro.status).toBe(400)
    expect(((await ro.json()) as any).problems).toEqual([expect.objectContaining({ code: 'write_in_read_only', nodeIds: ['br'] })])
    expect(fx.requests.length).toBe(before)
  })

  it('a failed node fails its descendants (upstreamNodeIds) while an independent branch finishes; autoApprove is recorded as automatic', async () => {
    const res = await execute({
      nodes: [
        { id: 'in', type: 'text-input', data: { value: 'hi' } },
        { id: 'tool', type: 'mcp-tool', data: { toolName: 'no_such_tool', parameters: { text: '{{input}}' } } },
        { id: 'after', type: 'results', data: {} },
        { id: 'gate', type: 'approval-gate', data: {} },
        { id: 'echo', type: 'mcp-tool', data: { toolName: 'echo', parameters: { text: '{{input}}' } } },
        { id: 'out', type: 'results', data: {} },
      ],
      connections: [
        { source: 'in', target: 'tool' },
        { source: 'tool', target: 'after' },
        { source: 'in', target: 'gate' },
        { source: 'gate', target: 'echo' },
        { source: 'echo', target: 'out' },
      ],
      runtime: { autoApprove: true },
    })
    const { frames } = await readCanvasStream(res)
    const failed = frames.filter((f) => f.type === 'node_failed').map((f) => f.data)
    expect(failed.map((f) => [f.nodeId, f.upstreamNodeIds])).toEqual([
      ['tool', undefined],
      ['after', ['tool']],
    ])
    expect(frames.find((f) => f.type === 'approval_resolved')!.data).toMatchObject({ automatic: true, decision: 'approve' })
    expect(frames.find((f) => f.type === 'node_completed' && f.data.nodeId === 'out')!.data.result).toEqual({ text: 'echo: hi' })
    expect(frames.at(-1)).toMatchObject({ type: 'run_failed', data: { status: 'failed', logs: expect.any(Array) } })
    expect(mcp.calls.find((c) => c.tool === 'echo')).toMatchObject({ kind: 'delegated', wallet: alice.address, agent: 'canvas', session: frames[0]!.data.runId })
  }, 30_000)

  it('a node over its time limit fails with node_timeout, and its model hold is released, not charged', async () => {
    fx.enqueue({ kind: 'message', content: [{ type: 'text', text: 'too late' }], delayMs: 3000 })
    const before = (await spends()).length
    const res = await execute({
      nodes: [
        { id: 'in', type: 'text-input', data: { value: 'slow' } },
        { id: 'ag', type: 'agent', data: { prompt: 'Take your time', timeoutMs: 300 } },
      ],
      connections: [{ source: 'in', target: 'ag' }],
    })
    const { frames } = await readCanvasStream(res)
    const runId = frames[0]!.data.runId as string
    expect(frames.find((f) => f.type === 'node_failed')!.data).toMatchObject({ nodeId: 'ag', code: 'node_timeout' })
    expect(frames.at(-1)!.type).toBe('run_failed')
    const wallet = await gw.store.readStream(`wallet-${alice.address.toLowerCase()}`)
    const mine = wallet.filter((e) => (e.data as any).reservationId === `canvas:${runId}:ag`).map((e) => e.type)
    for (let i = 0; i < 100 && !mine.includes('SpendReleased'); i++) {
      await new Promise((r) => setTimeout(r, 50))
      mine.splice(0, mine.length, ...(await gw.store.readStream(`wallet-${alice.address.toLowerCase()}`)).filter((e) => (e.data as any).reservationId === `canvas:${runId}:ag`).map((e) => e.type))
    }
    expect(mine).toEqual(['SpendReserved', 'SpendReleased'])
    expect((await spends()).length).toBe(before)
  }, 30_000)

  it('GitHub nodes use the wallet’s vault secret (server "github"); a wallet without one fails with github_token_missing', async () => {
    const put = await fetch(`${gw.url}/wallet/mcp-secrets/github`, { method: 'PUT', headers: auth(), body: JSON.stringify({ secrets: { GITHUB_TOKEN: gh.token } }) })
    expect(put.status).toBe(200)
    const workflow = {
      nodes: [
        { id: 'in', type: 'text-input', data: { value: 'The build is red.' } },
        { id: 'gate', type: 'approval-gate', data: {} },
        { id: 'issue', type: 'githubNode', data: { action: 'createIssue', owner: gh.owner, repo: gh.repo, title: 'Red build', labels: 'bug, ci' } },
      ],
      connections: [
        { source: 'in', target: 'gate' },
        { source: 'gate', target: 'issue' },
      ],
      runtime: { autoApprove: true },
    }
    const { frames } = await readCanvasStream(await execute(workflow))
    expect(frames.at(-1)!.type).toBe('run_completed')
    expect(frames.at(-1)!.data.results.issue).toMatchObject({ number: expect.any(Number), created: true })
    expect(gh.issues()).toEqual([expect.objectContaining({ title: 'Red build', labels: ['bug', 'ci'], body: expect.stringContaining('The build is red.') })])
    expect(gh.violations).toEqual([])
    // The token appears in no event of the run.
    expect(JSON.stringify(await gw.store.readStream(`canvas-${frames[0]!.data.runId}`), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain(gh.token)

    const other = await readCanvasStream(await execute(workflow, bobToken))
    expect(other.frames.find((f) => f.type === 'node_failed')!.data).toMatchObject({ nodeId: 'issue', code: 'github_token_missing' })
    expect(gh.issues()).toHaveLength(1)
  }, 30_000)

  it('team mode with two teammates: events in order, each teammate billed on the ledger, results merged', async () => {
    const before = (await spends()).length
    fx.enqueue(
      textTurn('{"subtasks":[{"teammate":"reviewer","task":"Review the diff"},{"teammate":"tester","task":"Write tests"}]}'),
      textTurn('Findings: two typos.'),
      textTurn('Findings: tests added.'),
    )
    const res = await execute({
      nodes: [
        { id: 'in', type: 'text-input', data: { value: 'PR #7' } },
        { id: 'lead', type: 'teamNode', data: { prompt: 'Review this PR', model: 'haiku' } },
        { id: 'out', type: 'results', data: {} },
      ],
      connections: [
        { source: 'in', target: 'lead' },
        { source: 'lead', target: 'out' },
      ],
      teamRuntime: {
        continueKey: 'pr-7',
        teammates: [
          { nodeId: 'tm-r', teammateName: 'reviewer', sourceType: 'standard', rolePrompt: 'You review code.', model: 'haiku' },
          { nodeId: 'tm-t', teammateName: 'tester', sourceType: 'standard', rolePrompt: 'You write tests.' },
        ],
      },
    })
    const { frames } = await readCanvasStream(res)
    const team = frames.filter((f) => f.type === 'team_agent_event').map((f) => f.data)
    for (const name of ['reviewer', 'tester']) {
      expect(team.filter((e) => e.agentName === name).map((e) => e.eventKind)).toEqual(['agent_started', 'agent_message', 'agent_completed'])
    }
    expect(team.find((e) => e.agentName === 'reviewer' && e.eventKind === 'agent_completed')!.message).toMatch(/^Findings: /)
    const result = frames.find((f) => f.type === 'node_completed' && f.data.nodeId === 'lead')!.data.result
    expect(result.teammates.map((t: any) => t.name).sort()).toEqual(['reviewer', 'tester'])
    expect(result.summary).toContain('two typos')
    expect(result.summary).toContain('tests added')
    const runId = frames[0]!.data.runId as string
    const settled = (await spends()).slice(before).map((e) => (e.data as any).reservationId as string)
    expect(settled.sort()).toEqual([`canvas:${runId}:lead:plan`, `canvas:${runId}:lead:tm-r`, `canvas:${runId}:lead:tm-t`].sort())

    // continue + continueKey feed the earlier findings back in.
    fx.enqueue(textTurn('not json'), textTurn('Again: fine.'), textTurn('Again: fine too.'))
    const again = await execute({
      nodes: [{ id: 'lead', type: 'agent-team-orchestrator', data: { prompt: 'Check again' } }],
      connections: [],
      teamRuntime: { continue: true, continueKey: 'pr-7', teammates: [{ nodeId: 'tm-r', teammateName: 'reviewer' }, { nodeId: 'tm-t', teammateName: 'tester' }] },
    })
    const second = await readCanvasStream(again)
    expect(second.frames.at(-1)!.type).toBe('run_completed')
    expect(JSON.stringify(fx.requests.at(-3)!.body.messages)).toContain('two typos')
  }, 60_000)

  it('browser-verify drives Chromium against a served page: passing and failing assertions, a screenshot artifact for the owner only, hosts off the allow-list refused', async () => {
    const verify = (id: string, url: string, assertions: unknown[]) => ({ id, type: 'browserVerifyNode', data: { stepsJson: JSON.stringify([{ action: 'goto', url }]), assertionsJson: JSON.stringify(assertions), timeoutMs: 20_000 } })
    const res = await execute({
      nodes: [
        verify('ok', `http://127.0.0.1:${pagePort}/`, [{ type: 'textVisible', text: 'Hello canvas' }, { type: 'selectorCount', selector: 'li', count: 3 }, { type: 'httpStatus', status: 200 }]),
        verify('bad', `http://127.0.0.1:${pagePort}/`, [{ type: 'textVisible', text: 'Hello canvas' }, { type: 'selectorCount', selector: 'li', count: 5 }]),
        verify('off', `http://127.0.0.2:${pagePort}/`, []),
        verify('name', `http://localhost:${pagePort === 1 ? 2 : 1}/`, []),
      ],
      connections: [],
    })
    const { frames } = await readCanvasStream(res)
    const runId = frames[0]!.data.runId as string
    const okFrame = frames.find((f) => f.data?.nodeId === 'ok' && (f.type === 'node_completed' || f.type === 'node_failed'))
    expect(okFrame?.type, JSON.stringify(okFrame?.data)).toBe('node_completed')
    const ok = okFrame!.data.result
    expect(ok).toMatchObject({ passed: true, status: 200, finalUrl: `http://127.0.0.1:${pagePort}/` })
    expect(ok.assertions.map((a: any) => a.passed)).toEqual([true, true, true])
    const failed = Object.fromEntries(frames.filter((f) => f.type === 'node_failed').map((f) => [f.data.nodeId, f.data]))
    expect(failed.bad).toMatchObject({ code: 'verification_failed' })
    expect(failed.bad.error).toContain('selectorCount')
    expect(frames.some((f) => f.type === 'node_log' && f.data.nodeId === 'bad' && /screenshot bad\.png sha256 [0-9a-f]{64}/.test(f.data.message))).toBe(true)
    expect(failed.off).toMatchObject({ code: 'browser_host_forbidden' })
    expect(failed.name).toMatchObject({ code: 'browser_host_forbidden' })

    // The screenshot is a run artifact: a PNG whose hash the event recorded, served to the owner only.
    const shot = await fetch(`${gw.url}${ok.screenshot.url}`, { headers: auth() })
    expect(shot.status).toBe(200)
    expect(shot.headers.get('content-type')).toBe('image/png')
    const bytes = Buffer.from(await shot.arrayBuffer())
    expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a')
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(ok.screenshot.sha256)
    expect((await fetch(`${gw.url}${ok.screenshot.url}`, { headers: auth(bobToken) })).status).toBe(404)
    expect((await fetch(`${gw.url}/canvas/runs/${runId}/artifacts/..%2F..%2Fevents.sqlite`, { headers: auth() })).status).toBe(404)
  }, 90_000)

  it('a teammate with tools runs an agent loop: tool call through MCP with a delegated token, result fed back, every call billed', async () => {
    const before = (await spends()).length
    fx.enqueue(textTurn('no plan today'), toolTurn('echo', { text: 'from the team' }), textTurn('The tool said: echo: from the team'))
    const res = await execute({
      nodes: [{ id: 'lead', type: 'agentTeamOrchestratorNode', data: { prompt: 'Use your tools' } }],
      connections: [],
      teamRuntime: { teammates: [{ nodeId: 'tm-e', teammateName: 'echoer', rolePrompt: 'You call tools.', tools: ['echo'], maxTurns: 3 }] },
    })
    const { frames } = await readCanvasStream(res)
    const runId = frames[0]!.data.runId as string
    expect(frames.filter((f) => f.type === 'team_agent_event').map((f) => f.data.eventKind)).toEqual(['agent_started', 'agent_tool_call', 'agent_tool_result', 'agent_message', 'agent_completed'])
    expect(frames.find((f) => f.type === 'team_agent_event' && f.data.eventKind === 'agent_tool_result')!.data.detail).toMatchObject({ isError: false, result: 'echo: from the team' })
    expect(mcp.calls.at(-1)).toMatchObject({ tool: 'echo', kind: 'delegated', wallet: alice.address, agent: 'canvas', session: runId })
    // The tool's answer went back to the model as a tool_result.
    expect(JSON.stringify(fx.requests.at(-1)!.body.messages)).toContain('tool_result')
    expect(fx.requests.at(-2)!.body.tools.map((t: any) => t.name)).toEqual(['echo'])
    const settled = (await spends()).slice(before).map((e) => (e.data as any).reservationId as string)
    expect(settled.sort()).toEqual([`canvas:${runId}:lead:plan`, `canvas:${runId}:lead:tm-e`, `canvas:${runId}:lead:tm-e:2`].sort())
    expect(frames.at(-1)!.data.results.lead.summary).toContain('The tool said: echo: from the team')
  }, 30_000)

  it('runs are listed newest first; workflows save with versions and list with JSON strings; canvas:<runId> over WebSocket', async () => {
    const list = (await (await fetch(`${gw.url}/canvas/runs`, { headers: auth() })).json()) as { runs: any[] }
    expect(list.runs.length).toBeGreaterThanOrEqual(3)
    const created = list.runs.map((r) => Date.parse(r.createdAt))
    expect([...created].sort((a, b) => b - a)).toEqual(created)
    for (const r of list.runs) expect(r).toMatchObject({ runId: expect.any(String), nodeStatuses: expect.any(Object), nodeResults: expect.any(Object), approvals: expect.any(Array), logs: expect.any(Array) })
    // Each wallet sees only its own runs.
    expect(list.runs.every((r) => r.walletAddress === alice.address)).toBe(true)
    const bobs = ((await (await fetch(`${gw.url}/canvas/runs`, { headers: auth(bobToken) })).json()) as any).runs as any[]
    expect(bobs.length).toBeGreaterThan(0)
    expect(bobs.every((r) => r.walletAddress === bob.address)).toBe(true)

    const wf = { name: 'PR flow', description: 'demo', nodes: [{ id: 'in', type: 'text-input', position: { x: 0, y: 0 }, data: { value: 'x' } }], edges: [{ id: 'e1', source: 'in', target: 'in' }] }
    const s1 = (await (await fetch(`${gw.url}/canvas/workflows`, { method: 'POST', headers: auth(), body: JSON.stringify(wf) })).json()) as { workflowId: string; version: number }
    const s2 = (await (await fetch(`${gw.url}/canvas/workflows`, { method: 'POST', headers: auth(), body: JSON.stringify({ ...wf, nodes: [...wf.nodes, { id: 'out', type: 'results', position: { x: 1, y: 1 }, data: {} }] }) })).json()) as { workflowId: string; version: number }
    expect(s2.workflowId).toBe(s1.workflowId)
    expect([s1.version, s2.version]).toEqual([1, 2])
    const workflows = ((await (await fetch(`${gw.url}/canvas/workflows`, { headers: auth() })).json()) as { workflows: any[] }).workflows
    const mine = workflows.find((w) => w.entityId === s1.workflowId)
    expect(mine).toMatchObject({ name: 'PR flow', description: 'demo', nodeCount: 2, version: 2 })
    expect(JSON.parse(mine.nodesJson)).toHaveLength(2)
    expect(JSON.parse(mine.edgesJson)).toEqual(wf.edges)
    expect((await fetch(`${gw.url}/canvas/workflows`, { method: 'POST', headers: auth(), body: JSON.stringify({ name: '' }) })).status).toBe(400)

    // WebSocket: the same events on canvas:<runId>, replayed from a position; another wallet is refused.
    const runId = list.runs.at(-1)!.runId as string
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`, ['agent-gateway.v1.json'], { headers: { authorization: `Bearer ${token}` } })
    const got: any[] = []
    ws.on('message', (d: Buffer) => got.push(JSON.parse(d.toString())))
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)))
    ws.send(JSON.stringify({ type: 'subscribe', topic: `canvas:${runId}`, after: '0' }))
    for (let i = 0; i < 200 && !got.some((f) => f.type === 'event' && f.event.type === 'run_completed'); i++) await new Promise((r) => setTimeout(r, 25))
    const events = got.filter((f) => f.type === 'event').map((f) => f.event.type)
    expect(events[0]).toBe('run_started')
    expect(events.at(-1)).toBe('run_completed')
    ws.close()
    const bws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`, ['agent-gateway.v1.json'], { headers: { authorization: `Bearer ${bobToken}` } })
    const bgot: any[] = []
    bws.on('message', (d: Buffer) => bgot.push(JSON.parse(d.toString())))
    await new Promise((r, j) => (bws.once('open', r), bws.once('error', j)))
    bws.send(JSON.stringify({ type: 'subscribe', topic: `canvas:${runId}` }))
    for (let i = 0; i < 100 && !bgot.some((f) => f.type === 'error'); i++) await new Promise((r) => setTimeout(r, 25))
    expect(bgot.some((f) => f.type === 'error')).toBe(true)
    bws.close()
  }, 30_000)

  it('over WebSocket: canvas:<runId> streams a run live, and an approve frame with runId resolves its gate', async () => {
    const res = await execute({
      nodes: [
        { id: 'in', type: 'text-input', data: { value: 'ws' } },
        { id: 'gate', type: 'approvalGateNode', data: {} },
        { id: 'out', type: 'resultsNode', data: {} },
      ],
      connections: [
        { source: 'in', target: 'gate' },
        { source: 'gate', target: 'out' },
      ],
    })
    const runId = res.headers.get('x-run-id')!
    const sse = readCanvasStream(res)
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`, ['agent-gateway.v1.json'], { headers: { authorization: `Bearer ${token}` } })
    const got: any[] = []
    ws.on('message', (d: Buffer) => got.push(JSON.parse(d.toString())))
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)))
    ws.send(JSON.stringify({ type: 'subscribe', topic: `canvas:${runId}`, after: '0' }))
    const wait = async (pred: () => boolean) => {
      for (let i = 0; i < 400 && !pred(); i++) await new Promise((r) => setTimeout(r, 25))
      expect(pred()).toBe(true)
    }
    await wait(() => got.some((f) => f.type === 'event' && f.event.type === 'approval_required'))
    const approvalId = got.find((f) => f.type === 'event' && f.event.type === 'approval_required').event.data.approvalId as string
    ws.send(JSON.stringify({ type: 'approve', runId, approvalId, decision: 'approve', requestId: 'ws-apr-1' }))
    await wait(() => got.some((f) => f.type === 'event' && f.event.type === 'run_completed'))
    expect(got.find((f) => f.type === 'ack' && f.of === 'approve')).toMatchObject({ runId, approvalId, requestId: 'ws-apr-1' })
    const { frames } = await sse
    expect(frames.at(-1)!.data.results).toEqual({ in: 'ws', gate: { decision: 'approve', automatic: false, upstream: { in: 'ws' } }, out: { decision: 'approve', automatic: false, upstream: { in: 'ws' } } })
    ws.close()
  }, 30_000)
})

