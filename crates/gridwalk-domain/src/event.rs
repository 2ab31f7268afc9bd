//! Events: every change is one, immutable, and the state is their fold.

use crate::hlc::Hlc;
use crate::ids::*;
use crate::model::*;
use crate::vocab::*;
use serde::{Deserialize, Serialize};

/// What an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Entity {
    Issue(IssueId),
    Visit(VisitId),
}

impl Entity {
    pub fn kind(&self) -> &'static str {
        match self {
            Entity::Issue(_) => "issue",
            Entity::Visit(_) => "visit",
        }
    }
    pub fn uuid(&self) -> uuid::Uuid {
        match self {
            Entity::Issue(id) => id.0,
            Entity::Visit(id) => id.0,
        }
    }
}

/// Whom an issue is assigned to (派单). Never nobody: an order without a responsible worker
/// waits in its community's supervisor queue, and one that cannot be placed (or was returned)
/// in the district dispatcher's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "to", content = "id", rename_all = "snake_case")]
pub enum Assignee {
    /// A named worker, normally the courtyard's responsible grid worker (责任网格员).
    Worker(WorkerId),
    /// The supervisors of this community.
    Community(CommunityId),
    /// The district dispatcher (区派单员).
    Dispatcher,
}

/// The kind-specific part of an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum EventBody {
    VisitRecorded(Visit),
    IssueReported(IssueReport),
    /// The resident was contacted (响应).
    IssueResponded {
        note: String,
    },
    NoteAdded {
        text: String,
    },
    PhotoAttached {
        sha256: String,
        bytes: u64,
        mime: String,
    },
    IssueResolved {
        note: String,
        photo_sha256: Option<String>,
    },
    CallbackRecorded {
        satisfaction: Satisfaction,
        note: String,
    },
    IssueReopened {
        reason: String,
    },
    /// Work is under way (工作进展), e.g. a repair is booked. `public` steps are told to the
    /// resident (告知进展).
    ProgressAdded {
        note: String,
        // Skipped when false, so events recorded before the flag existed hash as they did.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        public: bool,
    },
    /// The issue is whistled up a level (吹哨) to a named target (a section, a department, the
    /// party members of a branch), which must report in.
    Whistled {
        level: WhistleLevel,
        target: String,
        note: String,
    },
    /// The whistled target reports in (报到) and takes the issue up.
    ReportedIn {
        target: String,
        note: String,
    },
    /// Closed without (or after) a callback, e.g. the resident could not be reached.
    IssueClosed {
        note: String,
    },
    /// The same problem came back at the same place: set on the earlier issue, which reopens.
    Recurred {
        new_issue: IssueId,
    },
    /// Set on a new issue that repeats an earlier one (愈后防复).
    RecurrenceFlagged {
        earlier_issue: IssueId,
    },
    /// A cadre adopts the issue as their pledged problem.
    Pledged {
        kind: PledgeKind,
        note: String,
    },
    /// The server dispatched the issue (派单): at intake, or again after a return.
    Assigned {
        to: Assignee,
        reason: String,
    },
    /// The assignee takes the order (签收).
    Accepted {
        note: String,
    },
    /// The assignee hands the order back (退单) to the dispatcher, with the reason.
    Returned {
        reason: ReturnReason,
        note: String,
    },
    /// A supervisor sends the issue to another worker or community (转派). The response clock
    /// keeps running from receipt.
    Transferred {
        to: Assignee,
        note: String,
    },
    /// A supervisor presses the assignee (催办).
    Urged {
        note: String,
    },
    /// The assignee asks for more time (延期申请) until `until_ms` (server clock).
    ExtensionRequested {
        until_ms: i64,
        reason: String,
    },
    /// A supervisor approves or refuses the pending extension.
    ExtensionDecided {
        approved: bool,
        note: String,
    },
    /// A supervisor reviews a resolution (审核): passed closes it, refused sends it back.
    Reviewed {
        approved: bool,
        note: String,
    },
    /// A supervisor closes the report as a repeat of another issue (重复件).
    ClosedAsDuplicate {
        of: IssueId,
        note: String,
    },
    /// Set by the server on the issue a duplicate was closed into.
    DuplicateLinked {
        duplicate: IssueId,
    },
    /// A supervisor cancels a mistaken report (撤销).
    Cancelled {
        reason: String,
    },
    /// Another resident reports the same open problem (我也遇到): counted on the issue instead
    /// of opening a second one (一事一单). `order_no` is the hotline order attached this way.
    MeToo {
        note: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order_no: Option<String>,
    },
    /// Set by the server on a new issue when intake found an open issue it probably repeats
    /// (same category, nearby, recent): a supervisor decides whether to merge them.
    DuplicateSuspected {
        of: IssueId,
        distance_m: u32,
    },
}

