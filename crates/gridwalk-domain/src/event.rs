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
    /// Work is under way (工作进展), e.g. a repair is booked.
    ProgressAdded {
        note: String,
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
}

impl EventBody {
    /// The stable kind code, as stored and shown in timelines.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::VisitRecorded(_) => "visit_recorded",
            EventBody::IssueReported(_) => "issue_reported",
            EventBody::IssueResponded { .. } => "issue_responded",
            EventBody::NoteAdded { .. } => "note_added",
            EventBody::PhotoAttached { .. } => "photo_attached",
            EventBody::IssueResolved { .. } => "issue_resolved",
            EventBody::CallbackRecorded { .. } => "callback_recorded",
            EventBody::IssueReopened { .. } => "issue_reopened",
            EventBody::ProgressAdded { .. } => "progress_added",
            EventBody::Whistled { .. } => "whistled",
            EventBody::ReportedIn { .. } => "reported_in",
            EventBody::IssueClosed { .. } => "issue_closed",
            EventBody::Recurred { .. } => "recurred",
            EventBody::RecurrenceFlagged { .. } => "recurrence_flagged",
            EventBody::Pledged { .. } => "pledged",
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
