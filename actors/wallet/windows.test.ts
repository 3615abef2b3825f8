import { describe, expect, it } from 'vitest'
import { windowEnd, windowKey, windowStart } from './windows.js'

describe('calendar UTC windows', () => {
  it('ISO weeks start on Monday 00:00 UTC', () => {
    // 2026-11-29 is a Sunday, 2026-11-30 a Monday
    expect(windowKey('weekly', new Date('2026-11-29T23:59:59.999Z'))).toBe('W2026-11-23')
    expect(windowKey('weekly', new Date('2026-11-30T00:00:00.000Z'))).toBe('W2026-11-30')
    expect(windowStart('weekly', new Date('2026-11-25T15:00:00Z')).toISOString()).toBe('2026-11-23T00:00:00.000Z')
    expect(windowEnd('weekly', new Date('2026-11-25T15:00:00Z')).toISOString()).toBe('2026-11-30T00:00:00.000Z')
    // a week spanning a year boundary
    expect(windowKey('weekly', new Date('2027-01-01T10:00:00Z'))).toBe('W2026-12-28')
  })
  it('days and months are UTC, whatever the local zone', () => {
    expect(windowKey('daily', new Date('2026-11-25T23:59:59.999Z'))).toBe('2026-11-25')
    expect(windowEnd('daily', new Date('2026-11-25T23:59:59.999Z')).toISOString()).toBe('2026-11-26T00:00:00.000Z')
    expect(windowKey('monthly', new Date('2026-12-31T23:00:00Z'))).toBe('2026-12')
    expect(windowEnd('monthly', new Date('2026-12-31T23:00:00Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z')
    expect(windowEnd('monthly', new Date('2028-02-10T00:00:00Z')).toISOString()).toBe('2028-03-01T00:00:00.000Z')
  })
})
