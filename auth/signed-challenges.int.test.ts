import { describe, expect, it } from 'vitest'
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.js'
import { challengeKey, MAX_CHALLENGE_NONCE_CHARS, SignedChallenges } from './signed-challenges.js'

const URL_ = 'http://127.0.0.1:8080'
const ADDR = '0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045'

describe('signed (stateless) sign-in challenges', () => {
  const setup = (now = () => new Date('2026-12-02T12:00:00Z')) => {
    const store = new SqliteEventStore({ file: ':memory:', writer: 'inline' })
    return { store, challenges: new SignedChallenges({ key: challengeKey('k'.repeat(32)), store, ttlMs: 60_000, now }) }
  }

  it('round-trips every fact through the nonce; issuing writes nothing, consuming writes once', async () => {
    const { store, challenges } = setup()
    const c = challenges.issue('sign-in', URL_, ADDR)
    expect(c.nonce).toMatch(/^[0-9a-f]+$/) // SIWE nonces must be alphanumeric
    expect(c.nonce.length).toBeLessThanOrEqual(MAX_CHALLENGE_NONCE_CHARS)
    expect(await store.headPosition()).toBe(0n)
    const got = await challenges.consume('sign-in', c.nonce)
    expect(got).toEqual({ nonce: c.nonce, url: URL_, address: ADDR.toLowerCase(), issuedAt: c.issuedAt, expiresAt: c.expiresAt })
    await expect(challenges.consume('sign-in', c.nonce)).rejects.toMatchObject({ code: 'nonce_reused' })
    await store.close()
  })

  it('refuses a flipped bit, another purpose, another key and an expired nonce, writing nothing', async () => {
    let t = new Date('2026-12-02T12:00:00Z')
    const { store, challenges } = setup(() => t)
    const c = challenges.issue('sign-in', URL_)
    for (let i = 0; i < c.nonce.length; i += 7) {
      const flipped = `${c.nonce.slice(0, i)}${c.nonce[i] === '0' ? '1' : '0'}${c.nonce.slice(i + 1)}`
      await expect(challenges.consume('sign-in', flipped)).rejects.toMatchObject({ code: 'nonce_unknown' })
    }
    await expect(challenges.consume('vault-derive', c.nonce)).rejects.toMatchObject({ code: 'nonce_unknown' })
    const other = new SignedChallenges({ key: challengeKey('o'.repeat(32)), store, ttlMs: 60_000 })
    await expect(other.consume('sign-in', c.nonce)).rejects.toMatchObject({ code: 'nonce_unknown' })
    t = new Date(t.getTime() + 60_000)
    await expect(challenges.consume('sign-in', c.nonce)).rejects.toMatchObject({ code: 'nonce_expired' })
    expect(await store.headPosition()).toBe(0n)
    await store.close()
  })
})
