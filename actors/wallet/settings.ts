import { z } from 'zod'

const schedule = z.enum(['after_each', 'daily', 'weekly', 'biweekly', 'off'])

/**
 * Wallet settings (API.md §7). Known keys are typed; other keys are allowed (clients add
 * their own) but must be JSON scalars, arrays or objects of bounded size.
 */
export const settingsPatchSchema = z
  .object({
    defaultModel: z.string().min(1).max(200),
    plan: z.string().regex(/^(free|byok|[a-z0-9]+_byok)$/, 'must be "free", "byok" or "<provider>_byok"'),
    modelProvider: z.string().min(1).max(100),
    persistConversations: z.boolean(),
    conversationRetentionDays: z.number().int().min(0).max(36_500),
    autoImprove: z.boolean(),
    executionEngine: z.string().min(1).max(100),
    improveSchedule: schedule.nullable(),
    selfImprovementSchedule: schedule.nullable(),
  })
  .partial()
  .catchall(z.json())
  .refine((v) => Object.keys(v).length <= 100, 'at most 100 settings keys')
  .refine((v) => JSON.stringify(v).length <= 64 * 1024, 'settings must serialise to at most 64 KiB')

export type SettingsPatch = z.infer<typeof settingsPatchSchema>
export type Settings = Record<string, unknown>

/**
 * The CLI writes `selfImprovementSchedule`, the docs `improveSchedule`: either one sets
 * both, so every client reads back what any client wrote.
 */
export function normaliseSettingsPatch(patch: SettingsPatch): Settings {
  const out: Settings = { ...patch }
  const schedule = patch.improveSchedule !== undefined ? patch.improveSchedule : patch.selfImprovementSchedule
  if (schedule !== undefined) {
    out.improveSchedule = schedule
    out.selfImprovementSchedule = schedule
  }
  return out
}

/** The defaults every wallet starts with. */
export const defaultSettings: Settings = {
  defaultModel: 'haiku',
  plan: 'byok',
  persistConversations: true,
  autoImprove: false,
  improveSchedule: null,
  selfImprovementSchedule: null,
}
