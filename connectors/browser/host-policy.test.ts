import { describe, expect, it } from 'vitest'
import { HostPolicy, isForbiddenAddress, parseAllowEntry } from './host-policy.js'

describe('browser host policy', () => {
  it('forbids internal address ranges and allows public ones', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fd00::1', 'fe80::1', 'ff02::1', '::ffff:10.0.0.1', '::ffff:127.0.0.1', '64:ff9b::a00:1']) {
      expect(isForbiddenAddress(a), a).toBe(true)
    }
    for (const a of ['93.184.215.14', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8']) expect(isForbiddenAddress(a), a).toBe(false)
    expect(isForbiddenAddress('not-an-ip')).toBe(true)
  })

  it('parses host, host:port and IPv6 entries', () => {
    expect(parseAllowEntry('Example.COM.')).toEqual({ host: 'example.com' })
    expect(parseAllowEntry('example.com:8443')).toEqual({ host: 'example.com', port: 8443 })
    expect(parseAllowEntry('[::1]:8080')).toEqual({ host: '::1', port: 8080 })
    expect(parseAllowEntry('::1')).toEqual({ host: '::1' })
    expect(() => parseAllowEntry('a:99999')).toThrow(/port/)
  })

  it('needs the name on the list and every address public or listed', () => {
    const p = new HostPolicy(['example.com', 'local.test', '127.0.0.1:8080'])
    expect(p.checkHost('example.com', 443).allowed).toBe(true)
    expect(p.checkHost('EXAMPLE.com.', 80).allowed).toBe(true)
    expect(p.checkHost('other.com', 443)).toEqual({ allowed: false, reason: 'host other.com is not on the allow-list' })
    expect(p.checkAddresses('example.com', 443, ['93.184.215.14']).allowed).toBe(true)
    // One internal address among public ones is enough to refuse.
    expect(p.checkAddresses('example.com', 443, ['93.184.215.14', '10.0.0.1'])).toEqual({ allowed: false, reason: 'host example.com resolves to forbidden address 10.0.0.1' })
    // An explicitly listed address is allowed, for its port only.
    expect(p.checkAddresses('local.test', 8080, ['127.0.0.1']).allowed).toBe(true)
    expect(p.checkAddresses('local.test', 9090, ['127.0.0.1']).allowed).toBe(false)
    expect(p.checkAddresses('local.test', 8080, []).allowed).toBe(false)
    expect(new HostPolicy([]).checkHost('example.com', 443).allowed).toBe(false)
  })
})
