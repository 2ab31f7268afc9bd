//! Gridwalk's domain: what a visit, an issue and an event are, and what a set of events means.
//!
//! Pure by rule: no IO, no clock reads, no randomness. Time and ids come in as arguments, so the
//! tablet and the server fold the same events into the same state.

pub mod address;
pub mod calendar;
pub mod console;
pub mod event;
pub mod fold;
pub mod foresight;
pub mod hlc;
pub mod ids;
pub mod model;
pub mod password;
pub mod publish;
pub mod rates;
pub mod registry;
pub mod registry_gen;
pub mod rules;
pub mod sla;
pub mod validate;
pub mod vocab;

pub use event::{Assignee, Entity, Event, EventBody};
pub use fold::{fold_issue, fold_visit, Conflict, Extension, HistoryEntry, IssueState, Return, VisitState, RESPONSE_WINDOW_MS};
pub use hlc::Hlc;
pub use ids::*;
pub use model::*;
pub use registry::*;
pub use validate::ValidationError;
pub use vocab::*;
