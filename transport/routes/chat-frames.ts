import { z } from 'zod'
import type { SessionService } from '../../actors/session/service.js'
import type { BeginChatParameters } from './sessions.js'
import { wsPosition, type WsCommandHandler } from '../ws.js'

const chatFrame = z.object({
  type: z.literal('chat'),
  agentId: z.string().min(1).max(128),
  sessionId: z.string().min(1).max(128),
  message: z.string().min(1).max(200_000),
  model: z.string().min(1).max(200).optional(),
  requestId: z.string().min(1).max(128),
  /** Resume point for the session topic (the last position the client saw). */
  after: wsPosition.optional(),
})

const approveFrame = z.object({
  type: z.literal('approve'),
  sessionId: z.string().min(1).max(128),
  approvalId: z.string().min(1).max(256),
  decision: z.union([z.enum(['approve', 'reject']), z.boolean()]),
  requestId: z.string().max(128).optional(),
})

export interface ChatFrameDeps {
  sessions: SessionService
  beginChat(p: BeginChatParameters): Promise<{ sessionId: string; turnId: string }>
}

/**
 * The WebSocket `chat` and `approve` frames (API.md §13): the same checks and billing as
 * POST …/chat (a resent requestId attaches to the running turn), then the turn's events
 * arrive on the `session:<id>` topic, which the client is subscribed to here.
 */
export function chatFrameHandlers(deps: ChatFrameDeps): Record<string, WsCommandHandler> {
  return {
    chat: async (client, raw) => {
      const frame = chatFrame.parse(raw)
      const topic = `session:${frame.sessionId}`
      const { sessionId, turnId } = await deps.beginChat({
        auth: client.auth,
        agentId: frame.agentId,
        sessionId: frame.sessionId,
        message: frame.message,
        ...(frame.model === undefined ? {} : { model: frame.model }),
        idempotencyKey: frame.requestId,
      })
      await client.subscribe(topic, frame.after, { ifNotSubscribed: true })
      client.send({ type: 'ack', of: 'chat', requestId: frame.requestId, sessionId, turnId, topic })
    },
    approve: async (client, raw) => {
      const frame = approveFrame.parse(raw)
      const approved = frame.decision === true || frame.decision === 'approve'
      await deps.sessions.approve(frame.sessionId, frame.approvalId, approved)
      client.send({ type: 'ack', of: 'approve', approvalId: frame.approvalId, ...(frame.requestId === undefined ? {} : { requestId: frame.requestId }) })
    },
  }
}
