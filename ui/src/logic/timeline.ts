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
    default:
      return ''
  }
}

/** Which actions an issue offers: by its status (as the domain fold allows them), whether a
 *  whistled target still has to report in, and whether a cadre already pledged it. */
export function actionsFor(status: string, openWhistles = 0, pledged = false): string[] {
  const out: string[] = []
  switch (status) {
    case 'reported':
      out.push('respond', 'whistle', 'resolve')
      break
    case 'responded':
    case 'in_progress':
      out.push('progress', 'whistle', 'resolve')
      break
    case 'resolved':
      out.push('callback', 'close', 'reopen')
      break
    case 'closed':
      out.push('reopen')
      break
  }
  if (openWhistles > 0 && ['reported', 'responded', 'in_progress'].includes(status)) out.push('report_in')
  if (!pledged && status !== 'closed') out.push('pledge')
  out.push('note')
  return out
}
