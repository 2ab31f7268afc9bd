// How each action the core offers is asked for on the issue screen: its form's fields. Which
// actions show, and whether a note is required, is the core's answer (IssueDetail.offers, from
// the domain's rules table and fold): nothing here decides it.

import type { ActionKind, Offer } from '../types'

export type Field =
  | 'satisfaction' | 'whistle' | 'report_in_target' | 'pledge_kind' | 'resolve_photo' | 'public' | 'return_reason'
  | 'until' | 'decision' | 'assignee' | 'duplicate_of'

/** Every action kind of the domain's ISSUE_ACTIONS, with the extra fields its form asks for. */
export const FORMS: Record<ActionKind, Field[]> = {
  accepted: [],
  issue_responded: [],
  progress_added: ['public'],
  reported_in: ['report_in_target'],
  issue_resolved: ['resolve_photo'],
  reviewed: ['decision'],
  callback_recorded: ['satisfaction'],
  issue_closed: [],
  whistled: ['whistle'],
  urged: [],
  transferred: ['assignee'],
  returned: ['return_reason'],
  extension_requested: ['until'],
  extension_decided: ['decision'],
  issue_reopened: [],
  pledged: ['pledge_kind'],
  closed_as_duplicate: ['duplicate_of'],
  cancelled: [],
  me_too: [],
  note_added: [],
}

/** The offers the screen can show, in the core's order. */
export function shownOffers(offers: Offer[]): Offer[] {
  return offers.filter((o) => o.kind in FORMS)
}

/** Whether the form's note must be filled: the core says so per action; a review or an
 *  extension decision that refuses needs its reason too (the domain validates the same). */
export function noteRequired(offer: Offer, approved: boolean): boolean {
  if (offer.kind === 'reviewed' && !approved) return true
  return offer.note_required
}

/** Days from now an extension may ask for (the domain allows up to 90 days from receipt). */
export const EXTENSION_DAYS = [1, 3, 7, 15, 30]

/** The end of an extension of `days` days, as a server-clock millisecond. */
export function extensionUntil(nowMs: number, days: number): number {
  return nowMs + days * 86_400_000
}

/** The 今日 sections, with the reason each follow-up row is there. */
export function followUpReason(row: { urged: number; review_returns: number }): 'urged' | 'sent_back' {
  return row.urged > 0 ? 'urged' : 'sent_back'
}
