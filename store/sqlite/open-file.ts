import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'

export interface SqliteFileOptions {
  /** How long a statement waits for another process's lock (busy_timeout). */
  busyTimeoutMs: number
  /** FULL where an acknowledged write must survive power loss; NORMAL for what is rebuilt from the store. */
  synchronous: 'FULL' | 'NORMAL'
  /** Tables and indexes, created if missing. */
  schema: string
}

/**
 * Opens (creating) one of the gateway's SQLite files: WAL, integers read as bigint, the
 * busy timeout set before anything else so the rest waits on other processes. Processes
 * opening one new file at once may still get SQLITE_BUSY without the busy handler being
 * asked (switching to WAL, SQLite's deadlock avoidance; seen as the second gateway of a
 * two-process test failing to start): the open is retried until the busy timeout.
 */
export function openSqliteFile(file: string, options: SqliteFileOptions): Database.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const deadline = Date.now() + options.busyTimeoutMs
  for (;;) {
    try {
      return openOnce(file, options)
    } catch (error) {
      const code = (error as { code?: unknown }).code
      const busy = typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
      if (!busy || Date.now() >= deadline) throw error
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
    }
  }
}

function openOnce(file: string, options: SqliteFileOptions): Database.Database {
  const db = new Database(file)
  try {
    db.defaultSafeIntegers(true)
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs))}`)
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${options.synchronous}`)
    db.exec(options.schema)
    return db
  } catch (error) {
    db.close()
    throw error
  }
}
