import type { EventStore } from './types.js'

/** Wraps a store so every append's latency is observed (for /metrics). */
export function instrumentStore(store: EventStore, observeAppendSeconds: (seconds: number) => void): EventStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'append') {
        return async (...args: Parameters<EventStore['append']>) => {
          const started = process.hrtime.bigint()
          try {
            return await target.append(...args)
          } finally {
            observeAppendSeconds(Number(process.hrtime.bigint() - started) / 1e9)
          }
        }
      }
      if (property === 'appendMulti') {
        return async (...args: Parameters<EventStore['appendMulti']>) => {
          const started = process.hrtime.bigint()
          try {
            return await target.appendMulti(...args)
          } finally {
            observeAppendSeconds(Number(process.hrtime.bigint() - started) / 1e9)
          }
        }
      }
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
}
