import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { chromium, errors, type Browser, type BrowserContext, type Page } from 'playwright-core'
import type { BrowserAssertion, BrowserPort, BrowserStep, BrowserVerifyResult } from '../../actors/canvas/ports.js'
import { HostPolicy } from './host-policy.js'
import { startEgressProxy, type Admit, type EgressProxy } from './egress-proxy.js'

// The port is the canvas domain's (actors/canvas/ports.ts); this verifier implements it.
export type { BrowserAssertion, BrowserPort, BrowserStep, BrowserVerifyResult }

export type BrowserErrorCode = 'browser_host_forbidden' | 'browser_step_failed' | 'browser_timeout' | 'browser_aborted' | 'browser_unavailable'

export class BrowserError extends Error {
  override name = 'BrowserError'
  constructor(
    readonly code: BrowserErrorCode,
    message: string,
    /** The refused host, for browser_host_forbidden. */
    readonly host?: string,
  ) {
    super(message)
  }
}

/** Resolves a host name to all its addresses (default: the system resolver, as dns.lookup). */
export type Resolve = (host: string) => Promise<string[]>

export interface BrowserVerifierOptions {
  /** Host names / IPs, optionally host:port (CANVAS_BROWSER_ALLOWED_HOSTS). Empty refuses everything. */
  allowedHosts: readonly string[]
  /** Chromium binary (CHROMIUM_PATH, default /usr/bin/chromium). */
  executablePath: string
  resolve?: Resolve
}

const systemResolve: Resolve = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address)

/**
 * Flags from STACK.md, plus off switches for the requests Chromium makes on its own (autofill
 * lookups, hints, pings): they would reach the egress proxy, be refused, and fail the run.
 */
const CHROMIUM_ARGS = [
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=AutofillServerCommunication,OptimizationHints,MediaRouter,Translate',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--no-pings',
  '--no-first-run',
  '--no-default-browser-check',
]

/** How long a textVisible assertion waits for the text to render (within the run's deadline). */
const ASSERT_WAIT_MS = 1000

