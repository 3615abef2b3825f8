import { ZodError } from 'zod'
import { GatewayError, UnavailableError } from '../shared/errors.js'
import { CANVAS_ERROR_STATUS } from '../actors/canvas/errors.js'
import { REFLECT_ERROR_STATUS } from '../actors/reflect/errors.js'
import { VAULT_ERROR_STATUS } from '../vault/errors.js'

/**
 * The chat feature's codes (actors/session, the Anthropic and MCP connectors). Most reach
 * clients as SSE `error` events; a WebSocket `chat` frame maps them here too. Several
 * belong to the connectors, which answer the domain's ports, so they are listed here.
 */
export const CHAT_ERROR_STATUS = {
  approval_not_found: 404,
  model_not_supported: 400,
  turn_in_progress: 409,
  turn_not_running: 409,
  provider_auth_failed: 400,
  provider_error: 502,
  provider_overloaded: 503,
  provider_unavailable: 503,
  model_call_failed: 502,
  mcp_auth_failed: 502,
  mcp_unavailable: 503,
  x402_unsupported: 400,
  client_gone: 400,
} as const

/**
 * HTTP status for each stable error code that is not implied by its class: declared once,
 * at load, so an error maps the same whether or not a route factory has run (WebSocket
 * frames, background effects). A domain that owns its codes declares them beside its error
 * classes (vault/errors.ts) and is spread in here.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  ...VAULT_ERROR_STATUS,
  ...CHAT_ERROR_STATUS,
  ...CANVAS_ERROR_STATUS,
  ...REFLECT_ERROR_STATUS,
  invalid_request: 400,
  invalid_json: 400,
  json_too_complex: 400,
  rate_limited: 429,
  auth_required: 401,
  token_invalid: 401,
  token_expired: 401,
  token_revoked: 401,
  nonce_unknown: 401,
  nonce_expired: 401,
  nonce_reused: 401,
  signature_invalid: 401,
  insufficient_balance: 402,
  budget_exceeded: 402,
  forbidden: 403,
  not_found: 404,
  route_not_found: 404,
  agent_not_found: 404,
  session_not_found: 404,
  reservation_unknown: 404,
  withdrawal_unknown: 404,
  settlement_unknown: 404,
  method_not_allowed: 405,
  invalid_ledger_command: 400,
  concurrency_conflict: 409,
  reservation_closed: 409,
  idempotency_key_reused: 409,
  no_deposit_address: 409,
  wallet_not_registered: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  withdrawal_limit: 422,
  withdrawals_unavailable: 503,
  actor_busy: 503,
  store_unavailable: 503,
  attestation_unavailable: 503,
  shutting_down: 503,
}

const STATUS_BY_CLASS: Record<string, number> = {
  ValidationError: 400,
  AuthError: 401,
  ForbiddenError: 403,
  NotFoundError: 404,
  UnavailableError: 503,
  StoreUnavailableError: 503,
  DomainError: 409,
}

/** The declared status of an error code, undefined when its class decides. */
export function statusOfCode(code: string): number | undefined {
  return Object.hasOwn(STATUS_BY_CODE, code) ? STATUS_BY_CODE[code] : undefined
}

export interface HttpErrorResponse {
  status: number
  body: { error: string; message: string } & Record<string, unknown>
  /** True when the error is the server's fault (logged with its stack). */
  internal: boolean
}

/** The one place that turns any thrown value into an HTTP status and JSON body. */
export function toHttpError(error: unknown): HttpErrorResponse {
  if (error instanceof ZodError) {
    return {
      status: 400,
      body: {
        error: 'invalid_request',
        message: error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '),
        issues: error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
      },
      internal: false,
    }
  }
  if (error instanceof GatewayError) {
    const status = statusOfCode(error.code) ?? STATUS_BY_CLASS[error.name] ?? 400
    return {
      status,
      body: { ...error.details, error: error.code, message: error.shortMessage },
      // A dependency being unavailable (store, vault, no TEE on this host) is expected, not a bug.
      internal: status >= 500 && !(error instanceof UnavailableError),
    }
  }
  return { status: 500, body: { error: 'internal_error', message: 'Internal server error' }, internal: true }
}
