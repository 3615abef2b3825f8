import { availableParallelism } from 'node:os'
import { Piscina } from 'piscina'
import type { Tasks } from './tasks/index.js'

export type TaskName = keyof Tasks
export type TaskPayload<Task extends TaskName> = Parameters<Tasks[Task]>[0]
export type TaskResult<Task extends TaskName> = Awaited<ReturnType<Tasks[Task]>>

/**
 * The pool for CPU-heavy work (signature recovery, key derivation, report verification,
 * DAG planning). Each task is a module `workers/tasks/<name>.ts` whose default export is a
 * pure function of one structured-clonable argument. `run` is typed from the task table
 * (workers/tasks/index.ts): a wrong name or payload does not compile.
 */
export interface WorkerPool {
  run<Task extends TaskName>(task: Task, payload: TaskPayload<Task>): Promise<TaskResult<Task>>
  readonly threads: number
  destroy(): Promise<void>
}

export interface CreateWorkerPoolParameters {
  /** Worker threads; default: available cores. */
  threads?: number
}

export function createWorkerPool(parameters: CreateWorkerPoolParameters = {}): WorkerPool {
  // Under tsx/vitest this module is a .ts file and the worker must load TypeScript too.
  const fromSource = import.meta.url.endsWith('.ts')
  const threads = parameters.threads ?? Math.max(1, availableParallelism())
  const piscina = new Piscina({
    filename: new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url).href,
    minThreads: 1,
    maxThreads: threads,
    // Piscina's default (0) ends every worker above minThreads as soon as it idles, so each
    // burst of concurrent tasks paid a new worker's start-up (~1 s under tsx). Keep them a minute.
    idleTimeout: 60_000,
    ...(fromSource ? { execArgv: ['--import', 'tsx'] } : {}),
  })
  return {
    threads,
    run: (task, payload) => piscina.run({ task, payload }) as Promise<never>,
    destroy: () => piscina.destroy(),
  }
}
