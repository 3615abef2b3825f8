/**
 * One error base for the whole gateway. `code` is the stable string clients see as
 * `error`; transport/http-errors.ts is the only place that maps codes to HTTP statuses.
 * Messages and details must never carry secrets (keys, signatures, tokens).
 */
export class GatewayError extends Error {
  override name = 'GatewayError'
  readonly code: string
  readonly shortMessage: string
  readonly details: Record<string, unknown>

  constructor(
    code: string,
    shortMessage: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(shortMessage, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.shortMessage = shortMessage
    this.details = options.details ?? {}
  }
}

/** Input that failed validation (400). */
export class ValidationError extends GatewayError {
  override name = 'ValidationError'
  constructor(message: string, details: Record<string, unknown> = {}, code = 'invalid_request') {
    super(code, message, { details })
  }
}

/** Missing, expired, revoked or otherwise unacceptable credentials (401). */
export class AuthError extends GatewayError {
  override name = 'AuthError'
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { details })
  }
}

/** Authenticated but not allowed (403). */
export class ForbiddenError extends GatewayError {
  override name = 'ForbiddenError'
  constructor(message: string, code = 'forbidden') {
    super(code, message)
  }
}

/** Something named by the request does not exist (404). */
export class NotFoundError extends GatewayError {
  override name = 'NotFoundError'
  constructor(message: string, code = 'not_found') {
    super(code, message)
  }
}

/** A dependency (store, vault folder, chain) is unavailable; nothing was changed (503). */
export class UnavailableError extends GatewayError {
  override name = 'UnavailableError'
  constructor(code: string, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(code, message, options)
  }
}

/**
 * A command that the aggregate's current state refuses (domain rule). The code decides
 * the HTTP status through the transport's table (e.g. budget_exceeded → 402).
 */
export class DomainError extends GatewayError {
  override name = 'DomainError'
}

/**
 * The gateway cannot start with this configuration (a variable is invalid or missing).
 * Not a GatewayError: it never reaches a client, main.ts prints it and exits.
 */
export class ConfigError extends Error {
  override name = 'ConfigError'
}
