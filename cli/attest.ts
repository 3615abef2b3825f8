import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { splitPem } from '../attest/amd-certs.js'
import { computeBuildInfo, PROJECT_ROOT } from '../attest/build-info.js'
import { parseSnpReport } from '../attest/snp-report.js'
import { evaluateGatewayTrust } from '../attest/trust.js'
import { verifySnpReport, type SnpPolicy, type TrustRoot } from '../attest/verify-snp.js'

const USAGE = `usage:
  npm run attest -- verify <gateway-url> [--allow <measurement-hex>]... [--allow-debug] [--now <iso>] [--json]
                                         [--root <Milan|Genoa|Turin>:<ark-then-ask.pem>]...  (default: AMD's pinned roots)
      exit 0 trusted, 2 degraded_hash_mismatch, 3 degraded_no_attestation
  npm run attest -- verify-report <report.bin> --vcek <vcek.der|pem> [--chain <ask_ark.pem>] [--allow-debug] [--now <iso>]
  npm run attest -- parse <report.bin>
  npm run attest -- build-info`

/** `Genoa:/path/ark_ask.pem` → a trust root (the ARK is pinned; the second cert is the ASK). */
async function readRoot(spec: string): Promise<TrustRoot> {
  const i = spec.indexOf(':')
  const product = spec.slice(0, i)
  if (product !== 'Milan' && product !== 'Genoa' && product !== 'Turin') fail(`--root ${spec}: product must be Milan, Genoa or Turin`)
  const [ark, ask] = splitPem(await readFile(spec.slice(i + 1), 'utf8'))
  if (ark === undefined) fail(`--root ${spec}: no certificate in the file`)
  return ask === undefined ? { product, ark } : { product, ark, ask }
}

const EXIT = { trusted: 0, degraded_hash_mismatch: 2, degraded_no_attestation: 3 } as const

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`)
  process.exit(1)
}

/** `npm run attest -- …`: judge a gateway, check a report file, or print build info. */
async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      allow: { type: 'string', multiple: true },
      'allow-debug': { type: 'boolean' },
      now: { type: 'string' },
      json: { type: 'boolean' },
      vcek: { type: 'string' },
      chain: { type: 'string' },
      root: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [command, target] = positionals
  if (values.help === true || command === undefined) fail('')
  const now = values.now === undefined ? Date.now() : Date.parse(values.now)
  if (!Number.isFinite(now)) fail(`--now ${values.now} is not a date`)
  const policy: SnpPolicy = values['allow-debug'] === true ? { allowDebug: true } : {}
  const envAllow = (process.env.MEASUREMENT_ALLOWLIST ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  const allowList = [...(values.allow ?? []).flatMap((a) => a.split(',')), ...envAllow]
  const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value, null, 2) + '\n')

  switch (command) {
    case 'verify': {
      if (target === undefined) fail('verify needs a gateway URL')
      const roots = values.root === undefined ? undefined : await Promise.all(values.root.map(readRoot))
      const result = await evaluateGatewayTrust({ gatewayUrl: target, now, allowList, policy, ...(roots === undefined ? {} : { roots }) })
      if (values.json === true) print(result)
      else {
        process.stdout.write(`${result.state}  ${target}\n`)
        for (const r of result.reasons) process.stdout.write(`  reason: ${r}\n`)
        for (const w of result.warnings) process.stdout.write(`  warning: ${w}\n`)
        if (result.measurement !== undefined) process.stdout.write(`  measurement: ${result.measurement}\n`)
      }
      return EXIT[result.state]
    }
    case 'verify-report': {
      if (target === undefined || values.vcek === undefined) fail('verify-report needs a report file and --vcek')
      const certificates: { vcek: Uint8Array; ask?: Uint8Array; ark?: Uint8Array } = { vcek: await readFile(values.vcek) }
      if (values.chain !== undefined) {
        const [ask, ark] = splitPem(await readFile(values.chain, 'utf8'))
        if (ask !== undefined) certificates.ask = ask
        if (ark !== undefined) certificates.ark = ark
      }
      const r = verifySnpReport({ report: await readFile(target), certificates, now, policy, measurementAllowList: allowList })
      const { report: _report, ...summary } = r
      print(summary)
      return r.ok ? 0 : 3
    }
    case 'parse': {
      if (target === undefined) fail('parse needs a report file')
      print(parseSnpReport(await readFile(target)))
      return 0
    }
    case 'build-info':
      print(computeBuildInfo(PROJECT_ROOT))
      return 0
    default:
      fail(`unknown command ${command}`)
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`attest: ${(err as Error).message}\n`)
    process.exit(1)
  },
)
