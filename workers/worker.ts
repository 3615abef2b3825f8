import { tasks } from './tasks/index.js'

/** Piscina entry: dispatches `{ task, payload }` to the task table in ./tasks/index.ts. */
export default async function runTask({ task, payload }: { task: string; payload: unknown }): Promise<unknown> {
  const fn = Object.hasOwn(tasks, task) ? tasks[task] : undefined
  if (fn === undefined) throw new Error(`unknown worker task ${task}`)
  return fn(payload as never)
}
