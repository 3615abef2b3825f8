import { tasks, type Tasks } from './tasks/index.js'

/** Piscina entry: dispatches `{ task, payload }` to the task table in ./tasks/index.ts. */
export default async function runTask({ task, payload }: { task: string; payload: unknown }): Promise<unknown> {
  // The name comes from another thread: only the table's own keys are tasks.
  const fn = Object.hasOwn(tasks, task) ? tasks[task as keyof Tasks] : undefined
  if (fn === undefined) throw new Error(`unknown worker task ${task}`)
  return fn(payload as never)
}
