import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { consistencyProof, inclusionProof, leafHash, MerkleFrontier, rootOfSubtrees, verifyConsistency, verifyInclusion, type NodeReader } from './merkle.js'

// ---- An independent RFC 9162 implementation, written from the RFC's text for this test only ----
const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}
const refLeaf = (data: Uint8Array) => sha(Uint8Array.of(0), data)
const refNode = (l: Uint8Array, r: Uint8Array) => sha(Uint8Array.of(1), l, r)
/** §2.1.1 MTH(D[n]) by its definition (k = the largest power of two smaller than n). */
function refMth(d: Uint8Array[]): Buffer {
  if (d.length === 0) return sha()
  if (d.length === 1) return refLeaf(d[0]!)
  let k = 1
  while (k << 1 < d.length) k <<= 1
  return refNode(refMth(d.slice(0, k)), refMth(d.slice(k)))
}
/** §2.1.3.2, with bigint shifts. */
function refVerifyInclusion(index: bigint, size: bigint, leaf: Uint8Array, path: Uint8Array[], root: Uint8Array): boolean {
  if (index >= size) return false
  let fn = index
  let sn = size - 1n
  let r = Buffer.from(leaf)
  for (const p of path) {
    if (sn === 0n) return false
    if ((fn & 1n) === 1n || fn === sn) {
      r = refNode(p, r)
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n
          sn >>= 1n
        }
      }
    } else {
      r = refNode(r, p)
    }
    fn >>= 1n
    sn >>= 1n
  }
  return sn === 0n && r.equals(root)
}
/** §2.1.4.2, with bigint shifts (first < second, both > 0). */
function refVerifyConsistency(first: bigint, second: bigint, firstHash: Buffer, secondHash: Buffer, proof: Uint8Array[]): boolean {
  if (proof.length === 0) return false
  const path = (first & (first - 1n)) === 0n ? [firstHash, ...proof] : proof
  let fn = first - 1n
  let sn = second - 1n
  while ((fn & 1n) === 1n) {
    fn >>= 1n
    sn >>= 1n
  }
  let fr = Buffer.from(path[0]!)
  let sr = Buffer.from(path[0]!)
  for (const c of path.slice(1)) {
    if (sn === 0n) return false
    if ((fn & 1n) === 1n || fn === sn) {
      fr = refNode(c, fr)
      sr = refNode(c, sr)
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n
          sn >>= 1n
        }
      }
    } else {
      sr = refNode(sr, c)
    }
    fn >>= 1n
    sn >>= 1n
  }
  return fr.equals(firstHash) && sr.equals(secondHash) && sn === 0n
}
// ---------------------------------------------------------------------------------------------

/** A log built the production way: frontier appends, every completed node stored. */
function buildLog(n: number) {
  const data = Array.from({ length: n }, (_, i) => Buffer.from(`{"event":${i}}`))
  const nodes = new Map<string, Buffer>()
  const frontier = MerkleFrontier.empty()
  const roots: Buffer[] = [frontier.root()]
  for (const d of data) {
    for (const c of frontier.append(leafHash(d))) nodes.set(`${c.level}/${c.index}`, c.hash)
    roots.push(frontier.root())
  }
  const read: NodeReader = (level, index) => {
    const h = nodes.get(`${level}/${index}`)
    if (h === undefined) throw new Error(`missing ${level}/${index}`)
    return h
  }
  return { data, read, roots, nodes }
}

const N = 300
const log = buildLog(N)

