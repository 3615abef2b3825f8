/**
 * The import check (issue 14): every import of the product's sources (value and type
 * imports alike: a type is a dependency too) goes down the floors below, never up, and no
 * two folders import each other, directly or round a loop. Tests, fixtures (test/) and
 * benchmarks (bench/) may import anything and are not read.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * DESIGN.md's floors, lowest first: a folder may import its own floor and the floors below.
 * Folders on one floor may import each other only without a cycle (vault uses auth's nonces).
 */
export const FLOORS: readonly (readonly string[])[] = [
  ['shared', 'config.ts'], // the error base, the environment schema
  ['store'], // the EventStore port and its adapters
  ['keys', 'pricing', 'agents'], // key storage; pure domain modules
  ['actors/runtime'], // the actor host: knows no aggregate
  ['actors', 'auth', 'vault', 'attest'], // the domains; each declares the ports it needs
  ['projections', 'ledger-log'], // read models over actors' events, the timers they drive, and the Merkle log over the ledger
  ['connectors', 'workers'], // outbound edges: adapt to the domains' ports; the worker pool
  ['transport', 'cli', 'scripts'], // inbound edges
  ['gateway.ts', 'gateway-chat.ts', 'gateway-canvas.ts', 'gateway-reflect.ts', 'main.ts'], // the composition root and the process entry
]

export interface ImportEdge {
  from: string
  to: string
}

/** The floor-owning folder of a repo-relative path ('actors/runtime' is a floor of its own). */
export function folderOf(file: string): string {
  const parts = file.split('/')
  if (parts.length === 1) return parts[0]!
  if (parts[0] === 'actors' && parts[1] === 'runtime') return 'actors/runtime'
  return parts[0]!
}

/** Every rule broken by `edges`, one readable line each; empty when the house is in order. */
export function checkImports(edges: readonly ImportEdge[]): string[] {
  const floorOf = new Map<string, number>()
  FLOORS.forEach((folders, floor) => folders.forEach((f) => floorOf.set(f, floor)))
  const problems: string[] = []
  const graph = new Map<string, Set<string>>()
  for (const { from, to } of edges) {
    const a = folderOf(from)
    const b = folderOf(to)
    if (a === b) continue
    const fa = floorOf.get(a)
    const fb = floorOf.get(b)
    if (fa === undefined) problems.push(`${from}: folder ${a} is on no floor (add it to FLOORS)`)
    if (fb === undefined) problems.push(`${to}: folder ${b} is on no floor (add it to FLOORS)`)
    if (fa === undefined || fb === undefined) continue
    if (fb > fa) problems.push(`upward import: ${from} (${a}, floor ${fa}) -> ${to} (${b}, floor ${fb})`)
    if (!graph.has(a)) graph.set(a, new Set())
    graph.get(a)!.add(b)
  }
  for (const cycle of folderCycles(graph)) problems.push(`folder cycle: ${cycle.join(' -> ')}`)
  return problems
}

/** Each strongly connected set of folders (Tarjan), shown as its shortest loop through its first folder. */
function folderCycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const out: string[][] = []
  let next = 0
  const visit = (v: string): void => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1) out.push(shortestLoop(graph, new Set(component), component.sort()[0]!))
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return out
}

function shortestLoop(graph: Map<string, Set<string>>, within: Set<string>, start: string): string[] {
  const parent = new Map<string, string>()
  const queue = [start]
  while (queue.length > 0) {
    const v = queue.shift()!
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!within.has(w)) continue
      if (w === start) {
        const path = [v]
        while (path[0] !== start) path.unshift(parent.get(path[0]!)!)
        return [...path, start]
      }
      if (parent.has(w)) continue
      parent.set(w, v)
      queue.push(w)
    }
  }
  return [start]
}

const SKIP_DIRS = new Set(['node_modules', 'dist', 'data', 'test', 'bench', 'coverage'])

/** The product's TypeScript sources (no tests, fixtures or benchmarks), repo-relative. */
export function productSources(dir = ROOT): string[] {
  const files: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (dir === ROOT && SKIP_DIRS.has(entry.name)) continue
      if (entry.name === 'node_modules') continue
      files.push(...productSources(path))
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) {
      files.push(relative(ROOT, path).split(sep).join('/'))
    }
  }
  return files.sort()
}

/** Every relative import, re-export and dynamic import of `file`, resolved to a repo path. */
export function importsOf(file: string, text = readFileSync(join(ROOT, file), 'utf8')): ImportEdge[] {
  const { importedFiles } = ts.preProcessFile(text, true, true)
  return importedFiles
    .filter((i) => i.fileName.startsWith('.'))
    .map((i) => ({ from: file, to: normalize(join(dirname(file), i.fileName)).split(sep).join('/').replace(/\.js$/, '.ts') }))
}

describe('the import check', () => {
  const edges = productSources().flatMap((file) => importsOf(file))

  it('reads the whole product (sanity: the composition root and the store are there)', () => {
    expect(edges.some((e) => e.from === 'gateway.ts')).toBe(true)
    expect(edges.some((e) => e.from.startsWith('store/'))).toBe(true)
    expect(edges.some((e) => e.from.startsWith('test/') || e.from.startsWith('bench/') || e.from.endsWith('.test.ts'))).toBe(false)
  })

  it('has no upward import between floors and no folder cycle', () => {
    expect(checkImports(edges)).toEqual([])
  })

  it('fails on an upward import, a type-only one included', () => {
    const upward = importsOf('store/codec.ts', "import type { Route } from '../transport/route.js'\n")
    expect(checkImports([...edges, ...upward])).toEqual([
      'upward import: store/codec.ts (store, floor 1) -> transport/route.ts (transport, floor 7)',
      expect.stringMatching(/^folder cycle: .*store.*transport/),
    ])
  })

  it('fails on a cycle between folders of one floor, and on a folder placed on no floor', () => {
    const sideways = importsOf('auth/nonces.ts', "import { KeyVault } from '../vault/vault.js'\n")
    expect(checkImports([...edges, ...sideways])).toEqual(['folder cycle: auth -> vault -> auth'])
    const stray = importsOf('misc/x.ts', "import { packr } from '../store/codec.js'\n")
    expect(checkImports(stray)).toEqual(['misc/x.ts: folder misc is on no floor (add it to FLOORS)'])
  })
})
