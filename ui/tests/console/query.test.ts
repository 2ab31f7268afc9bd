import { describe, expect, it } from 'vitest'
import { emptyTicketFilters, filtersFromRoute, filtersToRoute, ticketsPath, toQuery } from '../../console/src/logic/query'

describe('filters as query strings', () => {
  it('leaves out empty fields', () => {
    expect(toQuery({ a: '', b: null, c: undefined, d: false, e: 'x', f: 0, g: NaN })).toBe('e=x&f=0')
  })
  it('the first page of everything', () => {
    expect(ticketsPath(emptyTicketFilters(), null)).toBe('/console/tickets?limit=50')
  })
  it('every filter, and the cursor of the next page', () => {
    const f = {
      ...emptyTicketFilters(),
      status: 'reported', category: 'leak', source: 'hotline', subdistrict: 's1', community: 'c1', assignee: ' wang ',
      overdue: true, dates: ['2024-03-01', '2024-03-01'] as [string, string], q: '漏水',
    }
    const q = new URLSearchParams(ticketsPath(f, 'CURSOR+/=').split('?')[1])
    expect(Object.fromEntries(q)).toEqual({
      status: 'reported', category: 'leak', source: 'hotline', community: 'c1', assignee: 'wang', overdue: 'true',
      from_ms: String(Date.UTC(2024, 1, 29, 16)), to_ms: String(Date.UTC(2024, 2, 1, 16)), q: '漏水', after: 'CURSOR+/=', limit: '50',
    })
  })
  it('only the narrowest place is sent', () => {
    const f = { ...emptyTicketFilters(), subdistrict: 's1', community: 'c1', courtyard: 'y1' }
    expect(ticketsPath(f, null)).toBe('/console/tickets?courtyard=y1&limit=50')
  })
  it('the URL round-trips the filters (a map click lands on one courtyard)', () => {
    expect(filtersFromRoute({ courtyard: 'y9' })).toEqual({ ...emptyTicketFilters(), courtyard: 'y9' })
    const f = { ...emptyTicketFilters(), status: 'closed', overdue: true, dates: ['2024-01-01', '2024-01-31'] as [string, string] }
    expect(filtersFromRoute(filtersToRoute(f))).toEqual(f)
    expect(filtersFromRoute({ from: 'x', to: '2024-01-01', status: ['a'] })).toEqual(emptyTicketFilters())
  })
})
