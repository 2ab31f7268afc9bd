//! The district console's wire types (`/api/v1/console/…`): what the browser page reads and
//! sends. Times are ms since the epoch on the server's clock; the page shows them in Beijing
//! time.

use crate::{IssueSummary, WorkerInfo};
use gridwalk_domain::console::Menu;
use gridwalk_domain::rates::RateRow;
use gridwalk_domain::rules::Offer;
use gridwalk_domain::{CommunityId, CourtyardId, DeviceId, EventBody, IssueState, SubdistrictId, WorkerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /api/v1/console/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsoleLogin {
    pub username: String,
    pub password: String,
}

/// A console session as the page knows it. The session token itself travels only in the
/// HttpOnly cookie; the page holds the CSRF token, which it sends as `X-CSRF-Token` on every
/// state-changing call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsoleSession {
    pub worker: WorkerInfo,
    pub csrf_token: String,
    pub expires_ms: i64,
    /// The pages this role may open, in menu order (the server refuses the others).
    pub menus: Vec<Menu>,
    pub may_reveal_phone: bool,
    /// Whether the 预警 page offers to make a warning into a proactive task.
    #[serde(default)]
    pub may_make_tasks: bool,
    /// The departments in the caller's scope (what department staff report in for).
    pub departments: Vec<String>,
}

/// A device's own account of its sync, sent with each pull (设备自报).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceReport {
    /// Records saved on the tablet and not yet acknowledged by the server.
    pub queue_depth: u64,
    /// When the oldest of them was saved (tablet clock), if any.
    pub oldest_unsent_ms: Option<i64>,
    /// Records the server refused, still on the tablet.
    pub rejected_count: u64,
    /// The tablet's measured offset to the server's clock.
    pub clock_offset_ms: i64,
    pub app_version: String,
}

/// Today's four figures on the overview (Beijing day).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TodayFigures {
    /// Issues received today.
    pub received: u64,
    /// Of those, answered within the hour.
    pub responded_in_time: u64,
    /// Open issues past their response deadline with no response (any day).
    pub overdue: u64,
    /// Issues resolved today.
    pub resolved: u64,
}

/// One definition shown beside a figure, in the words of the server README.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Definition {
    pub code: String,
    pub zh: String,
    pub en: String,
}

/// `GET /api/v1/console/overview`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overview {
    pub as_of_ms: i64,
    pub today: TodayFigures,
    pub this_week: Option<RateRow>,
    pub last_week: Option<RateRow>,
    /// The last 12 ISO weeks, oldest first (weeks without issues are absent).
    pub trend: Vec<RateRow>,
    /// This week's rates per unit: subdistricts, or the communities of `unit`.
    pub units: Vec<RateRow>,
    /// `subdistrict` or `community`.
    pub by: String,
    /// The subdistrict drilled into, if any.
    pub unit: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub definitions: Vec<Definition>,
}

/// One row of the ticket list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketRow {
    #[serde(flatten)]
    pub issue: IssueSummary,
    pub courtyard_name: String,
    pub community_name: String,
    pub subdistrict_name: String,
    /// Whom it is assigned to, as a person reads it.
    pub assignee: Option<String>,
    /// Open, unanswered and past its response deadline.
    pub overdue: bool,
}

/// `GET /api/v1/console/tickets`: one keyset page, newest receipt first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketPage {
    pub tickets: Vec<TicketRow>,
    /// Pass as `after` for the next page; none on the last one.
    pub next_after: Option<String>,
    /// How many match, counted on the first page only (`after` absent).
    pub total: Option<u64>,
}

/// A photo of a ticket, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketPhoto {
    pub sha256: String,
    pub url: String,
    pub thumb_url: String,
}

/// A point on the map (WGS-84 as the registry holds it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MapPoint {
    pub lat: f64,
    pub lon: f64,
}

/// One line of a ticket's timeline, readable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineItem {
    pub at_ms: i64,
    pub kind: String,
    /// The author's name (or username when unknown).
    pub actor: String,
    pub text: String,
    /// The fold did not apply this event (e.g. a second resolution).
    pub conflict: bool,
}

/// Someone a ticket may be transferred to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerChoice {
    pub id: WorkerId,
    pub username: String,
    pub name: String,
}

/// `GET /api/v1/console/tickets/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    pub row: TicketRow,
    pub state: IssueState,
    pub contact_name: Option<String>,
    pub contact_phone_masked: Option<String>,
    /// What the caller may do on it now (the domain's rules and fold).
    pub offers: Vec<Offer>,
    pub photos: Vec<TicketPhoto>,
    pub point: Option<MapPoint>,
    pub timeline: Vec<TimelineItem>,
    /// Workers whose scope holds the ticket's place.
    pub workers: Vec<WorkerChoice>,
    /// Departments it may be whistled to (the district's departments).
    pub whistle_targets: Vec<String>,
}

/// `POST /api/v1/console/tickets/{id}/actions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketAction {
    /// Made by the page once per submit: the event's id, so a resend is answered as the
    /// first was and stored once.
    pub request_id: uuid::Uuid,
    pub body: EventBody,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketActionResult {
    /// `accepted`, or `duplicate` for a resend.
    pub outcome: String,
    pub ticket: Ticket,
}

/// `POST /api/v1/console/tickets/{id}/reveal-phone`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevealedPhone {
    pub phone: String,
}

