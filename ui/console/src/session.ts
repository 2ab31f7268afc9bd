// The logged-in session, in memory only: fetched again from the server on every page load
// (the cookie survives a reload, the CSRF token is handed out again by GET /console/session).

import { reactive } from 'vue'
import { ApiError, get, post, request, setCsrfToken } from './api'
import type { ConsoleSession } from './types'

export const store = reactive({
  session: null as ConsoleSession | null,
  /** Whether the start-up probe has run (the router waits for it once). */
  probed: false,
})

function adopt(s: ConsoleSession | null) {
  store.session = s
  setCsrfToken(s?.csrf_token ?? null)
}

/** GET /console/session; a 401 means "not logged in", not an error to show. */
export async function probeSession(): Promise<ConsoleSession | null> {
  try {
    adopt(await get<ConsoleSession>('/console/session', { quiet401: true }))
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) {
      store.probed = true
      throw e
    }
    adopt(null)
  }
  store.probed = true
  return store.session
}

export async function login(username: string, password: string): Promise<ConsoleSession> {
  const { data } = await request<ConsoleSession>('POST', '/console/login', { body: { username, password }, quiet401: true })
  adopt(data)
  store.probed = true
  return data
}

export async function logout(): Promise<void> {
  try {
    await post<void>('/console/logout', {}, { quiet401: true })
  } finally {
    adopt(null)
  }
}

/** Forget the session without asking the server (it already said 401). */
export function dropSession() {
  adopt(null)
}
