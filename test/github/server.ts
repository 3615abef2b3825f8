import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GitError, isAncestor, logCommits, objectIs, readCommit, resolveRef, runGit, type CommitInfo } from './git.js'
import { githubOpenApi } from './openapi.js'

/**
 * A GitHub REST server on 127.0.0.1 backed by a real git repository (a bare repo driven by
 * git plumbing). Every request and every response is checked against GitHub's official
 * OpenAPI description (@octokit/openapi): an exchange that does not match fails loudly
 * (400 for a request, 500 for a response) and is recorded in `violations`, so tests assert
 * there were none and the fixture cannot drift from GitHub.
 *
 * Pull requests and issues live in memory, as they live outside git on GitHub too.
 * `markPullRequestReadyForReview` is served on POST /graphql: GitHub's REST API cannot take
 * a PR out of draft (PATCH /pulls/{n} has no `draft` field), only its GraphQL API can.
 * The GraphQL endpoint is outside the OpenAPI description; its one mutation is checked by hand.
 */

export interface Violation {
  method: string
  path: string
  operationId: string | null
  kind: 'request' | 'response'
  problems: string[]
}

export interface GitHubFixture {
  /** Base URL for Octokit's `baseUrl` (no trailing slash). */
  url: string
  /** The bare git repository behind the API. */
  repoDir: string
  token: string
  owner: string
  repo: string
  defaultBranch: string
  /** Every request or response that did not match GitHub's OpenAPI description. */
  violations: Violation[]
  /** Calls per operationId (e.g. `git/create-commit`), for tests that count writes. */
  calls: Map<string, number>
  /** Runs git in the repository (e.g. `['branch', '--list']`); resolves to stdout. */
  git(args: string[]): Promise<string>
  /**
   * Holds the next request to `operationId`: `after: true` performs it first and holds only the
   * answer (the write happened, the client does not know). Resolves `reached` when it arrives.
   */
  hold(operationId: string, opts?: { after?: boolean }): { reached: Promise<void>; release(): void }
  /** Test hook: rewrites the next response body of `operationId` before it is checked and sent. */
  tamper(operationId: string, mutate: (body: unknown) => unknown): void
  pulls(): readonly FixturePull[]
  issues(): readonly FixtureIssue[]
  close(): Promise<void>
}

export interface FixturePull {
  number: number
  nodeId: string
  title: string
  body: string | null
  head: string
  base: string
  draft: boolean
  state: 'open' | 'closed'
  createdAt: string
  updatedAt: string
}

export interface FixtureIssue {
  number: number
  title: string
  body: string | null
  labels: string[]
  assignees: string[]
  state: 'open' | 'closed'
  createdAt: string
  updatedAt: string
}

export interface GitHubFixtureOptions {
  owner?: string
  repo?: string
  defaultBranch?: string
  token?: string
}

const DOCS = 'https://docs.github.com/rest'

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.message))
  }
}

const notFound = (): HttpError => new HttpError(404, { message: 'Not Found', documentation_url: DOCS, status: '404' })
const unprocessable = (message: string, errors?: Record<string, unknown>[]): HttpError =>
  new HttpError(422, errors === undefined ? { message, documentation_url: DOCS, status: '422' } : { message, errors, documentation_url: DOCS, status: '422' })

