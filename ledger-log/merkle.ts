import { hash } from 'node:crypto'

/**
 * RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, §2.1: pure functions, no I/O.
 * Indices and sizes are numbers (exact up to 2^53 leaves) and are never bit-masked, so
 * they stay exact past 2^31.
 */

const LEAF = Buffer.from([0x00])
const NODE = Buffer.from([0x01])

/** MTH({}) = SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = hash('sha256', Buffer.alloc(0), 'buffer')

/** Leaf hash: SHA-256(0x00 ‖ leaf bytes). */
export function leafHash(bytes: string | Uint8Array): Buffer {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes
  return hash('sha256', Buffer.concat([LEAF, data]), 'buffer')
}

/** Interior node hash: SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return hash('sha256', Buffer.concat([NODE, left, right]), 'buffer')
}

/** The largest power of two strictly below n (n ≥ 2): the split point k of RFC 9162 §2.1.1. */
export function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/**
 * Hash of the complete, aligned subtree at `level` (2^level leaves) and `index` (its
 * first leaf is index·2^level). Only complete subtrees are ever asked for, so a log that
 * stores every completed node (about 2 per leaf) can answer any proof.
 */
export type NodeReader = (level: number, index: number) => Buffer

/**
 * MTH(D[start : start+size]) for a range that starts on a multiple of a power of two
 * ≥ size (every range RFC 9162's recursion visits does): split into complete aligned
 * subtrees, largest first, and fold them from the right.
 */
export function subtreeHash(read: NodeReader, start: number, size: number): Buffer {
  if (size === 0) return EMPTY_ROOT
  const parts: Buffer[] = []
  let offset = start
  let left = size
  while (left > 0) {
    let level = 0
    while (2 ** (level + 1) <= left) level++
    parts.push(read(level, offset / 2 ** level))
    offset += 2 ** level
    left -= 2 ** level
  }
  let h = parts[parts.length - 1]!
  for (let i = parts.length - 2; i >= 0; i--) h = nodeHash(parts[i]!, h)
  return h
}

/** RFC 9162 §2.1.3.1 PATH(m, D[n]): the audit path of leaf m in the tree of the first n leaves, deepest first. */
export function inclusionProof(read: NodeReader, index: number, size: number): Buffer[] {
  if (!(index >= 0 && index < size)) throw new RangeError(`leaf ${index} is not in a tree of size ${size}`)
  const path: Buffer[] = []
  const walk = (m: number, start: number, n: number): void => {
    if (n === 1) return
    const k = splitPoint(n)
    if (m < k) {
      walk(m, start, k)
      path.push(subtreeHash(read, start + k, n - k))
    } else {
      walk(m - k, start + k, n - k)
      path.push(subtreeHash(read, start, k))
    }
  }
  walk(index, 0, size)
  return path
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]): proves the tree of size m is a prefix of the tree of size n. */
export function consistencyProof(read: NodeReader, m: number, n: number): Buffer[] {
  if (!(m >= 0 && m <= n)) throw new RangeError(`no consistency proof from ${m} to ${n}`)
  if (m === 0 || m === n) return []
  const proof: Buffer[] = []
  const sub = (m: number, start: number, n: number, whole: boolean): void => {
    if (m === n) {
      if (!whole) proof.push(subtreeHash(read, start, n))
      return
    }
    const k = splitPoint(n)
    if (m <= k) {
      sub(m, start, k, whole)
      proof.push(subtreeHash(read, start + k, n - k))
    } else {
      sub(m - k, start + k, n - k, false)
      proof.push(subtreeHash(read, start, k))
    }
  }
  sub(m, 0, n, true)
  return proof
}

const odd = (x: number) => x % 2 === 1
const half = (x: number) => Math.floor(x / 2)

/** RFC 9162 §2.1.3.2: does `proof` place `leaf` at `index` under `root` of a tree of `size`? */
export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!(index >= 0 && index < size)) return false
  let fn = index
  let sn = size - 1
  let r: Uint8Array = leaf
  for (const p of proof) {
    if (sn === 0) return false
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r)
      if (!odd(fn)) while (!odd(fn) && fn !== 0) ((fn = half(fn)), (sn = half(sn)))
    } else {
      r = nodeHash(r, p)
    }
    fn = half(fn)
    sn = half(sn)
  }
  return sn === 0 && Buffer.from(r).equals(Buffer.from(root))
}

