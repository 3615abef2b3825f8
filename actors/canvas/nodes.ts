import { GatewayError, ValidationError } from '../../shared/errors.js'
import type { ModelContentBlock, ModelMessage, ModelTool } from '../billing/model-port.js'
import type { McpToolResult } from '../billing/tool-port.js'
import type { DelegatedClaims } from '../billing/tool-port.js'
import type { GraphNode, NodeType } from './graph.js'
import type { BrowserAssertion, BrowserPort, BrowserStep, GitHubPort, GitHubRef } from './ports.js'
import type { TeamAgentEventRecorded, TeamRuntime } from './events.js'
import { pureNodeResult } from './pure-nodes.js'

/** An upstream node's result, as a node sees it. */
export interface Upstream {
  nodeId: string
  nodeType: NodeType
  result: unknown
}

/** What a running node may do: read its inputs, log, record a write key, stream text. */
export interface NodeRunContext {
  runId: string
  /** Checksummed owner. */
  wallet: string
  node: GraphNode
  /** The run's team options (team mode). */
  teamRuntime: TeamRuntime | null
  /** Direct parents' results. */
  inputs: Upstream[]
  /** Every ancestor's result, nearest first (a branch or repo may come from further up). */
  ancestors: Upstream[]
  signal: AbortSignal
  log(message: string): Promise<void>
  /** Records the write's idempotency key in the run's stream; resolves once it is committed. */
  intendWrite(operation: string, key: string): Promise<void>
  /** A text delta of a model answer (streamed live as `text` events). */
  text(delta: string): void
  teamEvent(e: { agentName: string; eventKind: TeamAgentEventRecorded['data']['eventKind']; message?: string; detail?: unknown }): Promise<void>
}

/** One billed model call (BYOK key from the vault, reserved and settled on the ledger). */
export type CanvasModelCall = (p: {
  wallet: string
  /** Idempotency of the hold and its settlement (derived from run + node ids). */
  reservationId: string
  ref: { sessionId: string; turnId: string }
  model: string | undefined
  system: string
  prompt: string
  /** The whole conversation (an agent loop's later calls); default one user message, `prompt`. */
  messages?: ModelMessage[]
  tools?: ModelTool[]
  maxTokens: number
  onText?: (delta: string) => void
  signal?: AbortSignal
}) => Promise<{ text: string; content: ModelContentBlock[]; model: string; usage: unknown; costRaw: bigint; cost: string; balanceRemaining: bigint | null }>

export interface NodeDeps {
  modelCall: CanvasModelCall
  /** The MCP executor of chat (delegated token, x402); absent without MCP_GATEWAY_URL. */
  callTool?: (p: { claims: DelegatedClaims; name: string; args: Record<string, unknown>; signal?: AbortSignal }) => Promise<McpToolResult>
  github?: GitHubPort
  browser?: BrowserPort
  /** The wallet's GitHub token: a named vault secret, else GITHUB_TOKEN. */
  githubToken(wallet: string, secretName: string | undefined): Promise<string>
  /** Keeps a run artifact (file under DATA_DIR); returns its content hash. */
  saveArtifact(runId: string, name: string, bytes: Uint8Array): Promise<{ sha256: string; bytes: number }>
  /** Team mode (orchestrator + teammates), when enabled. */
  team?: (c: NodeRunContext) => Promise<unknown>
}

export type NodeExecutor = (c: NodeRunContext, deps: NodeDeps) => Promise<unknown>

export class NodeError extends GatewayError {
  override name = 'NodeError'
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim().length > 0 ? v : undefined)

/** The text of a result: a string, `{text}`, or its JSON. */
export function resultText(result: unknown): string {
  if (typeof result === 'string') return result
  if (result !== null && typeof result === 'object' && typeof (result as { text?: unknown }).text === 'string') return (result as { text: string }).text
  if (result === null || result === undefined) return ''
  return JSON.stringify(result)
}

/** The text a result carries: a string or `{text}`; a gate passes on its upstream's text. */
function textOf(u: Upstream): string[] {
  const r = u.result
  if (u.nodeType === 'approval-gate') return Object.values(((r as { upstream?: Record<string, unknown> } | null)?.upstream ?? {}) as Record<string, unknown>).flatMap((x) => textOf({ nodeId: '', nodeType: 'results', result: x }))
  if (typeof r === 'string') return r.length > 0 ? [r] : []
  if (r !== null && typeof r === 'object' && typeof (r as { text?: unknown }).text === 'string') return [(r as { text: string }).text]
  return []
}

