import { describe, expect, it } from 'vitest'
import { loadConfig } from './config.js'
import { ConfigError } from './shared/errors.js'

describe('loadConfig', () => {
  it('gives every default from an empty environment', () => {
    const c = loadConfig({})
    expect(c).toMatchObject({ HOST: '127.0.0.1', PORT: 8080, DATA_DIR: './data', EVENT_STORE: 'sqlite', LOG_LEVEL: 'info', CORS_ORIGINS: [], CHAIN_ID: 8453 })
    expect(c.WITHDRAWAL_MAX).toBe(10_000_000_000n)
  })

  it('parses lists, numbers and booleans', () => {
    const c = loadConfig({ PORT: '0', CORS_ORIGINS: 'https://a.example, https://b.example', VAULT_FAIL_CLOSED: 'true', AUDITOR_WALLETS: '0x' + 'ab'.repeat(20) })
    expect(c.PORT).toBe(0)
    expect(c.CORS_ORIGINS).toEqual(['https://a.example', 'https://b.example'])
    expect(c.VAULT_FAIL_CLOSED).toBe(true)
    expect(c.AUDITOR_WALLETS).toHaveLength(1)
  })

  it('names the variable of an invalid value', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError)
    expect(() => loadConfig({ PORT: '70000' })).toThrow(/PORT/)
    expect(() => loadConfig({ EVENT_STORE: 'postgres' })).toThrow(/EVENT_STORE/)
    expect(() => loadConfig({ JWT_SECRET: 'short' })).toThrow(/JWT_SECRET/)
    expect(() => loadConfig({ RELAYER_PRIVATE_KEY: '0x1234' })).toThrow(/RELAYER_PRIVATE_KEY/)
  })
})