describe('RFC 9162 Merkle log (checked by an independent verifier in this file)', () => {
  it('leaf and root hashes match the definition for every size 0…300; about 2 stored nodes per leaf', () => {
    expect(leafHash(log.data[0]!)).toEqual(refLeaf(log.data[0]!))
    for (let n = 0; n <= N; n++) expect(log.roots[n]!.equals(refMth(log.data.slice(0, n)))).toBe(true)
    expect(log.nodes.size).toBeLessThan(2 * N)
    // the frontier rebuilt from stored nodes gives the same root
    for (const n of [1, 2, 3, 7, 8, 9, 255, 256, 257, 300]) expect(MerkleFrontier.load(n, log.read).root().equals(log.roots[n]!)).toBe(true)
  })

  it('every inclusion proof of every leaf in every tree size 1…300 verifies, and a flipped bit or wrong index fails', () => {
    const failures: string[] = []
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(log.read, m, n)
        const leaf = refLeaf(log.data[m]!)
        if (!refVerifyInclusion(BigInt(m), BigInt(n), leaf, proof, log.roots[n]!)) failures.push(`ref ${m}/${n}`)
        if (!verifyInclusion(leaf, m, n, proof, log.roots[n]!)) failures.push(`ours ${m}/${n}`)
      }
    }
    expect(failures).toEqual([])
    const proof = inclusionProof(log.read, 5, 300)
    const bad = proof.map((p, i) => (i === 2 ? Buffer.from(p.map((b, j) => (j === 0 ? b ^ 1 : b))) : p))
    expect(refVerifyInclusion(5n, 300n, refLeaf(log.data[5]!), bad, log.roots[300]!)).toBe(false)
    expect(verifyInclusion(refLeaf(log.data[5]!), 5, 300, bad, log.roots[300]!)).toBe(false)
    expect(refVerifyInclusion(6n, 300n, refLeaf(log.data[5]!), proof, log.roots[300]!)).toBe(false)
    expect(verifyInclusion(refLeaf(log.data[5]!), 6, 300, proof, log.roots[300]!)).toBe(false)
  })

  it('every consistency proof between tree sizes 1 ≤ m < n ≤ 300 verifies; a wrong old root fails', () => {
    const failures: string[] = []
    for (let n = 2; n <= N; n++) {
      for (let m = 1; m < n; m++) {
        const proof = consistencyProof(log.read, m, n)
        const wrong = log.roots[m === 1 ? 2 : m - 1]!
        if (!refVerifyConsistency(BigInt(m), BigInt(n), log.roots[m]!, log.roots[n]!, proof)) failures.push(`ref ${m}→${n}`)
        if (!verifyConsistency(m, n, log.roots[m]!, log.roots[n]!, proof)) failures.push(`ours ${m}→${n}`)
        if (refVerifyConsistency(BigInt(m), BigInt(n), wrong, log.roots[n]!, proof)) failures.push(`ref accepted a wrong root ${m}→${n}`)
        if (verifyConsistency(m, n, wrong, log.roots[n]!, proof)) failures.push(`ours accepted a wrong root ${m}→${n}`)
      }
    }
    expect(failures).toEqual([])
    expect(consistencyProof(log.read, 0, 10)).toEqual([])
    expect(consistencyProof(log.read, 10, 10)).toEqual([])
  })

  it('random pairs in a larger log verify under the independent verifier', () => {
    const big = buildLog(5000)
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4999 }), fc.integer({ min: 1, max: 5000 }), (a, b) => {
        const [m, n] = a < b ? [a, b] : [b, a + 1]
        const root = (k: number) => big.roots[k]!
        expect(refVerifyConsistency(BigInt(m), BigInt(n), root(m), root(n), consistencyProof(big.read, m, n))).toBe(true)
        const leaf = m - 1
        expect(refVerifyInclusion(BigInt(leaf), BigInt(n), refLeaf(big.data[leaf]!), inclusionProof(big.read, leaf, n), root(n))).toBe(true)
      }),
      { numRuns: 500 },
    )
  })

  it('roots of aligned subtrees combine to the whole root (how the auditor splits the work)', () => {
    for (const [n, width] of [[300, 64], [256, 128], [257, 128], [5, 4], [1, 1]] as const) {
      const parts: Buffer[] = []
      for (let s = 0; s < n; s += width) parts.push(refMth(log.data.slice(s, Math.min(n, s + width))))
      expect(rootOfSubtrees(parts).equals(log.roots[n]!)).toBe(true)
    }
  })
})
