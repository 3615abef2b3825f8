import { english } from 'viem/accounts'

/** Why a skill was refused: a rule id and the (redacted) text that matched. */
export interface SafetyFinding {
  rule: string
  /** Never the secret itself: the first characters and a length. */
  match: string
}

interface Rule {
  rule: string
  pattern: RegExp
  /** Secrets are redacted in the finding; commands and phrases are shown. */
  secret?: boolean
}

const RULES: readonly Rule[] = [
  { rule: 'secret:anthropic_api_key', pattern: /sk-ant-[A-Za-z0-9_-]{10,}/, secret: true },
  { rule: 'secret:api_key', pattern: /\b(?:sk|rk|pk)-[A-Za-z0-9_-]{20,}/, secret: true },
  { rule: 'secret:aws_access_key', pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/, secret: true },
  { rule: 'secret:github_token', pattern: /\bgh[pousr]_[A-Za-z0-9]{30,}\b/, secret: true },
  { rule: 'secret:slack_token', pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/, secret: true },
  { rule: 'secret:assignment', pattern: /\b(?:api[_-]?key|secret|token|password|passwd)\s*[:=]\s*["']?[A-Za-z0-9_\-+/=.]{12,}/i, secret: true },
  { rule: 'secret:private_key_pem', pattern: /-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----/, secret: true },
  { rule: 'secret:hex_private_key', pattern: /\b0x[0-9a-fA-F]{64}\b/, secret: true },
  { rule: 'secret:jwt', pattern: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/, secret: true },
  { rule: 'prompt_injection', pattern: /\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|system)\s+(?:instructions|prompts?|rules|messages)/i },
  { rule: 'prompt_injection', pattern: /\b(?:reveal|print|show|leak)\s+(?:your|the)\s+(?:system\s+prompt|instructions|hidden\s+prompt)/i },
  { rule: 'prompt_injection', pattern: /\b(?:do not|don't|never)\s+(?:tell|inform|show)\s+the\s+user\b/i },
  { rule: 'prompt_injection', pattern: /\byou\s+are\s+now\s+(?:in\s+)?(?:developer|dan|jailbreak|unrestricted)/i },
  { rule: 'destructive_command', pattern: /\brm\s+(?:-[a-zA-Z]*[rf][a-zA-Z]*\s+)+(?:--no-preserve-root\s+)?(?:\/|~|\$HOME|\*|\/\*)(?=\s|$|["'`;)])/ },
  { rule: 'destructive_command', pattern: /\bmkfs(?:\.\w+)?\s+\/dev\//i },
  { rule: 'destructive_command', pattern: /\bdd\s+[^\n]*\bof=\/dev\/(?:sd|nvme|hd|disk|xvd)/i },
  { rule: 'destructive_command', pattern: /:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:/ },
  { rule: 'destructive_command', pattern: /\bchmod\s+-R\s+0?777\s+\/(?=\s|$)/ },
  { rule: 'destructive_command', pattern: /\bgit\s+push\s+(?:[^\n]*\s)?(?:--force|-f)\b[^\n]*\b(?:main|master)\b/ },
  { rule: 'destructive_command', pattern: /\b(?:DROP\s+(?:DATABASE|TABLE)|TRUNCATE\s+TABLE)\b/i },
  { rule: 'remote_code_execution', pattern: /\b(?:curl|wget)\b[^\n|]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b/ },
  { rule: 'persistence', pattern: /\bcrontab\s+(?:-[a-z]\s+)*-?\s*(?:-e|-l|[<|])|\|\s*crontab\b|\/etc\/cron/ },
  { rule: 'persistence', pattern: />>?\s*~?\/?(?:[\w.-]*\/)*\.(?:bashrc|zshrc|profile|bash_profile|zprofile)\b/ },
  { rule: 'persistence', pattern: /\bauthorized_keys\b/ },
  { rule: 'persistence', pattern: /\bsystemctl\s+(?:--user\s+)?enable\b|\blaunchctl\s+load\b|\/etc\/rc\.local\b/ },
]

const BIP39 = new Set(english)
/** The shortest BIP-39 phrase (12 words). */
const MNEMONIC_WORDS = 12

/**
 * Scans a skill for what must never reach a system prompt: credentials (API keys, private
 * keys, mnemonics, JWTs, `.env` dumps), prompt-injection phrasing, destructive shell
 * commands and persistence tricks. Empty means clean.
 */
export function scanSkill(content: string): SafetyFinding[] {
  const findings: SafetyFinding[] = []
  for (const r of RULES) {
    const m = r.pattern.exec(content)
    if (m !== null) findings.push({ rule: r.rule, match: r.secret === true ? redact(m[0]) : m[0].slice(0, 80) })
  }
  if (hasMnemonic(content)) findings.push({ rule: 'secret:mnemonic', match: `${MNEMONIC_WORDS}+ consecutive BIP-39 words` })
  const envLines = content.split('\n').filter((l) => /^\s*(?:export\s+)?[A-Z][A-Z0-9_]{2,}=\S+/.test(l))
  if (envLines.length >= 3) findings.push({ rule: 'secret:env_dump', match: `${envLines.length} KEY=value lines` })
  return findings
}

function hasMnemonic(content: string): boolean {
  let run = 0
  for (const word of content.toLowerCase().split(/[^a-z]+/)) {
    if (word.length === 0) continue
    run = BIP39.has(word) ? run + 1 : 0
    if (run >= MNEMONIC_WORDS) return true
  }
  return false
}

function redact(s: string): string {
  return `${s.slice(0, 6)}… (${s.length} chars)`
}
