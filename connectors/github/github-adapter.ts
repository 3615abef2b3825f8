import { Octokit } from '@octokit/rest'
import type { GitHubPort, GitHubRef } from '../../actors/canvas/ports.js'

// The port is the canvas domain's (actors/canvas/ports.ts); this adapter implements it.
export type { GitHubPort, GitHubRef }

export type GitHubErrorCode = 'github_auth_failed' | 'github_not_found' | 'github_conflict' | 'github_unavailable'

/** A failed GitHub call with a stable code. The message never holds the token. */
export class GitHubError extends Error {
  override name = 'GitHubError'
  constructor(
    readonly code: GitHubErrorCode,
    message: string,
    /** HTTP status GitHub answered, if it answered. */
    readonly status?: number,
  ) {
    super(message)
  }
}

export interface GitHubAdapterOptions {
  /** REST base URL: https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise Server. */
  baseUrl: string
  /** The fetch Octokit uses (default: the global one). */
  fetch?: typeof fetch
}

/**
 * How many of a branch's newest commits are searched for a `Canvas-Key` trailer. A retried
 * commit node finds its earlier commit at the head of its branch, or just below it if
 * something else was pushed meanwhile; reading the whole history would grow with the repo.
 */
export const COMMIT_LOOKBACK = 20
/** How many of the newest issues are read before falling back to search (search indexes with a delay). */
export const ISSUE_LOOKBACK = 30

const silent = { debug() {}, info() {}, warn() {}, error() {} }

const commitTrailer = (key: string): string => `Canvas-Key: ${key}`
const bodyMarker = (key: string): string => `<!-- canvas-key: ${key} -->`

/** The trailer lines of a commit message (its last paragraph, `Token: value` lines). */
function trailers(message: string): string[] {
  const paragraphs = message.trimEnd().split(/\n\s*\n/)
  const last = paragraphs.length > 1 ? paragraphs[paragraphs.length - 1]! : ''
  return last.split('\n').map((l) => l.trim())
}

/** A caller's mistake, not GitHub's answer: passed through as it is. */
export class InvalidKeyError extends TypeError {
  override name = 'InvalidKeyError'
}

function checkKey(key: string): void {
  // The key lands in a commit trailer and an HTML comment: one line, no comment terminator.
  if (key.length === 0 || key.length > 200 || /[\r\n]|-->/.test(key)) throw new InvalidKeyError('idempotency key must be one line of at most 200 characters, without "-->"')
}

interface RequestErrorLike {
  status: number
  response?: { data?: unknown }
  errors?: { type?: string; message?: string }[]
}

function toGitHubError(operation: string, e: unknown, token: string): GitHubError | InvalidKeyError {
  if (e instanceof GitHubError || e instanceof InvalidKeyError) return e
  const scrub = (s: string): string => (token.length > 0 ? s.split(token).join('[redacted]') : s)
  const err = e as Partial<RequestErrorLike> & { name?: string; message?: string }
  // GraphQL errors (HTTP 200 with `errors`): NOT_FOUND, FORBIDDEN, UNPROCESSABLE …
  if (err.name === 'GraphqlResponseError' && Array.isArray(err.errors)) {
    const type = err.errors[0]?.type ?? ''
    const detail = scrub(err.errors.map((x) => x.message ?? '').join('; '))
    const code: GitHubErrorCode = type === 'NOT_FOUND' ? 'github_not_found' : type === 'FORBIDDEN' ? 'github_auth_failed' : type === 'UNPROCESSABLE' ? 'github_conflict' : 'github_unavailable'
    return new GitHubError(code, `GitHub ${operation} failed: ${detail}`)
  }
  if (typeof err.status !== 'number') return new GitHubError('github_unavailable', `GitHub ${operation} failed: ${scrub(err.message ?? String(e))}`)
  const status = err.status
  const data = err.response?.data as { message?: unknown; errors?: { message?: unknown }[] } | undefined
  const said = [data?.message, ...(data?.errors ?? []).map((x) => x.message)].filter((x): x is string => typeof x === 'string').join(': ')
  const text = scrub(`GitHub ${operation} failed (${status})${said.length > 0 ? `: ${said}` : ''}`)
  const rateLimited = status === 429 || (status === 403 && /rate limit/i.test(said))
  const code: GitHubErrorCode =
    rateLimited || status >= 500
      ? 'github_unavailable'
      : status === 401 || status === 403
        ? 'github_auth_failed'
        : status === 404
          ? 'github_not_found'
          : status === 409 || status === 422
            ? 'github_conflict'
            : 'github_unavailable'
  return new GitHubError(code, text, status)
}

