// The one typed module over the shell: every `invoke` and `listen` of the UI goes through here.
// No SQL, no keys, no tokens: the shell's commands are one-line adapters into gridwalk-core.

import { invoke } from '@tauri-apps/api/core'
import { listen, type UnlistenFn } from '@tauri-apps/api/event'
import { getCurrentWindow } from '@tauri-apps/api/window'
import type {
  AppStatus,
  Assignee,
  CategoryCode,
  CommunityRow,
  CourtyardQuery,
  CourtyardRow,
  DeviceSyncState,
  ErrorBody,
  ExportReceipt,
  IssueDetail,
  IssueFilter,
  IssueRow,
  LoggedEvent,
  MyCourtyard,
  NearbyIssue,
  NewIssue,
  NewOrder,
  NewVisit,
  Page,
  PledgeKindCode,
  RaisedNotification,
  RejectedRecord,
  ReturnReasonCode,
  Revocation,
  SatisfactionCode,
  SyncProgress,
  SyncReport,
  SyncedEvent,
  Today,
  VisitRow,
  WhistleLevelCode,
  WorkerInfo,
} from './types'

/** A command's `{code, message}` error, thrown as an Error so callers can `catch (e)`. */
export class ApiError extends Error {
  constructor(public code: string, message: string) {
    super(message)
  }
}

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e
  const body = e as Partial<ErrorBody> | undefined
  if (body && typeof body === 'object' && typeof body.code === 'string') return new ApiError(body.code, body.message ?? body.code)
  return new ApiError('internal', String(e))
}

async function call<T>(cmd: string, args?: Record<string, unknown> | Uint8Array): Promise<T> {
  try {
    return await invoke<T>(cmd, args as never)
  } catch (e) {
    throw toApiError(e)
  }
}

