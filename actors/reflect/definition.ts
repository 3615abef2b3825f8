import type { AggregateDefinition } from '../runtime/types.js'
import type { ReflectCommand } from './commands.js'
import { decide } from './decide.js'
import type { ReflectEvent } from './events.js'
import { reflectMachine } from './machine.js'

/** The self-improvement aggregate: one actor per wallet (lower-case address), stream `reflect-<address>`. */
export const reflectDefinition: AggregateDefinition<typeof reflectMachine, ReflectCommand, ReflectEvent> = {
  category: 'reflect',
  machine: reflectMachine,
  // 2: context.claudeMd (older snapshots are folded again from the stream).
  version: 2,
  decide,
}
