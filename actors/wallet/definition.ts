import type { AggregateDefinition } from '../runtime/types.js'
import type { WalletCommand } from './commands.js'
import { decide } from './decide.js'
import type { WalletEvent } from './events.js'
import { walletMachine } from './machine.js'

/** The wallet aggregate: one actor per lower-case address, stream `wallet-<address>`. */
export const walletDefinition: AggregateDefinition<typeof walletMachine, WalletCommand, WalletEvent> = {
  category: 'wallet',
  machine: walletMachine,
  version: 2,
  decide,
}
