import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export interface LoadResult {
  requestsPerSec: number
  latencyP50Ms?: number | undefined
  latencyP99Ms?: number | undefined
  tool: 'wrk' | 'autocannon'
}

function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' })
    return true
  } catch (e) {
    // wrk --version exits 1 but prints its banner: being found is what counts.
    return (e as NodeJS.ErrnoException).code !== 'ENOENT'
  }
}

/**
 * Drives `url` from a separate process: wrk from Debian when installed (it does not
 * saturate itself on 2 cores), else autocannon from node_modules.
 */
export async function load(url: string, options: { connections?: number; seconds?: number; headers?: Record<string, string> } = {}): Promise<LoadResult> {
  const connections = options.connections ?? 50
  const seconds = options.seconds ?? 5
  const headers = Object.entries(options.headers ?? {})
  if (hasWrk()) {
    const args = ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '--latency']
    for (const [k, v] of headers) args.push('-H', `${k}: ${v}`)
    const out = await run('wrk', [...args, url])
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
    const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out)
    if (rps?.[1] === undefined) throw new Error(`wrk output not understood:\n${out}`)
    if (non2xx !== null) throw new Error(`wrk saw ${non2xx[1]} non-2xx responses for ${url}`)
    return { requestsPerSec: Number(rps[1]), latencyP50Ms: parseLatency(out, '50%'), latencyP99Ms: parseLatency(out, '99%'), tool: 'wrk' }
  }
  const bin = join(process.cwd(), 'node_modules', '.bin', 'autocannon')
  if (!existsSync(bin)) throw new Error('neither wrk nor autocannon is installed')
  const args = ['-c', String(connections), '-d', String(seconds), '-j']
  for (const [k, v] of headers) args.push('-H', `${k}=${v}`)
  const json = JSON.parse(await run(bin, [...args, url])) as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number }
  if (json.non2xx > 0) throw new Error(`autocannon saw ${json.non2xx} non-2xx responses for ${url}`)
  return { requestsPerSec: json.requests.average, latencyP50Ms: json.latency.p50, latencyP99Ms: json.latency.p99, tool: 'autocannon' }
}

function parseLatency(out: string, label: string): number | undefined {
  const m = new RegExp(`${label.replace('%', '%')}\\s+([\\d.]+)(us|ms|s)`).exec(out)
  if (m?.[1] === undefined) return undefined
  const v = Number(m[1])
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`))))
  })
}

/** Prints a markdown table. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n')
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
