/**
 * The BYOK providers of API.md §2/§6 and how each appears on the wire: route, body key,
 * the secret name chat errors name, and the shape a key must have.
 */
export const PROVIDERS = ['anthropic', 'minimax', 'openrouter', 'zai', 'deepseek', 'gemini', 'kimi', 'openai', 'opencode'] as const

export type Provider = (typeof PROVIDERS)[number]

export interface ProviderInfo {
  id: Provider
  /** Human name used in messages and `missingSecrets[].serverName`. */
  label: string
  /** Base path: GET `${path}/status`, PUT/DELETE `${path}`. */
  path: string
  /** JSON body key of the PUT. */
  bodyKey: string
  /** Secret name a chat error reports in `missingSecrets[].secretKeys`. */
  secretKey: string
  /** Required prefix of the key (the client enforces "sk-ant-" for Anthropic), if any. */
  prefix?: string
}

const LABELS: Record<Provider, string> = {
  anthropic: 'Anthropic',
  minimax: 'MiniMax',
  openrouter: 'OpenRouter',
  zai: 'Z.ai',
  deepseek: 'DeepSeek',
  gemini: 'Gemini',
  kimi: 'Kimi',
  openai: 'OpenAI',
  opencode: 'OpenCode',
}

/** Table of every provider, keyed by id. */
export const PROVIDER_INFO: Readonly<Record<Provider, ProviderInfo>> = Object.freeze(
  Object.fromEntries(
    PROVIDERS.map((id): [Provider, ProviderInfo] => [
      id,
      {
        id,
        label: LABELS[id],
        path: id === 'anthropic' ? '/wallet/apikey' : `/wallet/${id}-apikey`,
        bodyKey: `${id}ApiKey`,
        secretKey: `${id.toUpperCase()}_API_KEY`,
        ...(id === 'anthropic' ? { prefix: 'sk-ant-' } : {}),
      },
    ]),
  ) as Record<Provider, ProviderInfo>,
)

/** True for one of the provider ids. */
export function isProvider(value: string): value is Provider {
  return (PROVIDERS as readonly string[]).includes(value)
}

/**
 * Log redaction paths for vault request bodies (every provider's PUT body key, at the root
 * and one level down): merge into the gateway logger's list (transport/logger.ts).
 */
export const VAULT_REDACT_PATHS: readonly string[] = Object.freeze(
  PROVIDERS.flatMap((p) => [PROVIDER_INFO[p].bodyKey, `*.${PROVIDER_INFO[p].bodyKey}`]),
)
