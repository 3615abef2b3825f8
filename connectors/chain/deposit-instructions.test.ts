import { describe, expect, it } from 'vitest'
import { depositInstructions } from './deposit-instructions.js'

describe('depositInstructions', () => {
  it('describes Base USDC with the confirmation depth', () => {
    const d = depositInstructions({ chainId: 8453, usdcAddress: '0x833589fcd6edb6e08f4c7c32d4f71b54bda02913', confirmations: 12 })
    expect(d).toMatchObject({
      network: 'base',
      chainId: 8453,
      chainName: 'Base',
      token: 'USDC',
      tokenAddress: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913',
      decimals: 6,
    })
    expect(d.warning).toContain('chain id 8453')
    expect(d.warning).toContain('12 confirmations')
  })

  it('names an unknown chain by its CAIP-2 id', () => {
    const d = depositInstructions({ chainId: 10, usdcAddress: '0x0b2c639c533813f4aa9d7837caf62653d097ff85', confirmations: 1 })
    expect(d.network).toBe('eip155:10')
    expect(d.warning).toContain('1 confirmation.')
  })
})
