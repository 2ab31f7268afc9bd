// Which pages a caller sees: exactly the session's `menus`, in its order. The server refuses the
// same calls, so this guard is for the caller's convenience, not for security.

import type { Menu } from '../types'

export const MENU_PATHS: Record<Menu, string> = {
  overview: '/overview',
  tickets: '/tickets',
  intake: '/intake',
  department: '/department',
  map: '/map',
  visits: '/visits',
  foresight: '/foresight',
  devices: '/devices',
  admin: '/admin',
}

export const ALL_MENUS = Object.keys(MENU_PATHS) as Menu[]

/** Where a caller lands after login: the first page the session offers, or null for none. */
export function landingPath(menus: readonly Menu[]): string | null {
  const first = menus.find((m) => m in MENU_PATHS)
  return first ? MENU_PATHS[first] : null
}

export type GuardDecision = { allow: true } | { redirect: string }

/** The router's decision for a route of `menu` (undefined: a page open to any logged-in caller,
 *  'login': the login page) given the session (null: not logged in). */
export function guardRoute(
  menu: Menu | 'login' | undefined,
  session: { menus: readonly Menu[] } | null,
  fullPath: string,
): GuardDecision {
  if (menu === 'login') return { allow: true }
  if (!session) return { redirect: `/login?next=${encodeURIComponent(fullPath)}` }
  if (menu === undefined || session.menus.includes(menu)) return { allow: true }
  return { redirect: landingPath(session.menus) ?? '/none' }
}

/** A `next` query after login is only followed to one of our own paths (never another site). */
export function safeNext(next: unknown): string | null {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : null
}
