//! SLA arithmetic on clock-corrected times. `now_ms` is always passed in.

use crate::fold::IssueState;
use serde::{Deserialize, Serialize};

/// How long before the deadline an issue counts as "due soon" by default.
pub const DEFAULT_DUE_SOON_MS: i64 = 15 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseSla {
    /// Not yet responded, more than the due-soon window left.
    Pending,
    /// Not yet responded, inside the due-soon window.
    DueSoon,
    /// Not responded and past the deadline.
    Overdue,
    /// Responded within the hour.
    Met,
    /// Responded, but late.
    Missed,
}

pub fn response_sla(s: &IssueState, now_ms: i64, due_soon_ms: i64) -> Option<ResponseSla> {
    let due = s.response_due_ms?;
    Some(match s.responded_at_ms {
        Some(at) if at <= due => ResponseSla::Met,
        Some(_) => ResponseSla::Missed,
        None if now_ms > due => ResponseSla::Overdue,
        None if now_ms > due - due_soon_ms => ResponseSla::DueSoon,
        None => ResponseSla::Pending,
    })
}
