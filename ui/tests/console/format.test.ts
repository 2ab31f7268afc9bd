import { describe, expect, it } from 'vitest'
import {
  beijingDayStart, dayRangeToMs, formatDate, formatOffsetSeconds, formatRate, formatTime, parseBeijing, rateTrend, rateValue,
} from '../../console/src/logic/format'

describe('rates', () => {
  it('one decimal, a dash when nothing was measured', () => {
    expect(formatRate({ numerator: 2, denominator: 3 })).toBe('66.7%')
    expect(formatRate({ numerator: 1, denominator: 1 })).toBe('100.0%')
    expect(formatRate({ numerator: 0, denominator: 5 })).toBe('0.0%')
    expect(formatRate({ numerator: 1, denominator: 8 })).toBe('12.5%')
    expect(formatRate({ numerator: 0, denominator: 0 })).toBe('—')
    expect(formatRate(null)).toBe('—')
    expect(formatRate(undefined)).toBe('—')
    expect(rateValue({ numerator: 3, denominator: 0 })).toBeNull()
  })
  it('the arrow follows the shown percentages', () => {
    expect(rateTrend({ numerator: 3, denominator: 4 }, { numerator: 1, denominator: 2 })).toBe('up')
    expect(rateTrend({ numerator: 1, denominator: 2 }, { numerator: 3, denominator: 4 })).toBe('down')
    // 66.67% and 66.66…% both show as 66.7%: no arrow that contradicts the numbers
    expect(rateTrend({ numerator: 2, denominator: 3 }, { numerator: 6666, denominator: 10000 })).toBe('same')
    expect(rateTrend({ numerator: 1, denominator: 2 }, { numerator: 0, denominator: 0 })).toBeNull()
    expect(rateTrend(null, { numerator: 1, denominator: 2 })).toBeNull()
  })
})

describe('Beijing time whatever the browser zone', () => {
  // 2024-03-01 00:30 in Beijing is 2024-02-29 16:30 UTC
  const ms = Date.UTC(2024, 1, 29, 16, 30)
  it('formats in UTC+8', () => {
    expect(formatTime(ms)).toBe('2024-03-01 00:30')
    expect(formatDate(ms)).toBe('2024-03-01')
    expect(formatTime(null)).toBe('—')
  })
  it('parses what it formats', () => {
    expect(parseBeijing('2024-03-01 00:30')).toBe(ms)
    expect(parseBeijing(formatTime(ms))).toBe(ms)
    expect(parseBeijing('yesterday')).toBeNaN()
  })
  it('a picked day range covers whole Beijing days', () => {
    expect(beijingDayStart('2024-03-01')).toBe(Date.UTC(2024, 1, 29, 16, 0))
    expect(dayRangeToMs(['2024-03-01', '2024-03-02'])).toEqual({
      from_ms: Date.UTC(2024, 1, 29, 16, 0),
      to_ms: Date.UTC(2024, 2, 2, 16, 0),
    })
    expect(dayRangeToMs(null)).toEqual({})
  })
  it('clock offsets in seconds with a sign', () => {
    expect(formatOffsetSeconds(2500)).toBe('+2.5')
    expect(formatOffsetSeconds(-300)).toBe('-0.3')
    expect(formatOffsetSeconds(0)).toBe('0.0')
    expect(formatOffsetSeconds(null)).toBe('—')
  })
})
