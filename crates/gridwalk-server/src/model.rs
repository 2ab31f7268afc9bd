//! Plain data every layer shares: where a courtyard sits, what a worker's scope holds, and the
//! rows the store hands back. No IO and no rules beyond membership: the use cases in
//! [`crate::app`] decide, the store in [`crate::store`] keeps.

use gridwalk_domain::{CommunityId, CourtyardId, DeviceId, IssueId, IssueState, SubdistrictId, WorkerId};
use gridwalk_proto::WorkerInfo;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};

/// Where a courtyard sits: what scope checks and the event table's denormalized columns need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub courtyard: CourtyardId,
    pub community: CommunityId,
    pub subdistrict: SubdistrictId,
}

/// What a worker may see and write: the whole district, or a set of subdistricts, communities
/// and courtyards (resolved to ids), plus the departments whose whistled issues they see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub district: bool,
    pub subdistricts: HashSet<SubdistrictId>,
    pub communities: HashSet<CommunityId>,
    pub courtyards: HashSet<CourtyardId>,
    /// Whistle targets: issues whistled to one of these are in scope (department staff).
    pub departments: BTreeSet<String>,
}

impl Scope {
    /// The whole district: what the hotline desk and Open311 file into.
    pub fn district() -> Scope {
        Scope { district: true, ..Default::default() }
    }

    pub fn contains(&self, p: &Place) -> bool {
        self.district
            || self.courtyards.contains(&p.courtyard)
            || self.communities.contains(&p.community)
            || self.subdistricts.contains(&p.subdistrict)
    }
}

/// An issue as lists, dashboards and jobs read it: the folded state *without* its history
/// (which `GET /issues/{id}` folds from the events when someone opens the issue), plus the
/// few facts of the history a list shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssueView {
    /// The fold's state with `history` left empty.
    pub state: IssueState,
    /// Events of the history the fold kept as conflicts.
    pub conflicts: u32,
    /// The latest non-empty note-like text (note, progress, response, resolution …).
    pub last_note: Option<String>,
    /// The newest event's clock-corrected time.
    pub updated_ms: Option<i64>,
    /// The latest note of a progress step a worker marked public (告知进展): the only worker
    /// text the public listing may show (scrubbed). Older views lack it, hence the default.
    #[serde(default)]
    pub public_note: Option<String>,
}

/// The id the public knows an issue by (Open311's `service_request_id`): 20 hex digits of a
/// sha256 over the issue id. One-way on purpose: the internal id opens the sync and scope
/// paths, so the public must not learn it, while the server derives the public id from the
/// issue id without storing a secret or drawing randomness.
pub fn public_id(issue: IssueId) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("gridwalk public id\0{issue}").as_bytes());
    hex::encode(&digest[..10])
}

/// Whether `s` has the shape of a [`public_id`].
pub fn is_public_id(s: &str) -> bool {
    s.len() == 20 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One page of the public listing: issues received in `[from_ms, to_ms]`, newest first, by
/// `(received_at_ms, public_id)` strictly after the cursor, at most `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicPage {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Category codes; `None` for every category.
    pub categories: Option<Vec<String>>,
    /// `Some(true)` only final issues (closed, duplicate, cancelled), `Some(false)` only open ones.
    pub final_only: Option<bool>,
    /// The last row of the previous page: `(received_at_ms, public_id)`.
    pub after: Option<(i64, String)>,
    pub limit: u32,
}

/// A worker row with its password hash.
#[derive(Clone, Debug)]
pub struct WorkerRecord {
    pub info: WorkerInfo,
    pub password_hash: String,
    /// When an admin disabled the worker; `None` while enabled.
    pub disabled_ms: Option<i64>,
}

/// What a bearer token's hash names.
#[derive(Clone, Debug)]
pub struct DeviceToken {
    pub device: DeviceId,
    pub worker: WorkerId,
    pub revoked_ms: Option<i64>,
    /// When the token stops working unless a sync renews it; `None` until first renewed.
    pub expires_ms: Option<i64>,
    /// A browser session of the console, not a tablet.
    pub console: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    pub id: DeviceId,
    pub username: String,
    pub name: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub held_seq: u64,
}

/// An event the server settled without storing it as an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub conflict: bool,
    pub code: String,
    pub reason: String,
}

/// A refusal as stored, with the content hash of what was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRefusal {
    pub hash: String,
    pub refusal: Refusal,
}

/// An escalation the server carried out, as the alert list reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationRow {
    pub issue_id: gridwalk_domain::IssueId,
    pub kind: String,
    pub level: String,
    pub at_ms: i64,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// An Open311 API key as listed: never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// One stored event, as devices waiting for news need it: where it is and who sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub seq: u64,
    pub device: DeviceId,
    pub place: Place,
    /// The issue's whistle targets (departments see what is whistled to them).
    pub targets: Vec<String>,
}

