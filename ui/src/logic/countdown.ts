// The 1-hour response clock on the tablet: what is overdue or due soon, and the live countdown,
// all on the *corrected* clock (device clock + the offset the last sync measured).

import type { IssueRow } from '../types'

/** Issues count as due soon this long before their deadline (the domain's default). */
export const DUE_SOON_MS = 15 * 60 * 1000

export type Urgency = 'overdue' | 'due_soon' | 'pending' | 'responded'

/** The server's idea of now: the device clock corrected by the measured offset. */
export function correctedNow(deviceNowMs: number, clockOffsetMs: number): number {
  return deviceNowMs + clockOffsetMs
}

export function urgency(row: Pick<IssueRow, 'response_due_ms' | 'responded_at_ms'>, nowMs: number, dueSoonMs = DUE_SOON_MS): Urgency {
  if (row.responded_at_ms != null || row.response_due_ms == null) return 'responded'
  if (nowMs > row.response_due_ms) return 'overdue'
  if (nowMs > row.response_due_ms - dueSoonMs) return 'due_soon'
  return 'pending'
}

/** `m:ss` under an hour, `h:mm:ss` above; always of the absolute distance. */
export function formatDuration(ms: number): string {
  const total = Math.floor(Math.abs(ms) / 1000)
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  const ss = String(s).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`
}

/** What a countdown tag shows: the time left (or late), and whether it is overdue. */
export function countdown(dueMs: number, nowMs: number): { text: string; overdue: boolean } {
  const left = dueMs - nowMs
  return { text: formatDuration(left), overdue: left < 0 }
}

/** Split awaiting-response issues into overdue and due-soon (others are left out), each
 *  sorted by deadline, most urgent first. */
export function triage(rows: IssueRow[], nowMs: number, dueSoonMs = DUE_SOON_MS): { overdue: IssueRow[]; dueSoon: IssueRow[] } {
  const byDue = (a: IssueRow, b: IssueRow) => (a.response_due_ms ?? 0) - (b.response_due_ms ?? 0)
  const overdue = rows.filter((r) => urgency(r, nowMs, dueSoonMs) === 'overdue').sort(byDue)
  const dueSoon = rows.filter((r) => urgency(r, nowMs, dueSoonMs) === 'due_soon').sort(byDue)
  return { overdue, dueSoon }
}

/** Awaiting response within the hour, not yet due soon: shown too, below, so nothing waits unseen. */
export function pendingResponse(rows: IssueRow[], nowMs: number, dueSoonMs = DUE_SOON_MS): IssueRow[] {
  return rows.filter((r) => urgency(r, nowMs, dueSoonMs) === 'pending').sort((a, b) => (a.response_due_ms ?? 0) - (b.response_due_ms ?? 0))
}
