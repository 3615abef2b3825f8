/**
 * A size-bounded map that forgets the least recently used entry first. `Map` keeps
 * insertion order, so a hit is moved to the end and the first key is the oldest.
 */
export class LruMap<K, V> {
  readonly #entries = new Map<K, V>()

  constructor(readonly maxSize: number) {
    if (!(maxSize >= 1)) throw new RangeError(`LruMap size must be at least 1 (got ${maxSize})`)
  }

  get size(): number {
    return this.#entries.size
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key)
    if (value !== undefined) {
      this.#entries.delete(key)
      this.#entries.set(key, value)
    }
    return value
  }

  set(key: K, value: V): void {
    this.#entries.delete(key)
    this.#entries.set(key, value)
    if (this.#entries.size > this.maxSize) this.#entries.delete(this.#entries.keys().next().value as K)
  }

  delete(key: K): boolean {
    return this.#entries.delete(key)
  }

  clear(): void {
    this.#entries.clear()
  }
}
