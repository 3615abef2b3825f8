import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What the build proves about itself (GET /api/attestation/build-info). */
export interface BuildInfo {
  name: string
  version: string
  /** `git rev-parse HEAD`, null outside a checkout. */
  gitCommit: string | null
  /** True when tracked files differ from the commit. */
  gitDirty: boolean | null
  /** `sha256:<hex>` of package-lock.json. */
  lockfileDigest: string | null
  /** `sha256:<hex>` over the sorted source files (see sourceTreeDigest). */
  sourceTreeDigest: string
  sourceFiles: number
  builtAt: string
  node: string
  /** 'dist': written by `npm run build`; 'live': computed at startup (tsx/dev). */
  origin: 'dist' | 'live'
}

/** Directories never part of the source tree when git is not there to say. */
const IGNORED = new Set(['node_modules', 'dist', 'data', '.git', 'coverage', '.tmp'])

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex')

function git(root: string, args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 }).toString('utf8')
  } catch {
    return null
  }
}

function walk(root: string, dir = root, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') && entry.name !== '.gitignore') continue
    if (IGNORED.has(entry.name)) continue
    const full = join(dir, entry.name)
    if (entry.isDirectory()) walk(root, full, out)
    else if (entry.isFile()) out.push(relative(root, full).split(sep).join('/'))
  }
  return out
}

/** The files that make up the source tree: git's tracked files, else a walk. */
export function sourceFiles(root: string): string[] {
  const tracked = git(root, ['ls-files', '-z'])
  const files = tracked !== null ? tracked.split('\0').filter((f) => f.length > 0) : walk(root)
  return files.filter((f) => {
    try {
      return statSync(join(root, f)).isFile()
    } catch {
      return false // tracked but deleted in the working tree
    }
  }).sort()
}

/**
 * SHA-256 over `path NUL sha256(content) LF` for each file in byte-wise sorted path order:
 * the same tree gives the same digest on any machine, whatever the mtimes.
 */
export function sourceTreeDigest(root: string, files = sourceFiles(root)): string {
  const h = createHash('sha256')
  for (const f of [...files].sort()) h.update(`${f}\0${sha256(readFileSync(join(root, f)))}\n`)
  return `sha256:${h.digest('hex')}`
}

/** Computes build info from a checkout (build script and dev fallback). */
export function computeBuildInfo(root: string, options: { now?: Date; origin?: BuildInfo['origin'] } = {}): BuildInfo {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name?: string; version?: string }
  let lockfileDigest: string | null = null
  try {
    lockfileDigest = `sha256:${sha256(readFileSync(join(root, 'package-lock.json')))}`
  } catch {
    lockfileDigest = null
  }
  const files = sourceFiles(root)
  const commit = git(root, ['rev-parse', 'HEAD'])?.trim() ?? null
  const status = commit === null ? null : git(root, ['status', '--porcelain', '--untracked-files=no'])
  return {
    name: pkg.name ?? 'unknown',
    version: pkg.version ?? '0.0.0',
    gitCommit: commit,
    gitDirty: status === null ? null : status.trim().length > 0,
    lockfileDigest,
    sourceTreeDigest: sourceTreeDigest(root, files),
    sourceFiles: files.length,
    builtAt: (options.now ?? new Date()).toISOString(),
    node: process.version,
    origin: options.origin ?? 'live',
  }
}

/** The repository root (or dist's parent) as seen from this module. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url))
const DIST_BUILD_INFO = fileURLToPath(new URL('../build-info.json', import.meta.url))

let cached: BuildInfo | undefined

/**
 * dist/build-info.json when running the build; else computed live once per process.
 * `file`/`root` override the locations (tests).
 */
export function loadBuildInfo(options: { file?: string; root?: string } = {}): BuildInfo {
  const useCache = options.file === undefined && options.root === undefined
  if (useCache && cached !== undefined) return cached
  let info: BuildInfo | undefined
  // Only the compiled build reads the file: next to the sources it could be stale.
  const file = options.file ?? (import.meta.url.endsWith('.js') ? DIST_BUILD_INFO : undefined)
  if (file !== undefined) {
    try {
      info = { ...(JSON.parse(readFileSync(file, 'utf8')) as BuildInfo), origin: 'dist' }
    } catch {
      info = undefined
    }
  }
  info ??= computeBuildInfo(options.root ?? PROJECT_ROOT.replace(/[\\/]dist[\\/]?$/, ''), { origin: 'live' })
  if (useCache) cached = info
  return info
}
