import { mkdtempSync, rmSync, statSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadOrCreateSecret, randomSecret, writeSecretFile } from './key-source.js'

describe('loadOrCreateSecret', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keysrc-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('prefers the environment and does not touch the file', () => {
    const file = join(dir, 'keys', 's')
    const r = loadOrCreateSecret({ envValue: 'from-env', file, generate: () => 'nope' })
    expect(r).toEqual({ value: 'from-env', source: 'env_fallback' })
    expect(() => statSync(file)).toThrow()
  })

  it('generates, persists with 0600, then reads back as file', () => {
    const file = join(dir, 'keys', 's')
    const a = loadOrCreateSecret({ envValue: undefined, file, generate: () => randomSecret() })
    expect(a.source).toBe('generated')
    expect(a.value).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const b = loadOrCreateSecret({ envValue: '', file, generate: () => 'other' })
    expect(b).toEqual({ value: a.value, source: 'file' })
  })

  it('tightens a loose file and treats an empty file as absent', () => {
    const file = join(dir, 's')
    writeFileSync(file, 'abc\n', { mode: 0o644 })
    expect(loadOrCreateSecret({ file, generate: () => 'x' })).toEqual({ value: 'abc', source: 'file' })
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const empty = join(dir, 'e')
    writeFileSync(empty, '  \n')
    const r = loadOrCreateSecret({ file: empty, generate: () => 'gen' })
    expect(r).toEqual({ value: 'gen', source: 'generated' })
    expect(readFileSync(empty, 'utf8')).toBe('gen\n')
  })

  it('writeSecretFile replaces atomically with 0600', () => {
    const file = join(dir, 'k', 'f')
    writeSecretFile(file, 'one')
    writeSecretFile(file, 'two')
    expect(readFileSync(file, 'utf8')).toBe('two\n')
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })
})