export const api = {
  appStatus: () => call<AppStatus>('app_status'),
  enrol: (serverUrl: string, username: string, password: string, pin: string) =>
    call<string>('enrol', { serverUrl, username, password, pin }),
  unlock: (pin: string) => call<void>('unlock', { pin }),
  lock: () => call<void>('lock'),
  touch: () => call<void>('touch'),
  setIdleMinutes: (minutes: number) => call<void>('set_idle_minutes', { minutes }),

  searchCourtyards: (query: CourtyardQuery) => call<CourtyardRow[]>('search_courtyards', { query }),
  courtyard: (id: string) => call<CourtyardRow>('courtyard', { id }),
  listIssues: (filter: IssueFilter, limit = 50, after: string | null = null) =>
    call<Page<IssueRow>>('list_issues', { filter, after, limit }),
  listVisits: (courtyard: string | null, limit = 50, after: string | null = null) =>
    call<Page<VisitRow>>('list_visits', { courtyard, after, limit }),
  issue: (id: string) => call<IssueDetail>('issue', { id }),

  recordVisit: (visit: NewVisit) => call<string>('record_visit', { visit }),
  reportIssue: (issue: NewIssue) => call<string>('report_issue', { issue }),
  storePhoto: (bytes: Uint8Array) => call<string>('store_photo', bytes),
  photo: async (sha256: string) => new Uint8Array(await call<ArrayBuffer>('photo', { sha256 })),
  respond: (id: string, note: string) => call<string>('respond', { id, note }),
  addNote: (id: string, text: string) => call<string>('add_note', { id, text }),
  resolve: (id: string, note: string, photo: string | null) => call<string>('resolve', { id, note, photo }),
  recordCallback: (id: string, satisfaction: SatisfactionCode, note: string) =>
    call<string>('record_callback', { id, satisfaction, note }),
  reopen: (id: string, reason: string) => call<string>('reopen', { id, reason }),
  addProgress: (id: string, note: string, isPublic = false) => call<string>('add_progress', { id, note, public: isPublic }),
  whistle: (id: string, level: WhistleLevelCode, target: string, note: string) => call<string>('whistle', { id, level, target, note }),
  reportIn: (id: string, target: string, note: string) => call<string>('report_in', { id, target, note }),
  closeIssue: (id: string, note: string) => call<string>('close_issue', { id, note }),
  pledge: (id: string, kind: PledgeKindCode, note: string) => call<string>('pledge', { id, kind, note }),

  attachPhoto: (id: string, sha256: string) => call<string>('attach_photo', { id, sha256 }),
  accept: (id: string, note: string) => call<string>('accept', { id, note }),
  returnOrder: (id: string, reason: ReturnReasonCode, note: string) => call<string>('return_order', { id, reason, note }),
  requestExtension: (id: string, untilMs: number, reason: string) => call<string>('request_extension', { id, untilMs, reason }),
  transfer: (id: string, to: Assignee, note: string) => call<string>('transfer', { id, to, note }),
  urge: (id: string, note: string) => call<string>('urge', { id, note }),
  review: (id: string, approved: boolean, note: string) => call<string>('review', { id, approved, note }),
  decideExtension: (id: string, approved: boolean, note: string) => call<string>('decide_extension', { id, approved, note }),
  closeAsDuplicate: (id: string, of: string, note: string) => call<string>('close_as_duplicate', { id, of, note }),
  cancelIssue: (id: string, reason: string) => call<string>('cancel_issue', { id, reason }),
  meToo: (id: string, note: string) => call<string>('me_too', { id, note }),
  nearby: (courtyard: string, category: CategoryCode, at: { lat: number; lon: number } | null) =>
    call<NearbyIssue[]>('nearby_issues', { courtyard, category, at }),
  myWeek: () => call<MyCourtyard[]>('my_week'),

  today: () => call<Today>('today'),
  departmentInbox: () => call<IssueRow[]>('department_inbox'),
  communities: () => call<CommunityRow[]>('communities'),
  worker: () => call<WorkerInfo | null>('worker'),
  setSyncPeriod: (seconds: number) => call<void>('set_sync_period', { seconds }),
  setLocale: (locale: string) => call<void>('set_locale', { locale }),
  notificationsRaised: () => call<RaisedNotification[]>('notifications_raised'),
  /** Ask the OS for the notification permission where it is needed (Android 13+); desktops grant it. */
  ensureNotificationPermission: async () => {
    try {
      if (!(await invoke<boolean | null>('plugin:notification|is_permission_granted'))) await invoke('plugin:notification|request_permission')
    } catch {
      // No permission API here: the shell still logs what it raises.
    }
  },

  syncState: () => call<DeviceSyncState>('sync_state'),
  outbox: (limit = 100) => call<LoggedEvent[]>('outbox', { limit }),
  rejectedRecords: () => call<RejectedRecord[]>('rejected_records'),
  withdrawRejected: (seq: number) => call<void>('withdraw_rejected', { seq }),
  sync: () => call<SyncReport>('sync'),
  cancelSync: () => call<void>('cancel_sync'),
  /** A revoked tablet: seal what it had not synced to a passphrase, then wipe its store. */
  revocation: () => call<Revocation>('revocation'),
  exportUnsynced: (passphrase: string) => call<ExportReceipt>('export_unsynced', { passphrase }),
  wipeRevoked: () => call<void>('wipe_revoked'),
  /** The session expired: log in again as this same device with the worker's password. */
  renewSession: (password: string) => call<void>('renew_session', { password }),

  /** Desktop only (the desktop capability grants it): full screen for field laptops and kiosks. */
  isFullscreen: () => getCurrentWindow().isFullscreen(),
  setFullscreen: (on: boolean) => getCurrentWindow().setFullscreen(on),

  onSyncProgress: (f: (p: SyncProgress) => void): Promise<UnlistenFn> => listen<SyncProgress>('sync-progress', (e) => f(e.payload)),
  onLocked: (f: () => void): Promise<UnlistenFn> => listen('locked', () => f()),
  onSynced: (f: (e: SyncedEvent) => void): Promise<UnlistenFn> => listen<SyncedEvent>('synced', (e) => f(e.payload)),
  onNewOrders: (f: (orders: NewOrder[]) => void): Promise<UnlistenFn> => listen<NewOrder[]>('new-orders', (e) => f(e.payload)),
  onLockNews: (f: (count: number) => void): Promise<UnlistenFn> => listen<{ count: number }>('lock-news', (e) => f(e.payload.count)),
}
