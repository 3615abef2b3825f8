import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { EthHttpSigner } from '@slicekit/erc8128'
import { GatewayError, UnavailableError } from '../../shared/errors.js'
import type { CallToolParameters, McpExecutor, McpToolInfo, McpToolResult } from '../../actors/billing/tool-port.js'
import { signDelegatedToken, type DelegationKey } from './delegated-token.js'
import { operatorFetch } from './operator-fetch.js'

// The port is the domains' (actors/billing/tool-port.ts); this connector implements it.
export type { CallToolParameters, McpExecutor, McpToolInfo, McpToolResult }

/** Pays an x402 requirement for one call (connectors/mcp/x402.ts); undefined = refuse paid tools. */
export type X402Payer = (p: {
  wallet: string
  agentId: string
  sessionId: string
  toolName: string
  requirement: unknown
}) => Promise<{ meta: Record<string, unknown>; amount: bigint; payTo: string; network: string; reservationId: string; settle(ok: boolean, txHash?: string, outcomeUnknown?: boolean): Promise<void> } | undefined>


export interface McpExecutorOptions {
  /** MCP_GATEWAY_URL (the Streamable HTTP endpoint). */
  url: string
  /** JWT audience; default the URL's origin. */
  audience?: string
  /** JWT issuer (the gateway's public URL; a function when known only after listen). */
  issuer: string | (() => string)
  key: DelegationKey
  /** ERC-8128 signer for the operator path; without it the catalogue is fetched unsigned. */
  operator?: EthHttpSigner
  now?: () => Date
  catalogueTtlMs?: number
  x402?: X402Payer
  fetch?: typeof fetch
}

const X402_META = 'x402/payment'

/** The x402 payment-required object, when a tool result carries one (structuredContent or JSON text). */
export function findPaymentRequired(result: { structuredContent?: unknown; content?: unknown; _meta?: unknown }): unknown {
  const looks = (v: unknown): v is { x402Version: number; accepts: unknown[] } =>
    typeof v === 'object' && v !== null && 'x402Version' in v && Array.isArray((v as { accepts?: unknown }).accepts)
  if (looks(result.structuredContent)) return result.structuredContent
  if (Array.isArray(result.content)) {
    for (const c of result.content as { type?: string; text?: string }[]) {
      if (c.type !== 'text' || c.text === undefined || !c.text.includes('x402Version')) continue
      try {
        const parsed: unknown = JSON.parse(c.text)
        if (looks(parsed)) return parsed
      } catch {
        /* not JSON: an ordinary text result */
      }
    }
  }
  return undefined
}

function flatten(content: unknown): string {
  if (!Array.isArray(content)) return ''
  return content.map((c: { type?: string; text?: string }) => (c.type === 'text' && typeof c.text === 'string' ? c.text : JSON.stringify(c))).join('\n')
}

/**
 * The MCP tool executor: the official SDK client over Streamable HTTP. Each delegated call
 * opens a client whose every request carries a fresh ES256 JWT for that wallet, agent and
 * session, so a token never outlives its call and never crosses wallets.
 */
