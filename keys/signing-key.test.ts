import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT, calculateJwkThumbprint, createLocalJWKSet, jwtVerify } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SIGNING_KEY_FILE, SigningKeyError, loadSigningKey } from './signing-key.js'

describe('loadSigningKey', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigkey-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('generates and persists a P-256 key (0600), then reloads it from the file', async () => {
    const a = await loadSigningKey({ dataDir: dir })
    expect(a.source).toBe('generated')
    const file = join(dir, SIGNING_KEY_FILE)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ kty: 'EC', crv: 'P-256' })
    const b = await loadSigningKey({ dataDir: dir })
    expect(b.source).toBe('file')
    expect(b.kid).toBe(a.kid)
  })

  it('serves a JWKS whose kid is the RFC 7638 thumbprint, and signs verifiable ES256 JWTs', async () => {
    const k = await loadSigningKey({ dataDir: dir })
    const [jwk] = k.jwks.keys
    expect(Object.keys(jwk!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'])
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })
    expect(jwk!.kid).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk!.x, y: jwk!.y }))
    const token = await new SignJWT({ w: 1 }).setProtectedHeader({ alg: 'ES256', kid: k.kid }).setExpirationTime('5m').sign(k.privateKey)
    const { payload } = await jwtVerify(token, createLocalJWKSet(k.jwks), { algorithms: ['ES256'] })
    expect(payload.w).toBe(1)
  })

  it('takes MCP_SIGNING_KEY as PEM PKCS#8 or as a JWK, and reports env_fallback', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
    const fromPem = await loadSigningKey({ dataDir: dir, envValue: pem })
    const fromJwk = await loadSigningKey({ dataDir: dir, envValue: JSON.stringify(privateKey.export({ format: 'jwk' })) })
    const escaped = await loadSigningKey({ dataDir: dir, envValue: pem.replace(/\n/g, '\\n') })
    expect(fromPem.source).toBe('env_fallback')
    expect(fromJwk.kid).toBe(fromPem.kid)
    expect(escaped.kid).toBe(fromPem.kid)
    expect(() => statSync(join(dir, SIGNING_KEY_FILE))).toThrow()
  })

  it('rejects other curves and garbage without echoing the material', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
    await expect(loadSigningKey({ dataDir: dir, envValue: p384 })).rejects.toThrow(/P-256/)
    const err = await loadSigningKey({ dataDir: dir, envValue: 'not-a-key-SECRETSTUFF' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SigningKeyError)
    expect(String((err as Error).message)).not.toContain('SECRETSTUFF')
  })
})
