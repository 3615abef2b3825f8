import type { AggregateDefinition } from '../runtime/types.js'
import type { SessionCommand } from './commands.js'
import { decide } from './decide.js'
import type { SessionEvent } from './events.js'
import { sessionMachine } from './machine.js'

/** The chat-session aggregate: one actor per session id, stream `session-<id>`. */
export const sessionDefinition: AggregateDefinition<typeof sessionMachine, SessionCommand, SessionEvent> = {
  category: 'session',
  machine: sessionMachine,
  version: 1,
  decide,
}