export function createBrowserVerifier(opts: BrowserVerifierOptions): BrowserPort & { close(): Promise<void> } {
  const policy = new HostPolicy(opts.allowedHosts)
  const resolve = opts.resolve ?? systemResolve
  let started: Promise<{ browser: Browser; proxy: EgressProxy }> | undefined
  let closed = false

  /** One proxy and one browser per verifier, started on first use. */
  function launch(): Promise<{ browser: Browser; proxy: EgressProxy }> {
    started ??= (async () => {
      const proxy = await startEgressProxy(admit)
      try {
        const browser = await chromium.launch({
          executablePath: opts.executablePath,
          headless: true,
          // Chromium refuses to run sandboxed as root; elsewhere keep its sandbox.
          chromiumSandbox: process.getuid?.() !== 0,
          // All of Chromium's traffic goes to our egress proxy — loopback too (Chromium would
          // bypass a proxy for it by default). launch() gives the browser a fresh, empty
          // user-data directory of its own.
          proxy: { server: proxy.url, bypass: '<-loopback>' },
          args: CHROMIUM_ARGS,
        })
        return { browser, proxy }
      } catch (e) {
        await proxy.close()
        throw e
      }
    })().catch((e: unknown) => {
      started = undefined
      throw new BrowserError('browser_unavailable', `Chromium did not start (${opts.executablePath}): ${(e as Error).message.split('\n')[0]}`)
    })
    return started
  }

  /** Checks a URL against the allow-list and resolves it; returns the addresses to connect to. */
  const admit: Admit = async (raw) => {
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      return { ok: false, host: raw, reason: `not a URL: ${raw}` }
    }
    const host = url.hostname.replace(/^\[|\]$/g, '')
    if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      return { ok: false, host, reason: `scheme ${url.protocol} is not allowed` }
    }
    const secure = url.protocol === 'https:' || url.protocol === 'wss:'
    const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port)
    const named = policy.checkHost(host, port)
    if (!named.allowed) return { ok: false, host, reason: named.reason }
    let addresses: string[]
    try {
      addresses = isIP(host) !== 0 ? [host] : await resolve(host)
    } catch (e) {
      return { ok: false, host, reason: `host ${host} does not resolve (${(e as NodeJS.ErrnoException).code ?? 'error'})` }
    }
    const resolved = policy.checkAddresses(host, port, addresses)
    return resolved.allowed ? { ok: true, addresses } : { ok: false, host, reason: resolved.reason }
  }

  async function verify(p: Parameters<BrowserPort['verify']>[0]): Promise<BrowserVerifyResult> {
    if (closed) throw new BrowserError('browser_unavailable', 'the browser verifier is closed')
    const begun = Date.now()
    const remaining = (): number => Math.max(1, p.timeoutMs - (Date.now() - begun))
    const deadline = AbortSignal.any([AbortSignal.timeout(p.timeoutMs), ...(p.signal !== undefined ? [p.signal] : [])])
    const stopped = (): BrowserError =>
      p.signal?.aborted === true ? new BrowserError('browser_aborted', 'the verification was aborted') : new BrowserError('browser_timeout', `the verification took longer than ${p.timeoutMs} ms`)
    // Everything below races the deadline: a page that hangs Chromium cannot hang the run.
    const expired = new Promise<never>((_, reject) => {
      if (deadline.aborted) reject(stopped())
      else deadline.addEventListener('abort', () => reject(stopped()), { once: true })
    })
    expired.catch(() => {})
    const within = <T>(work: Promise<T>): Promise<T> => Promise.race([work, expired])
    // Playwright's own timeouts are set to what is left of the deadline, so its TimeoutError
    // is the deadline too: on a loaded machine its timer can fire before the signal's does.
    const deadlineReached = (e: unknown): boolean => deadline.aborted || e instanceof errors.TimeoutError

    const { browser, proxy } = await within(launch())
    let refused: { host: string; reason: string } | undefined
    const refuse = (r: { host: string; reason: string }): void => {
      refused ??= r
    }
    const forbidden = (): BrowserError | undefined =>
      refused === undefined ? undefined : new BrowserError('browser_host_forbidden', `refused ${refused.reason}`, refused.host)
    // The proxy knows this verification by the credentials its context presents.
    const session = proxy.openSession(refuse)
    let context: BrowserContext | undefined
    try {
      // A fresh context per verification: no cookies, storage or cache carried between runs.
      context = await within(
        browser.newContext({
          serviceWorkers: 'block',
          acceptDownloads: false,
          proxy: { server: proxy.url, bypass: '<-loopback>', username: session.username, password: session.password },
        }),
      )
      // Every request the page makes is checked here first, so a refusal names its host and
      // nothing is sent. The proxy checks again what Chromium sends without asking the route
      // (the next hop of a redirect, WebSockets) and is the only way out for all of it.
      await within(
        context.route('**/*', async (route) => {
          const verdict = await admit(route.request().url())
          if (!verdict.ok) {
            refuse(verdict)
            return route.abort('blockedbyclient').catch(() => {})
          }
          return route.continue().catch(() => {})
        }),
      )
      const page = await within(context.newPage())
      let status: number | null = null
      page.on('response', (res) => {
        if (res.request().isNavigationRequest() && res.frame() === page.mainFrame()) status = res.status()
      })

      for (const [i, step] of p.steps.entries()) {
        try {
          await within(runStep(page, step, remaining()))
        } catch (e) {
          if (e instanceof BrowserError) throw forbidden() ?? e
          throw forbidden() ?? (deadlineReached(e) ? stopped() : new BrowserError('browser_step_failed', `step ${i + 1} (${step.action}) failed: ${(e as Error).message.split('\n')[0]}`))
        }
        const f = forbidden()
        if (f !== undefined) throw f
      }

      const results: BrowserVerifyResult['assertions'] = []
      for (const assertion of p.assertions) results.push({ assertion, ...(await within(check(page, assertion, status, remaining()))) })
      const screenshot = new Uint8Array(await within(page.screenshot({ type: 'png', timeout: remaining() })))
      // A subresource refused while the assertions ran still fails the verification.
      const f = forbidden()
      if (f !== undefined) throw f
      return { passed: results.every((r) => r.passed), assertions: results, finalUrl: page.url(), status, screenshot }
    } catch (e) {
      if (e instanceof BrowserError) throw e
      throw deadlineReached(e) ? stopped() : new BrowserError('browser_step_failed', (e as Error).message.split('\n')[0]!)
    } finally {
      session.close()
      await context?.close().catch(() => {})
    }
  }

  return {
    verify,
    async close() {
      closed = true
      const s = started
      started = undefined
      const running = await s?.catch(() => undefined)
      if (running !== undefined) {
        await running.browser.close()
        await running.proxy.close()
      }
    },
  }
}

async function runStep(page: Page, step: BrowserStep, timeout: number): Promise<void> {
  switch (step.action) {
    case 'goto':
      await page.goto(step.url, { timeout, waitUntil: 'load' })
      return
    case 'click':
      await page.locator(step.selector).first().click({ timeout })
      return
    case 'fill':
      await page.locator(step.selector).first().fill(step.value, { timeout })
      return
    case 'waitFor':
      await page.locator(step.selector).first().waitFor({ state: step.state ?? 'visible', timeout })
      return
  }
}

async function check(page: Page, a: BrowserAssertion, status: number | null, remaining: number): Promise<{ passed: boolean; detail: string }> {
  switch (a.type) {
    case 'textVisible': {
      const visible = await page
        .getByText(a.text)
        .first()
        .waitFor({ state: 'visible', timeout: Math.min(ASSERT_WAIT_MS, remaining) })
        .then(() => true, () => false)
      return { passed: visible, detail: visible ? `"${a.text}" is visible` : `"${a.text}" is not visible` }
    }
    case 'selectorCount': {
      const n = await page.locator(a.selector).count()
      return { passed: n === a.count, detail: `${n} element(s) match ${a.selector}, expected ${a.count}` }
    }
    case 'url': {
      const url = page.url()
      const okEquals = a.equals === undefined || url === a.equals
      const okContains = a.contains === undefined || url.includes(a.contains)
      const want = [a.equals !== undefined ? `equal ${a.equals}` : '', a.contains !== undefined ? `contain ${a.contains}` : ''].filter((s) => s.length > 0).join(' and ')
      return { passed: okEquals && okContains, detail: `url is ${url}; expected to ${want || 'exist'}` }
    }
    case 'httpStatus':
      return { passed: status === a.status, detail: `last navigation answered ${status ?? 'nothing'}, expected ${a.status}` }
  }
}
