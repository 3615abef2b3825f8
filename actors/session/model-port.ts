/**
 * The model as the chat session sees it. The message and usage types are the domains' own
 * (actors/billing/model-port.ts, shared with canvas and self-improvement), so the session's
 * stored events do not take their shape from a connector; connectors/anthropic/call-model.ts
 * implements the wider CallModel, and gateway-chat.ts passes it in.
 */
import type { CallModelParameters, CallModelReturnType, ModelContentBlock, ModelMessage, ModelTool, ModelUsage } from '../billing/model-port.js'

export type { ModelContentBlock, ModelMessage, ModelTool, ModelUsage }

/** What the session sends: no forced tool, no abort (a turn ends by its own events). */
export type SessionModelCallParameters = Omit<CallModelParameters, 'toolChoice' | 'signal'>

export type SessionModelCallResult = Omit<CallModelReturnType, 'attempts'>

/** One model call, streamed; provider failures are thrown as GatewayErrors with stable codes. */
export type SessionModelCall = (p: SessionModelCallParameters) => Promise<SessionModelCallResult>
