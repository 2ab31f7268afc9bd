//! The issue state machine. The tablet and the server both call [`fold_issue`], so the same set
//! of events gives the same state everywhere, whatever order they arrived in.

use crate::event::{Entity, Event, EventBody};
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

/// Fold all known events of one issue into its state.
pub fn fold_issue(id: IssueId, events: impl IntoIterator<Item = Event>) -> IssueState {
    let mut events: Vec<Event> = events.into_iter().collect();
    fold_order(&mut events);
    let mut state = IssueState::empty(id);
    for e in events {
        let conflict = apply(&mut state, &e).err();
        state.last_hlc = state.last_hlc.max(e.hlc);
        state.history.push(HistoryEntry { event: e, conflict });
    }
    state
}

fn invalid(from: IssueStatus, e: &Event) -> Conflict {
    Conflict::InvalidTransition { from, kind: e.body.kind().to_owned() }
}

fn apply(s: &mut IssueState, e: &Event) -> Result<(), Conflict> {
    if e.entity != Entity::Issue(s.id) {
        return Err(Conflict::WrongEntity);
    }
    let at = e.corrected_ms();
    if let EventBody::IssueReported(r) = &e.body {
        if s.report.is_some() {
            return Err(Conflict::AlreadyReported);
        }
        let received = r.received_at_ms.unwrap_or(at);
        s.report = Some(r.clone());
        s.reported_by = Some(e.author);
        s.received_at_ms = Some(received);
        s.response_due_ms = Some(received + RESPONSE_WINDOW_MS);
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
            if let Some(h) = photo_sha256 {
                if !s.photos.contains(h) {
                    s.photos.push(h.clone());
                }
            }
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

pub fn fold_visit(id: VisitId, events: impl IntoIterator<Item = Event>) -> VisitState {
    let mut events: Vec<Event> = events.into_iter().collect();
    fold_order(&mut events);
    let mut state = VisitState { id, visit: None, worker: None, history: Vec::new() };
    for e in events {
        let conflict = match (&e.body, &state.visit) {
            _ if e.entity != Entity::Visit(id) => Some(Conflict::WrongEntity),
            (EventBody::VisitRecorded(v), None) => {
                state.visit = Some(v.clone());
                state.worker = Some(e.author);
                None
            }
            (EventBody::VisitRecorded(_), Some(_)) => Some(Conflict::AlreadyReported),
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
        EventBody::ProgressAdded { note: "已派维修".into() }
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
            let again = fold_issue(issue(), shuffled);
            prop_assert_eq!(again, reference);
        }
    }
}
