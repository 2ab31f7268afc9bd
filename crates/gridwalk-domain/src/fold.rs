//! The issue state machine. The tablet and the server both call [`fold_issue`], so the same set
//! of events gives the same state everywhere, whatever order they arrived in.

use crate::event::{Assignee, Entity, Event, EventBody};
use crate::hlc::Hlc;
use crate::ids::*;
use crate::model::*;
use crate::vocab::*;
use serde::{Deserialize, Serialize};

/// The hotline's rule: contact the resident within one hour of receipt.
pub const RESPONSE_WINDOW_MS: i64 = 60 * 60 * 1000;

/// Why an event did not change the state it met. The event stays in the history regardless.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Conflict {
    /// An event about an issue whose report is not (yet) in the history.
    NotReported,
    /// A second report for the same issue id.
    AlreadyReported,
    /// The transition is not allowed from this status (e.g. two workers both resolve).
    InvalidTransition { from: IssueStatus, kind: String },
    /// The event is about another entity (a caller bug; kept, never applied).
    WrongEntity,
    /// The resolver tried to record the callback, review or close their own resolution.
    OwnWork,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    pub event: Event,
    pub conflict: Option<Conflict>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssueState {
    pub id: IssueId,
    /// `None` while only orphan events (no report yet) are known.
    pub report: Option<IssueReport>,
    pub status: IssueStatus,
    pub reported_by: Option<WorkerId>,
    pub received_at_ms: Option<i64>,
    pub response_due_ms: Option<i64>,
    pub responded_at_ms: Option<i64>,
    /// Who first answered the resident (responded, or resolved on the spot).
    #[serde(default)]
    pub responded_by: Option<WorkerId>,
    pub resolved_at_ms: Option<i64>,
    pub closed_at_ms: Option<i64>,
    pub satisfaction: Option<Satisfaction>,
    pub reopen_count: u32,
    pub notes: u32,
    pub photos: Vec<String>,
    /// Every whistle blown on this issue, in fold order, with when its target reported in.
    pub whistles: Vec<Whistle>,
    pub pledge: Option<Pledge>,
    /// The earlier issue this one repeats (愈后防复), if any.
    pub recurrence_of: Option<IssueId>,
    /// Later issues that repeated this one.
    pub recurrences: Vec<IssueId>,
    /// Whom the issue is assigned to now, and since when. `None` for a report made on a tablet
    /// until someone dispatches it: its reporter is then the one who owes the resident.
    #[serde(default)]
    pub assignee: Option<Assignee>,
    #[serde(default)]
    pub assigned_at_ms: Option<i64>,
    /// When the current assignee accepted it (签收); cleared by every new assignment.
    #[serde(default)]
    pub accepted_at_ms: Option<i64>,
    /// The last return (退单), until the issue is dispatched again.
    #[serde(default)]
    pub returned: Option<Return>,
    /// How many times a supervisor urged (催办), and the last time.
    #[serde(default)]
    pub urged: u32,
    #[serde(default)]
    pub last_urged_at_ms: Option<i64>,
    /// The latest extension request (延期) and its decision.
    #[serde(default)]
    pub extension: Option<Extension>,
    /// Who resolved it last: they may not record the callback, review or close it.
    #[serde(default)]
    pub resolved_by: Option<WorkerId>,
    /// Resolutions a reviewer sent back (审核退回).
    #[serde(default)]
    pub review_returns: u32,
    /// The issue this report was closed into as a duplicate, and the duplicates closed into it.
    #[serde(default)]
    pub duplicate_of: Option<IssueId>,
    #[serde(default)]
    pub duplicates: Vec<IssueId>,
    #[serde(default)]
    pub cancel_reason: Option<String>,
    /// Residents who reported the same open problem again (我也遇到), hotline orders attached
    /// to it included.
    #[serde(default)]
    pub me_too: u32,
    /// The open issue intake found this one probably repeats, until a supervisor merges it.
    #[serde(default)]
    pub probable_duplicate_of: Option<IssueId>,
    pub last_hlc: Hlc,
    pub history: Vec<HistoryEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Whistle {
    pub level: WhistleLevel,
    pub target: String,
    pub by: WorkerId,
    pub whistled_at_ms: i64,
    pub reported_in_at_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Return {
    pub by: WorkerId,
    pub reason: ReturnReason,
    pub note: String,
    pub at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Extension {
    pub by: WorkerId,
    pub until_ms: i64,
    pub reason: String,
    /// `None` while pending.
    pub approved: Option<bool>,
}

/// The longest extension one request may ask for, from receipt (the hotline's longest term).
pub const MAX_EXTENSION_MS: i64 = 90 * 24 * 3_600_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pledge {
    pub by: WorkerId,
    pub kind: PledgeKind,
    pub at_ms: i64,
}

impl IssueState {
    fn empty(id: IssueId) -> Self {
        IssueState {
            id,
            report: None,
            status: IssueStatus::Reported,
            reported_by: None,
            received_at_ms: None,
            response_due_ms: None,
            responded_at_ms: None,
            responded_by: None,
            resolved_at_ms: None,
            closed_at_ms: None,
            satisfaction: None,
            reopen_count: 0,
            notes: 0,
            photos: Vec::new(),
            whistles: Vec::new(),
            pledge: None,
            recurrence_of: None,
            recurrences: Vec::new(),
            assignee: None,
            assigned_at_ms: None,
            accepted_at_ms: None,
            returned: None,
            urged: 0,
            last_urged_at_ms: None,
            extension: None,
            resolved_by: None,
            review_returns: 0,
            duplicate_of: None,
            duplicates: Vec::new(),
            cancel_reason: None,
            me_too: 0,
            probable_duplicate_of: None,
            last_hlc: Hlc::ZERO,
            history: Vec::new(),
        }
    }

    pub fn conflicts(&self) -> impl Iterator<Item = &HistoryEntry> {
        self.history.iter().filter(|h| h.conflict.is_some())
    }

    /// Responded within the hour of receipt (the response-rate numerator).
    pub fn responded_on_time(&self) -> Option<bool> {
        Some(self.responded_at_ms? <= self.response_due_ms?)
    }

    /// The highest whistle level blown so far.
    pub fn whistle_level(&self) -> Option<WhistleLevel> {
        self.whistles.iter().map(|w| w.level).max()
    }

    /// Who owes the resident this issue: the assigned worker, or for an undispatched report
    /// made on a tablet, its reporter.
    pub fn owner(&self) -> Option<WorkerId> {
        match self.assignee {
            Some(Assignee::Worker(w)) => Some(w),
            Some(_) => None,
            None => self.reported_by,
        }
    }

    /// The response clock still runs: reported, not answered, not taken out.
    pub fn clock_runs(&self) -> bool {
        self.report.is_some() && self.responded_at_ms.is_none() && !self.status.is_final()
    }

    /// The approved extension's end, if one was approved.
    pub fn extended_until_ms(&self) -> Option<i64> {
        self.extension.as_ref().filter(|x| x.approved == Some(true)).map(|x| x.until_ms)
    }
}

/// Apply one event to a state, as the fold does, in the order given. The server uses it to
/// follow a push's own events before their fold; everything else calls [`fold_issue`].
pub fn step(state: &mut IssueState, e: &Event) -> Result<(), Conflict> {
    let r = apply(state, e, FirstReport::AnyFirst);
    state.last_hlc = state.last_hlc.max(e.hlc);
    r
}

/// Put events into fold order and drop exact duplicates (same event id).
pub fn fold_order(events: &mut Vec<Event>) {
    // Ties on (hlc, id) only happen for duplicates of one event; the serialized form breaks
    // them so that even a corrupt duplicate with other content folds the same everywhere.
    events.sort_by(|a, b| {
        a.order_key()
            .cmp(&b.order_key())
            .then_with(|| serde_json::to_string(a).unwrap_or_default().cmp(&serde_json::to_string(b).unwrap_or_default()))
    });
    events.dedup_by(|later, earlier| later.id == earlier.id);
}

/// Fold all known events of one issue into its state. `events` come in stored order (the
/// server's sequence; on a tablet, pulled events by server sequence, then its own by device
/// sequence): the first report among them is the issue's report. Everything else folds in
/// HLC order, whatever order it is given in.
pub fn fold_issue(id: IssueId, events: impl IntoIterator<Item = Event>) -> IssueState {
    let mut events: Vec<Event> = events.into_iter().collect();
    let first = FirstReport::of(Entity::Issue(id), &events);
    fold_order(&mut events);
    let mut state = IssueState::empty(id);
    for e in events {
        let conflict = apply(&mut state, &e, first).err();
        state.last_hlc = state.last_hlc.max(e.hlc);
        state.history.push(HistoryEntry { event: e, conflict });
    }
    state
}

fn invalid(from: IssueStatus, e: &Event) -> Conflict {
    Conflict::InvalidTransition { from, kind: e.body.kind().to_owned() }
}

/// Which report of an entity counts: the first one stored. An id belongs to the first report
/// the server stores, and a second report of it (say, one with an earlier HLC and another
/// courtyard, pushed to take the issue over) moves nothing, wherever its HLC sorts it.
#[derive(Clone, Copy)]
enum FirstReport {
    /// Whichever report the fold meets first ([`step`]: the state already holds the report).
    AnyFirst,
    /// This event, the first report in stored order; `None` when there is no report.
    Stored(Option<EventId>),
}

impl FirstReport {
    fn of(entity: Entity, events: &[Event]) -> FirstReport {
        let is_report = |e: &Event| match entity {
            Entity::Issue(_) => matches!(e.body, EventBody::IssueReported(_)),
            Entity::Visit(_) => matches!(e.body, EventBody::VisitRecorded(_)),
        };
        FirstReport::Stored(events.iter().find(|e| e.entity == entity && is_report(e)).map(|e| e.id))
    }

    fn admits(self, e: &Event) -> bool {
        match self {
            FirstReport::AnyFirst => true,
            FirstReport::Stored(first) => first == Some(e.id),
        }
    }
}

fn apply(s: &mut IssueState, e: &Event, first: FirstReport) -> Result<(), Conflict> {
    if e.entity != Entity::Issue(s.id) {
        return Err(Conflict::WrongEntity);
    }
    let at = e.corrected_ms();
    if let EventBody::IssueReported(r) = &e.body {
        if s.report.is_some() || !first.admits(e) {
            return Err(Conflict::AlreadyReported);
        }
        let received = r.received_at_ms.unwrap_or(at);
        s.report = Some(r.clone());
        s.reported_by = Some(e.author);
        s.received_at_ms = Some(received);
        s.response_due_ms = Some(received.saturating_add(RESPONSE_WINDOW_MS));
        return Ok(());
    }
    if s.report.is_none() {
        return Err(Conflict::NotReported);
    }
    use IssueStatus::*;
    match (&e.body, s.status) {
        (EventBody::IssueReported(_), _) | (EventBody::VisitRecorded(_), _) => return Err(Conflict::WrongEntity),
        // Contact with the resident: once, before the issue is resolved. A whistle may come
        // first (the issue is then in progress while the response clock still runs).
        (EventBody::IssueResponded { .. }, Reported | InProgress) if s.responded_at_ms.is_none() => {
            s.responded_at_ms = Some(at);
            s.responded_by = Some(e.author);
            if s.status == Reported {
                s.status = Responded;
            }
        }
        (EventBody::NoteAdded { .. }, _) => s.notes += 1,
        (EventBody::PhotoAttached { sha256, .. }, _) => {
            if !s.photos.contains(sha256) {
                s.photos.push(sha256.clone());
            }
        }
        (EventBody::ProgressAdded { .. }, Responded | InProgress) => s.status = InProgress,
        (EventBody::Assigned { to, .. } | EventBody::Transferred { to, .. }, Reported | Responded | InProgress) => {
            s.assignee = Some(*to);
            s.assigned_at_ms = Some(at);
            s.accepted_at_ms = None;
            s.returned = None;
        }
        (EventBody::Accepted { .. }, Reported | Responded | InProgress) if s.owner() == Some(e.author) && s.accepted_at_ms.is_none() => {
            s.accepted_at_ms = Some(at);
        }
        (EventBody::Returned { reason, note }, Reported | Responded | InProgress) if s.owner() == Some(e.author) => {
            s.returned = Some(Return { by: e.author, reason: *reason, note: note.clone(), at_ms: at });
            s.assignee = Some(Assignee::Dispatcher);
            s.assigned_at_ms = Some(at);
            s.accepted_at_ms = None;
        }
        (EventBody::Urged { .. }, Reported | Responded | InProgress) => {
            s.urged += 1;
            s.last_urged_at_ms = Some(at);
        }
        (EventBody::ExtensionRequested { until_ms, reason }, Reported | Responded | InProgress)
            if s.extension.as_ref().is_none_or(|x| x.approved.is_some())
                && s.received_at_ms.is_some_and(|r| *until_ms > r && *until_ms <= r.saturating_add(MAX_EXTENSION_MS)) =>
        {
            s.extension = Some(Extension { by: e.author, until_ms: *until_ms, reason: reason.clone(), approved: None });
        }
        (EventBody::ExtensionDecided { approved, .. }, Reported | Responded | InProgress)
            if s.extension.as_ref().is_some_and(|x| x.approved.is_none() && x.by != e.author) =>
        {
            if let Some(x) = s.extension.as_mut() {
                x.approved = Some(*approved);
            }
        }
        (EventBody::Whistled { level, target, .. }, Reported | Responded | InProgress)
            if !s.whistles.iter().any(|w| &w.target == target && w.reported_in_at_ms.is_none()) =>
        {
            s.whistles.push(Whistle { level: *level, target: target.clone(), by: e.author, whistled_at_ms: at, reported_in_at_ms: None });
            s.status = InProgress;
        }
        (EventBody::ReportedIn { target, .. }, Reported | Responded | InProgress) => {
            let open = s.whistles.iter_mut().find(|w| &w.target == target && w.reported_in_at_ms.is_none());
            match open {
                Some(w) => w.reported_in_at_ms = Some(at),
                None => return Err(invalid(s.status, e)),
            }
        }
        (EventBody::IssueResolved { photo_sha256, .. }, Reported | Responded | InProgress) => {
            // Solving the problem on the spot also answers the resident.
            if s.responded_at_ms.is_none() {
                s.responded_at_ms = Some(at);
                s.responded_by = Some(e.author);
            }
            s.status = Resolved;
            s.resolved_at_ms = Some(at);
            s.resolved_by = Some(e.author);
            if let Some(h) = photo_sha256 {
                if !s.photos.contains(h) {
                    s.photos.push(h.clone());
                }
            }
        }
        // Nobody grades their own work: the resolver may not record the callback, review or
        // close their own resolution.
        (EventBody::CallbackRecorded { .. } | EventBody::IssueClosed { .. } | EventBody::Reviewed { .. }, Resolved)
            if s.resolved_by == Some(e.author) =>
        {
            return Err(Conflict::OwnWork);
        }
        (EventBody::Reviewed { approved: true, .. }, Resolved) => {
            s.status = Closed;
            s.closed_at_ms = Some(at);
        }
        (EventBody::Reviewed { approved: false, .. }, Resolved) => {
            s.status = InProgress;
            s.resolved_at_ms = None;
            s.review_returns += 1;
        }
        (EventBody::CallbackRecorded { satisfaction, .. }, Resolved) => {
            s.satisfaction = Some(*satisfaction);
            if *satisfaction == Satisfaction::Dissatisfied {
                reopen(s);
            } else {
                s.status = Closed;
                s.closed_at_ms = Some(at);
            }
        }
        (EventBody::IssueClosed { .. }, Resolved) => {
            s.status = Closed;
            s.closed_at_ms = Some(at);
        }
        (EventBody::IssueReopened { .. }, Resolved | Closed) => reopen(s),
        (EventBody::Recurred { new_issue }, status) => {
            if !s.recurrences.contains(new_issue) {
                s.recurrences.push(*new_issue);
            }
            if matches!(status, Resolved | Closed) {
                reopen(s);
            }
        }
        (EventBody::RecurrenceFlagged { earlier_issue }, _) => s.recurrence_of = Some(*earlier_issue),
        (EventBody::ClosedAsDuplicate { of, .. }, Reported | Responded | InProgress | Resolved) if *of != s.id => {
            s.status = Duplicate;
            s.duplicate_of = Some(*of);
            s.closed_at_ms = Some(at);
        }
        (EventBody::DuplicateLinked { duplicate }, _) => {
            if !s.duplicates.contains(duplicate) {
                s.duplicates.push(*duplicate);
            }
        }
        (EventBody::Cancelled { reason }, Reported | Responded | InProgress | Resolved) => {
            s.status = Cancelled;
            s.cancel_reason = Some(reason.clone());
            s.closed_at_ms = Some(at);
        }
        (EventBody::MeToo { .. }, Reported | Responded | InProgress) => s.me_too = s.me_too.saturating_add(1),
        (EventBody::DuplicateSuspected { of, .. }, _) if *of != s.id => s.probable_duplicate_of = Some(*of),
        (EventBody::Pledged { kind, .. }, Reported | Responded | InProgress | Resolved) if s.pledge.is_none() => {
            s.pledge = Some(Pledge { by: e.author, kind: *kind, at_ms: at });
        }
        (_, from) => return Err(invalid(from, e)),
    }
    Ok(())
}

/// A reopened issue goes back to work; the resident was already contacted, so it is not
/// "awaiting response" again and the first response time still counts.
fn reopen(s: &mut IssueState) {
    s.status = IssueStatus::InProgress;
    s.reopen_count += 1;
    s.resolved_at_ms = None;
    s.closed_at_ms = None;
}

/// A visit's state: the recorded visit plus its history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VisitState {
    pub id: VisitId,
    pub visit: Option<Visit>,
    pub worker: Option<WorkerId>,
    pub history: Vec<HistoryEntry>,
}

/// Fold a visit's events; as with [`fold_issue`], the first record in stored order counts.
pub fn fold_visit(id: VisitId, events: impl IntoIterator<Item = Event>) -> VisitState {
    let mut events: Vec<Event> = events.into_iter().collect();
    let first = FirstReport::of(Entity::Visit(id), &events);
    fold_order(&mut events);
    let mut state = VisitState { id, visit: None, worker: None, history: Vec::new() };
    for e in events {
        let conflict = match (&e.body, &state.visit) {
            _ if e.entity != Entity::Visit(id) => Some(Conflict::WrongEntity),
            (EventBody::VisitRecorded(v), None) if first.admits(&e) => {
                state.visit = Some(v.clone());
                state.worker = Some(e.author);
                None
            }
            (EventBody::VisitRecorded(_), _) => Some(Conflict::AlreadyReported),
            _ => Some(Conflict::WrongEntity),
        };
        state.history.push(HistoryEntry { event: e, conflict });
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{Category, IssueSource, PledgeKind, WhistleLevel};
    use proptest::prelude::*;

    fn ids(n: u8) -> [u8; 10] {
        [n; 10]
    }
    fn issue() -> IssueId {
        IssueId::from_parts(1_700_000_000_000, ids(1))
    }
    fn ev(n: u8, ms: i64, body: EventBody) -> Event {
        Event {
            id: EventId::from_parts(ms as u64, ids(n)),
            author: WorkerId::from_parts(1, ids(n % 3)),
            device: DeviceId::from_parts(1, ids(n % 2)),
            hlc: Hlc::new(ms, 0),
            wall_ms: ms,
            clock_offset_ms: 0,
            entity: Entity::Issue(issue()),
            body,
        }
    }
    fn report() -> EventBody {
        EventBody::IssueReported(IssueReport {
            courtyard: CourtyardId::from_parts(1, ids(9)),
            category: Category::StreetLight,
            source: IssueSource::Visit,
            description: "路灯不亮".into(),
            contact: None,
            location: None,
            received_at_ms: None,
            external_ref: None,
        })
    }
    fn responded() -> EventBody {
        EventBody::IssueResponded { note: "已联系".into() }
    }
    fn resolved() -> EventBody {
        EventBody::IssueResolved { note: "已修复".into(), photo_sha256: None }
    }
    fn callback(s: Satisfaction) -> EventBody {
        EventBody::CallbackRecorded { satisfaction: s, note: String::new() }
    }
    fn reopened() -> EventBody {
        EventBody::IssueReopened { reason: "复发".into() }
    }
    fn progress() -> EventBody {
        EventBody::ProgressAdded { note: "已派维修".into(), public: false }
    }
    fn whistle(target: &str) -> EventBody {
        EventBody::Whistled { level: WhistleLevel::Subdistrict, target: target.into(), note: String::new() }
    }
    fn report_in(target: &str) -> EventBody {
        EventBody::ReportedIn { target: target.into(), note: "已报到".into() }
    }
    fn recurred() -> EventBody {
        EventBody::Recurred { new_issue: IssueId::from_parts(2, [7; 10]) }
    }
    fn pledge() -> EventBody {
        EventBody::Pledged { kind: PledgeKind::Chronic, note: String::new() }
    }
    fn reviewed(approved: bool) -> EventBody {
        EventBody::Reviewed { approved, note: "审核".into() }
    }
    fn duplicate() -> EventBody {
        EventBody::ClosedAsDuplicate { of: IssueId::from_parts(3, [5; 10]), note: String::new() }
    }
    fn cancelled() -> EventBody {
        EventBody::Cancelled { reason: "误报".into() }
    }
    fn urged() -> EventBody {
        EventBody::Urged { note: "请尽快".into() }
    }
    fn extension() -> EventBody {
        EventBody::ExtensionRequested { until_ms: 1000 + 86_400_000, reason: "待配件".into() }
    }
    fn decide() -> EventBody {
        EventBody::ExtensionDecided { approved: true, note: String::new() }
    }
    fn me_too() -> EventBody {
        EventBody::MeToo { note: "楼上也漏水".into(), order_no: None }
    }
    fn suspected() -> EventBody {
        EventBody::DuplicateSuspected { of: IssueId::from_parts(3, [5; 10]), distance_m: 40 }
    }
    fn transfer() -> EventBody {
        EventBody::Transferred { to: Assignee::Dispatcher, note: String::new() }
    }

    /// (name, bodies in time order, final status, number of conflicts)
    #[test]
    fn transition_case_table() {
        use IssueStatus::*;
        let cases: Vec<(&str, Vec<EventBody>, IssueStatus, usize)> = vec![
            ("report only", vec![report()], Reported, 0),
            ("respond", vec![report(), responded()], Responded, 0),
            ("resolve without respond", vec![report(), resolved()], Resolved, 0),
            ("satisfied closes", vec![report(), responded(), resolved(), callback(Satisfaction::Satisfied)], Closed, 0),
            ("basically satisfied closes", vec![report(), resolved(), callback(Satisfaction::BasicallySatisfied)], Closed, 0),
            ("dissatisfied reopens", vec![report(), resolved(), callback(Satisfaction::Dissatisfied)], InProgress, 0),
            ("reopen after close", vec![report(), resolved(), callback(Satisfaction::Satisfied), reopened()], InProgress, 0),
            ("progress after respond", vec![report(), responded(), progress()], InProgress, 0),
            ("progress before respond", vec![report(), progress()], Reported, 1),
            ("whistle then report in", vec![report(), responded(), whistle("民防部门"), report_in("民防部门")], InProgress, 0),
            ("whistle before respond keeps clock", vec![report(), whistle("物业"), responded()], InProgress, 0),
            ("report in without whistle", vec![report(), responded(), report_in("城管")], Responded, 1),
            ("report in twice", vec![report(), whistle("城管"), report_in("城管"), report_in("城管")], InProgress, 1),
            ("whistle same target twice", vec![report(), whistle("城管"), whistle("城管")], InProgress, 1),
            ("rewhistle after report in", vec![report(), whistle("城管"), report_in("城管"), whistle("城管")], InProgress, 0),
            ("whistle after resolve", vec![report(), resolved(), whistle("城管")], Resolved, 1),
            ("close after resolve", vec![report(), resolved(), EventBody::IssueClosed { note: String::new() }], Closed, 0),
            ("close an open issue", vec![report(), EventBody::IssueClosed { note: String::new() }], Reported, 1),
            ("recurrence reopens closed", vec![report(), resolved(), callback(Satisfaction::Satisfied), recurred()], InProgress, 0),
            ("recurrence on open issue links only", vec![report(), responded(), recurred()], Responded, 0),
            ("pledge", vec![report(), pledge()], Reported, 0),
            ("pledge twice", vec![report(), pledge(), pledge()], Reported, 1),
            ("pledge a closed issue", vec![report(), resolved(), callback(Satisfaction::Satisfied), pledge()], Closed, 1),
            ("resolve in progress", vec![report(), responded(), whistle("城管"), resolved()], Resolved, 0),
            ("respond twice", vec![report(), responded(), responded()], Responded, 1),
            ("two workers resolve", vec![report(), resolved(), resolved()], Resolved, 1),
            ("callback before resolve", vec![report(), callback(Satisfaction::Satisfied)], Reported, 1),
            ("reopen an open issue", vec![report(), reopened()], Reported, 1),
            ("report twice", vec![report(), report()], Reported, 1),
            ("note before report", vec![EventBody::NoteAdded { text: "x".into() }, report()], Reported, 1),
            ("review passes", vec![report(), resolved(), reviewed(true)], Closed, 0),
            ("review sends back", vec![report(), resolved(), reviewed(false)], InProgress, 0),
            ("review an open issue", vec![report(), reviewed(true)], Reported, 1),
            ("duplicate closes", vec![report(), duplicate()], Duplicate, 0),
            ("duplicate of a duplicate", vec![report(), duplicate(), duplicate()], Duplicate, 1),
            ("cancel", vec![report(), responded(), cancelled()], Cancelled, 0),
            ("nothing after cancel", vec![report(), cancelled(), responded(), resolved()], Cancelled, 2),
            ("reopen a cancelled report", vec![report(), cancelled(), reopened()], Cancelled, 1),
            ("urge", vec![report(), urged(), urged()], Reported, 0),
            ("urge a closed issue", vec![report(), resolved(), reviewed(true), urged()], Closed, 1),
            ("extension then decision", vec![report(), extension(), decide()], Reported, 0),
            ("decision without request", vec![report(), decide()], Reported, 1),
            ("transfer keeps status", vec![report(), responded(), transfer()], Responded, 0),
            ("me too on an open issue", vec![report(), me_too(), responded(), me_too()], Responded, 0),
            ("me too on a resolved issue", vec![report(), resolved(), me_too()], Resolved, 1),
            ("suspected duplicate keeps status", vec![report(), suspected()], Reported, 0),
        ];
        for (name, bodies, status, conflicts) in cases {
            let events: Vec<Event> = bodies.into_iter().enumerate().map(|(i, b)| ev(i as u8 + 1, 1000 * (i as i64 + 1), b)).collect();
            let n = events.len();
            let s = fold_issue(issue(), events);
            assert_eq!(s.status, status, "case {name}: final status");
            assert_eq!(s.conflicts().count(), conflicts, "case {name}: invalid transitions are flagged as conflicts");
            assert_eq!(s.history.len(), n, "case {name}: no event is ever dropped from the history");
        }
    }

    #[test]
    fn response_due_is_one_hour_after_receipt_on_corrected_clock() {
        let mut r = ev(1, 10_000, report());
        r.wall_ms = 10_000 + 2 * 3_600_000; // device clock two hours fast …
        r.clock_offset_ms = -2 * 3_600_000; // … and the last sync measured it
        let s = fold_issue(issue(), vec![r]);
        assert_eq!(s.response_due_ms, Some(10_000 + RESPONSE_WINDOW_MS), "deadline uses the corrected clock");
    }

    fn any_body() -> impl Strategy<Value = EventBody> {
        prop_oneof![
            Just(report()),
            Just(responded()),
            Just(resolved()),
            Just(reopened()),
            Just(EventBody::NoteAdded { text: "n".into() }),
            Just(progress()),
            Just(whistle("城管")),
            Just(report_in("城管")),
            Just(pledge()),
            Just(me_too()),
            Just(suspected()),
            prop_oneof![Just(Satisfaction::Satisfied), Just(Satisfaction::Dissatisfied)].prop_map(callback),
        ]
    }

    proptest! {
        /// Any permutation of a set of events, duplicates included, folds to the same state.
        #[test]
        fn fold_is_order_and_duplicate_independent(
            bodies in proptest::collection::vec((any_body(), 0i64..20, 0u32..3), 1..24),
            shuffle_seed in any::<u64>(),
            dups in proptest::collection::vec(0usize..24, 0..8),
        ) {
            let events: Vec<Event> = bodies.into_iter().enumerate().map(|(i, (b, ms, c))| {
                let mut e = ev(i as u8 + 1, ms, b);
                e.hlc = Hlc::new(ms, c);
                e
            }).collect();
            let reference = fold_issue(issue(), events.clone());
            let mut shuffled = events.clone();
            for d in dups { shuffled.push(events[d % events.len()].clone()); }
            // Fisher–Yates with a seeded splitmix, so failures shrink and replay.
            let mut x = shuffle_seed;
            for i in (1..shuffled.len()).rev() {
                x = x.wrapping_add(0x9e3779b97f4a7c15);
                let j = ((x ^ (x >> 31)) % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            // Which report counts is a matter of stored order: keep the first stored one first.
            if let Some(first) = events.iter().find(|e| matches!(e.body, EventBody::IssueReported(_))) {
                let at = shuffled.iter().position(|e| e.id == first.id).expect("the report is among the shuffled events");
                let report = shuffled.remove(at);
                shuffled.insert(0, report);
            }
            let again = fold_issue(issue(), shuffled);
            prop_assert_eq!(again, reference);
        }
    }

    #[test]
    fn the_first_stored_report_counts_whatever_its_hlc() {
        let real = ev(1, 50_000, report());
        let mut forged = ev(2, 1_000, report());
        if let EventBody::IssueReported(r) = &mut forged.body {
            r.courtyard = CourtyardId::from_parts(2, ids(7));
        }
        let s = fold_issue(issue(), vec![real.clone(), forged.clone()]);
        assert_eq!(
            s.report.as_ref().map(|r| r.courtyard),
            Some(CourtyardId::from_parts(1, ids(9))),
            "a second report of an id moves nothing, even with an earlier HLC"
        );
        assert_eq!(
            s.history.iter().find(|h| h.event.id == forged.id).and_then(|h| h.conflict.clone()),
            Some(Conflict::AlreadyReported),
            "the second report is kept as a conflict"
        );
        let swapped = fold_issue(issue(), vec![forged, real]);
        assert_eq!(
            swapped.report.as_ref().map(|r| r.courtyard),
            Some(CourtyardId::from_parts(2, ids(7))),
            "stored order, not the HLC, decides which report is first"
        );
    }
}
