// What the console's HTTP API takes and returns (/work/console-contract.md). The tablet's types
// (../../src/types) are reused where the server speaks the same JSON; these are the console's own.

import type {
  CategoryCode, EventBody, IssueState, RoleCode, ScopeUnit, StatusCode, WhistleLevelCode, WorkerInfo,
} from '../../src/types'

export type { CategoryCode, EventBody, IssueState, RoleCode, ScopeUnit, StatusCode, WhistleLevelCode, WorkerInfo }

export type Menu = 'overview' | 'tickets' | 'intake' | 'department' | 'map' | 'visits' | 'foresight' | 'devices' | 'admin'

export interface ConsoleSession {
  worker: WorkerInfo
  csrf_token: string
  expires_ms: number
  /** Which pages to show, in order; the server enforces the same. */
  menus: Menu[]
  may_reveal_phone: boolean
  /** Whether the 预警 page offers to make a warning into a proactive task. */
  may_make_tasks: boolean
  /** The caller's departments (department staff). */
  departments: string[]
}

/** The server's `gridwalk_domain::rates::Ratio`: `rate` is null when the denominator is 0. */
export interface Ratio { numerator: number; denominator: number; rate?: number | null }

export interface RateRow {
  group: string
  period_start_ms: number
  period_end_ms: number
  received: number
  response: Ratio
  resolution: Ratio
  satisfaction: Ratio
}

export type RateCode = 'response' | 'resolution' | 'satisfaction'

export interface Overview {
  as_of_ms: number
  today: { received: number; responded_in_time: number; overdue: number; resolved: number }
  this_week: RateRow | null
  last_week: RateRow | null
  trend: RateRow[]
  units: RateRow[]
  labels: Record<string, string>
  definitions: { code: RateCode | 'overdue'; zh: string; en: string }[]
}

export interface TicketRow {
  id: string
  received_at_ms: number | null
  category: string
  source: string
  status: string
  courtyard_id: string
  courtyard_name: string
  community_name: string
  subdistrict_name: string
  assignee: string | null
  response_due_ms: number | null
  responded_at_ms: number | null
  overdue: boolean
  description: string
  external_ref: string | null
}

export interface TicketPage { tickets: TicketRow[]; next_after: string | null; total: number | null }

export interface TicketOffer { kind: string; note_required: boolean }

export interface Ticket {
  row: TicketRow
  state: IssueState
  contact_name: string | null
  contact_phone_masked: string | null
  offers: TicketOffer[]
  photos: { sha256: string; url: string; thumb_url: string }[]
  point: { lat: number; lon: number } | null
  timeline: { at_ms: number; kind: string; actor: string; text: string }[]
  workers: { username: string; name: string; id: string }[]
  whistle_targets: string[]
}

export interface ActionResult { outcome: 'accepted' | 'duplicate'; ticket: Ticket }

/** The registry in scope; `code` is what a worker's scope names, `id` what tickets carry. */
export interface Places {
  subdistricts: { id: string; code: string; name: string }[]
  communities: { id: string; code: string; name: string; subdistrict_id: string }[]
  courtyards: { id: string; code: string; name: string; community_id: string; lat: number; lon: number }[]
}

export interface Nearest { courtyard_id: string; name: string; community_name: string; distance_m: number }

export type IntakePlace =
  | { by: 'courtyard'; courtyard_id: string }
  | { by: 'address'; address: string; lat: number | null; lon: number | null }

export interface IntakeOrder {
  order_no: string
  received_at_ms: number
  category: string
  description: string
  contact: { name: string | null; phone: string } | null
  place: IntakePlace
}

/** 201/200: the order became (or already was) an issue. */
export interface IntakeFiled {
  issue_id: string
  courtyard_id: string
  response_due_ms: number
  created: boolean
}

/** 202: the order waits in the dispatcher's queue. */
export interface IntakeQueued {
  order_no: string
  reason: string
  reason_zh: string
  reason_en: string
  response_due_ms: number
  created: boolean
}

export interface Whistle {
  level: WhistleLevelCode
  target: string
  whistled_at_ms: number
  reported_in_at_ms: number | null
}

export type DepartmentTicket = TicketRow & { whistle: Whistle }

/** What `GET /console/department` sends: the row nested (the page flattens it). */
export interface DepartmentTicketWire { row: TicketRow; whistle: Whistle }

export interface MapCourtyard {
  id: string
  name: string
  community_id: string
  lat: number
  lon: number
  open: number
  overdue: number
  hotspot: 0 | 1 | 2 | 3
}

export interface MapData {
  courtyards: MapCourtyard[]
  /** The contract's; the server sends none (the page computes them from the courtyards). */
  bounds?: { min_lat: number; max_lat: number; min_lon: number; max_lon: number }
}

/** One unit's walking in one week (the domain's coverage definitions): `flagged` visits lay too
 *  far from their courtyard to count. */
export interface WeekCoverage { visited: number; share?: number | null; visits: number; flagged: number }

export interface Coverage {
  weeks: { start_ms: number; label: string }[]
  stale_days: number
  far_visit_m: number
  workers: { username: string; name: string; courtyards: number; weeks: WeekCoverage[] }[]
  communities: { id: string; name: string; courtyards: number; weeks: WeekCoverage[] }[]
  stale: { courtyard_id: string; name: string; community_name: string; last_visit_ms: number | null; last_flagged_ms?: number | null }[]
}

export interface DeviceInfo {
  id: string
  name: string
  username: string
  worker_name: string
  kind: 'tablet' | 'console'
  created_ms: number
  revoked_ms: number | null
  last_sync_ms: number | null
  queue_depth: number | null
  oldest_unsent_ms: number | null
  rejected_count: number | null
  clock_offset_ms: number | null
  app_version: string | null
}

export type AdminWorker = WorkerInfo & { disabled: boolean }

export interface NewWorker { username: string; name: string; role: RoleCode; scope: ScopeUnit[]; password: string }

export interface ApiKey { id: string; name: string; created_ms: number; revoked_ms: number | null }

export interface Departments { departments: { code: string; name: string }[]; routing: { category: string; target: string }[] }

export interface RegistryImported { courtyards: number; version: number }

export interface BadLine { line: number; message: string }

export interface AuditEntry { id: string | number; at_ms: number; actor: string; action: string; detail: string | Record<string, unknown> }

export interface AuditPage { entries: AuditEntry[]; next_before: number | null }


/** A unit the foresight figures are grouped by (`gridwalk_domain::foresight::Unit`). */
export type Unit =
  | { level: 'district' }
  | { level: 'subdistrict' | 'community' | 'courtyard' | 'worker'; id: string }

export type WarningKind = 'rising_hotspot' | 'repeated_recurrence' | 'falling_rate' | 'unvisited_with_issues'

/** One entry of the early-warning list: its facts (`reason`) and their wording in both languages. */
export interface Warning {
  unit: Unit
  strength: number
  reason: { kind: WarningKind; category?: string; [fact: string]: unknown }
  reason_zh: string
  reason_en: string
}

export interface WarningAnswer { as_of_ms: number; warnings: Warning[] }

export interface Hotspot { unit: Unit; category: string; count: number; baseline_mean: number; z: number; hot: boolean }

export interface HotspotAnswer { window_days: number; window_start_ms: number; min_count: number; z: number; hotspots: Hotspot[] }

/** POST /foresight/tasks: what was made. */
export interface TaskMade { issue_id: string; assigned_to: string | null; created: boolean }
