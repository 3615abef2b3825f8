import { pino, type DestinationStream, type Logger } from 'pino'
import { VAULT_REDACT_PATHS } from '../vault/providers.js'

/**
 * Paths pino blanks in every log line. Route handlers never log bodies wholesale, but a
 * header or error object can carry a token, a key or a signature: these catch them.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'token',
  '*.token',
  'signature',
  '*.signature',
  'apiKey',
  '*.apiKey',
  'anthropicApiKey',
  '*.anthropicApiKey',
  'privateKey',
  '*.privateKey',
  'secret',
  '*.secret',
  'secrets',
  '*.secrets',
  'mnemonic',
  '*.mnemonic',
  'body',
  '*.body',
  ...VAULT_REDACT_PATHS,
]

/** The gateway's logger; `destination` lets tests capture lines. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'agent-gateway' },
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}
