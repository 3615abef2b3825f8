/**
 * MCP tools as the agent loops (chat sessions, canvas nodes, teammates) see them; the MCP
 * connector (connectors/mcp/executor.ts) implements it.
 */

/** Who a delegated tool call is made for: the claims of its short-lived ES256 token. */
export interface DelegatedClaims {
  /** Checksummed wallet address the call is made for. */
  wallet: string
  agent: string
  session: string
  /** Tool names this token may call. */
  tools: string[]
}

/** A tool as the model sees it. */
export interface McpToolInfo {
  name: string
  description?: string
  inputSchema: { type: 'object'; [k: string]: unknown }
}

/** What one tool call produced, flattened for the model and the SSE stream. */
export interface McpToolResult {
  isError: boolean
  /** Text content joined; non-text content as JSON. */
  text: string
  /** An x402 payment made for this call (atomic USDC units), when there was one. */
  paid?: { amount: bigint; payTo: string; txHash?: string; network: string; reservationId: string }
}

export interface CallToolParameters {
  claims: DelegatedClaims
  name: string
  args: Record<string, unknown>
  signal?: AbortSignal
}

export interface McpExecutor {
  /** The gateway's tool catalogue (operator path, cached). */
  listTools(): Promise<McpToolInfo[]>
  /** One tool call on a wallet's behalf (delegated JWT). */
  callTool(p: CallToolParameters): Promise<McpToolResult>
  /** True when the MCP gateway answers an operator-signed ping. */
  health(): Promise<boolean>
}
