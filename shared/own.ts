/**
 * User-named keys (agent ids, idempotency keys, settings names, frame types) index plain
 * records in domain state and lookup tables. A plain `rec[name]` answers inherited
 * Object.prototype members for names like `constructor` or `toString`, and assigning
 * `rec['__proto__']` replaces the prototype instead of storing a value: these helpers
 * read and write own properties only. (Object literals with a computed key, `{ [k]: v }`,
 * and spreads already define own properties; only reads and plain assignment need care.)
 */

/** The value stored under `key` itself, never an inherited member. */
export function own<T>(rec: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(rec, key) ? rec[key] : undefined
}

/** Stores `value` under `key` as an own, enumerable property (also for `__proto__`). */
export function setOwn<T>(rec: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(rec, key, { value, enumerable: true, writable: true, configurable: true })
}

/** A copy of `rec` without `key` (own keys only; `rec` is left as it is). */
export function withoutOwn<T>(rec: Readonly<Record<string, T>>, key: string): Record<string, T> {
  // A plain loop: rest-destructuring with a computed key is several times slower in V8.
  const out: Record<string, T> = {}
  for (const k of Object.keys(rec)) if (k !== key) setOwn(out, k, rec[k]!)
  return out
}

/**
 * The one name that cannot be a key of persisted state: msgpack decoding (msgpackr, used for
 * actor snapshots) renames an own `__proto__` key to `__proto_` to protect the prototype, so
 * a budget or idempotency key of that name would silently change after a restart from a
 * snapshot. It is refused where it would become a key (400), instead of being corrupted later.
 */
export const UNSTORABLE_NAME = '__proto__'
