import { afterAll, describe, expect, it } from 'vitest'
import { privateKeyToAccount } from 'viem/accounts'
import { createWorkerPool } from './pool.js'

describe('worker pool', () => {
  const pool = createWorkerPool({ threads: 2 })
  afterAll(() => pool.destroy())

  it('recovers a signer in a worker thread', async () => {
    const account = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d')
    const signature = await account.signMessage({ message: 'hello' })
    const recovered = await pool.run('recover-message-address', { message: 'hello', signature })
    expect(recovered).toBe(account.address)
    const other = await pool.run('recover-message-address', { message: 'hellO', signature })
    expect(other).not.toBe(account.address)
  })

  it('refuses task names that are not module names', async () => {
    await expect(pool.run('../pool' as never, {} as never)).rejects.toThrow(/unknown worker task/)
  })
})
