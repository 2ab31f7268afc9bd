// Types of what the shell's commands take and return (serde's JSON of gridwalk-core types).

export type SyncState = 'queued' | 'synced' | 'rejected' | 'withdrawn'
export type CategoryCode =
  | 'street_light' | 'sanitation' | 'leak' | 'illegal_building' | 'wall_breaking' | 'property_management'
  | 'elderly_care' | 'garbage_sorting' | 'lift' | 'parking' | 'noise' | 'greening' | 'heating' | 'other'
// serde's names of gridwalk_domain::IssueSource (its Hotline variant's code() is hotline_12345, but
// the JSON the shell speaks is the serde name, hotline).
export type SourceCode = 'visit' | 'hotline' | 'mobile_committee' | 'online' | 'deliberation_hall' | 'proactive'
export type VisitModeCode = 'walk_through' | 'in_depth' | 'stationed'
export type SatisfactionCode = 'satisfied' | 'basically_satisfied' | 'dissatisfied'
export type StatusCode = 'reported' | 'responded' | 'in_progress' | 'resolved' | 'closed' | 'duplicate' | 'cancelled'
export type WhistleLevelCode = 'party_branch' | 'community' | 'subdistrict'
export type PledgeKindCode = 'chronic' | 'bottleneck' | 'frequent'
export type ResponseSla = 'pending' | 'due_soon' | 'overdue' | 'met' | 'missed'
export type ReturnReasonCode = 'not_my_area' | 'not_my_kind' | 'duplicate' | 'other'
export type RoleCode = 'grid_worker' | 'cadre' | 'supervisor' | 'department_staff' | 'admin'
/** The event kinds a person records from the issue screen (gridwalk_domain::rules::ISSUE_ACTIONS). */
export type ActionKind =
  | 'accepted' | 'issue_responded' | 'progress_added' | 'reported_in' | 'issue_resolved' | 'reviewed' | 'callback_recorded'
  | 'issue_closed' | 'whistled' | 'urged' | 'transferred' | 'returned' | 'extension_requested' | 'extension_decided'
  | 'issue_reopened' | 'pledged' | 'closed_as_duplicate' | 'cancelled' | 'me_too' | 'note_added'
export type EventKindCode = ActionKind | 'visit_recorded' | 'issue_reported' | 'photo_attached' | 'recurred'
  | 'recurrence_flagged' | 'assigned' | 'duplicate_linked' | 'duplicate_suspected'

/** Whom an issue is assigned to: serde's `{to, id}`. */
export type Assignee = { to: 'worker'; id: string } | { to: 'community'; id: string } | { to: 'dispatcher' }

/** One action the issue offers this worker now (the core's rules table and fold decide). */
export interface Offer {
  kind: ActionKind
  note_required: boolean
}

export interface ErrorBody {
  code: string
  message: string
}

export interface AppStatus {
  enrolled: boolean
  unlocked: boolean
  idle_minutes: number
  pin_failures: number
  retry_in_ms: number
  server_url: string | null
  username: string | null
  worker_name: string | null
  /** The automatic sync's pull period, in seconds. */
  sync_period_s: number
  /** New orders counted while locked (the notify-only token), for the lock screen. */
  locked_news: number
  /** Where the device secret is: the platform keystore, or a file in the data directory. */
  secret_store: 'keystore' | 'file'
  version: string
}

/** A revoked tablet: what the district does not hold from it, and whether it may wipe. */
export interface Revocation {
  revoked: boolean
  unsynced_records: number
  unsynced_photos: number
  /** The export file that covers everything unsynced now, if any. */
  exported_to: string | null
  may_wipe: boolean
}

export interface ExportReceipt {
  path: string
  records: number
  photos: number
  bytes: number
}

/** One unit of a worker's scope, as the server's `ScopeUnit` serializes (`{level, code}`):
 *  subdistricts, communities and courtyards by their registry code, departments by name. */
export type ScopeUnit =
  | { level: 'district' }
  | { level: 'subdistrict' | 'community' | 'courtyard' | 'department'; code: string }

export interface WorkerInfo {
  id: string
  username: string
  name: string
  role: RoleCode
  scope: ScopeUnit[]
}

export interface CommunityRow {
  id: string
  code: string
  name: string
  subdistrict_name: string
}

/** 今日: my issues on the response clock, then mine urged or sent back by a review. */
export interface Today {
  clock: IssueRow[]
  follow_up: IssueRow[]
}

/** A new order for me, found by a sync (the `new-orders` event). */
export interface NewOrder {
  kind: 'assigned' | 'transferred' | 'urged'
  issue: IssueRow
}

export interface RaisedNotification {
  at_ms: number
  reason: 'new_orders' | 'locked_count'
  title: string
  body: string
  plugin_ok: boolean
  error: string | null
}

/** The end of a sync, manual or automatic (the `synced` event). */
export interface SyncedEvent {
  ok: boolean
  report?: SyncReport
  error?: ErrorBody
}

export interface Location {
  lat: number
  lon: number
  accuracy_m: number
}

export interface ResidentContact {
  name: string | null
  phone: string
}