/** RFC 9162 §2.1.4.2: does `proof` show the tree (size1, root1) is a prefix of (size2, root2)? */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!(size1 >= 0 && size1 <= size2)) return false
  if (size1 === size2) return proof.length === 0 && Buffer.from(root1).equals(Buffer.from(root2))
  if (size1 === 0) return proof.length === 0 // the empty tree is a prefix of every tree
  if (proof.length === 0) return false
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof]
  let fn = size1 - 1
  let sn = size2 - 1
  while (odd(fn)) ((fn = half(fn)), (sn = half(sn)))
  let fr: Uint8Array = path[0]!
  let sr: Uint8Array = path[0]!
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (!odd(fn)) while (!odd(fn) && fn !== 0) ((fn = half(fn)), (sn = half(sn)))
    } else {
      sr = nodeHash(sr, c)
    }
    fn = half(fn)
    sn = half(sn)
  }
  return sn === 0 && Buffer.from(fr).equals(Buffer.from(root1)) && Buffer.from(sr).equals(Buffer.from(root2))
}

function isPowerOfTwo(n: number): boolean {
  let k = 1
  while (k < n) k *= 2
  return k === n
}

/** A node a frontier completed while appending: persist it for proofs. */
export interface CompletedNode {
  level: number
  index: number
  hash: Buffer
}

/**
 * The right frontier of the tree: the roots of its complete subtrees (one per set bit of
 * the size), largest first. Appending costs O(1) amortised hashes and memory stays
 * O(log n); the root is folded from the frontier on demand.
 */
export class MerkleFrontier {
  #size: number
  readonly #stack: { level: number; hash: Buffer }[]

  private constructor(size: number, stack: { level: number; hash: Buffer }[]) {
    this.#size = size
    this.#stack = stack
  }

  static empty(): MerkleFrontier {
    return new MerkleFrontier(0, [])
  }

  /** Rebuilds the frontier of a tree of `size` from its stored complete subtrees. */
  static load(size: number, read: NodeReader): MerkleFrontier {
    const stack: { level: number; hash: Buffer }[] = []
    let offset = 0
    for (let level = 52; level >= 0; level--) {
      const width = 2 ** level
      if (offset + width <= size) {
        stack.push({ level, hash: read(level, offset / width) })
        offset += width
      }
    }
    return new MerkleFrontier(size, stack)
  }

  get size(): number {
    return this.#size
  }

  /** Appends one leaf hash; returns the leaf and every interior node it completed. */
  append(leaf: Buffer): CompletedNode[] {
    const index = this.#size
    const completed: CompletedNode[] = [{ level: 0, index, hash: leaf }]
    let node = { level: 0, hash: leaf }
    while (this.#stack.length > 0 && this.#stack[this.#stack.length - 1]!.level === node.level) {
      const left = this.#stack.pop()!
      node = { level: node.level + 1, hash: nodeHash(left.hash, node.hash) }
      completed.push({ level: node.level, index: Math.floor(index / 2 ** node.level), hash: node.hash })
    }
    this.#stack.push(node)
    this.#size++
    return completed
  }

  /** MTH of the whole tree. */
  root(): Buffer {
    if (this.#stack.length === 0) return EMPTY_ROOT
    let h = this.#stack[this.#stack.length - 1]!.hash
    for (let i = this.#stack.length - 2; i >= 0; i--) h = nodeHash(this.#stack[i]!.hash, h)
    return h
  }
}

/**
 * MTH over consecutive subtree roots that all cover 2^L leaves except possibly the last:
 * the tree above level L has the shape of an RFC 9162 tree over these items (every split
 * point of a larger range is a multiple of 2^L). Combines per-worker subtree roots.
 */
export function rootOfSubtrees(hashes: readonly Buffer[]): Buffer {
  if (hashes.length === 0) return EMPTY_ROOT
  const mth = (start: number, n: number): Buffer => {
    if (n === 1) return hashes[start]!
    const k = splitPoint(n)
    return nodeHash(mth(start, k), mth(start + k, n - k))
  }
  return mth(0, hashes.length)
}
