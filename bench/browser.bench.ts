/**
 * browser-verify: what the allow-list costs. Baseline: bare playwright-core on the same
 * Chromium with the same flags — a fresh context, goto, the same two checks and a PNG
 * screenshot, no route and no proxy. Compared: createBrowserVerifier doing the same
 * verification (every request routed and checked, and relayed by the egress proxy to the
 * checked address). The page loads 10 images, so subresources are counted too.
 * Alternating rounds, so both see the same machine load.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium } from 'playwright-core'
import { createBrowserVerifier } from '../connectors/browser/browser-verifier.js'
import { fmt, table } from './lib.js'

const ROUNDS = 8
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex')
const page = `<!doctype html><h1>Hello canvas</h1><ul>${'<li class="item">x</li>'.repeat(3)}</ul>${Array.from({ length: 10 }, (_, i) => `<img src="/i${i}.png">`).join('')}`
const site = createServer((req, res) => {
  if (req.url?.endsWith('.png') === true) return res.writeHead(200, { 'content-type': 'image/png' }).end(png)
  res.writeHead(200, { 'content-type': 'text/html' }).end(page)
})
await new Promise<void>((r) => site.listen(0, '127.0.0.1', r))
const url = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`

const bare = await chromium.launch({ executablePath, headless: true, chromiumSandbox: process.getuid?.() !== 0, args: ['--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
async function baseline(): Promise<void> {
  const context = await bare.newContext({ serviceWorkers: 'block' })
  const p = await context.newPage()
  const res = await p.goto(url, { waitUntil: 'load' })
  if (res?.status() !== 200 || !(await p.getByText('Hello canvas').first().isVisible()) || (await p.locator('li.item').count()) !== 3) throw new Error('baseline check failed')
  await p.screenshot({ type: 'png' })
  await context.close()
}

const verifier = createBrowserVerifier({ allowedHosts: [new URL(url).host], executablePath })
async function checked(): Promise<void> {
  const r = await verifier.verify({
    steps: [{ action: 'goto', url }],
    assertions: [{ type: 'textVisible', text: 'Hello canvas' }, { type: 'selectorCount', selector: 'li.item', count: 3 }, { type: 'httpStatus', status: 200 }],
    timeoutMs: 30_000,
  })
  if (!r.passed) throw new Error('verification failed')
}

// Warm both browsers (launch, first page) before timing.
await baseline()
await checked()
const ms = { baseline: [] as number[], checked: [] as number[] }
for (let i = 0; i < ROUNDS; i++) {
  for (const [name, fn] of [['baseline', baseline], ['checked', checked]] as const) {
    const t0 = performance.now()
    await fn()
    ms[name].push(performance.now() - t0)
  }
}
await verifier.close()
await bare.close()
site.close()

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const b = median(ms.baseline)
const c = median(ms.checked)
console.log(
  table(
    ['variant (page + 10 images, 3 checks, screenshot)', 'median ms per verification', 'vs baseline'],
    [
      ['bare playwright-core, fresh context (baseline)', fmt(b, 1), '1.00×'],
      ['createBrowserVerifier (route + egress proxy checks)', fmt(c, 1), `${fmt(c / b, 2)}×`],
    ],
  ),
)
