// A worker's scope (ScopeUnit[]) as the admin page shows and builds it.

import type { ScopeUnit } from '../types'

export type ScopeKind = 'district' | 'subdistrict' | 'community' | 'courtyard' | 'department'
export const SCOPE_KINDS: ScopeKind[] = ['district', 'subdistrict', 'community', 'courtyard', 'department']

export function scopeKind(u: ScopeUnit): ScopeKind {
  return u.level
}

/** The unit's registry code (or department name); empty for the district. */
export function scopeId(u: ScopeUnit): string {
  return u.level === 'district' ? '' : u.code
}

export function makeScope(kind: ScopeKind, code: string): ScopeUnit {
  return kind === 'district' ? { level: 'district' } : { level: kind, code }
}

/** A stable key for a unit (the tag list's key, and to keep the list free of repeats). */
export function scopeKey(u: ScopeUnit): string {
  return u.level === 'district' ? 'district' : `${u.level}:${u.code}`
}

/** Add a unit unless it is there already; the whole district makes the rest redundant. */
export function addScope(list: ScopeUnit[], u: ScopeUnit): ScopeUnit[] {
  if (u.level === 'district') return [{ level: 'district' }]
  if (list.some((x) => scopeKey(x) === scopeKey(u))) return list
  return [...list, u]
}
