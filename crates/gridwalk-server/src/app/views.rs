//! Views are what the events mean: each entity is folded with the domain's fold (the tablet's
//! code) and written back as a lean view. An issue's view keeps no history; whoever opens the
//! issue gets it folded from the events.

use super::registry::RegistryIndex;
use crate::error::Result;
use crate::model::{IssueView, Place};
use crate::store::{Reader, Tx};
use gridwalk_domain::foresight::geo::distance_m;
use gridwalk_domain::registry::GeoPoint;
use gridwalk_domain::{fold_issue, fold_visit, Entity, Event, EventBody, HistoryEntry, IssueState, Visit};

/// The shape of the stored views. Bump it when [`IssueView`] or what it is derived from changes:
/// the server then rebuilds every view from the events once, on open.
pub const VIEWS_VERSION: u32 = 5;

/// The meta key holding the views' shape.
const VIEWS_KEY: &str = "views_version";

/// The latest non-empty note-like text of a folded issue (its notes, progress, response,
/// resolution …), skipping events the fold kept as conflicts.
pub fn last_note(s: &IssueState) -> Option<String> {
    s.history
        .iter()
        .rev()
        .filter(|h| h.conflict.is_none() && !matches!(h.event.body, EventBody::IssueReported(_)))
        .find_map(|h| event_text(&h.event.body).filter(|t| !t.trim().is_empty()).map(str::to_owned))
}

/// The note-like text an event carries (a note, a reason), if its kind has one.
pub fn event_text(body: &EventBody) -> Option<&str> {
    Some(match body {
        EventBody::NoteAdded { text } => text,
        EventBody::ProgressAdded { note, .. }
        | EventBody::IssueResponded { note }
        | EventBody::Accepted { note }
        | EventBody::Returned { note, .. }
        | EventBody::Transferred { note, .. }
        | EventBody::Urged { note }
        | EventBody::ExtensionDecided { note, .. }
        | EventBody::Reviewed { note, .. }
        | EventBody::ClosedAsDuplicate { note, .. }
        | EventBody::IssueResolved { note, .. }
        | EventBody::IssueClosed { note }
        | EventBody::CallbackRecorded { note, .. }
        | EventBody::Whistled { note, .. }
        | EventBody::ReportedIn { note, .. }
        | EventBody::MeToo { note, .. } => note,
        EventBody::IssueReopened { reason } | EventBody::Cancelled { reason } | EventBody::ExtensionRequested { reason, .. } => reason,
        EventBody::IssueReported(r) => &r.description,
        _ => return None,
    })
}

/// The latest public progress note (a step the worker marked to be told to the resident), the
/// one worker text the public may see.
pub fn public_note(s: &IssueState) -> Option<String> {
    s.history.iter().rev().filter(|h| h.conflict.is_none()).find_map(|h| match &h.event.body {
        EventBody::ProgressAdded { note, public: true } if !note.trim().is_empty() => Some(note.clone()),
        _ => None,
    })
}

/// The lean view of a folded issue: its state without the history, and what lists need of it.
pub fn issue_view(state: IssueState) -> IssueView {
    split_view(state).0
}

/// The lean view of a folded issue, and the history it left out.
fn split_view(mut state: IssueState) -> (IssueView, Vec<HistoryEntry>) {
    let conflicts = state.conflicts().count() as u32;
    let last_note = last_note(&state);
    let public_note = public_note(&state);
    let updated_ms = state.history.iter().map(|h| h.event.corrected_ms()).max();
    let history = std::mem::take(&mut state.history);
    (IssueView { state, conflicts, last_note, updated_ms, public_note }, history)
}

/// Fold one entity from every stored event and write its view. `fallback` is where it sits
/// if its report is not known yet (an orphan follow-up cannot be stored, so this is the place
/// of the event that touched it). Returns an issue's folded state, history included (what the
/// caller may act on, e.g. the messages to the resident); `None` for a visit.
pub fn refold(tx: &dyn Tx, registry: &RegistryIndex, entity: Entity, fallback: &Place) -> Result<Option<IssueState>> {
    let events = tx.entity_events(entity)?;
    refold_from(tx, registry, entity, events, fallback)
}

/// [`refold`] from `events`, which must be every stored event of the entity in stored order
/// (a push that reported the entity holds them all already).
pub fn refold_from(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    entity: Entity,
    events: Vec<Event>,
    fallback: &Place,
) -> Result<Option<IssueState>> {
    match entity {
        Entity::Issue(id) => {
            let state = fold_issue(id, events);
            let place = state.report.as_ref().and_then(|r| registry.place(r.courtyard)).unwrap_or(*fallback);
            let point = issue_point(registry, &state);
            let (view, history) = split_view(state);
            tx.put_issue_view(&view, &place, point)?;
            Ok(Some(IssueState { history, ..view.state }))
        }
        Entity::Visit(id) => {
            let state = fold_visit(id, events);
            let place = state.visit.as_ref().and_then(|v| registry.place(v.courtyard)).unwrap_or(*fallback);
            let distance = state.visit.as_ref().and_then(|v| visit_distance_m(registry, v));
            tx.put_visit_view(&state, &place, distance)?;
            Ok(None)
        }
    }
}

/// Where an issue is, for "already reported nearby": its report's GPS point, else its
/// courtyard's registry point (see `gridwalk_domain::foresight::nearby`).
pub fn issue_point(registry: &RegistryIndex, s: &IssueState) -> Option<GeoPoint> {
    let r = s.report.as_ref()?;
    match r.location {
        Some(l) => Some(GeoPoint { lat: l.lat, lon: l.lon }),
        None => registry.courtyard(r.courtyard).map(|y| y.point),
    }
}

/// How far a visit's GPS point lay from its courtyard's registry point: what decides whether
/// it counts for coverage (`far_visit_m`). None without a point or a known courtyard.
pub fn visit_distance_m(registry: &RegistryIndex, v: &Visit) -> Option<f64> {
    let at = v.location?;
    let yard = registry.courtyard(v.courtyard)?;
    Some(distance_m(GeoPoint { lat: at.lat, lon: at.lon }, yard.point))
}

/// Whether the stored views have another shape than this build's.
pub fn stale(r: &dyn Reader) -> Result<bool> {
    Ok(r.meta(VIEWS_KEY)?.and_then(|v| v.parse::<u32>().ok()) != Some(VIEWS_VERSION))
}

/// Rebuild every view from the events (after a migration changed their shape). Entities whose
/// place cannot be found in the registry keep the place of their first stored event.
pub fn rebuild(tx: &dyn Tx, registry: &RegistryIndex) -> Result<usize> {
    let entities = tx.entities()?;
    for &entity in &entities {
        let events = tx.entity_events(entity)?;
        let fallback = events.iter().find_map(|e| match &e.body {
            EventBody::IssueReported(r) => registry.place(r.courtyard),
            EventBody::VisitRecorded(v) => registry.place(v.courtyard),
            _ => None,
        });
        let fallback = match (fallback, entity) {
            (Some(p), _) => p,
            (None, Entity::Issue(id)) => match tx.issue_place(id)? {
                Some(p) => p,
                None => continue,
            },
            (None, Entity::Visit(_)) => continue,
        };
        refold(tx, registry, entity, &fallback)?;
    }
    tx.set_meta(VIEWS_KEY, &VIEWS_VERSION.to_string())?;
    Ok(entities.len())
}
