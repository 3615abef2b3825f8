import { assign, setup } from 'xstate'
import type { WalletEvent } from './events.js'
import { defaultSettings, type Settings } from './settings.js'

export interface WalletContext {
  address: string | null
  registeredAt: string | null
  settings: Settings
}

/** The wallet actor's machine. Its events are the domain events; it runs no effects yet. */
export const walletMachine = setup({
  types: {
    context: {} as WalletContext,
    events: {} as WalletEvent,
  },
}).createMachine({
  id: 'wallet',
  context: { address: null, registeredAt: null, settings: defaultSettings },
  initial: 'unregistered',
  states: {
    unregistered: {
      on: {
        WalletRegistered: {
          target: 'active',
          actions: assign(({ event }) => ({ address: event.data.address, registeredAt: event.data.at })),
        },
      },
    },
    active: {
      on: {
        SettingsUpdated: {
          actions: assign(({ context, event }) => ({ settings: { ...context.settings, ...event.data.patch } })),
        },
      },
    },
  },
})
