import { describe, expect, it } from 'vitest'
import * as v from '../src/logic/validate'

describe('PIN and enrolment', () => {
  it.each([
    ['123456', null], ['123456789012', null], ['1'.repeat(64), null], ['12345', 'pin_length'], ['', 'pin_length'],
    ['1'.repeat(65), 'pin_too_long'], ['12a456', 'passphrase_length'], ['abcdefg', 'passphrase_length'], ['abcdefgh', null],
    ['正确 马 电池 订书钉', null], ['a'.repeat(65), 'pin_too_long'], ['abc\ndefgh', 'control_characters'],
    // Counted in characters like the shell: eight emoji are eight characters, not sixteen.
    ['😀'.repeat(7), 'passphrase_length'], ['😀'.repeat(8), null],
  ])('PIN %j → %s', (pin, problem) => {
    expect(v.pin(pin)).toBe(problem)
  })
  it('checks the repeated PIN and the server address', () => {
    expect(v.pinsMatch('123456', '123456')).toBeNull()
    expect(v.pinsMatch('123456', '123457')).toBe('pin_mismatch')
    expect(v.serverUrl('http://127.0.0.1:8080')).toBeNull()
    expect(v.serverUrl(' https://grid.example.cn ')).toBeNull()
    expect(v.serverUrl('127.0.0.1:8080')).toBe('bad_server_url')
    expect(v.serverUrl('')).toBe('bad_server_url')
  })
  it('the export passphrase needs 10 characters, like the core', () => {
    expect(v.exportPassphrase('123456789')).toBe('weak_passphrase')
    expect(v.exportPassphrase('1234567890')).toBeNull()
    expect(v.isDigitsPin('246810')).toBe(true)
    expect(v.isDigitsPin('a long passphrase')).toBe(false)
  })
})

describe('report form', () => {
  const ok = { courtyard: 'c1', category: 'street_light', description: '3号楼路灯不亮', contactName: '', contactPhone: '' }
  it('accepts a complete report', () => {
    expect(v.issueForm(ok)).toEqual({})
    expect(v.issueForm({ ...ok, contactName: '王阿姨', contactPhone: '138 1234 5678' })).toEqual({})
  })
  it('names every missing or bad field', () => {
    expect(v.issueForm({ courtyard: null, category: null, description: '  ', contactName: '', contactPhone: '' })).toEqual({
      courtyard: 'pick_courtyard', category: 'pick_category', description: 'empty_text',
    })
    expect(v.issueForm({ ...ok, contactPhone: 'abc' }).contactPhone).toBe('bad_phone')
    expect(v.issueForm({ ...ok, contactPhone: '1234' }).contactPhone).toBe('bad_phone')
    expect(v.issueForm({ ...ok, contactName: '王阿姨' }).contactPhone).toBe('phone_needed')
    expect(v.issueForm({ ...ok, description: 'x'.repeat(2001) }).description).toBe('text_too_long')
    expect(v.issueForm({ ...ok, description: 'bad\u0007bell' }).description).toBe('control_characters')
    expect(v.issueForm({ ...ok, description: '第一行\n第二行\t' })).toEqual({})
  })
})

describe('visit form', () => {
  const ok = { courtyard: 'c1', notes: '', residentsMet: 0, lat: null, lon: null }
  it('allows no location, or a full one in range', () => {
    expect(v.visitForm(ok)).toEqual({})
    expect(v.visitForm({ ...ok, lat: 39.98, lon: 116.41 })).toEqual({})
  })
  it('refuses half or out-of-range coordinates and implausible counts', () => {
    expect(v.visitForm({ ...ok, lat: 39.98, lon: null }).location).toBe('coordinates_out_of_range')
    expect(v.visitForm({ ...ok, lat: 91, lon: 116 }).location).toBe('coordinates_out_of_range')
    expect(v.visitForm({ ...ok, residentsMet: 10_001 }).residentsMet).toBe('too_many_residents')
    expect(v.visitForm({ ...ok, residentsMet: -1 }).residentsMet).toBe('bad_number')
    expect(v.visitForm({ ...ok, courtyard: null }).courtyard).toBe('pick_courtyard')
  })
})
