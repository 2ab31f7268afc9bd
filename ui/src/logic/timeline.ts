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
    case 'reported_in':
      return [s('target'), s('note')].filter(Boolean).join(' · ')
    default:
      return ''
  }
}

/** Which actions an issue offers in its status. */
export function actionsFor(status: string): string[] {
  switch (status) {
    case 'reported':
      return ['respond', 'note']
    case 'responded':
    case 'in_progress':
      return ['resolve', 'note']
    case 'resolved':
      return ['callback', 'reopen', 'note']
    case 'closed':
      return ['reopen', 'note']
    default:
      return ['note']
  }
}
