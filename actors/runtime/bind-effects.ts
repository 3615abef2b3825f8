import type { AnyStateMachine, SnapshotFrom } from 'xstate'
import type { EffectContext, EffectHandler, EffectsOf } from './types.js'

/**
 * A machine's typed effects as the ActorHost runs them: each handler receives its action's
 * params (the machine declared their type), a context `wrap` may adapt, and its failure
 * goes to `onError` under the effect's name (effects run detached from the command).
 */
export function bindEffects<Machine extends AnyStateMachine, Command>(
  effects: EffectsOf<Machine, Command>,
  wrap: (ctx: EffectContext<Command, SnapshotFrom<Machine>>) => EffectContext<Command, SnapshotFrom<Machine>>,
  onError: (error: unknown, where: string) => void,
): Record<string, EffectHandler<Command, SnapshotFrom<Machine>>> {
  const bound: Record<string, EffectHandler<Command, SnapshotFrom<Machine>>> = {}
  for (const [name, handler] of Object.entries(effects) as [string, (params: unknown, ctx: EffectContext<Command, SnapshotFrom<Machine>>) => Promise<void>][]) {
    // The action's params are the handler's (EffectsOf pairs them by name).
    bound[name] = (action, ctx) => handler(action.params, wrap(ctx)).catch((e: unknown) => onError(e, name))
  }
  return bound
}
