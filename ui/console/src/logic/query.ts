// Filters as the API's query strings. Empty fields are left out so that the server applies no
// condition for them (an empty `status=` would be a filter on the empty status).

import { dayRangeToMs } from './format'

export type QueryValue = string | number | boolean | null | undefined

/** `a=1&b=x` from the set fields, in the given order; false, null, undefined and '' are left out. */
export function toQuery(params: Record<string, QueryValue>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v == null || v === '' || v === false) continue
    if (typeof v === 'number' && !Number.isFinite(v)) continue
    q.append(k, String(v))
  }
  return q.toString()
}

/** What the 工单 page's filter bar holds. */
export interface TicketFilters {
  status: string
  category: string
  source: string
  subdistrict: string
  community: string
  courtyard: string
  assignee: string
  overdue: boolean
  /** Inclusive Beijing days, `YYYY-MM-DD`. */
  dates: [string, string] | null
  q: string
}

export function emptyTicketFilters(): TicketFilters {
  return { status: '', category: '', source: '', subdistrict: '', community: '', courtyard: '', assignee: '', overdue: false, dates: null, q: '' }
}

/** The tickets list's (and its export's) query parameters for these filters. */
export function ticketParams(f: TicketFilters): Record<string, QueryValue> {
  const range = dayRangeToMs(f.dates)
  return {
    status: f.status,
    category: f.category,
    source: f.source,
    // Only the narrowest place counts: a courtyard implies its community and subdistrict.
    subdistrict: f.courtyard || f.community ? '' : f.subdistrict,
    community: f.courtyard ? '' : f.community,
    courtyard: f.courtyard,
    assignee: f.assignee.trim(),
    overdue: f.overdue ? 'true' : '',
    from_ms: range.from_ms,
    to_ms: range.to_ms,
    q: f.q.trim(),
  }
}

/** The API path of one page of tickets: the first page without `after`, the next with it. */
export function ticketsPath(f: TicketFilters, after: string | null, limit = 50): string {
  return `/console/tickets?${toQuery({ ...ticketParams(f), after, limit })}`
}

/** Filters carried in the page's URL (so a map click or a reload lands on the same list). */
export function filtersFromRoute(q: Record<string, unknown>): TicketFilters {
  const s = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : '')
  const f = emptyTicketFilters()
  for (const k of ['status', 'category', 'source', 'subdistrict', 'community', 'courtyard', 'assignee', 'q'] as const) f[k] = s(k)
  f.overdue = s('overdue') === 'true'
  if (/^\d{4}-\d{2}-\d{2}$/.test(s('from')) && /^\d{4}-\d{2}-\d{2}$/.test(s('to'))) f.dates = [s('from'), s('to')]
  return f
}

export function filtersToRoute(f: TicketFilters): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of ['status', 'category', 'source', 'subdistrict', 'community', 'courtyard', 'assignee', 'q'] as const) {
    if (f[k]) out[k] = f[k]
  }
  if (f.overdue) out.overdue = 'true'
  if (f.dates) {
    out.from = f.dates[0]
    out.to = f.dates[1]
  }
  return out
}