impl Change {
    /// Whether a device with `scope` pulls this change.
    pub fn concerns(&self, scope: &Scope, own_device: DeviceId) -> bool {
        self.device != own_device && (scope.contains(&self.place) || self.targets.iter().any(|t| scope.departments.contains(t)))
    }
}

/// What a message to a resident tells of (告知进展、告知结果).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    Responded,
    Progress,
    Resolved,
}

impl NoticeKind {
    pub fn code(self) -> &'static str {
        match self {
            NoticeKind::Responded => "responded",
            NoticeKind::Progress => "progress",
            NoticeKind::Resolved => "resolved",
        }
    }

    pub fn from_code(code: &str) -> Option<NoticeKind> {
        [NoticeKind::Responded, NoticeKind::Progress, NoticeKind::Resolved].into_iter().find(|k| k.code() == code)
    }
}

/// Where a message is in its delivery: `queued` until the sender took it (`sent`) or it was
/// given up (`failed`: refused, or out of attempts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoticeState {
    Queued,
    Sent,
    Failed,
}

impl NoticeState {
    pub fn code(self) -> &'static str {
        match self {
            NoticeState::Queued => "queued",
            NoticeState::Sent => "sent",
            NoticeState::Failed => "failed",
        }
    }

    pub fn from_code(code: &str) -> Option<NoticeState> {
        [NoticeState::Queued, NoticeState::Sent, NoticeState::Failed].into_iter().find(|s| s.code() == code)
    }
}

/// A stored message to a resident. It holds the resident's phone: its `Debug` masks it.
#[derive(Clone, PartialEq, Eq)]
pub struct NoticeRow {
    /// The row's place in the queue (local to this database).
    pub seq: i64,
    /// The event it tells of; also the message's id on the wire.
    pub event_id: gridwalk_domain::EventId,
    pub issue_id: gridwalk_domain::IssueId,
    pub kind: NoticeKind,
    pub phone: String,
    pub text: String,
    pub state: NoticeState,
    /// Tries made so far.
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub sent_ms: Option<i64>,
}

impl std::fmt::Debug for NoticeRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeRow")
            .field("seq", &self.seq)
            .field("event_id", &self.event_id)
            .field("issue_id", &self.issue_id)
            .field("kind", &self.kind)
            .field("phone", &gridwalk_domain::mask_phone(&self.phone))
            .field("text", &self.text)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("next_attempt_ms", &self.next_attempt_ms)
            .field("last_error", &self.last_error)
            .field("created_ms", &self.created_ms)
            .field("sent_ms", &self.sent_ms)
            .finish()
    }
}

/// An order waiting in the district dispatcher's queue, as stored.
#[derive(Clone, PartialEq)]
pub struct UnplacedRow {
    pub order: gridwalk_proto::HotlineIntake,
    /// The `Unplaced` reason's code.
    pub reason: String,
    pub subdistrict: Option<gridwalk_domain::SubdistrictId>,
    pub community: Option<gridwalk_domain::CommunityId>,
    pub queued_ms: i64,
    pub placed_issue: Option<gridwalk_domain::IssueId>,
}

impl std::fmt::Debug for UnplacedRow {
    // The order holds the resident's phone: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnplacedRow").field("order_no", &self.order.order_no).field("reason", &self.reason).finish_non_exhaustive()
    }
}

/// What the console's ticket list asks: filters, and the keyset position (newest receipt
/// first, by `(received_at_ms, id)` strictly before the cursor).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketQuery {
    pub status: Option<String>,
    pub category: Option<String>,
    pub source: Option<String>,
    pub subdistrict: Option<SubdistrictId>,
    pub community: Option<CommunityId>,
    pub courtyard: Option<CourtyardId>,
    /// An assignee key as the issues table stores it (`worker:<id>`, `community:<id>`, `dispatcher`).
    pub assignee: Option<String>,
    /// Only issues open, unanswered and past their response deadline at this time.
    pub overdue_at: Option<i64>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Only issues whistled to one of the scope's departments (the department inbox).
    pub whistled_only: bool,
    pub before: Option<(i64, IssueId)>,
    pub limit: u32,
}

/// One courtyard's counts for the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CourtyardCounts {
    pub courtyard: CourtyardId,
    pub open: u64,
    pub overdue: u64,
}

/// What the audit reader asks: filters, newest first, ids strictly below `before`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// A device with its worker and its last report, for the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceDetail {
    pub id: DeviceId,
    pub name: String,
    pub worker: WorkerId,
    pub username: String,
    pub worker_name: String,
    pub kind: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    /// When the report was received, and the report.
    pub report: Option<(i64, gridwalk_proto::console::DeviceReport)>,
}

/// The kind of a browser session's device.
pub const CONSOLE_DEVICE: &str = "console";

/// Issues of one courtyard and category received in one bucket of a range (a hotspot window
/// or an ISO week): one row of [`crate::store::Reader::issue_buckets`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssueBucket {
    pub courtyard: CourtyardId,
    pub category: gridwalk_domain::Category,
    /// `(received_at_ms - from_ms) / bucket_ms`.
    pub bucket: i64,
    pub count: u64,
}
