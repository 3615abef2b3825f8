/**
 * KurrentDbEventStore through the real @kurrent/kurrentdb-client:
 * - always against the in-process gRPC test double (test/kurrentdb/kurrentdb-double.ts);
 * - also against a real KurrentDB / EventStoreDB when KURRENTDB_CONNECTION_STRING is set,
 *   e.g. `KURRENTDB_CONNECTION_STRING='kurrentdb://127.0.0.1:2113?tls=false' npx vitest run store/kurrentdb`.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { eventStoreContract } from '../contract.js'
import { startKurrentDbDouble, type KurrentDbDouble } from '../../test/kurrentdb/kurrentdb-double.js'
import { KurrentDbEventStore } from './kurrentdb-event-store.js'

let double: KurrentDbDouble | undefined
async function sharedDouble(): Promise<KurrentDbDouble> {
  double ??= await startKurrentDbDouble()
  return double
}
afterAll(async () => {
  await double?.close()
})

function contractOn(connectionString: () => Promise<string>) {
  return async () => {
    const url = await connectionString()
    let store = new KurrentDbEventStore({ connectionString: url })
    return {
      store,
      // The data lives in the server: a new client on the same server must see all of it.
      reopen: async () => {
        await store.close()
        store = new KurrentDbEventStore({ connectionString: url })
        return store
      },
      cleanup: async () => {
        await store.close()
      },
    }
  }
}

eventStoreContract(
  'kurrentdb (in-process gRPC test double)',
  contractOn(async () => (await sharedDouble()).connectionString),
)

const realServer = process.env.KURRENTDB_CONNECTION_STRING
if (realServer !== undefined && realServer !== '') {
  eventStoreContract('kurrentdb (real server from KURRENTDB_CONNECTION_STRING)', contractOn(async () => realServer))
}

describe('KurrentDbEventStore specifics (test double)', () => {
  it('uses the double through the real client (Append and Read calls reach it)', async () => {
    const d = await sharedDouble()
    const store = new KurrentDbEventStore({ connectionString: d.connectionString })
    try {
      const appendsBefore = d.calls.Append ?? 0
      await store.append('spec-calls', [{ type: 'A', data: {} }])
      expect(d.calls.Append ?? 0).toBeGreaterThan(appendsBefore)
      expect(d.log.some((e) => e.streamId === 'spec-calls')).toBe(true)
    } finally {
      await store.close()
    }
  })
})