impl EventBody {
    /// The stable kind code, as stored and shown in timelines.
    pub fn kind(&self) -> &'static str {
        self.event_kind().code()
    }

    pub fn event_kind(&self) -> EventKind {
        use EventKind as K;
        match self {
            EventBody::VisitRecorded(_) => K::VisitRecorded,
            EventBody::IssueReported(_) => K::IssueReported,
            EventBody::IssueResponded { .. } => K::IssueResponded,
            EventBody::NoteAdded { .. } => K::NoteAdded,
            EventBody::PhotoAttached { .. } => K::PhotoAttached,
            EventBody::IssueResolved { .. } => K::IssueResolved,
            EventBody::CallbackRecorded { .. } => K::CallbackRecorded,
            EventBody::IssueReopened { .. } => K::IssueReopened,
            EventBody::ProgressAdded { .. } => K::ProgressAdded,
            EventBody::Whistled { .. } => K::Whistled,
            EventBody::ReportedIn { .. } => K::ReportedIn,
            EventBody::IssueClosed { .. } => K::IssueClosed,
            EventBody::Recurred { .. } => K::Recurred,
            EventBody::RecurrenceFlagged { .. } => K::RecurrenceFlagged,
            EventBody::Pledged { .. } => K::Pledged,
            EventBody::Assigned { .. } => K::Assigned,
            EventBody::Accepted { .. } => K::Accepted,
            EventBody::Returned { .. } => K::Returned,
            EventBody::Transferred { .. } => K::Transferred,
            EventBody::Urged { .. } => K::Urged,
            EventBody::ExtensionRequested { .. } => K::ExtensionRequested,
            EventBody::ExtensionDecided { .. } => K::ExtensionDecided,
            EventBody::Reviewed { .. } => K::Reviewed,
            EventBody::ClosedAsDuplicate { .. } => K::ClosedAsDuplicate,
            EventBody::DuplicateLinked { .. } => K::DuplicateLinked,
            EventBody::Cancelled { .. } => K::Cancelled,
            EventBody::MeToo { .. } => K::MeToo,
            EventBody::DuplicateSuspected { .. } => K::DuplicateSuspected,
        }
    }
}

/// One change, as written once on the device that made it and never edited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: EventId,
    pub author: WorkerId,
    pub device: DeviceId,
    pub hlc: Hlc,
    /// The device's wall clock when the event was recorded (may be wrong).
    pub wall_ms: i64,
    /// server clock − device clock, as last measured by a sync before the event was recorded.
    #[serde(default)]
    pub clock_offset_ms: i64,
    pub entity: Entity,
    pub body: EventBody,
}

impl Event {
    /// The event's time on the server's clock: what SLA figures use.
    pub fn corrected_ms(&self) -> i64 {
        self.wall_ms.saturating_add(self.clock_offset_ms)
    }

    /// The fold order: (HLC, event id). Never arrival order.
    pub fn order_key(&self) -> (Hlc, EventId) {
        (self.hlc, self.id)
    }
}
