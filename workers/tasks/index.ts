import deriveVaultKey from './derive-vault-key.js'
import recoverMessageAddress from './recover-message-address.js'
import verifySnpReport from './verify-snp-report.js'
import planCanvasGraph from './plan-canvas-graph.js'

/**
 * Every task the pool can run, by name. Imported statically: tsx's hooks do not reach
 * dynamic imports inside worker threads on Node 20, and a static table is greppable.
 */
export const tasks = {
  'recover-message-address': recoverMessageAddress,
  'derive-vault-key': deriveVaultKey,
  'verify-snp-report': verifySnpReport,
  'plan-canvas-graph': planCanvasGraph,
} satisfies Record<string, (payload: never) => unknown>

/** The task table's type: `WorkerPool.run` takes its payload and result types from it. */
export type Tasks = typeof tasks