export function createGitHubAdapter(opts: GitHubAdapterOptions): GitHubPort {
  const baseUrl = opts.baseUrl.replace(/\/+$/, '')

  function client(token: string): Octokit {
    const request: Record<string, unknown> = {}
    if (opts.fetch !== undefined) request.fetch = opts.fetch
    return new Octokit({ auth: token, baseUrl, log: silent, userAgent: 'agent-gateway-canvas', request })
  }

  /** Runs one GitHub call and turns whatever it throws into a GitHubError. */
  async function call<T>(p: GitHubRef, operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      throw toGitHubError(operation, e, p.token)
    }
  }

  const isConflict = (e: unknown): boolean => e instanceof GitHubError && e.code === 'github_conflict'

  async function branchHead(gh: Octokit, p: GitHubRef, branch: string): Promise<string | null> {
    try {
      const r = await gh.git.getRef({ owner: p.owner, repo: p.repo, ref: `heads/${branch}` })
      return r.data.object.sha
    } catch (e) {
      if ((e as RequestErrorLike).status === 404) return null
      throw e
    }
  }

  async function defaultBranch(gh: Octokit, p: GitHubRef): Promise<{ fullName: string; defaultBranch: string }> {
    const r = await gh.repos.get({ owner: p.owner, repo: p.repo })
    return { fullName: r.data.full_name, defaultBranch: r.data.default_branch }
  }

  async function findCommit(gh: Octokit, p: GitHubRef, branch: string, key: string): Promise<{ sha: string; url: string } | null> {
    const recent = await gh.repos.listCommits({ owner: p.owner, repo: p.repo, sha: branch, per_page: COMMIT_LOOKBACK })
    const hit = recent.data.find((c) => trailers(c.commit.message).includes(commitTrailer(key)))
    return hit === undefined ? null : { sha: hit.sha, url: hit.html_url }
  }

  async function findPr(gh: Octokit, p: GitHubRef, head: string, base: string, key: string): Promise<{ number: number; url: string } | null> {
    const list = await gh.pulls.list({ owner: p.owner, repo: p.repo, head: `${p.owner}:${head}`, base, state: 'all', per_page: 100 })
    const hit = list.data.find((pr) => pr.state === 'open' || (pr.body ?? '').includes(bodyMarker(key)))
    return hit === undefined ? null : { number: hit.number, url: hit.html_url }
  }

  async function findIssue(gh: Octokit, p: GitHubRef, key: string): Promise<{ number: number; url: string } | null> {
    const marker = bodyMarker(key)
    const mine = (i: { body?: string | null; pull_request?: unknown }): boolean => i.pull_request === undefined && (i.body ?? '').includes(marker)
    // The newest issues first: a retry follows its attempt closely, and the list is read-your-writes.
    const recent = await gh.issues.listForRepo({ owner: p.owner, repo: p.repo, state: 'all', sort: 'created', direction: 'desc', per_page: ISSUE_LOOKBACK })
    const hit = recent.data.find(mine)
    if (hit !== undefined) return { number: hit.number, url: hit.html_url }
    if (recent.data.length < ISSUE_LOOKBACK) return null
    // Older than the newest page: search (indexed, so it does not grow with the repo).
    const found = await gh.search.issuesAndPullRequests({ q: `repo:${p.owner}/${p.repo} is:issue in:body "canvas-key: ${key}"`, per_page: 10 })
    const old = found.data.items.find(mine)
    return old === undefined ? null : { number: old.number, url: old.html_url }
  }

  return {
    getRepo: (p) =>
      call(p, 'getRepo', async () => {
        const gh = client(p.token)
        const repo = await defaultBranch(gh, p)
        const headSha = await branchHead(gh, p, repo.defaultBranch)
        if (headSha === null) throw new GitHubError('github_not_found', `GitHub getRepo: ${repo.fullName} has no commits on ${repo.defaultBranch}`, 404)
        return { ...repo, headSha }
      }),

    createBranch: (p) =>
      call(p, 'createBranch', async () => {
        checkKey(p.key)
        const gh = client(p.token)
        const existing = await branchHead(gh, p, p.branch)
        if (existing !== null) return { branch: p.branch, sha: existing, created: false }
        const from = p.fromBranch ?? (await defaultBranch(gh, p)).defaultBranch
        const sha = await branchHead(gh, p, from)
        if (sha === null) throw new GitHubError('github_not_found', `GitHub createBranch: branch ${from} does not exist`, 404)
        try {
          await call(p, 'createBranch', () => gh.git.createRef({ owner: p.owner, repo: p.repo, ref: `refs/heads/${p.branch}`, sha }))
          return { branch: p.branch, sha, created: true }
        } catch (e) {
          // "Reference already exists": an attempt running at the same time won the race.
          const now = isConflict(e) ? await branchHead(gh, p, p.branch) : null
          if (now === null) throw e
          return { branch: p.branch, sha: now, created: false }
        }
      }),

    commitFiles: (p) =>
      call(p, 'commitFiles', async () => {
        checkKey(p.key)
        const gh = client(p.token)
        const r = { owner: p.owner, repo: p.repo }
        const done = await findCommit(gh, p, p.branch, p.key)
        if (done !== null) return { sha: done.sha, created: false, url: done.url }

        const head = await branchHead(gh, p, p.branch)
        if (head === null) throw new GitHubError('github_not_found', `GitHub commitFiles: branch ${p.branch} does not exist`, 404)
        const parent = await gh.git.getCommit({ ...r, commit_sha: head })
        const blobs: { path: string; sha: string }[] = []
        // A few blobs at a time: GitHub throttles bursts of writes (secondary rate limits).
        for (let i = 0; i < p.files.length; i += 4) {
          const batch = p.files.slice(i, i + 4)
          const made = await Promise.all(batch.map((f) => gh.git.createBlob({ ...r, content: f.content, encoding: 'utf-8' })))
          made.forEach((b, k) => blobs.push({ path: batch[k]!.path, sha: b.data.sha }))
        }
        const tree = await gh.git.createTree({
          ...r,
          base_tree: parent.data.tree.sha,
          tree: blobs.map((b) => ({ path: b.path, mode: '100644' as const, type: 'blob' as const, sha: b.sha })),
        })
        const message = `${p.message.trimEnd()}\n\n${commitTrailer(p.key)}\n`
        const commit = await gh.git.createCommit({ ...r, message, tree: tree.data.sha, parents: [head] })
        try {
          // Not forced: if the branch moved since we read it, GitHub refuses instead of dropping commits.
          await call(p, 'commitFiles', () => gh.git.updateRef({ ...r, ref: `heads/${p.branch}`, sha: commit.data.sha, force: false }))
        } catch (e) {
          const raced = isConflict(e) ? await findCommit(gh, p, p.branch, p.key) : null
          if (raced === null) throw e
          return { sha: raced.sha, created: false, url: raced.url }
        }
        return { sha: commit.data.sha, created: true, url: commit.data.html_url }
      }),

    openDraftPr: (p) =>
      call(p, 'openDraftPr', async () => {
        checkKey(p.key)
        const gh = client(p.token)
        const done = await findPr(gh, p, p.head, p.base, p.key)
        if (done !== null) return { ...done, created: false }
        try {
          const pr = await call(p, 'openDraftPr', () =>
            gh.pulls.create({ owner: p.owner, repo: p.repo, head: p.head, base: p.base, title: p.title, body: `${p.body}\n\n${bodyMarker(p.key)}`, draft: true }),
          )
          return { number: pr.data.number, url: pr.data.html_url, created: true }
        } catch (e) {
          // "A pull request already exists": one opened meanwhile counts as ours.
          const raced = isConflict(e) ? await findPr(gh, p, p.head, p.base, p.key) : null
          if (raced === null) throw e
          return { ...raced, created: false }
        }
      }),

    createIssue: (p) =>
      call(p, 'createIssue', async () => {
        checkKey(p.key)
        const gh = client(p.token)
        const done = await findIssue(gh, p, p.key)
        if (done !== null) return { ...done, created: false }
        const issue = await gh.issues.create({
          owner: p.owner,
          repo: p.repo,
          title: p.title,
          body: `${p.body}\n\n${bodyMarker(p.key)}`,
          labels: p.labels,
          assignees: p.assignees,
        })
        return { number: issue.data.number, url: issue.data.html_url, created: true }
      }),

    markPrReady: (p) =>
      call(p, 'markPrReady', async () => {
        const gh = client(p.token)
        const pr = await gh.pulls.get({ owner: p.owner, repo: p.repo, pull_number: p.prNumber })
        if (pr.data.draft !== true) return { number: pr.data.number, draft: false }
        // REST cannot leave draft (PATCH /pulls/{n} has no `draft`); GraphQL's mutation can. Idempotent.
        const out = await gh.graphql<{ markPullRequestReadyForReview: { pullRequest: { number: number; isDraft: boolean } } }>(
          'mutation($id: ID!) { markPullRequestReadyForReview(input: { pullRequestId: $id }) { pullRequest { number isDraft } } }',
          { id: pr.data.node_id },
        )
        return { number: out.markPullRequestReadyForReview.pullRequest.number, draft: out.markPullRequestReadyForReview.pullRequest.isDraft }
      }),
  }
}