/** The node's input text: its parents' texts, else the nearest ancestor's (a branch node between an agent and a commit carries none). */
function inputText(c: NodeRunContext): string {
  const direct = c.inputs.flatMap(textOf)
  if (direct.length > 0) return direct.join('\n\n')
  for (const a of c.ancestors) {
    const t = textOf(a)
    if (t.length > 0) return t.join('\n\n')
  }
  return ''
}

/** The first ancestor result carrying `field` (nearest first). */
function fromUpstream<T>(c: NodeRunContext, pick: (r: Record<string, unknown>) => T | undefined): T | undefined {
  for (const a of c.ancestors) {
    if (a.result === null || typeof a.result !== 'object') continue
    const v = pick(a.result as Record<string, unknown>)
    if (v !== undefined) return v
  }
  return undefined
}

function repoOf(c: NodeRunContext): { owner: string; repo: string } {
  const d = c.node.data
  const full = str(d.repoFullName)
  if (full !== undefined && full.includes('/')) {
    const [owner, repo] = full.split('/') as [string, string]
    return { owner, repo }
  }
  const owner = str(d.owner)
  const repo = str(d.repo)
  if (owner !== undefined && repo !== undefined) return { owner, repo }
  const up = fromUpstream(c, (r) => (typeof r.owner === 'string' && typeof r.repo === 'string' ? { owner: r.owner, repo: r.repo } : undefined))
  if (up !== undefined) return up
  throw new NodeError('github_repo_missing', `Node "${c.node.id}" has no repository: set data.owner and data.repo (or repoFullName), or connect a github-repo node upstream`)
}

async function githubRef(c: NodeRunContext, deps: NodeDeps): Promise<{ gh: GitHubPort; ref: GitHubRef }> {
  if (deps.github === undefined) throw new NodeError('github_unavailable', 'GitHub nodes are not available on this gateway')
  const token = await deps.githubToken(c.wallet, str(c.node.data.tokenSecret))
  return { gh: deps.github, ref: { token, ...repoOf(c) } }
}

/** The node's idempotency key: stable across restarts, so a resumed write finds what the first attempt made. */
function writeKey(c: NodeRunContext): string {
  return `${c.runId}:${c.node.id}`
}

function parseJson<T>(c: NodeRunContext, field: string, fallback: T): T {
  const v = c.node.data[field]
  if (v === undefined || v === null || v === '') return fallback
  if (typeof v !== 'string') return v as T
  try {
    return JSON.parse(v) as T
  } catch {
    throw new ValidationError(`data.${field} is not valid JSON`)
  }
}

interface FileSpec {
  path: string
  content: string
}

function isFiles(v: unknown): v is FileSpec[] {
  return Array.isArray(v) && v.length > 0 && v.every((f) => f !== null && typeof f === 'object' && typeof (f as FileSpec).path === 'string' && typeof (f as FileSpec).content === 'string')
}

/** The files to commit: data.filesJson (`{{input}}` in a content is replaced by the upstream text), else files from upstream. */
function filesOf(c: NodeRunContext): FileSpec[] {
  const text = inputText(c)
  const declared = parseJson<unknown>(c, 'filesJson', undefined)
  if (declared !== undefined) {
    if (!isFiles(declared)) throw new NodeError('invalid_files', 'data.filesJson must be a JSON array of {path, content}')
    return declared.map((f) => ({ path: f.path, content: f.content.replaceAll('{{input}}', text) }))
  }
  const upstream = fromUpstream(c, (r) => (isFiles(r.files) ? r.files : undefined))
  if (upstream !== undefined) return upstream
  // An agent upstream may have answered with the files as JSON.
  const match = /\[[\s\S]*\]/.exec(text)
  if (match !== null) {
    try {
      const parsed = JSON.parse(match[0]) as unknown
      if (isFiles(parsed)) return parsed
    } catch {
      // not JSON: fall through
    }
  }
  throw new NodeError('files_missing', `Node "${c.node.id}" has no files to commit: set data.filesJson or connect a node that gives files`)
}

