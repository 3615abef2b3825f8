import type { RecordedEvent } from '../store/types.js'
import type { Projection } from './types.js'
import { walletOf } from './types.js'

/** The settings keys the self-improvement scheduler reads. */
export const IMPROVEMENT_KEYS = ['autoImprove', 'agentAutoImprove', 'improveSchedule', 'selfImprovementSchedule', 'selfImprovementScope'] as const

export interface ImprovementSettingsRow {
  wallet: string
  settings: Record<string, unknown>
}

const touches = (patch: Record<string, unknown>) => IMPROVEMENT_KEYS.some((k) => k in patch)

/**
 * Wallets' self-improvement settings, so the scheduler can find the wallets to look at
 * without reading every wallet. Only a pointer: the slot claim itself is decided by the
 * wallet's reflect actor.
 */
export const selfImprovementSettingsProjection: Projection<ImprovementSettingsRow> = {
  name: 'self-improvement-settings',
  canHandle: (e: RecordedEvent) => e.streamId.startsWith('wallet-') && e.type === 'SettingsUpdated' && touches((e.data as { patch: Record<string, unknown> }).patch),
  keyOf: (e) => ({ key: walletOf(e), owner: walletOf(e) }),
  evolve: (current, e) => {
    const patch = (e.data as { patch: Record<string, unknown> }).patch
    const settings = { ...current?.settings }
    for (const k of IMPROVEMENT_KEYS) if (k in patch) settings[k] = patch[k]
    return { wallet: walletOf(e), settings }
  },
}

export interface RunningReflectRow {
  wallet: string
  runId: string
}

/** Wallets with a self-improvement run in progress (start-up resumes them). */
export const runningReflectProjection: Projection<RunningReflectRow> = {
  name: 'reflect-running',
  canHandle: (e) => e.streamId.startsWith('reflect-') && (e.type === 'RunStarted' || e.type === 'RunCompleted' || e.type === 'RunFailed'),
  keyOf: (e) => ({ key: e.streamId.slice('reflect-'.length), owner: e.streamId.slice('reflect-'.length) }),
  evolve: (_current, e) => (e.type === 'RunStarted' ? { wallet: e.streamId.slice('reflect-'.length), runId: (e.data as { runId: string }).runId } : undefined),
}
