import type { HttpMethod, Route } from './route.js'

interface Node {
  statics: Map<string, Node>
  param: { name: string; node: Node } | undefined
  routes: Map<HttpMethod, Route>
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string>; pattern: string }
  | { kind: 'method_not_allowed'; allowed: HttpMethod[] }
  | { kind: 'not_found' }

function newNode(): Node {
  return { statics: new Map(), param: undefined, routes: new Map() }
}

function segments(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0)
}

/**
 * A segment trie. Static segments win over `:param` segments at the same depth, so
 * `/wallet/skills/agent/:id` and `/wallet/skills/:name` coexist.
 */
export class Router {
  readonly #root = newNode()
  /** Nodes of parameter-free patterns by their canonical path: most requests match here without a walk. */
  readonly #exact = new Map<string, Node>()

  add(route: Route): void {
    let node = this.#root
    for (const seg of segments(route.path)) {
      if (seg.startsWith(':')) {
        const name = seg.slice(1)
        if (node.param === undefined) node.param = { name, node: newNode() }
        else if (node.param.name !== name)
          throw new Error(`route ${route.path}: parameter :${name} conflicts with :${node.param.name}`)
        node = node.param.node
      } else {
        let next = node.statics.get(seg)
        if (next === undefined) {
          next = newNode()
          node.statics.set(seg, next)
        }
        node = next
      }
    }
    if (node.routes.has(route.method)) throw new Error(`duplicate route ${route.method} ${route.path}`)
    node.routes.set(route.method, route)
    const segs = segments(route.path)
    if (!segs.some((seg) => seg.startsWith(':'))) this.#exact.set(`/${segs.join('/')}`, node)
  }

  match(method: HttpMethod, path: string): RouteMatch {
    const params: Record<string, string> = {}
    // A static node is what the walk would reach too (statics win at every depth).
    const node = this.#exact.get(path) ?? this.#walk(this.#root, segments(path), 0, params)
    if (node === undefined || node.routes.size === 0) return { kind: 'not_found' }
    const route = node.routes.get(method)
    if (route === undefined) return { kind: 'method_not_allowed', allowed: [...node.routes.keys()] }
    return { kind: 'found', route, params, pattern: route.path }
  }

  #walk(node: Node, segs: string[], i: number, params: Record<string, string>): Node | undefined {
    if (i === segs.length) return node
    const seg = segs[i] as string
    const stat = node.statics.get(seg)
    if (stat !== undefined) {
      const found = this.#walk(stat, segs, i + 1, params)
      if (found !== undefined && found.routes.size > 0) return found
    }
    if (node.param !== undefined) {
      let value: string
      try {
        value = decodeURIComponent(seg)
      } catch {
        return undefined
      }
      const found = this.#walk(node.param.node, segs, i + 1, params)
      if (found !== undefined && found.routes.size > 0) {
        params[node.param.name] = value
        return found
      }
    }
    return undefined
  }
}