const executors: Record<NodeType, NodeExecutor> = {
  // Pure nodes: decide completes them; the executors give the same result (used by the bench's plain loop).
  'text-input': async (c) => pureNodeResult(c.node, c.inputs),
  results: async (c) => pureNodeResult(c.node, c.inputs),

  // Gates never execute: decide resolves them from approvals.
  'approval-gate': async () => {
    throw new NodeError('invalid_node', 'approval gates do not execute')
  },

  agent: async (c, deps) => {
    const d = c.node.data
    const prompt = [str(d.prompt), inputText(c)].filter((x): x is string => x !== undefined && x.length > 0).join('\n\n')
    if (prompt.length === 0) throw new NodeError('prompt_missing', `Agent node "${c.node.id}" has neither data.prompt nor upstream input`)
    const r = await deps.modelCall({
      wallet: c.wallet,
      reservationId: `canvas:${c.runId}:${c.node.id}`,
      ref: { sessionId: c.runId, turnId: c.node.id },
      model: str(d.model),
      system: str(d.systemPrompt) ?? 'You are one step of a workflow. Answer with the requested output only.',
      prompt,
      maxTokens: typeof d.maxTokens === 'number' ? Math.min(Math.max(1, d.maxTokens), 8192) : 1024,
      onText: (t) => c.text(t),
      signal: c.signal,
    })
    return { text: r.text, model: r.model, usage: r.usage, cost: r.cost, costRaw: r.costRaw.toString() }
  },

  'mcp-tool': async (c, deps) => {
    if (deps.callTool === undefined) throw new NodeError('mcp_unavailable', 'No MCP gateway is configured on this server')
    const name = String(c.node.data.toolName)
    const text = inputText(c)
    const params = (c.node.data.parameters ?? {}) as Record<string, unknown>
    const args: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(params)) args[k] = typeof v === 'string' ? v.replaceAll('{{input}}', text) : v
    const r = await deps.callTool({ claims: { wallet: c.wallet, agent: 'canvas', session: c.runId, tools: [name] }, name, args, signal: c.signal })
    if (r.isError) throw new NodeError('tool_failed', `Tool ${name} failed: ${r.text.slice(0, 500)}`)
    return { text: r.text, ...(r.paid === undefined ? {} : { paid: { amount: r.paid.amount.toString(), txHash: r.paid.txHash ?? null } }) }
  },

  'agent-team-orchestrator': async (c, deps) => {
    if (deps.team === undefined) throw new NodeError('team_mode_disabled', 'Team mode is off on this gateway (CANVAS_TEAM_MODE)')
    return deps.team(c)
  },
  'agent-team-teammate': async (c, deps) => executors.agent({ ...c, node: { ...c.node, data: { ...c.node.data, prompt: c.node.data.rolePrompt ?? c.node.data.prompt } } }, deps),

  'github-repo': async (c, deps) => {
    const { gh, ref } = await githubRef(c, deps)
    const r = await gh.getRepo(ref)
    return { owner: ref.owner, repo: ref.repo, fullName: r.fullName, defaultBranch: r.defaultBranch, headSha: r.headSha, branch: str(c.node.data.branch) ?? r.defaultBranch }
  },

  'github-create-branch': async (c, deps) => {
    const { gh, ref } = await githubRef(c, deps)
    const branch = String(c.node.data.branchName)
    const fromBranch = str(c.node.data.baseBranch) ?? fromUpstream(c, (r) => (typeof r.defaultBranch === 'string' ? r.defaultBranch : undefined))
    const key = writeKey(c)
    await c.intendWrite('createBranch', key)
    const r = await gh.createBranch({ ...ref, branch, key, ...(fromBranch === undefined ? {} : { fromBranch }) })
    await c.log(`branch ${r.branch} ${r.created ? 'created' : 'already existed'} at ${r.sha}`)
    return { owner: ref.owner, repo: ref.repo, branch: r.branch, sha: r.sha, created: r.created, ...(fromBranch === undefined ? {} : { baseBranch: fromBranch }) }
  },

  'github-commit-files': async (c, deps) => {
    const { gh, ref } = await githubRef(c, deps)
    const branch = str(c.node.data.branch) ?? fromUpstream(c, (r) => (typeof r.branch === 'string' ? r.branch : undefined))
    if (branch === undefined) throw new NodeError('branch_missing', `Node "${c.node.id}" has no branch: set data.branch or connect github-create-branch upstream`)
    const files = filesOf(c)
    const message = str(c.node.data.message) ?? `Canvas run ${c.runId}: ${files.length} file(s)`
    const key = writeKey(c)
    await c.intendWrite('commitFiles', key)
    const r = await gh.commitFiles({ ...ref, branch, message, files, key })
    await c.log(`commit ${r.sha} on ${branch} ${r.created ? 'created' : 'already existed'}`)
    const baseBranch = fromUpstream(c, (x) => (typeof x.baseBranch === 'string' ? x.baseBranch : undefined))
    return { owner: ref.owner, repo: ref.repo, branch, sha: r.sha, created: r.created, files: files.map((f) => f.path), ...(r.url === undefined ? {} : { url: r.url }), ...(baseBranch === undefined ? {} : { baseBranch }) }
  },

  'github-open-draft-pr': async (c, deps) => {
    const { gh, ref } = await githubRef(c, deps)
    const head = str(c.node.data.head) ?? fromUpstream(c, (r) => (typeof r.branch === 'string' ? r.branch : undefined))
    if (head === undefined) throw new NodeError('branch_missing', `Node "${c.node.id}" has no head branch: set data.head or connect a branch upstream`)
    const base = str(c.node.data.base) ?? fromUpstream(c, (r) => (typeof r.baseBranch === 'string' ? r.baseBranch : typeof r.defaultBranch === 'string' ? r.defaultBranch : undefined)) ?? (await gh.getRepo(ref)).defaultBranch
    const title = str(c.node.data.title) ?? `Canvas run ${c.runId}`
    const body = str(c.node.data.body) ?? (inputText(c) || `Opened by canvas run ${c.runId}.`)
    const key = writeKey(c)
    await c.intendWrite('openDraftPr', key)
    const r = await gh.openDraftPr({ ...ref, head, base, title, body, key })
    await c.log(`draft PR #${r.number} ${r.created ? 'opened' : 'already open'}`)
    return { owner: ref.owner, repo: ref.repo, number: r.number, url: r.url, created: r.created, head, base }
  },

  'github-create-issue': async (c, deps) => {
    const { gh, ref } = await githubRef(c, deps)
    const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : Array.isArray(v) ? v.map(String) : [])
    const key = writeKey(c)
    await c.intendWrite('createIssue', key)
    const r = await gh.createIssue({
      ...ref,
      title: String(c.node.data.title),
      body: str(c.node.data.body) ?? inputText(c),
      labels: list(c.node.data.labels),
      assignees: list(c.node.data.assignees),
      key,
    })
    return { owner: ref.owner, repo: ref.repo, number: r.number, url: r.url, created: r.created }
  },

  'github-mark-pr-ready': async (c, deps) => {
    const { gh, ref } = await githubRef(c, deps)
    const n = Number(c.node.data.prNumber ?? fromUpstream(c, (r) => (typeof r.number === 'number' ? r.number : undefined)))
    if (!Number.isSafeInteger(n) || n <= 0) throw new NodeError('pr_missing', `Node "${c.node.id}" has no pull request: set data.prNumber or connect github-open-draft-pr upstream`)
    await c.intendWrite('markPrReady', writeKey(c))
    const r = await gh.markPrReady({ ...ref, prNumber: n })
    return { owner: ref.owner, repo: ref.repo, number: r.number, draft: r.draft }
  },

  'browser-verify': async (c, deps) => {
    if (deps.browser === undefined) throw new NodeError('browser_unavailable', 'Browser verification is not available on this gateway')
    const steps = parseJson<BrowserStep[]>(c, 'stepsJson', [])
    const assertions = parseJson<BrowserAssertion[]>(c, 'assertionsJson', [])
    const timeoutMs = typeof c.node.data.timeoutMs === 'number' ? c.node.data.timeoutMs : 30_000
    const r = await deps.browser.verify({ steps, assertions, timeoutMs, signal: c.signal })
    const shot = await deps.saveArtifact(c.runId, `${c.node.id}.png`, r.screenshot)
    const screenshot = { name: `${c.node.id}.png`, sha256: shot.sha256, bytes: shot.bytes, url: `/canvas/runs/${c.runId}/artifacts/${c.node.id}.png` }
    const result = { passed: r.passed, assertions: r.assertions, finalUrl: r.finalUrl, status: r.status, screenshot }
    if (!r.passed) {
      await c.log(`verification failed; screenshot ${screenshot.name} sha256 ${shot.sha256}`)
      const failed = r.assertions.filter((a) => !a.passed).map((a) => `${a.assertion.type}: ${a.detail}`)
      throw new NodeError('verification_failed', `Browser verification failed: ${failed.join('; ')}`, { details: { result } })
    }
    return result
  },
}

/** The executor of a node type. */
export function executorFor(type: NodeType): NodeExecutor {
  return executors[type]
}