export function createMcpExecutor(o: McpExecutorOptions): McpExecutor {
  const url = new URL(o.url)
  const audience = o.audience ?? url.origin
  const now = o.now ?? (() => new Date())
  const baseFetch = o.fetch ?? fetch
  const ttl = o.catalogueTtlMs ?? 60_000
  let catalogue: { at: number; tools: McpToolInfo[] } | undefined

  async function connect(fetchImpl: typeof fetch, headers: Record<string, string> = {}): Promise<Client> {
    const client = new Client({ name: 'agent-gateway', version: '0.1.0' })
    const transport = new StreamableHTTPClientTransport(url, { fetch: fetchImpl, requestInit: { headers } })
    try {
      await client.connect(transport)
    } catch (error) {
      throw mapError(error)
    }
    return client
  }

  async function listTools(): Promise<McpToolInfo[]> {
    if (catalogue !== undefined && Date.now() - catalogue.at < ttl) return catalogue.tools
    const client = await connect(o.operator === undefined ? baseFetch : operatorFetch(o.operator, baseFetch))
    try {
      const tools: McpToolInfo[] = []
      let cursor: string | undefined
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor })
        for (const t of page.tools) tools.push({ name: t.name, ...(t.description === undefined ? {} : { description: t.description }), inputSchema: t.inputSchema as McpToolInfo['inputSchema'] })
        cursor = page.nextCursor
      } while (cursor !== undefined)
      catalogue = { at: Date.now(), tools }
      return tools
    } catch (error) {
      throw mapError(error)
    } finally {
      await client.close().catch(() => undefined)
    }
  }

  async function callTool(p: CallToolParameters): Promise<McpToolResult> {
    const issuer = typeof o.issuer === 'function' ? o.issuer() : o.issuer
    const token = await signDelegatedToken({ key: o.key, issuer, audience, claims: p.claims, now: now() })
    const client = await connect(baseFetch, { authorization: `Bearer ${token}` })
    try {
      const opts = p.signal === undefined ? {} : { signal: p.signal }
      let result = (await client.callTool({ name: p.name, arguments: p.args }, undefined, opts)) as { isError?: boolean; content?: unknown; structuredContent?: unknown; _meta?: Record<string, unknown> }
      const requirement = result.isError === true ? findPaymentRequired(result) : undefined
      if (requirement === undefined) return { isError: result.isError === true, text: flatten(result.content) }
      if (o.x402 === undefined) return { isError: true, text: 'This tool requires an x402 payment, and payments are not enabled on this gateway.' }
      let payment: Awaited<ReturnType<X402Payer>>
      try {
        payment = await o.x402({ wallet: p.claims.wallet, agentId: p.claims.agent, sessionId: p.claims.session, toolName: p.name, requirement })
      } catch (error) {
        // Refused before paying (budget, balance, unsupported asset): the model hears why.
        return { isError: true, text: `The tool's payment was refused: ${error instanceof GatewayError ? error.shortMessage : 'payment failed'}` }
      }
      if (payment === undefined) return { isError: true, text: 'This tool asks for a payment above the per-call cap; it was not paid.' }
      try {
        result = (await client.callTool({ name: p.name, arguments: p.args, _meta: { [X402_META]: payment.meta } }, undefined, opts)) as typeof result
      } catch (error) {
        // The paid retry failed in transit: the authorisation may or may not have been used.
        await payment.settle(false, undefined, true)
        throw error
      }
      const response = result._meta?.['x402/payment-response'] as { success?: boolean; transaction?: string } | undefined
      const ok = result.isError !== true && response?.success === true
      await payment.settle(ok, response?.transaction)
      const out: McpToolResult = { isError: result.isError === true, text: flatten(result.content) }
      if (ok) out.paid = { amount: payment.amount, payTo: payment.payTo, network: payment.network, reservationId: payment.reservationId, ...(response?.transaction === undefined ? {} : { txHash: response.transaction }) }
      return out
    } catch (error) {
      throw mapError(error)
    } finally {
      await client.close().catch(() => undefined)
    }
  }

  async function health(): Promise<boolean> {
    try {
      const client = await connect(o.operator === undefined ? baseFetch : operatorFetch(o.operator, baseFetch))
      try {
        await client.ping()
        return true
      } finally {
        await client.close().catch(() => undefined)
      }
    } catch {
      return false
    }
  }

  return { listTools, callTool, health }
}

function mapError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error
  const message = error instanceof Error ? error.message : String(error)
  if (/\b401\b|unauthori[sz]ed|invalid_token/i.test(message)) {
    return new GatewayError('mcp_auth_failed', 'The MCP gateway refused our credentials', { cause: error })
  }
  // Transient: the §11.2 words are fine here, a resend may well succeed.
  return new UnavailableError('mcp_unavailable', 'The MCP gateway could not be reached (network error)', { cause: error })
}