/// A subdistrict in the pickers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubdistrictPlace {
    pub id: SubdistrictId,
    /// The registry code (what a worker's scope names).
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommunityPlace {
    pub id: CommunityId,
    pub code: String,
    pub name: String,
    pub subdistrict_id: SubdistrictId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CourtyardPlace {
    pub id: CourtyardId,
    pub code: String,
    pub name: String,
    pub community_id: CommunityId,
    pub lat: f64,
    pub lon: f64,
}

/// `GET /api/v1/console/places`: the registry in scope, for pickers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Places {
    pub subdistricts: Vec<SubdistrictPlace>,
    pub communities: Vec<CommunityPlace>,
    pub courtyards: Vec<CourtyardPlace>,
}

/// `GET /api/v1/console/nearest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NearestCourtyard {
    pub courtyard_id: CourtyardId,
    pub name: String,
    pub community_name: String,
    pub distance_m: f64,
}

/// A ticket whistled to the caller's department, with that whistle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DepartmentTicket {
    pub row: TicketRow,
    pub whistle: gridwalk_domain::fold::Whistle,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DepartmentInbox {
    pub tickets: Vec<DepartmentTicket>,
}

/// One courtyard on the map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MapCourtyard {
    pub id: CourtyardId,
    pub name: String,
    pub community_id: CommunityId,
    pub lat: f64,
    pub lon: f64,
    pub open: u64,
    pub overdue: u64,
    /// 0 (none) to 3, from the issues received there in the window (see the server README).
    pub hotspot: u8,
}

/// `GET /api/v1/console/map`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MapView {
    pub courtyards: Vec<MapCourtyard>,
}

/// One week column of the coverage tables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeekColumn {
    pub start_ms: i64,
    /// ISO week, e.g. `2026-W48`.
    pub label: String,
}

/// One unit's walking in one week column, by the domain's definitions
/// (`gridwalk_domain::foresight::coverage`, the tablet's code).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeekCoverage {
    /// Of the unit's courtyards, those a counting visit reached that week.
    pub visited: u64,
    /// `visited ÷ courtyards`; none without courtyards.
    pub share: Option<f64>,
    /// Counting visits to the unit's courtyards.
    pub visits: u64,
    /// Visits whose GPS point lay farther than `far_visit_m` from their courtyard (位置存疑):
    /// shown, never counted as visiting.
    pub flagged: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerCoverage {
    pub username: String,
    pub name: String,
    /// Courtyards they are the responsible worker of.
    pub courtyards: u64,
    /// One per week column: their own visits to their own courtyards.
    pub weeks: Vec<WeekCoverage>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommunityCoverage {
    pub id: CommunityId,
    pub name: String,
    pub courtyards: u64,
    /// One per week column: anyone's visits to the community's courtyards.
    pub weeks: Vec<WeekCoverage>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaleCourtyard {
    pub courtyard_id: CourtyardId,
    pub name: String,
    pub community_name: String,
    /// The latest counting visit, if any in the lookback.
    pub last_visit_ms: Option<i64>,
    /// A later visit that was flagged as far from the courtyard, if any.
    pub last_flagged_ms: Option<i64>,
}

/// `GET /api/v1/console/coverage`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coverage {
    pub weeks: Vec<WeekColumn>,
    /// The overdue threshold the answer used (the query's, else `[foresight] stale_days`).
    pub stale_days: i64,
    /// The distance beyond which a visit is flagged (`[foresight] far_visit_m`).
    pub far_visit_m: f64,
    pub workers: Vec<WorkerCoverage>,
    pub communities: Vec<CommunityCoverage>,
    /// Courtyards in scope not visited in `stale_days`, the longest-unvisited first.
    pub stale: Vec<StaleCourtyard>,
}

/// One device as the console lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceInfo {
    pub id: DeviceId,
    pub name: String,
    pub username: String,
    pub worker_name: String,
    /// `tablet` or `console` (a browser session).
    pub kind: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    /// When the device last reported (with a pull).
    pub last_sync_ms: Option<i64>,
    pub queue_depth: Option<u64>,
    pub oldest_unsent_ms: Option<i64>,
    pub rejected_count: Option<u64>,
    pub clock_offset_ms: Option<i64>,
    pub app_version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceList {
    pub devices: Vec<DeviceInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceRevoked {
    pub device_id: DeviceId,
    pub revoked: bool,
}

/// A worker as the admin page lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerRow {
    #[serde(flatten)]
    pub worker: WorkerInfo,
    pub disabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerRows {
    pub workers: Vec<WorkerRow>,
}

/// `POST /api/v1/console/workers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewWorkerRequest {
    pub username: String,
    pub name: String,
    /// A role code.
    pub role: String,
    pub scope: Vec<crate::ScopeUnit>,
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyRows {
    pub keys: Vec<ApiKeyRow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApiKeyRequest {
    pub name: String,
}

/// A new key, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewApiKeyResponse {
    pub id: String,
    pub key: String,
}

/// `POST /api/v1/console/registry/import`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistryImported {
    pub courtyards: u64,
    pub version: u64,
}

/// One bad line of an import, as the page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BadLine {
    pub line: usize,
    pub code: String,
    pub message: String,
}

/// The refusal of an import: `{code, message}` and every bad line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRefused {
    pub code: String,
    pub message: String,
    pub lines: Vec<BadLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Department {
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Route {
    /// A category code.
    pub category: String,
    /// The department it is whistled to.
    pub target: String,
}

/// `GET /api/v1/console/departments`: read-only, from the district's file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Departments {
    pub departments: Vec<Department>,
    pub routing: Vec<Route>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditLine {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// `GET /api/v1/console/audit`: newest first, keyset by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub entries: Vec<AuditLine>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}
