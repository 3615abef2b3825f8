import { spawn } from 'node:child_process'

/**
 * The `git` CLI on a bare repository: the fixture keeps branches, trees and commits in a
 * real git object database (plumbing commands only; there is no work tree).
 */

export class GitError extends Error {
  override name = 'GitError'
  constructor(
    readonly args: string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`git ${args.join(' ')} exited ${code}: ${stderr.trim()}`)
  }
}

export interface GitRunOptions {
  input?: string | Buffer
  env?: Record<string, string>
}

/** Fixed identities and no user/system config, so the repository's history is reproducible. */
const baseEnv = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Canvas Fixture',
  GIT_AUTHOR_EMAIL: 'fixture@example.com',
  GIT_COMMITTER_NAME: 'Canvas Fixture',
  GIT_COMMITTER_EMAIL: 'fixture@example.com',
  GIT_TERMINAL_PROMPT: '0',
}

export function runGit(gitDir: string, args: string[], opts: GitRunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd: gitDir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_DIR: gitDir, ...baseEnv, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', reject)
    // git may exit without reading stdin (e.g. on an error); its exit code tells what happened.
    child.stdin.on('error', () => {})
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'))
      else reject(new GitError(args, code, Buffer.concat(err).toString('utf8')))
    })
    child.stdin.end(opts.input ?? '')
  })
}

export interface CommitInfo {
  sha: string
  tree: string
  parents: string[]
  author: { name: string; email: string; date: string }
  committer: { name: string; email: string; date: string }
  message: string
}

const SEP = '\x00'
const REC = '\x1e'
const FORMAT = ['%H', '%T', '%P', '%an', '%ae', '%aI', '%cn', '%ce', '%cI', '%B'].join('%x00') + '%x1e'

function parseCommits(out: string): CommitInfo[] {
  return out
    .split(REC)
    .map((r) => r.replace(/^\n/, ''))
    .filter((r) => r.length > 0)
    .map((r) => {
      const [sha, tree, parents, an, ae, ad, cn, ce, cd, ...msg] = r.split(SEP)
      return {
        sha: sha!,
        tree: tree!,
        parents: parents === '' ? [] : parents!.split(' '),
        author: { name: an!, email: ae!, date: ad! },
        committer: { name: cn!, email: ce!, date: cd! },
        message: msg.join(SEP),
      }
    })
}

/** Commits reachable from `rev`, newest first (`git log`), skipping `skip` and at most `max`. */
export async function logCommits(gitDir: string, rev: string, max: number, skip = 0): Promise<CommitInfo[]> {
  return parseCommits(await runGit(gitDir, ['log', `--format=${FORMAT}`, `--max-count=${max}`, `--skip=${skip}`, rev, '--']))
}

export async function readCommit(gitDir: string, sha: string): Promise<CommitInfo | null> {
  if (!(await objectIs(gitDir, sha, 'commit'))) return null
  const [c] = parseCommits(await runGit(gitDir, ['log', `--format=${FORMAT}`, '--max-count=1', '--no-walk', sha]))
  return c ?? null
}

export async function objectIs(gitDir: string, sha: string, type: 'blob' | 'tree' | 'commit'): Promise<boolean> {
  if (!/^[0-9a-f]{40}$/.test(sha)) return false
  try {
    return (await runGit(gitDir, ['cat-file', '-t', sha])).trim() === type
  } catch {
    return false
  }
}

/** The sha a full ref name (refs/heads/x) points at, or null. */
export async function resolveRef(gitDir: string, ref: string): Promise<string | null> {
  try {
    return (await runGit(gitDir, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).trim()
  } catch {
    return null
  }
}

export async function isAncestor(gitDir: string, ancestor: string, of: string): Promise<boolean> {
  try {
    await runGit(gitDir, ['merge-base', '--is-ancestor', ancestor, of])
    return true
  } catch (e) {
    if (e instanceof GitError && e.code === 1) return false
    throw e
  }
}