export async function startGitHubFixture(opts: GitHubFixtureOptions = {}): Promise<GitHubFixture> {
  const owner = opts.owner ?? 'canvas-org'
  const repo = opts.repo ?? 'canvas-repo'
  const defaultBranch = opts.defaultBranch ?? 'main'
  const token = opts.token ?? `ghp_${randomBytes(18).toString('hex')}`
  const api = githubOpenApi()
  const tmp = await mkdtemp(join(tmpdir(), 'gh-fixture-'))
  const repoDir = join(tmp, `${repo}.git`)
  await runGit(tmp, ['init', '--quiet', '--bare', `--initial-branch=${defaultBranch}`, repoDir], { env: { GIT_DIR: repoDir } })
  const git = (args: string[], o?: Parameters<typeof runGit>[2]): Promise<string> => runGit(repoDir, args, o)

  // An initial commit on the default branch, as a repository created with a README has.
  const readme = (await git(['hash-object', '-w', '--stdin'], { input: `# ${repo}\n` })).trim()
  const rootTree = (await git(['mktree'], { input: `100644 blob ${readme}\tREADME.md\n` })).trim()
  const root = (await git(['commit-tree', rootTree, '-m', 'Initial commit'])).trim()
  await git(['update-ref', `refs/heads/${defaultBranch}`, root, ''])

  const violations: Violation[] = []
  const calls = new Map<string, number>()
  const holds = new Map<string, { after: boolean; arrived: () => void; gate: Promise<void> }>()
  const tampers = new Map<string, (body: unknown) => unknown>()
  const pulls: FixturePull[] = []
  const issues: FixtureIssue[] = []
  let nextNumber = 1
  const repoId = 1_000_000 + Math.floor(Math.random() * 1_000_000)
  const createdAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z')

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      send(res, 500, { message: `fixture crashed: ${(e as Error).message}` })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const web = `${url}/web`
  const repoApi = `${url}/repos/${owner}/${repo}`
  const repoWeb = `${web}/${owner}/${repo}`

  const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const nodeId = (kind: string, id: number | string): string => Buffer.from(`${kind}:${id}`).toString('base64')

  function user(login: string, id = 1): Record<string, unknown> {
    const u = `${url}/users/${login}`
    return {
      login,
      id,
      node_id: nodeId('User', id),
      avatar_url: `${web}/avatars/${login}`,
      gravatar_id: '',
      url: u,
      html_url: `${web}/${login}`,
      followers_url: `${u}/followers`,
      following_url: `${u}/following{/other_user}`,
      gists_url: `${u}/gists{/gist_id}`,
      starred_url: `${u}/starred{/owner}{/repo}`,
      subscriptions_url: `${u}/subscriptions`,
      organizations_url: `${u}/orgs`,
      repos_url: `${u}/repos`,
      events_url: `${u}/events{/privacy}`,
      received_events_url: `${u}/received_events`,
      type: 'User',
      site_admin: false,
    }
  }

  /** The `repository` object (hypermedia URLs GitHub sends with every repository). */
  function repository(full: boolean): Record<string, unknown> {
    const r: Record<string, unknown> = {
      id: repoId,
      node_id: nodeId('Repository', repoId),
      name: repo,
      full_name: `${owner}/${repo}`,
      owner: user(owner),
      private: true,
      html_url: repoWeb,
      description: null,
      fork: false,
      url: repoApi,
      archive_url: `${repoApi}/{archive_format}{/ref}`,
      assignees_url: `${repoApi}/assignees{/user}`,
      blobs_url: `${repoApi}/git/blobs{/sha}`,
      branches_url: `${repoApi}/branches{/branch}`,
      collaborators_url: `${repoApi}/collaborators{/collaborator}`,
      comments_url: `${repoApi}/comments{/number}`,
      commits_url: `${repoApi}/commits{/sha}`,
      compare_url: `${repoApi}/compare/{base}...{head}`,
      contents_url: `${repoApi}/contents/{+path}`,
      contributors_url: `${repoApi}/contributors`,
      deployments_url: `${repoApi}/deployments`,
      downloads_url: `${repoApi}/downloads`,
      events_url: `${repoApi}/events`,
      forks_url: `${repoApi}/forks`,
      git_commits_url: `${repoApi}/git/commits{/sha}`,
      git_refs_url: `${repoApi}/git/refs{/sha}`,
      git_tags_url: `${repoApi}/git/tags{/sha}`,
      git_url: `git://127.0.0.1/${owner}/${repo}.git`,
      issue_comment_url: `${repoApi}/issues/comments{/number}`,
      issue_events_url: `${repoApi}/issues/events{/number}`,
      issues_url: `${repoApi}/issues{/number}`,
      keys_url: `${repoApi}/keys{/key_id}`,
      labels_url: `${repoApi}/labels{/name}`,
      languages_url: `${repoApi}/languages`,
      merges_url: `${repoApi}/merges`,
      milestones_url: `${repoApi}/milestones{/number}`,
      notifications_url: `${repoApi}/notifications{?since,all,participating}`,
      pulls_url: `${repoApi}/pulls{/number}`,
      releases_url: `${repoApi}/releases{/id}`,
      ssh_url: `git@127.0.0.1:${owner}/${repo}.git`,
      stargazers_url: `${repoApi}/stargazers`,
      statuses_url: `${repoApi}/statuses/{sha}`,
      subscribers_url: `${repoApi}/subscribers`,
      subscription_url: `${repoApi}/subscription`,
      tags_url: `${repoApi}/tags`,
      teams_url: `${repoApi}/teams`,
      trees_url: `${repoApi}/git/trees{/sha}`,
      clone_url: `${repoWeb}.git`,
      mirror_url: null,
      hooks_url: `${repoApi}/hooks`,
      svn_url: repoWeb,
      homepage: null,
      language: null,
      forks_count: 0,
      stargazers_count: 0,
      watchers_count: 0,
      size: 0,
      default_branch: defaultBranch,
      open_issues_count: openCount(),
      is_template: false,
      topics: [],
      has_issues: true,
      has_projects: false,
      has_wiki: false,
      has_pages: false,
      has_downloads: false,
      has_discussions: false,
      archived: false,
      disabled: false,
      visibility: 'private',
      pushed_at: createdAt,
      created_at: createdAt,
      updated_at: createdAt,
      permissions: { admin: true, maintain: true, push: true, triage: true, pull: true },
      allow_forking: false,
      forks: 0,
      open_issues: openCount(),
      watchers: 0,
      license: null,
    }
    if (full) {
      r.network_count = 0
      r.subscribers_count = 0
    }
    return r
  }

  const openCount = (): number => issues.filter((i) => i.state === 'open').length + pulls.filter((p) => p.state === 'open').length

  function gitUser(p: { name: string; email: string; date: string }): Record<string, unknown> {
    return { name: p.name, email: p.email, date: new Date(p.date).toISOString().replace(/\.\d+Z$/, 'Z') }
  }

  const unsigned = { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null }

  function gitCommit(c: CommitInfo): Record<string, unknown> {
    return {
      sha: c.sha,
      node_id: nodeId('Commit', c.sha),
      url: `${repoApi}/git/commits/${c.sha}`,
      html_url: `${repoWeb}/commit/${c.sha}`,
      author: gitUser(c.author),
      committer: gitUser(c.committer),
      tree: { sha: c.tree, url: `${repoApi}/git/trees/${c.tree}` },
      message: c.message,
      parents: c.parents.map((p) => ({ sha: p, url: `${repoApi}/git/commits/${p}`, html_url: `${repoWeb}/commit/${p}` })),
      verification: unsigned,
    }
  }

  /** The `commit` object of GET /commits (a commit as the repository sees it). */
  function repoCommit(c: CommitInfo): Record<string, unknown> {
    return {
      url: `${repoApi}/commits/${c.sha}`,
      sha: c.sha,
      node_id: nodeId('Commit', c.sha),
      html_url: `${repoWeb}/commit/${c.sha}`,
      comments_url: `${repoApi}/commits/${c.sha}/comments`,
      commit: {
        url: `${repoApi}/git/commits/${c.sha}`,
        author: gitUser(c.author),
        committer: gitUser(c.committer),
        message: c.message,
        comment_count: 0,
        tree: { sha: c.tree, url: `${repoApi}/git/trees/${c.tree}` },
        verification: unsigned,
      },
      // Commit identities are not linked to GitHub accounts here (as for an unknown e-mail).
      author: null,
      committer: null,
      parents: c.parents.map((p) => ({ sha: p, url: `${repoApi}/commits/${p}`, html_url: `${repoWeb}/commit/${p}` })),
    }
  }

  function gitRef(ref: string, sha: string): Record<string, unknown> {
    return { ref, node_id: nodeId('Ref', ref), url: `${repoApi}/git/${ref}`, object: { type: 'commit', sha, url: `${repoApi}/git/commits/${sha}` } }
  }

  async function pullObject(p: FixturePull, full: boolean): Promise<Record<string, unknown>> {
    const headSha = (await resolveRef(repoDir, `refs/heads/${p.head}`)) ?? ''
    const baseSha = (await resolveRef(repoDir, `refs/heads/${p.base}`)) ?? ''
    const u = `${repoApi}/pulls/${p.number}`
    const side = (ref: string, sha: string): Record<string, unknown> => ({ label: `${owner}:${ref}`, ref, sha, user: user(owner), repo: repository(false) })
    const o: Record<string, unknown> = {
      url: u,
      id: 5_000_000 + p.number,
      node_id: p.nodeId,
      html_url: `${repoWeb}/pull/${p.number}`,
      diff_url: `${repoWeb}/pull/${p.number}.diff`,
      patch_url: `${repoWeb}/pull/${p.number}.patch`,
      issue_url: `${repoApi}/issues/${p.number}`,
      commits_url: `${u}/commits`,
      review_comments_url: `${u}/comments`,
      review_comment_url: `${repoApi}/pulls/comments{/number}`,
      comments_url: `${repoApi}/issues/${p.number}/comments`,
      statuses_url: `${repoApi}/statuses/${headSha}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: user(owner),
      body: p.body,
      labels: [],
      milestone: null,
      active_lock_reason: null,
      created_at: p.createdAt,
      updated_at: p.updatedAt,
      closed_at: p.state === 'closed' ? p.updatedAt : null,
      merged_at: null,
      merge_commit_sha: null,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: side(p.head, headSha),
      base: side(p.base, baseSha),
      _links: {
        self: { href: u },
        html: { href: `${repoWeb}/pull/${p.number}` },
        issue: { href: `${repoApi}/issues/${p.number}` },
        comments: { href: `${repoApi}/issues/${p.number}/comments` },
        review_comments: { href: `${u}/comments` },
        review_comment: { href: `${repoApi}/pulls/comments{/number}` },
        commits: { href: `${u}/commits` },
        statuses: { href: `${repoApi}/statuses/${headSha}` },
      },
      author_association: 'OWNER',
      auto_merge: null,
      draft: p.draft,
    }
    if (full) {
      const ahead = headSha !== '' && baseSha !== '' ? Number((await git(['rev-list', '--count', `${baseSha}..${headSha}`])).trim()) : 0
      Object.assign(o, {
        merged: false,
        mergeable: null,
        rebaseable: null,
        mergeable_state: 'unknown',
        merged_by: null,
        comments: 0,
        review_comments: 0,
        maintainer_can_modify: false,
        commits: ahead,
        additions: 0,
        deletions: 0,
        changed_files: 0,
      })
    }
    return o
  }

  function issueObject(i: FixtureIssue | FixturePull, search = false): Record<string, unknown> {
    const u = `${repoApi}/issues/${i.number}`
    const isPull = 'head' in i
    const o: Record<string, unknown> = {
      id: 7_000_000 + i.number,
      node_id: nodeId(isPull ? 'PullRequest' : 'Issue', i.number),
      url: u,
      repository_url: repoApi,
      labels_url: `${u}/labels{/name}`,
      comments_url: `${u}/comments`,
      events_url: `${u}/events`,
      html_url: `${repoWeb}/${isPull ? 'pull' : 'issues'}/${i.number}`,
      number: i.number,
      state: i.state,
      title: i.title,
      body: i.body,
      user: user(owner),
      labels: (isPull ? [] : i.labels).map((name, k) => ({
        id: 9_000 + k,
        node_id: nodeId('Label', name),
        url: `${repoApi}/labels/${encodeURIComponent(name)}`,
        name,
        description: null,
        color: 'ededed',
        default: false,
      })),
      assignee: !isPull && i.assignees[0] !== undefined ? user(i.assignees[0], 2) : null,
      assignees: (isPull ? [] : i.assignees).map((a, k) => user(a, 2 + k)),
      milestone: null,
      locked: false,
      active_lock_reason: null,
      comments: 0,
      closed_at: i.state === 'closed' ? i.updatedAt : null,
      created_at: i.createdAt,
      updated_at: i.updatedAt,
      author_association: 'OWNER',
    }
    if (isPull) {
      o.pull_request = {
        url: `${repoApi}/pulls/${i.number}`,
        html_url: `${repoWeb}/pull/${i.number}`,
        diff_url: `${repoWeb}/pull/${i.number}.diff`,
        patch_url: `${repoWeb}/pull/${i.number}.patch`,
        merged_at: null,
      }
      o.draft = i.draft
    }
    if (search) o.score = 1
    return o
  }

  function page<T>(items: T[], q: URLSearchParams): T[] {
    const perPage = Math.min(Number(q.get('per_page') ?? 30), 100)
    const p = Math.max(Number(q.get('page') ?? 1), 1)
    return items.slice((p - 1) * perPage, p * perPage)
  }

  const branchOf = (ref: string): string => (ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : ref)

  type Handler = (a: { params: Record<string, string>; query: URLSearchParams; body: Record<string, unknown> }) => Promise<[number, unknown]>

  const handlers: Record<string, Handler> = {
    'repos/get': async ({ params }) => {
      if (params.owner !== owner || params.repo !== repo) throw notFound()
      return [200, repository(true)]
    },

    'git/get-ref': async ({ params }) => {
      if (!params.ref!.startsWith('heads/') && !params.ref!.startsWith('tags/')) throw notFound()
      const sha = await resolveRef(repoDir, `refs/${params.ref}`)
      if (sha === null) throw notFound()
      return [200, gitRef(`refs/${params.ref}`, sha)]
    },

    'git/create-ref': async ({ body }) => {
      const ref = body.ref as string
      const sha = body.sha as string
      if (!/^refs\/(heads|tags)\/.+/.test(ref) || ref.split('/').length < 3) throw unprocessable(`${ref} is not a valid ref name.`)
      if (!(await objectIs(repoDir, sha, 'commit'))) throw unprocessable('Object does not exist')
      try {
        await runGit(repoDir, ['check-ref-format', ref])
      } catch {
        throw unprocessable(`${ref} is not a valid ref name.`)
      }
      try {
        // The empty old value makes the update atomic: it fails if the ref exists.
        await git(['update-ref', ref, sha, ''])
      } catch (e) {
        if (e instanceof GitError) throw unprocessable('Reference already exists')
        throw e
      }
      return [201, gitRef(ref, sha)]
    },

    'git/update-ref': async ({ params, body }) => {
      const ref = `refs/${params.ref}`
      const sha = body.sha as string
      const current = await resolveRef(repoDir, ref)
      if (current === null) throw unprocessable('Reference does not exist')
      if (!(await objectIs(repoDir, sha, 'commit'))) throw unprocessable('Object does not exist')
      if (body.force !== true && !(await isAncestor(repoDir, current, sha))) throw unprocessable('Update is not a fast forward')
      try {
        await git(['update-ref', ref, sha, current])
      } catch (e) {
        if (e instanceof GitError) throw unprocessable('Reference cannot be updated')
        throw e
      }
      return [200, gitRef(ref, sha)]
    },

    'git/create-blob': async ({ body }) => {
      const encoding = (body.encoding as string | undefined) ?? 'utf-8'
      if (encoding !== 'utf-8' && encoding !== 'base64') throw unprocessable(`encoding must be utf-8 or base64`)
      const bytes = Buffer.from(body.content as string, encoding === 'base64' ? 'base64' : 'utf8')
      const sha = (await git(['hash-object', '-w', '--stdin'], { input: bytes })).trim()
      return [201, { url: `${repoApi}/git/blobs/${sha}`, sha }]
    },

    'git/create-tree': async ({ body }) => {
      const index = join(tmp, `index-${randomBytes(6).toString('hex')}`)
      const env = { GIT_INDEX_FILE: index }
      try {
        const base = body.base_tree as string | undefined
        if (base !== undefined) {
          if (!(await objectIs(repoDir, base, 'tree'))) throw unprocessable('base_tree is not a valid tree oid')
          await git(['read-tree', base], { env })
        } else {
          await git(['read-tree', '--empty'], { env })
        }
        for (const [k, e] of (body.tree as Record<string, unknown>[]).entries()) {
          const path = e.path as string
          const mode = e.mode as string
          if (e.type !== 'blob' || (mode !== '100644' && mode !== '100755')) {
            throw unprocessable('Only blob entries (modes 100644, 100755) are supported by the fixture', [{ resource: 'Tree', field: `tree[${k}]`, code: 'invalid' }])
          }
          if (e.sha === null) {
            await git(['update-index', '--force-remove', '--', path], { env })
            continue
          }
          let sha = e.sha as string | undefined
          if (typeof e.content === 'string') sha = (await git(['hash-object', '-w', '--stdin'], { input: e.content })).trim()
          if (sha === undefined || !(await objectIs(repoDir, sha, 'blob'))) throw unprocessable(`tree.sha ${sha ?? '(none)'} is not a valid blob`)
          await git(['update-index', '--add', '--cacheinfo', `${mode},${sha},${path}`], { env })
        }
        const tree = (await git(['write-tree'], { env })).trim()
        const entries = (await git(['ls-tree', '-l', tree]))
          .split('\n')
          .filter((l) => l.length > 0)
          .map((l) => {
            const [meta, path] = l.split('\t')
            const [mode, type, sha, size] = meta!.split(/\s+/)
            const entry: Record<string, unknown> = { path, mode, type, sha, url: `${repoApi}/git/${type === 'tree' ? 'trees' : 'blobs'}/${sha}` }
            if (type === 'blob') entry.size = Number(size)
            return entry
          })
        return [201, { sha: tree, url: `${repoApi}/git/trees/${tree}`, tree: entries, truncated: false }]
      } finally {
        await rm(index, { force: true })
      }
    },

    'git/create-commit': async ({ body }) => {
      const tree = body.tree as string
      const parents = (body.parents as string[] | undefined) ?? []
      if (!(await objectIs(repoDir, tree, 'tree'))) throw unprocessable('Tree SHA does not exist')
      for (const p of parents) if (!(await objectIs(repoDir, p, 'commit'))) throw unprocessable('Parent SHA does not exist or is not a commit object')
      const env: Record<string, string> = {}
      const who = (k: 'AUTHOR' | 'COMMITTER', p: unknown): void => {
        if (typeof p !== 'object' || p === null) return
        const o = p as Record<string, string>
        if (o.name !== undefined) env[`GIT_${k}_NAME`] = o.name
        if (o.email !== undefined) env[`GIT_${k}_EMAIL`] = o.email
        if (o.date !== undefined) env[`GIT_${k}_DATE`] = o.date
      }
      who('AUTHOR', body.author)
      who('COMMITTER', body.committer ?? body.author)
      const sha = (await git(['commit-tree', tree, ...parents.flatMap((p) => ['-p', p])], { input: body.message as string, env })).trim()
      return [201, gitCommit((await readCommit(repoDir, sha))!)]
    },

    'git/get-commit': async ({ params }) => {
      const c = await readCommit(repoDir, params.commit_sha!)
      if (c === null) throw notFound()
      return [200, gitCommit(c)]
    },

    'repos/list-commits': async ({ query }) => {
      const rev = query.get('sha') ?? defaultBranch
      const sha = /^[0-9a-f]{40}$/.test(rev) ? rev : await resolveRef(repoDir, `refs/heads/${rev}`)
      if (sha === null || !(await objectIs(repoDir, sha, 'commit'))) throw notFound()
      const perPage = Math.min(Number(query.get('per_page') ?? 30), 100)
      const skip = (Math.max(Number(query.get('page') ?? 1), 1) - 1) * perPage
      return [200, (await logCommits(repoDir, sha, perPage, skip)).map(repoCommit)]
    },

    'pulls/list': async ({ query }) => {
      const state = query.get('state') ?? 'open'
      const head = query.get('head')
      const base = query.get('base')
      let list = pulls.filter((p) => state === 'all' || p.state === state)
      if (head !== null) list = list.filter((p) => `${owner}:${p.head}` === head || p.head === head)
      if (base !== null) list = list.filter((p) => p.base === base)
      const asc = query.get('direction') === 'asc'
      list = [...list].sort((a, b) => (asc ? a.number - b.number : b.number - a.number))
      return [200, await Promise.all(page(list, query).map((p) => pullObject(p, false)))]
    },

    'pulls/get': async ({ params }) => {
      const p = pulls.find((x) => x.number === Number(params.pull_number))
      if (p === undefined) throw notFound()
      return [200, await pullObject(p, true)]
    },

    'pulls/create': async ({ body }) => {
      const head = branchOf((body.head as string).replace(new RegExp(`^${owner}:`), ''))
      const base = body.base as string
      const headSha = await resolveRef(repoDir, `refs/heads/${head}`)
      const baseSha = await resolveRef(repoDir, `refs/heads/${base}`)
      if (headSha === null) throw unprocessable('Validation Failed', [{ resource: 'PullRequest', field: 'head', code: 'invalid' }])
      if (baseSha === null) throw unprocessable('Validation Failed', [{ resource: 'PullRequest', field: 'base', code: 'invalid' }])
      if (pulls.some((p) => p.state === 'open' && p.head === head && p.base === base)) {
        throw unprocessable('Validation Failed', [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${owner}:${head}.` }])
      }
      if (await isAncestor(repoDir, headSha, baseSha)) {
        throw unprocessable('Validation Failed', [{ resource: 'PullRequest', code: 'custom', message: `No commits between ${base} and ${head}` }])
      }
      const number = nextNumber++
      const t = now()
      const p: FixturePull = {
        number,
        nodeId: nodeId('PullRequest', number),
        title: body.title as string,
        body: (body.body as string | undefined) ?? null,
        head,
        base,
        draft: body.draft === true,
        state: 'open',
        createdAt: t,
        updatedAt: t,
      }
      pulls.push(p)
      return [201, await pullObject(p, true)]
    },

    'pulls/update': async ({ params, body }) => {
      const p = pulls.find((x) => x.number === Number(params.pull_number))
      if (p === undefined) throw notFound()
      if (typeof body.title === 'string') p.title = body.title
      if (typeof body.body === 'string') p.body = body.body
      if (body.state === 'open' || body.state === 'closed') p.state = body.state
      if (typeof body.base === 'string') p.base = body.base
      p.updatedAt = now()
      return [200, await pullObject(p, true)]
    },

    'issues/create': async ({ body }) => {
      const number = nextNumber++
      const t = now()
      const labels = ((body.labels as unknown[] | undefined) ?? []).map((l) => (typeof l === 'string' ? l : String((l as { name?: string }).name)))
      const i: FixtureIssue = {
        number,
        title: String(body.title),
        body: (body.body as string | undefined) ?? null,
        labels,
        assignees: (body.assignees as string[] | undefined) ?? [],
        state: 'open',
        createdAt: t,
        updatedAt: t,
      }
      issues.push(i)
      return [201, issueObject(i)]
    },

    'issues/list-for-repo': async ({ query }) => {
      const state = query.get('state') ?? 'open'
      // GitHub lists pull requests among issues (they carry `pull_request`).
      let list: (FixtureIssue | FixturePull)[] = [...issues, ...pulls].filter((i) => state === 'all' || i.state === state)
      const asc = query.get('direction') === 'asc'
      list = list.sort((a, b) => (asc ? a.number - b.number : b.number - a.number))
      return [200, page(list, query).map((i) => issueObject(i))]
    },

    'search/issues-and-pull-requests': async ({ query }) => {
      const q = query.get('q') ?? ''
      const phrases = [...q.matchAll(/"([^"]*)"/g)].map((m) => m[1]!.toLowerCase())
      const rest = q.replace(/"[^"]*"/g, ' ').split(/\s+/).filter((t) => t.length > 0)
      const qualifiers = new Map(rest.filter((t) => t.includes(':')).map((t) => [t.slice(0, t.indexOf(':')), t.slice(t.indexOf(':') + 1)] as const))
      const words = rest.filter((t) => !t.includes(':')).map((w) => w.toLowerCase())
      if (qualifiers.has('repo') && qualifiers.get('repo') !== `${owner}/${repo}`) return [200, { total_count: 0, incomplete_results: false, search_type: 'lexical', items: [] }]
      const kind = qualifiers.get('is') ?? qualifiers.get('type')
      const inBody = qualifiers.get('in')
      let list: (FixtureIssue | FixturePull)[] = kind === 'pr' ? [...pulls] : kind === 'issue' ? [...issues] : [...issues, ...pulls]
      list = list.filter((i) => {
        const text = (inBody === 'body' ? (i.body ?? '') : inBody === 'title' ? i.title : `${i.title}\n${i.body ?? ''}`).toLowerCase()
        return [...phrases, ...words].every((w) => text.includes(w))
      })
      list.sort((a, b) => b.number - a.number)
      return [200, { total_count: list.length, incomplete_results: false, search_type: 'lexical', items: page(list, query).map((i) => issueObject(i, true)) }]
    },
  }

  async function graphql(body: unknown): Promise<[number, unknown]> {
    const { query, variables } = (body ?? {}) as { query?: unknown; variables?: Record<string, unknown> }
    const m = typeof query === 'string' ? /mutation\b[^{]*\{\s*markPullRequestReadyForReview\s*\(\s*input\s*:\s*\{\s*pullRequestId\s*:\s*\$(\w+)\s*\}\s*\)/.exec(query) : null
    if (m === null) return [200, { errors: [{ message: 'The fixture serves only the markPullRequestReadyForReview mutation' }] }]
    const id = variables?.[m[1]!]
    const p = pulls.find((x) => x.nodeId === id)
    if (p === undefined) return [200, { data: { markPullRequestReadyForReview: null }, errors: [{ type: 'NOT_FOUND', path: ['markPullRequestReadyForReview'], message: `Could not resolve to a node with the global id of '${String(id)}'` }] }]
    p.draft = false
    p.updatedAt = now()
    return [200, { data: { markPullRequestReadyForReview: { pullRequest: { number: p.number, isDraft: p.draft } } } }]
  }

  function send(res: ServerResponse, status: number, body: unknown): void {
    const text = body === undefined ? '' : JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-github-media-type': 'github.v3; format=json' })
    res.end(text)
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    return Buffer.concat(chunks).toString('utf8')
  }

  function authorized(req: IncomingMessage): 'ok' | 'missing' | 'bad' {
    const h = req.headers.authorization
    if (h === undefined) return 'missing'
    const m = /^(?:token|bearer)\s+(.+)$/i.exec(h)
    return m !== null && m[1] === token ? 'ok' : 'bad'
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', url)
    const method = req.method ?? 'GET'
    const raw = await readBody(req)
    let body: unknown
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw)
      } catch {
        violations.push({ method, path: u.pathname, operationId: null, kind: 'request', problems: ['request body is not JSON'] })
        return send(res, 400, { message: 'Problems parsing JSON', documentation_url: DOCS, status: '400' })
      }
    }

    const auth = authorized(req)
    if (auth !== 'ok') {
      return send(res, 401, { message: auth === 'missing' ? 'Requires authentication' : 'Bad credentials', documentation_url: DOCS, status: '401' })
    }

    if (method === 'POST' && u.pathname === '/graphql') {
      const [status, out] = await graphql(body)
      return send(res, status, out)
    }

    const match = api.match(method, u.pathname)
    if (match === null) {
      violations.push({ method, path: u.pathname, operationId: null, kind: 'request', problems: [`GitHub's API has no ${method} ${u.pathname}`] })
      return send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' })
    }
    const { operationId, pathParams } = match
    calls.set(operationId, (calls.get(operationId) ?? 0) + 1)
    const requestProblems = api.checkRequest(operationId, pathParams, u.searchParams, body)
    if (requestProblems.length > 0) {
      violations.push({ method, path: u.pathname, operationId, kind: 'request', problems: requestProblems })
      return send(res, 400, { message: `Request does not match GitHub's OpenAPI description for ${operationId}: ${requestProblems.join('; ')}`, documentation_url: DOCS, status: '400' })
    }
    const handler = handlers[operationId]
    if (handler === undefined) {
      violations.push({ method, path: u.pathname, operationId, kind: 'request', problems: [`the fixture does not implement ${operationId}`] })
      return send(res, 501, { message: `fixture does not implement ${operationId}` })
    }
    if (pathParams.owner !== undefined && (pathParams.owner !== owner || pathParams.repo !== repo)) return send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' })

    const held = holds.get(operationId)
    if (held !== undefined) holds.delete(operationId)
    if (held !== undefined && !held.after) {
      held.arrived()
      await held.gate
    }
    let status: number
    let out: unknown
    try {
      ;[status, out] = await handler({ params: pathParams, query: u.searchParams, body: (body ?? {}) as Record<string, unknown> })
    } catch (e) {
      if (!(e instanceof HttpError)) throw e
      ;[status, out] = [e.status, e.body]
    }
    if (held !== undefined && held.after) {
      held.arrived()
      await held.gate
    }
    const tamper = tampers.get(operationId)
    if (tamper !== undefined) {
      tampers.delete(operationId)
      out = tamper(out)
    }
    const responseProblems = api.checkResponse(operationId, status, out)
    if (responseProblems.length > 0) {
      violations.push({ method, path: u.pathname, operationId, kind: 'response', problems: responseProblems })
      return send(res, 500, { message: `Fixture response does not match GitHub's OpenAPI description for ${operationId} ${status}: ${responseProblems.join('; ')}` })
    }
    send(res, status, out)
  }

  return {
    url,
    repoDir,
    token,
    owner,
    repo,
    defaultBranch,
    violations,
    calls,
    git: (args) => git(args),
    hold(operationId, o = {}) {
      let arrived!: () => void
      let release!: () => void
      const reached = new Promise<void>((r) => (arrived = r))
      const gate = new Promise<void>((r) => (release = r))
      holds.set(operationId, { after: o.after === true, arrived, gate })
      return { reached, release }
    },
    tamper(operationId, mutate) {
      tampers.set(operationId, mutate)
    },
    pulls: () => pulls,
    issues: () => issues,
    async close() {
      for (const h of holds.values()) h.arrived()
      holds.clear()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await rm(tmp, { recursive: true, force: true })
    },
  }
}
