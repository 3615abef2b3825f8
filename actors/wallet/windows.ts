/** Calendar-aligned UTC budget windows: day, ISO week (from Monday), month. */
export type WindowKind = 'daily' | 'weekly' | 'monthly'
export const WINDOW_KINDS: readonly WindowKind[] = ['daily', 'weekly', 'monthly']

const DAY_MS = 86_400_000

/** The key of the window containing `at` (day "2026-11-25", week "W2026-11-23" = its Monday, month "2026-11"). */
export function windowKey(kind: WindowKind, at: Date): string {
  const iso = at.toISOString()
  if (kind === 'daily') return iso.slice(0, 10)
  if (kind === 'monthly') return iso.slice(0, 7)
  return `W${windowStart('weekly', at).toISOString().slice(0, 10)}`
}

/** Start of the window containing `at`. */
export function windowStart(kind: WindowKind, at: Date): Date {
  const day = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate())
  if (kind === 'daily') return new Date(day)
  if (kind === 'monthly') return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1))
  const sinceMonday = (new Date(day).getUTCDay() + 6) % 7
  return new Date(day - sinceMonday * DAY_MS)
}

/** Exclusive end of the window containing `at` (when it resets). */
export function windowEnd(kind: WindowKind, at: Date): Date {
  const start = windowStart(kind, at)
  if (kind === 'daily') return new Date(start.getTime() + DAY_MS)
  if (kind === 'weekly') return new Date(start.getTime() + 7 * DAY_MS)
  return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1))
}
