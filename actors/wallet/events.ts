import type { Settings } from './settings.js'

export interface WalletRegistered {
  type: 'WalletRegistered'
  /** Checksummed address. */
  data: { address: string; at: string }
}

export interface SettingsUpdated {
  type: 'SettingsUpdated'
  /** Only the keys that changed (a partial merge). */
  data: { patch: Settings; at: string }
}

export type WalletEvent = WalletRegistered | SettingsUpdated