export interface CourtyardRow {
  id: string
  code: string
  name: string
  community_id: string
  community_name: string
  subdistrict_name: string
  management_grid_id: string
  management_grid_code: string
  lat: number
  lon: number
  open_issues: number
}

export interface CourtyardQuery {
  text: string
  community?: string | null
  management_grid?: string | null
  limit: number
}

export interface IssueFilter {
  courtyard?: string | null
  status?: StatusCode | null
  category?: CategoryCode | null
  overdue?: boolean
  open_only?: boolean
}

export interface Page<T> {
  items: T[]
  next: string | null
}

export interface IssueRow {
  id: string
  courtyard_id: string
  category: CategoryCode
  source: SourceCode
  status: StatusCode
  description: string
  contact_masked: string | null
  received_at_ms: number
  response_due_ms: number | null
  responded_at_ms: number | null
  conflicts: number
  sync_state: SyncState
  owner_id: string | null
  clock_runs: boolean
  accepted_at_ms: number | null
  urged: number
  review_returns: number
}

/** An open issue the Report screen shows before saving (gridwalk_core::NearbyIssue). */
export interface NearbyIssue {
  issue: IssueRow
  same_courtyard: boolean
  same_category: boolean
  distance_m: number
}

/** One of my courtyards this week (gridwalk_domain::foresight::coverage::MyCourtyard). */
export interface MyCourtyard {
  courtyard: string
  state: 'visited' | 'due' | 'overdue'
  last_visit_ms: number | null
  flagged_this_week: boolean
  name: string
}

export interface VisitRow {
  id: string
  courtyard_id: string
  mode: VisitModeCode
  started_at_ms: number
  ended_at_ms: number | null
  notes: string
  residents_met: number
  linked_issues: string[]
  sync_state: SyncState
}

export interface NewVisit {
  courtyard: string
  mode: VisitModeCode
  started_at_ms: number | null
  ended_at_ms: number | null
  location: Location | null
  notes: string
  residents_met: number
  linked_issues: string[]
}

export interface NewIssue {
  courtyard: string
  category: CategoryCode
  source: SourceCode
  description: string
  contact: ResidentContact | null
  location: Location | null
  photos: string[]
}

/** An event body: serde's adjacently tagged `{kind, payload}`. */
export interface EventBody {
  kind: string
  payload: Record<string, unknown>
}

export interface Event {
  id: string
  author: string
  device: string
  hlc: { ms: number; counter: number }
  wall_ms: number
  clock_offset_ms: number
  entity: { type: 'issue' | 'visit'; id: string }
  body: EventBody
}

export interface HistoryEntry {
  event: Event
  conflict: { code: string } | null
}

export interface IssueReport {
  courtyard: string
  category: CategoryCode
  source: SourceCode
  description: string
  contact: ResidentContact | null
  location: Location | null
  received_at_ms: number | null
  external_ref: string | null
}

export interface IssueState {
  id: string
  report: IssueReport | null
  status: StatusCode
  received_at_ms: number | null
  response_due_ms: number | null
  responded_at_ms: number | null
  resolved_at_ms: number | null
  closed_at_ms: number | null
  satisfaction: SatisfactionCode | null
  photos: string[]
  /** Every whistle blown (吹哨), with when its target reported in (报到). */
  whistles: { level: WhistleLevelCode; target: string; whistled_at_ms: number; reported_in_at_ms: number | null }[]
  pledge: { kind: PledgeKindCode; at_ms: number } | null
  recurrence_of: string | null
  assignee: Assignee | null
  accepted_at_ms: number | null
  returned: { by: string; reason: ReturnReasonCode; note: string; at_ms: number } | null
  urged: number
  extension: { by: string; until_ms: number; reason: string; approved: boolean | null } | null
  review_returns: number
  duplicate_of: string | null
  cancel_reason: string | null
  /** Residents who reported the same open problem again (我也遇到). */
  me_too?: number
  /** The open issue intake found this one probably repeats. */
  probable_duplicate_of?: string | null
  history: HistoryEntry[]
}

export interface EventSync {
  event_id: string
  seq: number
  state: SyncState
  reject_code: string | null
  reject_reason: string | null
}

export interface IssueDetail {
  state: IssueState
  sla: ResponseSla | null
  own_events: EventSync[]
  offers: Offer[]
}

export interface DeviceSyncState {
  enrolled: boolean
  revoked: boolean
  /** The token expired: log in again as this device (`renewSession`); nothing is lost. */
  session_expired: boolean
  queue_depth: number
  oldest_unsent_ms: number | null
  rejected: number
  photos_pending: number
  acked_seq: number
  pull_cursor: number
  last_success_ms: number | null
  last_error: string | null
  clock_offset_ms: number
  server_url: string | null
}

export interface LoggedEvent {
  seq: number
  event: Event
}

export interface RejectedRecord {
  seq: number
  event: Event
  code: string
  reason: string
}

export interface SyncProgress {
  phase: 'push' | 'pull' | 'photos'
  events_done: number
  events_total: number
  bytes_done: number
  bytes_total: number
  retrying: string | null
}

export interface SyncReport {
  pushed: number
  rejected: number
  pulled: number
  photos_uploaded: number
  retries: number
}
