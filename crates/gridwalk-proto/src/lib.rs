//! The wire between tablet and district server. Transport types only: both ends convert to and
//! from domain types at their edge.

use gridwalk_domain::{
    Category, Community, CommunityId, Courtyard, CourtyardId, DeviceId, Event, EventId, IssueId, ManagementGrid, ResidentContact, Role,
    Subdistrict, SubdistrictId, TechnicalGrid, WorkerId,
};
use serde::{Deserialize, Serialize};

/// The API version; the path prefix is `/api/v1`.
pub const API_VERSION: u32 = 1;
/// Header the server sets on every response with its wall clock in ms, for clock-offset measurement.
pub const SERVER_TIME_HEADER: &str = "x-gridwalk-server-time";

/// Every error, from every endpoint: a stable machine code and a human message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// A stable machine code (`invalid_token`, `out_of_scope`, …): what clients branch on.
    pub code: String,
    pub message: String,
    /// On a refused login (`login_locked`, `login_throttled`): seconds until the next try may
    /// succeed, as the `Retry-After` header says. Absent on every other error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// A name for the device, shown in `device list`.
    pub device_name: String,
    /// Log in again as this device (an enrolled tablet whose token expired): the device keeps
    /// its id, its sequence, what it queued and its notify-only token (the answer's
    /// `notify_token` is then empty), and gets a fresh session token. It must be the worker's
    /// own and not revoked (else `token_revoked`). Absent: a new device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
}

