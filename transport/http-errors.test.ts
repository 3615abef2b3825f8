import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { AuthError, DomainError, GatewayError, NotFoundError, UnavailableError } from '../shared/errors.js'
import { ConcurrencyError } from '../store/errors.js'
import { CHAT_ERROR_STATUS, statusOfCode, toHttpError } from './http-errors.js'
import { CANVAS_ERROR_STATUS } from '../actors/canvas/errors.js'
import { REFLECT_ERROR_STATUS } from '../actors/reflect/errors.js'
import { VAULT_ERROR_STATUS } from '../vault/errors.js'

describe('toHttpError', () => {
  it('maps codes and classes to statuses with a stable error code', () => {
    expect(toHttpError(new AuthError('token_expired', 'expired'))).toMatchObject({ status: 401, body: { error: 'token_expired' } })
    expect(toHttpError(new DomainError('budget_exceeded', 'over', { details: { limit: 'daily' } }))).toMatchObject({
      status: 402,
      body: { error: 'budget_exceeded', limit: 'daily', message: 'over' },
    })
    expect(toHttpError(new NotFoundError('gone'))).toMatchObject({ status: 404, body: { error: 'not_found' } })
    expect(toHttpError(new UnavailableError('vault_unavailable', 'down'))).toMatchObject({ status: 503, internal: false })
    expect(toHttpError(new ConcurrencyError('s', 1n, 2n))).toMatchObject({ status: 409, body: { error: 'concurrency_conflict', expected: '1', actual: '2' } })
  })

  it('details can never override the code or message', () => {
    const e = new GatewayError('invalid_request', 'real', { details: { error: 'spoofed', message: 'spoofed' } })
    expect(toHttpError(e).body).toMatchObject({ error: 'invalid_request', message: 'real' })
  })

  it('reports zod issues as 400 invalid_request naming the path', () => {
    const result = z.object({ a: z.number() }).safeParse({ a: 'x' })
    const mapped = toHttpError(result.error)
    expect(mapped.status).toBe(400)
    expect(mapped.body.message).toMatch(/^a: /)
  })

  it('hides unknown errors behind a generic 500 without their message', () => {
    const mapped = toHttpError(new Error('secret sk-ant-abc in a stack'))
    expect(mapped).toMatchObject({ status: 500, internal: true, body: { error: 'internal_error' } })
    expect(JSON.stringify(mapped.body)).not.toContain('sk-ant')
  })

  it('maps every domain code declared at load, before any route factory ran (a WebSocket error maps the same)', () => {
    expect(toHttpError(new DomainError('vault_corrupt', 'bad'))).toMatchObject({ status: 422, body: { error: 'vault_corrupt' } })
    expect(toHttpError(new GatewayError('vault_nonce_invalid', 'bad'))).toMatchObject({ status: 400 })
    expect(toHttpError(new DomainError('turn_in_progress', 'busy'))).toMatchObject({ status: 409 })
    expect(toHttpError(new GatewayError('provider_overloaded', 'later'))).toMatchObject({ status: 503 })
    for (const [code, status] of Object.entries(VAULT_ERROR_STATUS)) expect(statusOfCode(code), code).toBe(status)
  })

  it('declares the codes of every domain at load, before any route factory has run', () => {
    for (const table of [CHAT_ERROR_STATUS, CANVAS_ERROR_STATUS, REFLECT_ERROR_STATUS]) for (const [code, status] of Object.entries(table)) expect(statusOfCode(code), code).toBe(status)
    expect(statusOfCode('a_code_nobody_declared')).toBeUndefined()
    expect(toHttpError(new DomainError('turn_in_progress', 'busy')).status).toBe(409)
  })
})
