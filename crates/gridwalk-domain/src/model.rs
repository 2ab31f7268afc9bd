//! Visits and issues as recorded, and the small value types they carry.

use crate::ids::*;
use crate::vocab::*;
use serde::{Deserialize, Serialize};

/// A position from the tablet, with its accuracy radius in metres.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
}

/// A resident's contact. It is personal data: lists show [`ResidentContact::masked`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResidentContact {
    pub name: Option<String>,
    pub phone: String,
}

impl ResidentContact {
    /// The phone with its middle hidden, as every list shows it: 138****5678.
    pub fn masked_phone(&self) -> String {
        mask_phone(&self.phone)
    }
}

pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let n = chars.len();
    if n <= 4 {
        return "*".repeat(n);
    }
    let keep_head = if n >= 11 { 3 } else { 1 };
    let keep_tail = 4.min(n - keep_head);
    let hidden = n - keep_head - keep_tail;
    let mut out: String = chars[..keep_head].iter().collect();
    out.push_str(&"*".repeat(hidden));
    out.extend(&chars[n - keep_tail..]);
    out
}

/// One visit to a courtyard (走访).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Visit {
    pub courtyard: CourtyardId,
    pub mode: VisitMode,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub location: Option<Location>,
    pub notes: String,
    pub residents_met: u32,
    #[serde(default)]
    pub linked_issues: Vec<IssueId>,
}

/// A resident's issue as first reported (诉求).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssueReport {
    pub courtyard: CourtyardId,
    pub category: Category,
    pub source: IssueSource,
    pub description: String,
    pub contact: Option<ResidentContact>,
    pub location: Option<Location>,
    /// When the district received it. For a hotline work order this is the dispatch time the
    /// server stamped; `None` means "when it was reported", i.e. the event's corrected time.
    pub received_at_ms: Option<i64>,
    /// The hotline work-order number or other outside reference, if any.
    pub external_ref: Option<String>,
}
