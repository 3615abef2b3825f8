import { Octokit } from '@octokit/rest'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startGitHubFixture, type GitHubFixture } from '../../test/github/server.js'
import { createGitHubAdapter, GitHubError, ISSUE_LOOKBACK, type GitHubPort, type GitHubRef } from './github-adapter.js'

/**
 * A fetch that performs the request and then loses the answer for the first request matching
 * `method path` — as when the gateway dies after GitHub did the write but before it heard back.
 */
function losingAnswerOf(method: string, path: RegExp): typeof fetch {
  let armed = true
  return async (input, init) => {
    const res = await fetch(input, init)
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
    if (armed && (init?.method ?? 'GET') === method && path.test(url.pathname)) {
      armed = false
      await res.arrayBuffer()
      throw new TypeError('fetch failed (connection reset after the write)')
    }
    return res
  }
}

describe('GitHub adapter against the OpenAPI-checked fixture', () => {
  let f: GitHubFixture
  let gh: GitHubPort
  let ref: GitHubRef

  beforeAll(async () => {
    f = await startGitHubFixture()
    gh = createGitHubAdapter({ baseUrl: f.url })
    ref = { token: f.token, owner: f.owner, repo: f.repo }
  })
  afterAll(() => f.close())
  afterEach(() => expect(f.violations).toEqual([]))

  const branches = async (): Promise<string[]> => (await f.git(['for-each-ref', '--format=%(refname:short)', 'refs/heads/'])).trim().split('\n').sort()
  const commitsAhead = async (branch: string): Promise<string[]> => (await f.git(['rev-list', `main..refs/heads/${branch}`])).trim().split('\n').filter((l) => l.length > 0)

  it('getRepo reads the default branch and its head', async () => {
    const r = await gh.getRepo(ref)
    expect(r).toEqual({ fullName: `${f.owner}/${f.repo}`, defaultBranch: 'main', headSha: (await f.git(['rev-parse', 'refs/heads/main'])).trim() })
  })

  it('createBranch creates once, then finds it', async () => {
    const main = (await f.git(['rev-parse', 'refs/heads/main'])).trim()
    const a = await gh.createBranch({ ...ref, branch: 'canvas/run-1', key: 'run-1:branch' })
    expect(a).toEqual({ branch: 'canvas/run-1', sha: main, created: true })
    const b = await gh.createBranch({ ...ref, branch: 'canvas/run-1', key: 'run-1:branch' })
    expect(b).toEqual({ branch: 'canvas/run-1', sha: main, created: false })
    expect(await branches()).toEqual(['canvas/run-1', 'main'])
    await expect(gh.createBranch({ ...ref, branch: 'x', fromBranch: 'nope', key: 'k' })).rejects.toMatchObject({ code: 'github_not_found' })
  })

  it('commitFiles makes one commit with all files; the same key again finds it', async () => {
    const files = [
      { path: 'src/hello.ts', content: 'export const hello = 1\n' },
      { path: 'docs/notes.md', content: '# Notes\n' },
      { path: 'README.md', content: '# changed\n' },
    ]
    const a = await gh.commitFiles({ ...ref, branch: 'canvas/run-1', message: 'Add hello', files, key: 'run-1:commit' })
    expect(a.created).toBe(true)
    expect((await f.git(['rev-parse', 'refs/heads/canvas/run-1'])).trim()).toBe(a.sha)
    expect(await f.git(['show', `${a.sha}:src/hello.ts`])).toBe(files[0]!.content)
    expect(await f.git(['show', `${a.sha}:README.md`])).toBe('# changed\n')
    expect(await f.git(['log', '-1', '--format=%B', a.sha])).toContain('Canvas-Key: run-1:commit')

    const b = await gh.commitFiles({ ...ref, branch: 'canvas/run-1', message: 'Add hello', files, key: 'run-1:commit' })
    expect(b).toMatchObject({ sha: a.sha, created: false })
    expect(await commitsAhead('canvas/run-1')).toEqual([a.sha])
  })

  it('commitFiles retried after the ref update happened but its answer was lost: still one commit', async () => {
    await gh.createBranch({ ...ref, branch: 'canvas/run-2', key: 'run-2:branch' })
    const lossy = createGitHubAdapter({ baseUrl: f.url, fetch: losingAnswerOf('PATCH', /\/git\/refs\/heads/) })
    const p = { ...ref, branch: 'canvas/run-2', message: 'Two', files: [{ path: 'two.txt', content: '2\n' }], key: 'run-2:commit' }
    await expect(lossy.commitFiles(p)).rejects.toMatchObject({ code: 'github_unavailable' })
    const retry = await gh.commitFiles(p)
    expect(retry.created).toBe(false)
    expect(await commitsAhead('canvas/run-2')).toEqual([retry.sha])
  })

  it('commitFiles retried after the commit object was made but the ref not moved: one commit on the branch', async () => {
    await gh.createBranch({ ...ref, branch: 'canvas/run-3', key: 'run-3:branch' })
    const lossy = createGitHubAdapter({ baseUrl: f.url, fetch: losingAnswerOf('POST', /\/git\/commits$/) })
    const p = { ...ref, branch: 'canvas/run-3', message: 'Three', files: [{ path: 'three.txt', content: '3\n' }], key: 'run-3:commit' }
    await expect(lossy.commitFiles(p)).rejects.toMatchObject({ code: 'github_unavailable' })
    expect(await commitsAhead('canvas/run-3')).toEqual([])
    const retry = await gh.commitFiles(p)
    expect(retry.created).toBe(true)
    expect(await commitsAhead('canvas/run-3')).toEqual([retry.sha])
  })

  it('openDraftPr opens one draft PR; again, and after a lost answer, finds it', async () => {
    const a = await gh.openDraftPr({ ...ref, head: 'canvas/run-1', base: 'main', title: 'Run 1', body: 'Made by canvas', key: 'run-1:pr' })
    expect(a.created).toBe(true)
    const b = await gh.openDraftPr({ ...ref, head: 'canvas/run-1', base: 'main', title: 'Run 1', body: 'Made by canvas', key: 'run-1:pr' })
    expect(b).toEqual({ ...a, created: false })

    const lossy = createGitHubAdapter({ baseUrl: f.url, fetch: losingAnswerOf('POST', /\/pulls$/) })
    const p = { ...ref, head: 'canvas/run-2', base: 'main', title: 'Run 2', body: 'b', key: 'run-2:pr' }
    await expect(lossy.openDraftPr(p)).rejects.toMatchObject({ code: 'github_unavailable' })
    expect((await gh.openDraftPr(p)).created).toBe(false)

    const open = f.pulls()
    expect(open.map((x) => [x.head, x.base, x.draft])).toEqual([
      ['canvas/run-1', 'main', true],
      ['canvas/run-2', 'main', true],
    ])
    expect(open[0]!.body).toContain('<!-- canvas-key: run-1:pr -->')
  })

  it('markPrReady takes the PR out of draft (GraphQL), idempotently', async () => {
    const number = f.pulls()[0]!.number
    expect(await gh.markPrReady({ ...ref, prNumber: number })).toEqual({ number, draft: false })
    expect(await gh.markPrReady({ ...ref, prNumber: number })).toEqual({ number, draft: false })
    expect(f.pulls()[0]!.draft).toBe(false)
    await expect(gh.markPrReady({ ...ref, prNumber: 999 })).rejects.toMatchObject({ code: 'github_not_found' })
  })

  it('createIssue creates one issue; again, and after a lost answer, finds it', async () => {
    const p = { ...ref, title: 'Broken build', body: 'Details', labels: ['bug'], assignees: ['octocat'], key: 'run-1:issue' }
    const a = await gh.createIssue(p)
    expect(a.created).toBe(true)
    expect(await gh.createIssue(p)).toEqual({ ...a, created: false })

    const lossy = createGitHubAdapter({ baseUrl: f.url, fetch: losingAnswerOf('POST', /\/issues$/) })
    const q = { ...p, key: 'run-2:issue' }
    await expect(lossy.createIssue(q)).rejects.toMatchObject({ code: 'github_unavailable' })
    expect((await gh.createIssue(q)).created).toBe(false)
    expect(f.issues().map((i) => [i.title, i.labels, i.assignees])).toEqual([
      ['Broken build', ['bug'], ['octocat']],
      ['Broken build', ['bug'], ['octocat']],
    ])
  })

  it('createIssue finds an issue older than the newest page through search', async () => {
    const first = await gh.createIssue({ ...ref, title: 'Old', body: 'old one', labels: [], assignees: [], key: 'old:issue' })
    const octokit = new Octokit({ auth: f.token, baseUrl: f.url })
    for (let i = 0; i < ISSUE_LOOKBACK; i++) await octokit.issues.create({ owner: f.owner, repo: f.repo, title: `noise ${i}` })
    const before = f.calls.get('search/issues-and-pull-requests') ?? 0
    expect(await gh.createIssue({ ...ref, title: 'Old', body: 'old one', labels: [], assignees: [], key: 'old:issue' })).toEqual({ ...first, created: false })
    expect(f.calls.get('search/issues-and-pull-requests')).toBe(before + 1)
    expect(f.issues().filter((i) => i.title === 'Old')).toHaveLength(1)
  })

  it('maps failures to stable codes and never puts the token in a message', async () => {
    const wrong = 'ghp_this_is_not_the_fixture_token_123'
    const e1 = await gh.getRepo({ ...ref, token: wrong }).catch((e: unknown) => e)
    expect(e1).toBeInstanceOf(GitHubError)
    expect(e1).toMatchObject({ code: 'github_auth_failed', status: 401 })
    expect(JSON.stringify({ m: (e1 as Error).message, s: (e1 as Error).stack })).not.toContain(wrong)
    expect(JSON.stringify({ m: (e1 as Error).message })).not.toContain(f.token)

    await expect(gh.getRepo({ ...ref, repo: 'missing' })).rejects.toMatchObject({ code: 'github_not_found', status: 404 })
    // main has nothing main does not have: GitHub refuses the PR with 422.
    await expect(gh.openDraftPr({ ...ref, head: 'canvas/run-3', base: 'canvas/run-3', title: 't', body: 'b', key: 'k' })).rejects.toMatchObject({ code: 'github_conflict', status: 422 })

    const dead = createServer()
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r))
    const port = (dead.address() as AddressInfo).port
    await new Promise<void>((r) => dead.close(() => r()))
    await expect(createGitHubAdapter({ baseUrl: `http://127.0.0.1:${port}` }).getRepo(ref)).rejects.toMatchObject({ code: 'github_unavailable' })
    await expect(gh.createBranch({ ...ref, branch: 'b', key: 'bad\nkey' })).rejects.toThrow(/idempotency key/)
  })
})
