import { GatewayError } from '../../shared/errors.js'

/**
 * The words that make the rickydata client resend a chat (API §11.2). A permanent error's
 * message must not contain them, or a bad key would be retried (and billed) three times.
 */
export const RETRY_WORDS = /timed out|timeout|terminated|abort|network|socket|fetch failed/gi

/** Removes the §11.2 retry words from text meant for a permanent error. */
export function withoutRetryWords(text: string): string {
  return text.replace(RETRY_WORDS, '…').slice(0, 300)
}

/** The model provider rejected the BYOK key (permanent: the user must replace it). */
export class ProviderAuthError extends GatewayError {
  override name = 'ProviderAuthError'
  constructor(provider: string, status: number) {
    super('provider_auth_failed', `${provider} rejected the API key (HTTP ${status}). Store a valid key with PUT /wallet/apikey.`, {
      details: { provider },
    })
  }
}

/** The provider stayed overloaded or rate-limited after our bounded retries (transient). */
export class ProviderOverloadedError extends GatewayError {
  override name = 'ProviderOverloadedError'
  constructor(provider: string, attempts: number, reason: string, cause?: unknown) {
    super('provider_overloaded', `${provider} is ${reason} after ${attempts} attempts; try again shortly.`, {
      details: { provider, attempts },
      cause,
    })
  }
}

/** The provider refused the request itself (permanent: bad model, bad input). */
export class ProviderRequestError extends GatewayError {
  override name = 'ProviderRequestError'
  constructor(provider: string, status: number | undefined, providerMessage: string) {
    super('provider_error', `${provider} refused the request${status === undefined ? '' : ` (HTTP ${status})`}: ${withoutRetryWords(providerMessage)}`, {
      details: { provider, ...(status === undefined ? {} : { status }) },
    })
  }
}

/** The provider could not be reached (transient; the client may resend). */
export class ProviderUnavailableError extends GatewayError {
  override name = 'ProviderUnavailableError'
  constructor(provider: string, cause?: unknown) {
    super('provider_unavailable', `Could not reach ${provider} (network error); try again.`, { details: { provider }, cause })
  }
}
