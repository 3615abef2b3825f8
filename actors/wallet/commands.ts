import type { Settings } from './settings.js'

/** Idempotent: registers the wallet on its first sign-in, no-op afterwards. */
export interface RegisterWallet {
  type: 'RegisterWallet'
  address: string
}

export interface UpdateSettings {
  type: 'UpdateSettings'
  /** Already validated and normalised (settings.ts). */
  patch: Settings
}

export type WalletCommand = RegisterWallet | UpdateSettings
