// The UI's small shared state: who is unlocked, the device's sync state (unsynced count, clock
// offset) and a 1-second ticking clock for live countdowns.

import { reactive } from 'vue'
import { showFailToast } from 'vant'
import { api, toApiError } from './api'
import { i18n } from './i18n'
import { correctedNow } from './logic/countdown'
import type { AppStatus, DeviceSyncState, WorkerInfo } from './types'

export const session = reactive({
  status: null as AppStatus | null,
  sync: null as DeviceSyncState | null,
  /** Who logged in (role and scope), once unlocked. */
  worker: null as WorkerInfo | null,
  /** The device clock, ticking every second. */
  deviceNow: Date.now(),
})

setInterval(() => {
  session.deviceNow = Date.now()
}, 1000)

/** Now on the server's clock (device clock + the offset the last sync measured). */
export function serverNow(): number {
  return correctedNow(session.deviceNow, session.sync?.clock_offset_ms ?? 0)
}

/** localStorage: whether this tablet's PIN is `digits` or a `passphrase` (which keyboard to open). */
export const PIN_KIND_KEY = 'gridwalk.pinKind'

export async function refreshStatus(): Promise<AppStatus> {
  session.status = await api.appStatus()
  return session.status
}

export async function refreshSync(): Promise<DeviceSyncState | null> {
  try {
    session.sync = await api.syncState()
    if (!session.worker) session.worker = await api.worker()
  } catch {
    // Locked or not enrolled: keep what we had.
  }
  return session.sync
}

/** Department staff get the department inbox tab. */
export function isDepartmentStaff(): boolean {
  return session.worker?.role === 'department_staff'
}

/** The message for an error's code, in the current language. */
export function errorText(e: unknown): string {
  const err = toApiError(e)
  const key = `errors.${err.code}`
  const t = i18n.global.t
  if (err.code === 'locked_out' || err.code === 'wrong_pin') return err.message ? `${t(key)}（${err.message}）` : t(key)
  return i18n.global.te(key) ? t(key) : t('errors.unknown', { msg: err.message })
}

export function showError(e: unknown) {
  showFailToast({ message: errorText(e), duration: 3000 })
}

let lastTouch = 0
/** Tell the shell the worker is active (throttled), so the idle lock does not fire. */
export function reportActivity() {
  const now = Date.now()
  if (now - lastTouch > 15_000) {
    lastTouch = now
    api.touch().catch(() => undefined)
  }
}
