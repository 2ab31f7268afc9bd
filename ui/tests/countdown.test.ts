import { describe, expect, it } from 'vitest'
import { correctedNow, countdown, formatDuration, pendingResponse, triage, urgency } from '../src/logic/countdown'
import type { IssueRow } from '../src/types'

const HOUR = 3_600_000
function row(id: string, due: number | null, responded: number | null = null): IssueRow {
  return {
    id, courtyard_id: 'c', category: 'street_light', source: 'visit', status: 'reported', description: '', contact_masked: null,
    received_at_ms: (due ?? 0) - HOUR, response_due_ms: due, responded_at_ms: responded, conflicts: 0, sync_state: 'queued',
    owner_id: null, clock_runs: responded == null, accepted_at_ms: null, urged: 0, review_returns: 0,
  }
}

describe('countdown formatting', () => {
  it.each([
    [0, '0:00'], [999, '0:00'], [1_000, '0:01'], [59_000, '0:59'], [60_000, '1:00'], [45 * 60_000 + 12_000, '45:12'],
    [HOUR - 1_000, '59:59'], [HOUR, '1:00:00'], [HOUR + 61_000, '1:01:01'], [-125_000, '2:05'], [26 * HOUR, '26:00:00'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })

  it('says overdue once the deadline passed, on the corrected clock', () => {
    const device = 1_000_000
    const offset = 90_000 // the server is 90 s ahead of this tablet
    const now = correctedNow(device, offset)
    expect(now).toBe(1_090_000)
    expect(countdown(1_100_000, now)).toEqual({ text: '0:10', overdue: false })
    expect(countdown(1_080_000, now)).toEqual({ text: '0:10', overdue: true })
  })
})

describe('urgency and triage', () => {
  const now = 10 * HOUR
  it('classifies by the 15-minute due-soon window', () => {
    expect(urgency(row('a', now - 1), now)).toBe('overdue')
    expect(urgency(row('b', now + 60_000), now)).toBe('due_soon')
    expect(urgency(row('c', now + 15 * 60_000), now)).toBe('pending')
    expect(urgency(row('d', now - 1, now - 5), now)).toBe('responded')
    expect(urgency(row('e', null), now)).toBe('responded')
  })

  it('sorts the most urgent first and leaves responded ones out', () => {
    const rows = [row('late2', now - 60_000), row('soon2', now + 10 * 60_000), row('late1', now - 600_000), row('soon1', now + 60_000), row('calm', now + 50 * 60_000), row('done', now - 1, now - 2)]
    const { overdue, dueSoon } = triage(rows, now)
    expect(overdue.map((r) => r.id)).toEqual(['late1', 'late2'])
    expect(dueSoon.map((r) => r.id)).toEqual(['soon1', 'soon2'])
    expect(pendingResponse(rows, now).map((r) => r.id)).toEqual(['calm'])
  })
})
