import { describe, expect, it } from 'vitest'
import { contactLine, maskPhone } from '../src/logic/mask'

describe('phone masking (same rule as gridwalk_domain::mask_phone)', () => {
  it.each([
    ['13812345678', '138****5678'],
    ['65001234', '6***1234'],
    ['123', '***'],
    ['1234', '****'],
    ['12345', '12345'],
    ['010-65001234', '010*****1234'],
  ])('%s shows as %s', (phone, masked) => {
    expect(maskPhone(phone)).toBe(masked)
  })

  it('never shows the middle digits in a contact line', () => {
    const line = contactLine('王阿姨', '13812345678')
    expect(line).toBe('王阿姨 138****5678')
    expect(line).not.toContain('1234')
    expect(contactLine(null, '13812345678')).toBe('138****5678')
    expect(contactLine('  ', '')).toBe('')
  })
})
