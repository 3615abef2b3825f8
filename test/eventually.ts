/**
 * Polls `read` every 25 ms until `check` holds (at most 400 tries, ≈10 s), returning the
 * value that passed; for effects that run detached from the command that caused them.
 */
export async function eventually<T>(read: () => Promise<T>, check: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await read()
    if (check(v)) return v
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}
