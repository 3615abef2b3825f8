import { BlockList, isIP } from 'node:net'

/**
 * Which hosts and addresses a browser-verify node may reach. Pure: the caller resolves the
 * name and asks. A request passes when its host is on the allow-list AND every address the
 * host resolves to is public — or is itself on the allow-list (an operator who lists
 * `127.0.0.1:8080` means it).
 */

/** Ranges no workflow may reach unless listed explicitly: loopback, private, link-local (cloud metadata), CGNAT, ULA, … */
const forbidden = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // CGNAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, incl. 169.254.169.254 (cloud metadata)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, incl. broadcast
] as const) forbidden.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64 (embeds an IPv4 address)
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID …)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4 (embeds an IPv4 address)
  ['fc00::', 7], // unique local (ULA)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) forbidden.addSubnet(net, prefix, 'ipv6')

export interface AllowEntry {
  host: string
  /** Absent: any port. */
  port?: number
}

function normaliseHost(host: string): string {
  let h = host.trim().toLowerCase()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  return h.endsWith('.') ? h.slice(0, -1) : h
}

/** Parses `host`, `host:port`, `1.2.3.4`, `[::1]:8080` or a bare IPv6 address. */
export function parseAllowEntry(raw: string): AllowEntry {
  const s = raw.trim()
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s)
  if (bracketed !== null) return withPort(normaliseHost(bracketed[1]!), bracketed[2], raw)
  if (isIP(s) === 6) return { host: normaliseHost(s) }
  const m = /^([^:]+)(?::(\d+))?$/.exec(s)
  if (m === null || m[1]!.length === 0) throw new Error(`not a host or host:port: ${raw}`)
  return withPort(normaliseHost(m[1]!), m[2], raw)
}

function withPort(host: string, port: string | undefined, raw: string): AllowEntry {
  if (port === undefined) return { host }
  const n = Number(port)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`bad port in ${raw}`)
  return { host, port: n }
}

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is that IPv4 address. */
function unmap(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const a = normaliseHost(address)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a)
  if (mapped !== null) return { address: mapped[1]!, family: 'ipv4' }
  return { address: a, family: isIP(a) === 4 ? 'ipv4' : 'ipv6' }
}

export function isForbiddenAddress(address: string): boolean {
  const { address: a, family } = unmap(address)
  if (isIP(a) === 0) return true
  return forbidden.check(a, family)
}

export type HostVerdict = { allowed: true } | { allowed: false; reason: string }

export class HostPolicy {
  private readonly entries: AllowEntry[]

  constructor(allowedHosts: readonly string[]) {
    this.entries = allowedHosts.filter((h) => h.trim().length > 0).map(parseAllowEntry)
  }

  private listed(host: string, port: number): boolean {
    const h = normaliseHost(host)
    return this.entries.some((e) => e.host === h && (e.port === undefined || e.port === port))
  }

  /** Is the name (before resolving) on the allow-list for this port? */
  checkHost(host: string, port: number): HostVerdict {
    return this.listed(host, port) ? { allowed: true } : { allowed: false, reason: `host ${normaliseHost(host)} is not on the allow-list` }
  }

  /** May we connect to these resolved addresses (all of them; a name with one bad address is refused)? */
  checkAddresses(host: string, port: number, addresses: readonly string[]): HostVerdict {
    if (addresses.length === 0) return { allowed: false, reason: `host ${normaliseHost(host)} resolves to no address` }
    for (const a of addresses) {
      if (isForbiddenAddress(a) && !this.listed(unmap(a).address, port)) {
        return { allowed: false, reason: `host ${normaliseHost(host)} resolves to forbidden address ${a}` }
      }
    }
    return { allowed: true }
  }
}