/// One unit of a worker's scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "level", content = "code", rename_all = "snake_case")]
pub enum ScopeUnit {
    District,
    Subdistrict(String),
    Community(String),
    Courtyard(String),
    /// A district department or section (the whistle target code, e.g. 区城管委): its staff see
    /// only the issues whistled to it.
    Department(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerInfo {
    pub id: WorkerId,
    pub username: String,
    pub name: String,
    pub role: Role,
    pub scope: Vec<ScopeUnit>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// Shown once; the server keeps only its hash.
    pub token: String,
    pub device_id: DeviceId,
    pub worker: WorkerInfo,
    pub server_time_ms: i64,
    /// Shown once, like `token`: a second credential that only answers
    /// `GET /api/v1/notify/count` ("N new for you"), for a locked tablet to hold outside its
    /// encrypted store.
    #[serde(default)]
    pub notify_token: String,
}

/// The answer of `GET /api/v1/notify/count`: a number, nothing about what it counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotifyCount {
    /// Orders assigned or transferred to the device's worker, and urges on their issues,
    /// stored after the cursor.
    pub new: u32,
    /// The newest sequence the server held when it answered.
    pub latest_seq: u64,
}

/// One event in a device's log, with its gapless per-device sequence number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoggedEvent {
    pub seq: u64,
    pub event: Event,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    pub device_id: DeviceId,
    pub events: Vec<LoggedEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PushOutcome {
    /// Stored now.
    Accepted,
    /// Already stored with identical content: a resend.
    Duplicate,
    /// Refused for good (out of scope, invalid). The tablet keeps it and shows the reason.
    Rejected { code: String, reason: String },
    /// The same (device, seq) is already held with different content. Never overwritten.
    Conflict { reason: String },
    /// Not taken because an earlier sequence is missing; send it again after the gap is filled.
    Gap,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResult {
    pub seq: u64,
    pub event_id: EventId,
    #[serde(flatten)]
    pub outcome: PushOutcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    pub results: Vec<PushResult>,
    /// The highest contiguous sequence the server now holds for this device (rejections count
    /// as held: they are settled).
    pub acked_seq: u64,
    pub server_time_ms: i64,
    /// The server database's epoch: made anew by every restore from a backup. A tablet that
    /// sees it change lowers its acknowledged position to `acked_seq`, re-sends the rest and
    /// pulls again from 0. Absent from older servers.
    #[serde(default)]
    pub epoch: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PulledEvent {
    /// The server's global sequence: the pull cursor.
    pub server_seq: u64,
    pub event: Event,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistrySnapshot {
    pub subdistricts: Vec<Subdistrict>,
    pub communities: Vec<Community>,
    pub management_grids: Vec<ManagementGrid>,
    pub technical_grids: Vec<TechnicalGrid>,
    pub courtyards: Vec<Courtyard>,
    /// Each courtyard's responsible grid worker (责任网格员), where one is named.
    #[serde(default)]
    pub responsible: Vec<ResponsibleWorker>,
    /// The registry version this snapshot is at.
    pub version: u64,
}

/// A courtyard's responsible grid worker, as tablets show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponsibleWorker {
    pub courtyard_id: CourtyardId,
    pub worker_id: WorkerId,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    pub events: Vec<PulledEvent>,
    /// Pass back as `after` next time.
    pub next_cursor: u64,
    pub has_more: bool,
    /// The registry in scope when it changed since `registry_version` (None when unchanged).
    pub registry: Option<RegistrySnapshot>,
    pub server_time_ms: i64,
    /// The server database's epoch (see [`PushResponse::epoch`]). Absent from older servers.
    #[serde(default)]
    pub epoch: Option<String>,
    /// The highest contiguous sequence the server holds for the pulling device: a tablet whose
    /// acknowledged position is past it (a restored server) re-sends from here.
    #[serde(default)]
    pub held_seq: Option<u64>,
    /// The highest global sequence the server holds: a pull cursor past it is from before a
    /// restore, and is reset.
    #[serde(default)]
    pub max_seq: Option<u64>,
}

/// Where a hotline work order happened: a known courtyard (by id or code: a caller's mistake
/// there is refused), or a free address, matched against the registry's names and
/// cross-checked with the point when one is given. An address that cannot be placed is never
/// refused: the order waits in the district dispatcher's queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum IntakePlace {
    Courtyard {
        courtyard_id: CourtyardId,
    },
    CourtyardCode {
        code: String,
    },
    Address {
        address: String,
        #[serde(default)]
        lat: Option<f64>,
        #[serde(default)]
        lon: Option<f64>,
    },
}

/// A 12345 hotline work order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HotlineIntake {
    /// The hotline's work-order number; the intake is idempotent on it.
    pub order_no: String,
    pub place: IntakePlace,
    pub category: String,
    pub description: String,
    /// When the hotline received it (the 1-hour clock starts here). RFC 3339 is not used on the
    /// wire: milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    pub contact: Option<ResidentContact>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HotlineIntakeResponse {
    pub issue_id: IssueId,
    pub courtyard_id: CourtyardId,
    pub subdistrict_id: SubdistrictId,
    pub community_id: CommunityId,
    pub response_due_ms: i64,
    /// False when the order number was already taken in: the same issue is returned.
    pub created: bool,
    /// An open issue of the same category nearby and recent that this order probably repeats
    /// (`[foresight] nearby_radius_m`, `duplicate_days`). With `on_duplicate = "link"` the new
    /// issue is marked with it; with `"attach"`, `issue_id` is that issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probable_duplicate_of: Option<IssueId>,
    /// True when no ticket was opened: the order was added to `issue_id` as a "me too"
    /// (`on_duplicate = "attach"`).
    #[serde(default)]
    pub attached: bool,
}

/// An order the server could not place at a courtyard (HTTP 202): it waits in the district
/// dispatcher's queue with the reason, until a dispatcher places it. The 1-hour clock still
/// runs from `received_at_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HotlineQueued {
    pub order_no: String,
    /// The stable code of why (`outside_district`, `no_match`, `ambiguous`, `point_disagrees`, `conflicting`).
    pub reason: String,
    pub reason_zh: String,
    pub reason_en: String,
    /// What the address did name, when every reading agreed on it.
    pub subdistrict_id: Option<SubdistrictId>,
    pub community_id: Option<CommunityId>,
    pub response_due_ms: i64,
    /// False when the order number was already queued.
    pub created: bool,
}

/// One order in the district dispatcher's queue, as the dispatcher reads it (the phone
/// masked).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnplacedOrder {
    pub order_no: String,
    pub address: String,
    pub category: String,
    pub description: String,
    pub contact_phone_masked: Option<String>,
    pub received_at_ms: i64,
    pub response_due_ms: i64,
    pub reason: String,
    pub reason_zh: String,
    pub subdistrict_id: Option<SubdistrictId>,
    pub community_id: Option<CommunityId>,
    pub queued_ms: i64,
}

