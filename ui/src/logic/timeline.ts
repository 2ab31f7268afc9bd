// One line of an issue's timeline from an event body: what to show under the event's label.

import type { EventBody } from '../types'

export function eventSummary(body: EventBody, t: (key: string) => string): string {
  const p = body.payload ?? {}
  const s = (k: string) => (typeof p[k] === 'string' ? (p[k] as string) : '')
  switch (body.kind) {
    case 'issue_reported':
      return s('description')
    case 'issue_responded':
    case 'issue_resolved':
    case 'progress_added':
    case 'issue_closed':
      return s('note')
    case 'note_added':
      return s('text')
    case 'issue_reopened':
      return s('reason')
    case 'callback_recorded':
      return [t(`vocab.satisfaction.${s('satisfaction')}`), s('note')].filter(Boolean).join(' · ')
    case 'whistled':
      return [t(`vocab.whistle.${s('level')}`), s('target'), s('note')].filter(Boolean).join(' · ')
    case 'reported_in':
      return [s('target'), s('note')].filter(Boolean).join(' · ')
    case 'pledged':
      return [t(`vocab.pledge.${s('kind')}`), s('note')].filter(Boolean).join(' · ')
    case 'accepted':
    case 'urged':
    case 'transferred':
    case 'extension_decided':
    case 'reviewed':
    case 'closed_as_duplicate':
      return [typeof p.approved === 'boolean' ? t(p.approved ? 'issue.approve' : 'issue.refuse') : '', s('note')].filter(Boolean).join(' · ')
    case 'returned':
      return [t(`vocab.return_reason.${s('reason')}`), s('note')].filter(Boolean).join(' · ')
    case 'extension_requested':
    case 'cancelled':
    case 'assigned':
      return s('reason')
    default:
      return ''
  }
}
