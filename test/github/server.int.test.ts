import { Octokit } from '@octokit/rest'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGitHubFixture, type GitHubFixture } from './server.js'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

/** The fixture itself: a real git repository behind it, and GitHub's OpenAPI description enforced both ways. */
describe('GitHub fixture', () => {
  let f: GitHubFixture
  let gh: Octokit
  let c: { owner: string; repo: string }

  beforeAll(async () => {
    f = await startGitHubFixture()
    gh = new Octokit({ auth: f.token, baseUrl: f.url, log: quiet })
    c = { owner: f.owner, repo: f.repo }
  })
  afterAll(() => f.close())

  it('serves the Git Data API from a real repository', async () => {
    const main = await gh.git.getRef({ ...c, ref: 'heads/main' })
    expect((await f.git(['rev-parse', 'refs/heads/main'])).trim()).toBe(main.data.object.sha)
    const parent = await gh.git.getCommit({ ...c, commit_sha: main.data.object.sha })
    const blob = await gh.git.createBlob({ ...c, content: Buffer.from('bytes\n').toString('base64'), encoding: 'base64' })
    const tree = await gh.git.createTree({
      ...c,
      base_tree: parent.data.tree.sha,
      tree: [
        { path: 'docs/a.md', mode: '100644', type: 'blob', sha: blob.data.sha },
        { path: 'b.txt', mode: '100644', type: 'blob', content: 'b\n' },
      ],
    })
    const commit = await gh.git.createCommit({ ...c, message: 'Add files', tree: tree.data.sha, parents: [main.data.object.sha] })
    await gh.git.createRef({ ...c, ref: 'refs/heads/feature/one', sha: commit.data.sha })

    expect((await f.git(['ls-tree', '-r', '--name-only', 'refs/heads/feature/one'])).trim().split('\n').sort()).toEqual(['README.md', 'b.txt', 'docs/a.md'])
    expect(await f.git(['show', 'refs/heads/feature/one:docs/a.md'])).toBe('bytes\n')
    const listed = await gh.repos.listCommits({ ...c, sha: 'feature/one', per_page: 10 })
    expect(listed.data.map((x) => x.sha)).toEqual([commit.data.sha, main.data.object.sha])

    // A non-fast-forward update is refused as GitHub refuses it, and the ref does not move.
    const orphan = await gh.git.createCommit({ ...c, message: 'orphan', tree: tree.data.sha, parents: [] })
    await expect(gh.git.updateRef({ ...c, ref: 'heads/feature/one', sha: orphan.data.sha })).rejects.toMatchObject({ status: 422 })
    expect((await f.git(['rev-parse', 'refs/heads/feature/one'])).trim()).toBe(commit.data.sha)
    await expect(gh.git.createRef({ ...c, ref: 'refs/heads/feature/one', sha: orphan.data.sha })).rejects.toMatchObject({ status: 422 })
    expect(f.violations).toEqual([])
  })

  it('opens a draft PR and takes it out of draft through GraphQL', async () => {
    const pr = await gh.pulls.create({ ...c, head: 'feature/one', base: 'main', title: 'One', body: 'body', draft: true })
    expect(pr.data.draft).toBe(true)
    await expect(gh.pulls.create({ ...c, head: 'feature/one', base: 'main', title: 'again' })).rejects.toMatchObject({ status: 422 })
    await gh.graphql('mutation($id: ID!) { markPullRequestReadyForReview(input: { pullRequestId: $id }) { pullRequest { number isDraft } } }', { id: pr.data.node_id })
    expect((await gh.pulls.get({ ...c, pull_number: pr.data.number })).data.draft).toBe(false)
    expect(f.violations).toEqual([])
  })

  it('rejects requests GitHub would not accept, and records them', async () => {
    const before = f.violations.length
    // `draft` is not a field of PATCH /pulls/{n}: GitHub ignores it silently, the fixture refuses it.
    await expect(gh.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { ...c, pull_number: 1, draft: false } as never)).rejects.toMatchObject({ status: 400 })
    // A required field missing.
    await expect(gh.request('POST /repos/{owner}/{repo}/git/refs', { ...c, ref: 'refs/heads/x' } as never)).rejects.toMatchObject({ status: 400 })
    // A query parameter of the wrong type.
    await expect(gh.request('GET /repos/{owner}/{repo}/pulls', { ...c, per_page: 'many' } as never)).rejects.toMatchObject({ status: 400 })
    // A route GitHub does not have.
    await expect(gh.request('POST /repos/{owner}/{repo}/git/branches', { ...c })).rejects.toMatchObject({ status: 404 })
    const found = f.violations.slice(before)
    expect(found.map((v) => [v.kind, v.operationId])).toEqual([
      ['request', 'pulls/update'],
      ['request', 'git/create-ref'],
      ['request', 'pulls/list'],
      ['request', null],
    ])
    expect(found[0]!.problems.join(' ')).toContain('additionalProperty')
    expect(found[1]!.problems.join(' ')).toContain("'sha'")
    f.violations.splice(before)
  })

  it('refuses to send a response GitHub would not send', async () => {
    f.tamper('git/get-ref', (body) => ({ ...(body as object), object: { type: 'commit' } }))
    await expect(gh.git.getRef({ ...c, ref: 'heads/main' })).rejects.toMatchObject({ status: 500 })
    expect(f.violations).toHaveLength(1)
    expect(f.violations[0]).toMatchObject({ kind: 'response', operationId: 'git/get-ref' })
    expect(f.violations[0]!.problems.join(' ')).toContain("'sha'")
    f.violations.splice(0)
    // The next answer is untouched again.
    expect((await gh.git.getRef({ ...c, ref: 'heads/main' })).status).toBe(200)
  })

  it('holds a request after doing it, so a test can kill the client while the write is done but unanswered', async () => {
    const held = f.hold('git/create-ref', { after: true })
    const main = (await f.git(['rev-parse', 'refs/heads/main'])).trim()
    const pending = gh.git.createRef({ ...c, ref: 'refs/heads/held', sha: main })
    await held.reached
    expect((await f.git(['rev-parse', 'refs/heads/held'])).trim()).toBe(main)
    held.release()
    expect((await pending).status).toBe(201)
  })

  it('checks the token', async () => {
    await expect(new Octokit({ auth: 'ghp_wrong', baseUrl: f.url, log: quiet }).repos.get(c)).rejects.toMatchObject({ status: 401 })
    await expect(new Octokit({ baseUrl: f.url, log: quiet }).repos.get(c)).rejects.toMatchObject({ status: 401 })
    expect((await gh.repos.get(c)).data.default_branch).toBe('main')
  })
})
