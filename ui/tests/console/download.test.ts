import { describe, expect, it } from 'vitest'
import { filenameFromDisposition } from '../../console/src/logic/download'

describe('download file names from Content-Disposition', () => {
  it('the UTF-8 name wins', () => {
    expect(filenameFromDisposition(`attachment; filename="tickets.csv"; filename*=UTF-8''%E5%B7%A5%E5%8D%95-2024.csv`, 'x')).toBe('工单-2024.csv')
    expect(filenameFromDisposition(`attachment; filename*=utf-8'zh'%E8%AE%BE%E5%A4%87.xlsx`, 'x')).toBe('设备.xlsx')
  })
  it('a plain name, quoted or not', () => {
    expect(filenameFromDisposition('attachment; filename="audit 2024.csv"', 'x')).toBe('audit 2024.csv')
    expect(filenameFromDisposition('attachment; filename=devices.xlsx', 'x')).toBe('devices.xlsx')
    expect(filenameFromDisposition('attachment; filename="a \\"b\\".csv"', 'x')).toBe('a "b".csv')
  })
  it('falls back without a usable name', () => {
    expect(filenameFromDisposition(null, 'tickets.csv')).toBe('tickets.csv')
    expect(filenameFromDisposition('attachment', 'tickets.csv')).toBe('tickets.csv')
    expect(filenameFromDisposition(`attachment; filename*=UTF-8''%E5%ZZ`, 'f.csv')).toBe('f.csv')
  })
  it('never names a folder', () => {
    expect(filenameFromDisposition('attachment; filename="../../etc/passwd"', 'x')).toBe('passwd')
    expect(filenameFromDisposition('attachment; filename=".."', 'f.csv')).toBe('f.csv')
  })
})
