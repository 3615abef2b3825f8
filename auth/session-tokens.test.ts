import { describe, expect, it } from 'vitest'
import { SessionTokens } from './session-tokens.js'

const address = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as const

function tokens(options: { now?: () => Date; revoked?: Set<string>; cacheSize?: number; secret?: string } = {}) {
  const revoked = options.revoked ?? new Set<string>()
  return new SessionTokens({
    secret: options.secret ?? 'unit-test-secret-0123456789abcdef0123456789',
    issuer: 'agent-gateway',
    audience: 'agent-gateway',
    ttlS: 60,
    isRevoked: (jti) => revoked.has(jti),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.cacheSize === undefined ? {} : { cacheSize: options.cacheSize }),
  })
}

describe('SessionTokens: verified tokens remembered by their string', () => {
  it('answers a repeated token with the same verified context', async () => {
    const t = tokens()
    const issued = await t.issue(address)
    const first = await t.verify(issued.token)
    const again = await t.verify(issued.token)
    expect(again).toBe(first)
    expect(again).toMatchObject({ address, sub: address.toLowerCase(), jti: issued.jti, token: issued.token })
    expect(Object.isFrozen(again)).toBe(true)
  })

  it('a revocation after the first verification refuses the remembered token at once', async () => {
    const revoked = new Set<string>()
    const t = tokens({ revoked })
    const issued = await t.issue(address)
    await t.verify(issued.token)
    revoked.add(issued.jti)
    await expect(t.verify(issued.token)).rejects.toMatchObject({ code: 'token_revoked' })
  })

  it('a remembered token expires at the same second jose would refuse it', async () => {
    let nowMs = Date.UTC(2026, 0, 1, 12, 0, 0)
    const t = tokens({ now: () => new Date(nowMs) })
    const issued = await t.issue(address)
    await t.verify(issued.token)
    nowMs = issued.expiresAt - 1
    await expect(t.verify(issued.token)).resolves.toMatchObject({ jti: issued.jti })
    nowMs = issued.expiresAt
    await expect(t.verify(issued.token)).rejects.toMatchObject({ code: 'token_expired' })
    // A fresh verifier (nothing remembered) agrees at that instant.
    await expect(tokens({ now: () => new Date(nowMs) }).verify(issued.token)).rejects.toMatchObject({ code: 'token_expired' })
  })

  it('a tampered copy of a remembered token is verified in full and refused', async () => {
    const t = tokens()
    const issued = await t.issue(address)
    await t.verify(issued.token)
    const [h, p, s] = issued.token.split('.') as [string, string, string]
    const flipped = `${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`
    await expect(t.verify(`${h}.${p}.${flipped}`)).rejects.toMatchObject({ code: 'token_invalid' })
    const other = await tokens({ secret: 'another-secret-0123456789abcdef01234567' }).issue(address)
    await expect(t.verify(other.token)).rejects.toMatchObject({ code: 'token_invalid' })
  })

  it('stays bounded: the least recently used token is forgotten, then verified again in full', async () => {
    const revoked = new Set<string>()
    const t = tokens({ cacheSize: 2, revoked })
    const [a, b, c] = await Promise.all([t.issue(address), t.issue(address), t.issue(address)])
    for (const x of [a, b, c]) await t.verify(x.token)
    // `a` was evicted: still valid when verified again in full, still refused once revoked.
    await expect(t.verify(a.token)).resolves.toMatchObject({ jti: a.jti })
    revoked.add(c.jti)
    await expect(t.verify(c.token)).rejects.toMatchObject({ code: 'token_revoked' })
  })
})
