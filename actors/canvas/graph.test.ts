import { describe, expect, it } from 'vitest'
import { normalizeNodeType, validateGraph, type InputEdge, type InputNode } from './graph.js'

const prGraph = (): { nodes: InputNode[]; edges: InputEdge[] } => ({
  nodes: [
    { id: 'in', type: 'text-input', data: { value: 'Add a README' } },
    { id: 'ag', type: 'agent', data: { prompt: 'Write it' } },
    { id: 'gate', type: 'approval-gate', data: { message: 'Ship it?' } },
    { id: 'br', type: 'github-create-branch', data: { branchName: 'canvas/readme', owner: 'o', repo: 'r' } },
    { id: 'cm', type: 'github-commit-files', data: { consumeUpstream: true } },
    { id: 'pr', type: 'github-open-draft-pr', data: { title: 'README', consumeUpstream: true } },
    { id: 'out', type: 'results', data: {} },
  ],
  edges: [
    { source: 'in', target: 'ag' },
    { source: 'ag', target: 'gate' },
    { source: 'gate', target: 'br' },
    { source: 'br', target: 'cm' },
    { source: 'cm', target: 'pr' },
    { source: 'pr', target: 'out' },
  ],
})

const codes = (r: ReturnType<typeof validateGraph>) => (r.ok ? [] : r.problems.map((p) => p.code))

describe('node type spellings', () => {
  it('normalises kebab-case, React-Flow camelCase, approvalNode, teamNode and githubNode with data.action', () => {
    expect(normalizeNodeType('text-input')).toBe('text-input')
    expect(normalizeNodeType('textInputNode')).toBe('text-input')
    expect(normalizeNodeType('approvalGateNode')).toBe('approval-gate')
    expect(normalizeNodeType('approvalNode')).toBe('approval-gate')
    expect(normalizeNodeType('browserVerifyNode')).toBe('browser-verify')
    expect(normalizeNodeType('teamNode')).toBe('agent-team-orchestrator')
    expect(normalizeNodeType('agentTeamOrchestratorNode')).toBe('agent-team-orchestrator')
    expect(normalizeNodeType('mcpToolNode')).toBe('mcp-tool')
    expect(normalizeNodeType('resultsNode')).toBe('results')
    expect(normalizeNodeType('githubRepoNode')).toBe('github-repo')
    expect(normalizeNodeType('githubNode', { action: 'createBranch' })).toBe('github-create-branch')
    expect(normalizeNodeType('githubNode', { action: 'commit_files' })).toBe('github-commit-files')
    expect(normalizeNodeType('githubNode', { action: 'open-draft-pr' })).toBe('github-open-draft-pr')
    expect(normalizeNodeType('githubNode', {})).toBeUndefined()
    expect(normalizeNodeType('spaceshipNode')).toBeUndefined()
  })
})

