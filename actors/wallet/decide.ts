import type { SnapshotFrom } from 'xstate'
import { DomainError } from '../../shared/errors.js'
import type { DecideContext } from '../runtime/types.js'
import type { WalletCommand } from './commands.js'
import type { WalletEvent } from './events.js'
import type { walletMachine } from './machine.js'

export type WalletSnapshot = SnapshotFrom<typeof walletMachine>

/** Pure: the events a wallet command produces, or why it is refused. */
export function decide(state: WalletSnapshot, command: WalletCommand, ctx: DecideContext): WalletEvent[] | DomainError {
  const at = ctx.now.toISOString()
  switch (command.type) {
    case 'RegisterWallet':
      if (state.value !== 'unregistered') return []
      return [{ type: 'WalletRegistered', data: { address: command.address, at } }]
    case 'UpdateSettings': {
      if (state.value === 'unregistered') return new DomainError('wallet_not_registered', 'Sign in before changing settings')
      const changed: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(command.patch)) {
        if (JSON.stringify(state.context.settings[key]) !== JSON.stringify(value)) changed[key] = value
      }
      if (Object.keys(changed).length === 0) return []
      return [{ type: 'SettingsUpdated', data: { patch: changed, at } }]
    }
  }
}