/// The dispatcher's desk: orders not placed yet, issues returned (退单) to the dispatcher, and
/// issues waiting in a community's supervisor queue, all in the caller's scope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DispatchQueue {
    pub unplaced: Vec<UnplacedOrder>,
    pub returned: Vec<IssueSummary>,
    pub community: Vec<IssueSummary>,
}

/// The hotline centre's callback to the resident (回访) on an order, recorded through the API
/// (not by the worker who resolved it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HotlineCallback {
    pub order_no: String,
    /// satisfied | basically_satisfied | dissatisfied
    pub satisfaction: String,
    #[serde(default)]
    pub note: String,
}

/// What a callback did to the issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HotlineCallbackResponse {
    pub issue_id: IssueId,
    /// The issue's status after the callback (closed, or in_progress again when dissatisfied).
    pub status: String,
}

/// Place a queued order at a courtyard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    pub courtyard_id: CourtyardId,
}

/// How much of a blob the server holds: the resume point of an upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlobStatus {
    pub sha256: String,
    pub held_bytes: u64,
    pub complete: bool,
}

pub fn category_codes() -> Vec<&'static str> {
    Category::ALL.iter().map(|c| c.code()).collect()
}

/// One issue as the server lists it: the folded state without its history, the resident's
/// phone masked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssueSummary {
    pub id: IssueId,
    pub courtyard_id: CourtyardId,
    pub category: Category,
    pub source: gridwalk_domain::IssueSource,
    pub status: gridwalk_domain::IssueStatus,
    pub description: String,
    pub contact_name: Option<String>,
    /// Masked as 138****5678: lists never show a full phone number.
    pub contact_phone_masked: Option<String>,
    pub external_ref: Option<String>,
    pub received_at_ms: Option<i64>,
    pub response_due_ms: Option<i64>,
    pub responded_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub closed_at_ms: Option<i64>,
    pub reopen_count: u32,
    /// Events in the history that did not apply (e.g. two workers both resolved it).
    pub conflicts: u32,
}

/// A page of issues (`GET /api/v1/issues`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssueList {
    pub issues: Vec<IssueSummary>,
    /// Pass as `after` for the next page; None on the last page.
    pub next_after: Option<IssueId>,
}

/// Visits (`GET /api/v1/visits`), folded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VisitList {
    pub visits: Vec<gridwalk_domain::VisitState>,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub api_version: u32,
}

/// One escalation the server carried out on its own (`GET /api/v1/alerts`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub issue_id: IssueId,
    /// `alert_supervisor` (no response within the hour) or `whistle_next` (unresolved too long).
    pub kind: String,
    /// The whistle level for `whistle_next`; empty otherwise.
    pub level: String,
    pub at_ms: i64,
    pub detail: String,
    pub issue: Option<IssueSummary>,
}

/// `GET /api/v1/alerts`, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertList {
    pub alerts: Vec<Alert>,
}

/// `GET /api/v1/rates`: the three rates per group and period (definitions in
/// `gridwalk_domain::rates`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RatesReport {
    pub by: String,
    pub period: gridwalk_domain::rates::Period,
    pub from_ms: i64,
    pub to_ms: i64,
    pub as_of_ms: i64,
    pub rows: Vec<gridwalk_domain::rates::RateRow>,
    /// A readable name for each group key (subdistrict or community name, category label,
    /// worker name).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// One pledged issue with its progress (`GET /api/v1/pledges`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PledgeProgress {
    pub issue: IssueSummary,
    pub pledge: gridwalk_domain::fold::Pledge,
    pub whistles: Vec<gridwalk_domain::fold::Whistle>,
    pub satisfaction: Option<gridwalk_domain::Satisfaction>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PledgeList {
    pub pledges: Vec<PledgeProgress>,
}

/// One message to a resident about an issue (告知), as staff see it: the phone masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoticeInfo {
    /// The message's id: the id of the event it tells of (also its `Idempotency-Key`).
    pub id: EventId,
    /// `responded`, `progress` or `resolved`.
    pub kind: String,
    pub phone_masked: String,
    pub text: String,
    /// `queued`, `sent` or `failed`.
    pub state: String,
    /// Tries made so far.
    pub attempts: u32,
    /// When the next try is due (queued messages only).
    pub next_attempt_ms: Option<i64>,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub sent_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoticeList {
    /// Oldest first.
    pub notices: Vec<NoticeInfo>,
}
pub mod console;
