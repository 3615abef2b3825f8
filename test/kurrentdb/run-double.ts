/**
 * Runs the KurrentDB TEST DOUBLE (in-memory, single node, no persistence) in its own
 * process, for trying several gateways by hand:
 *   npx tsx test/kurrentdb/run-double.ts [port]
 * then start each gateway with the printed KURRENTDB_CONNECTION_STRING and EVENT_STORE=kurrentdb.
 */
import { startKurrentDbDouble } from './kurrentdb-double.js'

const port = Number(process.argv[2] ?? '0')
const double = await startKurrentDbDouble({ port })
process.stdout.write(`KurrentDB test double (in-memory, not a database) listening\n`)
process.stdout.write(`KURRENTDB_CONNECTION_STRING=${double.connectionString}\n`)
const stop = (): void => {
  void double.close().then(() => process.exit(0))
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
