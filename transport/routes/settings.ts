import type { ActorHost } from '../../actors/runtime/host.js'
import type { WalletCommand } from '../../actors/wallet/commands.js'
import type { WalletEvent } from '../../actors/wallet/events.js'
import type { walletMachine } from '../../actors/wallet/machine.js'
import { normaliseSettingsPatch, settingsPatchSchema } from '../../actors/wallet/settings.js'
import { json, type Route } from '../route.js'

export interface SettingsRoutesDeps {
  wallets: ActorHost<typeof walletMachine, WalletCommand, WalletEvent>
}

/** GET/PUT /wallet/settings (API.md §7): a partial merge, answered with the full settings. */
export function settingsRoutes(deps: SettingsRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/wallet/settings',
      handler: async (ctx) => {
        const { snapshot } = await deps.wallets.read(ctx.auth!.sub)
        return json(snapshot.context.settings)
      },
    },
    {
      method: 'PUT',
      path: '/wallet/settings',
      body: settingsPatchSchema,
      handler: async (ctx) => {
        const patch = normaliseSettingsPatch(ctx.body)
        const { snapshot } = await deps.wallets.send(ctx.auth!.sub, { type: 'UpdateSettings', patch })
        return json(snapshot.context.settings)
      },
    },
  ]
}
