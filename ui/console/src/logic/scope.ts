// A worker's scope (ScopeUnit[]) as the admin page shows and builds it.

import type { ScopeUnit } from '../types'

export type ScopeKind = 'district' | 'subdistrict' | 'community' | 'courtyard' | 'department'
export const SCOPE_KINDS: ScopeKind[] = ['district', 'subdistrict', 'community', 'courtyard', 'department']

export function scopeKind(u: ScopeUnit): ScopeKind {
  return u === 'district' ? 'district' : (Object.keys(u)[0] as ScopeKind)
}

export function scopeId(u: ScopeUnit): string {
  return u === 'district' ? '' : (Object.values(u)[0] as string)
}

export function makeScope(kind: ScopeKind, id: string): ScopeUnit {
  return kind === 'district' ? 'district' : ({ [kind]: id } as ScopeUnit)
}

/** A stable key for a unit (the tag list's key, and to keep the list free of repeats). */
export function scopeKey(u: ScopeUnit): string {
  return u === 'district' ? 'district' : `${scopeKind(u)}:${scopeId(u)}`
}

/** Add a unit unless it is there already; the whole district makes the rest redundant. */
export function addScope(list: ScopeUnit[], u: ScopeUnit): ScopeUnit[] {
  if (u === 'district') return ['district']
  if (list.some((x) => scopeKey(x) === scopeKey(u))) return list
  return [...list, u]
}
