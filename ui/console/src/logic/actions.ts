// The ticket page's action dialog: which fields each offered action asks for (the tablet's
// FORMS table, shared), what EventBody its answers make (the domain's serde shapes), and what
// must be filled before the page sends it. Which actions are offered is the server's answer.

import { EXTENSION_DAYS, FORMS, type Field } from '../../../src/logic/actions'
import type { ActionKind, EventBody, PledgeKindCode, ReturnReasonCode, SatisfactionCode, WhistleLevelCode } from '../../../src/types'

export { EXTENSION_DAYS }

export interface ActionForm {
  note: string
  /** reviewed / extension_decided: approve, or send back / refuse. */
  approved: boolean
  satisfaction: SatisfactionCode | ''
  level: WhistleLevelCode | ''
  /** whistled / reported_in: the department or unit. */
  target: string
  to: 'worker' | 'community' | 'dispatcher'
  worker_id: string
  community_id: string
  /** closed_as_duplicate: the earlier issue's id. */
  of: string
  public: boolean
  return_reason: ReturnReasonCode | ''
  days: number
  pledge_kind: PledgeKindCode | ''
}

export function emptyActionForm(): ActionForm {
  return {
    note: '', approved: true, satisfaction: '', level: '', target: '', to: 'worker', worker_id: '', community_id: '', of: '',
    public: false, return_reason: '', days: EXTENSION_DAYS[0], pledge_kind: '',
  }
}

/** The extra fields the dialog shows for this kind (beyond the note). Kinds the tablet does not
 *  know (a newer server) get the note alone. */
export function fieldsOf(kind: string): Field[] {
  return (FORMS as Record<string, Field[]>)[kind] ?? []
}

/** The note's key in this kind's payload: most say `note`, a few `text` or `reason`. */
export function noteKey(kind: string): 'note' | 'text' | 'reason' {
  if (kind === 'note_added') return 'text'
  if (kind === 'cancelled' || kind === 'issue_reopened' || kind === 'extension_requested') return 'reason'
  return 'note'
}

/** Whether the note must be filled: the server says so per offer; a review or an extension
 *  decision that refuses needs its reason too (the domain validates the same). Free-text-only
 *  kinds (a note, a cancel reason) are empty without it. */
export function noteNeeded(kind: string, noteRequired: boolean, approved: boolean): boolean {
  if ((kind === 'reviewed' || kind === 'extension_decided') && !approved) return true
  if (kind === 'note_added' || kind === 'cancelled' || kind === 'issue_reopened') return true
  return noteRequired
}

/** The first thing missing from the form, as an i18n key under `console.action.missing`, or null. */
export function missingField(kind: string, noteRequired: boolean, f: ActionForm): string | null {
  if (noteNeeded(kind, noteRequired, f.approved) && !f.note.trim()) return 'note'
  const fields = fieldsOf(kind)
  if (fields.includes('satisfaction') && !f.satisfaction) return 'satisfaction'
  if (fields.includes('whistle') && !f.level) return 'level'
  if ((fields.includes('whistle') || fields.includes('report_in_target')) && !f.target.trim()) return 'target'
  if (fields.includes('assignee') && f.to === 'worker' && !f.worker_id) return 'worker'
  if (fields.includes('assignee') && f.to === 'community' && !f.community_id) return 'community'
  if (fields.includes('duplicate_of') && !f.of.trim()) return 'of'
  if (fields.includes('return_reason') && !f.return_reason) return 'return_reason'
  if (fields.includes('pledge_kind') && !f.pledge_kind) return 'pledge_kind'
  return null
}

/** The EventBody (`{kind, payload}`) the server records for this action. `nowMs` is the
 *  server-clock now, for an extension's end. */
export function buildEventBody(kind: string, f: ActionForm, nowMs: number): EventBody {
  const note = f.note.trim()
  const k = kind as ActionKind
  switch (k) {
    case 'note_added':
      return { kind, payload: { text: note } }
    case 'cancelled':
    case 'issue_reopened':
      return { kind, payload: { reason: note } }
    case 'transferred': {
      const to = f.to === 'worker' ? { to: 'worker', id: f.worker_id } : f.to === 'community' ? { to: 'community', id: f.community_id } : { to: 'dispatcher' }
      return { kind, payload: { to, note } }
    }
    case 'reviewed':
    case 'extension_decided':
      return { kind, payload: { approved: f.approved, note } }
    case 'callback_recorded':
      return { kind, payload: { satisfaction: f.satisfaction, note } }
    case 'whistled':
      return { kind, payload: { level: f.level, target: f.target.trim(), note } }
    case 'reported_in':
      return { kind, payload: { target: f.target.trim(), note } }
    case 'progress_added':
      return { kind, payload: { note, public: f.public } }
    case 'closed_as_duplicate':
      return { kind, payload: { of: f.of.trim(), note } }
    case 'returned':
      return { kind, payload: { reason: f.return_reason, note } }
    case 'extension_requested':
      return { kind, payload: { until_ms: nowMs + f.days * 86_400_000, reason: note } }
    case 'pledged':
      return { kind, payload: { kind: f.pledge_kind, note } }
    case 'issue_resolved':
      // The console attaches no photo: a resolution photo is taken on the tablet.
      return { kind, payload: { note, photo_sha256: null } }
    default:
      return { kind, payload: { note } }
  }
}

/** A v4 UUID for an action's request_id. crypto.randomUUID exists only in secure contexts
 *  (HTTPS or localhost); a district server on plain HTTP in the LAN still has getRandomValues. */
export function newRequestId(c: Pick<Crypto, 'getRandomValues'> & { randomUUID?: () => string } = crypto): string {
  if (typeof c.randomUUID === 'function') return c.randomUUID()
  const b = c.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 0x0f) | 0x40
  b[8] = (b[8] & 0x3f) | 0x80
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