describe('validateGraph', () => {
  it('accepts the PR workflow and plans it topologically', () => {
    const r = validateGraph(prGraph())
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.plan.order).toEqual(['in', 'ag', 'gate', 'br', 'cm', 'pr', 'out'])
    expect(r.plan.levels).toEqual([0, 1, 2, 3, 4, 5, 6])
  })

  it('accepts a gate that is a grandparent of the write node (Pixel puts it two levels up), refuses the same graph without it', () => {
    const nodes = (gate: boolean): InputNode[] => [
      { id: 'in', type: 'text-input', data: {} },
      { id: 'gate', type: gate ? 'approvalNode' : 'agent', data: {} },
      { id: 'repo', type: 'githubRepoNode', data: { owner: 'o', repo: 'r' } },
      { id: 'issue', type: 'githubNode', data: { action: 'create_issue', title: 'Found it' } },
    ]
    const edges = [
      { source: 'in', target: 'gate' },
      { source: 'gate', target: 'repo' },
      { source: 'repo', target: 'issue' },
    ]
    expect(validateGraph({ nodes: nodes(true), edges }).ok).toBe(true)
    expect(codes(validateGraph({ nodes: nodes(false), edges }))).toEqual(['write_without_approval'])
  })

  it('rejects a write node without an upstream gate, also when the gate is only on a sibling branch', () => {
    const g = prGraph()
    g.nodes.push({ id: 'issue', type: 'github-create-issue', data: { title: 'Ungated', owner: 'o', repo: 'r' } })
    g.edges.push({ source: 'ag', target: 'issue' })
    const r = validateGraph(g)
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.problems).toEqual([expect.objectContaining({ code: 'write_without_approval', nodeIds: ['issue'] })])
  })

  it('rejects every write node in read_only mode', () => {
    const r = validateGraph(prGraph(), { mode: 'read_only' })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.problems.map((p) => [p.code, p.nodeIds?.[0]])).toEqual([
      ['write_in_read_only', 'br'],
      ['write_in_read_only', 'cm'],
      ['write_in_read_only', 'pr'],
    ])
  })

  it('treats MCP tools marked as writes as write nodes', () => {
    const r = validateGraph({
      nodes: [
        { id: 'a', type: 'text-input', data: {} },
        { id: 't', type: 'mcpToolNode', data: { toolName: 'delete_note', annotations: { destructiveHint: true } } },
      ],
      edges: [{ source: 'a', target: 't' }],
    })
    expect(codes(r)).toEqual(['write_without_approval'])
  })

  it('names the nodes on a cycle', () => {
    const r = validateGraph({
      nodes: [
        { id: 'in', type: 'text-input', data: {} },
        { id: 'a', type: 'agent', data: {} },
        { id: 'b', type: 'agent', data: {} },
        { id: 'c', type: 'agent', data: {} },
      ],
      edges: [
        { source: 'in', target: 'a' },
        { source: 'a', target: 'b' },
        { source: 'b', target: 'c' },
        { source: 'c', target: 'a' },
      ],
    })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.problems).toEqual([{ code: 'cycle', message: 'The workflow has a cycle: a → b → c → a', nodeIds: ['a', 'b', 'c'] }])
  })

  it('rejects an edge between incompatible ports', () => {
    const r = validateGraph({
      nodes: [
        { id: 'in', type: 'text-input', data: {} },
        { id: 'gate', type: 'approval-gate', data: {} },
        { id: 'ready', type: 'github-mark-pr-ready', data: {} },
      ],
      edges: [
        { source: 'in', target: 'gate' },
        { source: 'gate', target: 'ready' },
      ],
    })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.problems).toEqual([expect.objectContaining({ code: 'type_mismatch', nodeIds: ['gate', 'ready'] })])
    expect(r.problems[0]!.message).toContain('gives text')
    expect(r.problems[0]!.message).toContain('takes pr')
  })

  it('rejects anything after a results node and any input into a text-input', () => {
    const r = validateGraph({
      nodes: [
        { id: 'in', type: 'text-input', data: {} },
        { id: 'out', type: 'results', data: {} },
        { id: 'in2', type: 'textInputNode', data: {} },
      ],
      edges: [
        { source: 'in', target: 'out' },
        { source: 'out', target: 'in2' },
      ],
    })
    expect(codes(r)).toEqual(['type_mismatch'])
  })

  it('lists every problem at once: unknown type, dangling edge, duplicate id, missing and malformed data', () => {
    const r = validateGraph({
      nodes: [
        { id: 'x', type: 'spaceship', data: {} },
        { id: 'x', type: 'agent', data: {} },
        { id: 't', type: 'mcp-tool', data: {} },
        { id: 'b', type: 'browser-verify', data: { stepsJson: '[{not json' } },
      ],
      edges: [{ source: 'x', target: 'ghost' }],
    })
    expect(codes(r).sort()).toEqual(['dangling_edge', 'duplicate_node_id', 'invalid_data', 'missing_data', 'unknown_node_type'])
  })

  it('refuses team nodes when team mode is off', () => {
    const r = validateGraph({ nodes: [{ id: 'o', type: 'teamNode', data: {} }], edges: [] }, { teamMode: false })
    expect(codes(r)).toEqual(['team_mode_disabled'])
  })

  it('validates a 10,000-node chain in linear time', () => {
    const nodes: InputNode[] = [{ id: 'n0', type: 'text-input', data: {} }]
    const edges: InputEdge[] = []
    for (let i = 1; i < 10_000; i++) {
      nodes.push({ id: `n${i}`, type: 'agent', data: {} })
      edges.push({ source: `n${i - 1}`, target: `n${i}` })
    }
    const t = performance.now()
    const r = validateGraph({ nodes, edges })
    expect(r.ok).toBe(true)
    expect(performance.now() - t).toBeLessThan(2000)
  })
})
