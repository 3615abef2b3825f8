import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signingKeyFromMaterial } from '../keys/signing-key.js'
import { generateKeyPairSync } from 'node:crypto'
import { buildReportData, canonicalJson, jwksHashTrunc16, nonceSlot, provenanceSlot, splitReportData } from './binding.js'
import { computeBuildInfo, loadBuildInfo, sourceTreeDigest } from './build-info.js'
import { createProvenance, pae, provenanceDigest, verifyDsse, type DsseEnvelope } from './provenance.js'

const newKey = () =>
  signingKeyFromMaterial(JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })), 'generated')

describe('build info', () => {
  let repo: string
  beforeAll(() => {
    repo = mkdtempSync(join(tmpdir(), 'buildinfo-'))
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'ignore' })
    git('init', '-q')
    writeFileSync(join(repo, 'package.json'), JSON.stringify({ name: 'demo', version: '1.2.3' }))
    writeFileSync(join(repo, 'package-lock.json'), '{"lockfileVersion":3}')
    mkdirSync(join(repo, 'src'))
    writeFileSync(join(repo, 'src', 'a.ts'), 'export const a = 1\n')
    writeFileSync(join(repo, 'untracked.ts'), 'not part of the tree\n')
    git('add', 'package.json', 'package-lock.json', 'src/a.ts')
    git('-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '-m', 'init')
  })
  afterAll(() => rmSync(repo, { recursive: true, force: true }))

  it('records version, commit, lockfile digest and a digest over the tracked files', () => {
    const info = computeBuildInfo(repo, { now: new Date('2026-01-01T00:00:00Z') })
    expect(info).toMatchObject({ name: 'demo', version: '1.2.3', gitDirty: false, sourceFiles: 3, builtAt: '2026-01-01T00:00:00.000Z', origin: 'live' })
    expect(info.gitCommit).toMatch(/^[0-9a-f]{40}$/)
    expect(info.lockfileDigest).toBe(`sha256:${createHash('sha256').update('{"lockfileVersion":3}').digest('hex')}`)
    const expected = createHash('sha256')
    for (const f of ['package-lock.json', 'package.json', 'src/a.ts']) {
      const content = f === 'package.json' ? JSON.stringify({ name: 'demo', version: '1.2.3' }) : f === 'src/a.ts' ? 'export const a = 1\n' : '{"lockfileVersion":3}'
      expected.update(`${f}\0${createHash('sha256').update(content).digest('hex')}\n`)
    }
    expect(info.sourceTreeDigest).toBe(`sha256:${expected.digest('hex')}`)
  })

  it('changes the tree digest and marks dirty when a tracked file changes', () => {
    const before = sourceTreeDigest(repo)
    writeFileSync(join(repo, 'src', 'a.ts'), 'export const a = 2\n')
    const info = computeBuildInfo(repo)
    expect(info.sourceTreeDigest).not.toBe(before)
    expect(info.gitDirty).toBe(true)
    writeFileSync(join(repo, 'src', 'a.ts'), 'export const a = 1\n')
    expect(sourceTreeDigest(repo)).toBe(before)
  })

  it('reads a written build-info.json, else computes live', () => {
    const file = join(repo, 'build-info.json')
    writeFileSync(file, JSON.stringify({ ...computeBuildInfo(repo), origin: 'live' }))
    expect(loadBuildInfo({ file }).origin).toBe('dist')
    expect(loadBuildInfo({ file: join(repo, 'missing.json'), root: repo })).toMatchObject({ origin: 'live', name: 'demo' })
  })
})

describe('provenance (in-toto SLSA v1 in DSSE, ES256)', () => {
  const info = {
    name: 'agent-gateway',
    version: '0.1.0',
    gitCommit: 'a'.repeat(40),
    gitDirty: false,
    lockfileDigest: 'sha256:' + 'b'.repeat(64),
    sourceTreeDigest: 'sha256:' + 'c'.repeat(64),
    sourceFiles: 10,
    builtAt: '2026-01-01T00:00:00.000Z',
    node: 'v20.0.0',
    origin: 'dist' as const,
  }

  it('encodes PAE as DSSE v1 specifies', () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world')
  })

  it('signs a statement that verifies against the JWKS; its digest is stable', async () => {
    const key = await newKey()
    const p = createProvenance(info, key)
    const v = verifyDsse(p.envelope, key.jwks)
    if (!v.ok) throw new Error(v.reason)
    expect(v.keyid).toBe(key.kid)
    expect(v.statement.predicateType).toBe('https://slsa.dev/provenance/v1')
    expect(v.statement.subject[0]!.digest.sha256).toBe('c'.repeat(64))
    expect(v.statement.predicate.buildDefinition.resolvedDependencies).toEqual([
      { name: 'git-commit', digest: { gitCommit: 'a'.repeat(40) } },
      { name: 'package-lock.json', digest: { sha256: 'b'.repeat(64) } },
    ])
    expect(v.digest.toString('hex')).toBe(p.digest)
    // Same build, another key, another time: same statement, same digest.
    expect(createProvenance({ ...info, builtAt: '2030-01-01T00:00:00.000Z' }, await newKey()).digest).toBe(p.digest)
  })

  it('fails when any single payload byte changes, or with another key', async () => {
    const key = await newKey()
    const { envelope } = createProvenance(info, key)
    const payload = Buffer.from(envelope.payload, 'base64')
    for (const i of [0, 1, Math.floor(payload.length / 2), payload.length - 1]) {
      const altered = Buffer.from(payload)
      altered[i]! ^= 0x01
      const v = verifyDsse({ ...envelope, payload: altered.toString('base64') }, key.jwks)
      expect(v.ok).toBe(false)
    }
    expect(verifyDsse({ ...envelope, payloadType: 'application/json' }, key.jwks).ok).toBe(false)
    expect(verifyDsse(envelope, (await newKey()).jwks)).toEqual({ ok: false, reason: 'no signature verifies with a key of the JWKS' })
    expect(verifyDsse({} as DsseEnvelope, key.jwks).ok).toBe(false)
  })
})

describe('REPORT_DATA binding', () => {
  it('lays out provenance, JWKS hash and nonce', async () => {
    const key = await newKey()
    const digest = provenanceDigest(Buffer.from('payload'))
    const nonce = Buffer.from('00112233445566778899aabbccddeeff0011', 'hex')
    const rd = buildReportData({ provenanceDigest: digest, jwks: key.jwks, nonce })
    const slots = splitReportData(rd)
    expect(slots.provenance).toBe(createHash('sha256').update(digest).digest('hex'))
    expect(slots.provenance).toBe(provenanceSlot(digest))
    expect(slots.jwks16).toBe(createHash('sha256').update(canonicalJson(key.jwks)).digest('hex').slice(0, 32))
    expect(slots.jwks16).toBe(jwksHashTrunc16(key.jwks))
    expect(slots.nonce16).toBe('00112233445566778899aabbccddeeff')
    expect(nonceSlot(Buffer.from('ab', 'hex'))).toBe('ab' + '00'.repeat(15))
    // Canonical: member order does not change the hash.
    const [k] = key.jwks.keys
    const reordered = { keys: [{ y: k!.y, x: k!.x, kid: k!.kid, use: k!.use, alg: k!.alg, crv: k!.crv, kty: k!.kty }] }
    expect(jwksHashTrunc16(reordered)).toBe(slots.jwks16)
  })
})
