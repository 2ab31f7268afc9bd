// Form validation, mirroring gridwalk_domain::validate so the worker hears about a mistake
// before saving (the core validates again, and its `{code}` is what counts).

export const MAX_DESCRIPTION_CHARS = 2000
export const MAX_NOTE_CHARS = 2000
export const MAX_NAME_CHARS = 64
export const MAX_RESIDENTS_MET = 10000

/** An i18n key under `errors.` naming the first problem, or null when the value is fine. */
export type Problem = string | null

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/

/** A digits-only PIN has 6 to 64 digits; a passphrase 8 to 64 characters (unlock::pin_is_valid). */
export const PIN_MIN_DIGITS = 6
export const PASSPHRASE_MIN_CHARS = 8
export const PIN_MAX_CHARS = 64
/** The revoked tablet's export passphrase (gridwalk_core::export::EXPORT_PASSPHRASE_MIN_CHARS). */
export const EXPORT_PASSPHRASE_MIN_CHARS = 10

// Rust's char::is_control: the C0 and C1 control characters.
const ANY_CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** Characters as the shell counts them (Unicode scalar values, not UTF-16 units). */
const chars = (s: string) => [...s].length

export function pin(p: string): Problem {
  const n = chars(p)
  if (n > PIN_MAX_CHARS) return 'pin_too_long'
  if (/^\d*$/.test(p)) return n >= PIN_MIN_DIGITS ? null : 'pin_length'
  if (ANY_CONTROL.test(p)) return 'control_characters'
  return n >= PASSPHRASE_MIN_CHARS ? null : 'passphrase_length'
}

/** Whether a PIN is digits only (the unlock screen then offers the number pad). */
export function isDigitsPin(p: string): boolean {
  return /^\d+$/.test(p)
}

export function exportPassphrase(p: string): Problem {
  return chars(p) >= EXPORT_PASSPHRASE_MIN_CHARS ? null : 'weak_passphrase'
}

export function pinsMatch(a: string, b: string): Problem {
  return a === b ? null : 'pin_mismatch'
}

export function serverUrl(u: string): Problem {
  const t = u.trim()
  if (!/^https?:\/\/[^\s/]+/.test(t)) return 'bad_server_url'
  return null
}

export function required(s: string): Problem {
  return s.trim() === '' ? 'empty_text' : null
}

export function text(s: string, max: number, isRequired: boolean): Problem {
  if (isRequired && s.trim() === '') return 'empty_text'
  if (Array.from(s).length > max) return 'text_too_long'
  if (CONTROL.test(s)) return 'control_characters'
  return null
}

export function phone(p: string): Problem {
  if (p.trim() === '') return null // optional
  const digits = (p.match(/\d/g) ?? []).length
  if (!/^[\d+\- ]+$/.test(p) || digits < 5 || digits > 20) return 'bad_phone'
  return null
}

export function coordinates(lat: number | null, lon: number | null): Problem {
  if (lat == null && lon == null) return null // no location is allowed
  if (lat == null || lon == null || !Number.isFinite(lat) || !Number.isFinite(lon)) return 'coordinates_out_of_range'
  if (lat < -90 || lat > 90 || lon < -180 || lon > 180) return 'coordinates_out_of_range'
  return null
}

export function residents(n: number): Problem {
  if (!Number.isInteger(n) || n < 0) return 'bad_number'
  if (n > MAX_RESIDENTS_MET) return 'too_many_residents'
  return null
}

export interface IssueForm {
  courtyard: string | null
  category: string | null
  description: string
  contactName: string
  contactPhone: string
}

/** Every problem of a report form, by field. Empty when it can be saved. */
export function issueForm(f: IssueForm): Record<string, string> {
  const out: Record<string, string> = {}
  if (!f.courtyard) out.courtyard = 'pick_courtyard'
  if (!f.category) out.category = 'pick_category'
  const d = text(f.description, MAX_DESCRIPTION_CHARS, true)
  if (d) out.description = d
  const n = text(f.contactName, MAX_NAME_CHARS, false)
  if (n) out.contactName = n
  const p = phone(f.contactPhone)
  if (p) out.contactPhone = p
  if (f.contactName.trim() !== '' && f.contactPhone.trim() === '') out.contactPhone = 'phone_needed'
  return out
}

export interface VisitForm {
  courtyard: string | null
  notes: string
  residentsMet: number
  lat: number | null
  lon: number | null
}

export function visitForm(f: VisitForm): Record<string, string> {
  const out: Record<string, string> = {}
  if (!f.courtyard) out.courtyard = 'pick_courtyard'
  const n = text(f.notes, MAX_NOTE_CHARS, false)
  if (n) out.notes = n
  const r = residents(f.residentsMet)
  if (r) out.residentsMet = r
  const c = coordinates(f.lat, f.lon)
  if (c) out.location = c
  return out
}
