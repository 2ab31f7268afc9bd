//! Who may record what, and which actions an issue offers. One table (role × event kind ×
//! whose issue) that the server enforces on every push and the tablet asks before it shows a
//! button, so neither keeps its own copy of the rules.

use crate::event::{Assignee, Entity, Event, EventBody};
use crate::fold::{step, IssueState};
use crate::hlc::Hlc;
use crate::ids::*;
use crate::vocab::*;
use serde::{Deserialize, Serialize};

/// How the one recording an event stands to the issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Assigned to them (or, undispatched, reported by them).
    Mine,
    /// In their scope, but someone else's.
    Area,
    /// Outside their scope, whistled to one of their departments.
    Department,
}

impl Relation {
    pub const ALL: &'static [Relation] = &[Relation::Mine, Relation::Area, Relation::Department];
}

/// The caller as the rules see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub worker: WorkerId,
    pub role: Role,
    /// The departments in the caller's scope (what whistles name as targets).
    pub departments: Vec<String>,
}

/// How `actor` stands to `state`, given whether the issue's place is in their scope.
/// `None`: not theirs at all (out of scope and not whistled to them).
pub fn relation(state: &IssueState, actor: &Actor, in_scope: bool) -> Option<Relation> {
    if in_scope && state.owner() == Some(actor.worker) {
        return Some(Relation::Mine);
    }
    if in_scope {
        return Some(Relation::Area);
    }
    let whistled = state.whistles.iter().any(|w| actor.departments.contains(&w.target));
    whistled.then_some(Relation::Department)
}

/// The table. Kinds the server alone authors (dispatch, recurrence and duplicate links) are
/// refused to every role on push.
pub fn may(role: Role, kind: EventKind, rel: Relation) -> bool {
    use EventKind as K;
    use Relation::*;
    use Role::*;
    let field = matches!(role, GridWorker | Cadre);
    let desk = matches!(role, Supervisor | Admin);
    match kind {
        K::Assigned | K::Recurred | K::RecurrenceFlagged | K::DuplicateLinked | K::DuplicateSuspected => false,
        // "Me too": whoever meets another resident with the same problem in their area.
        K::MeToo => rel != Department && role != DepartmentStaff,
        // Reports and visits are about a place in scope (there is no issue to be "mine" yet).
        K::IssueReported | K::VisitRecorded => rel != Department && role != DepartmentStaff,
        // Notes and photos: anyone the issue concerns.
        K::NoteAdded | K::PhotoAttached => true,
        // Progress: the owner, a cadre or desk in the area, a department it was whistled to.
        K::ProgressAdded => match rel {
            Mine => role != DepartmentStaff,
            Area => matches!(role, Cadre | Supervisor | Admin),
            Department => role == DepartmentStaff,
        },
        // Answering the resident and resolving: the owner, or a cadre / desk in the area.
        K::IssueResponded | K::IssueResolved | K::Whistled => match rel {
            Mine => role != DepartmentStaff,
            Area => matches!(role, Cadre | Supervisor | Admin),
            Department => false,
        },
        // The whistled-to report in: departments for theirs, cadres (party members) and desks.
        K::ReportedIn => match rel {
            Department => role == DepartmentStaff,
            Mine | Area => matches!(role, Cadre | Supervisor | Admin),
        },
        // The dispatch steps of the one it is assigned to.
        K::Accepted | K::Returned | K::ExtensionRequested => rel == Mine && field,
        // A cadre adopts a problem of their area.
        K::Pledged => rel != Department && role == Cadre,
        // Grading and steering: supervisors and admins (the hotline centre) only.
        K::CallbackRecorded
        | K::IssueClosed
        | K::IssueReopened
        | K::Reviewed
        | K::Transferred
        | K::Urged
        | K::ExtensionDecided
        | K::ClosedAsDuplicate
        | K::Cancelled => rel != Department && desk,
    }
}

/// One action an issue offers the caller, as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Offer {
    pub kind: EventKind,
    /// The action's note (or reason) must not be empty.
    pub note_required: bool,
}

/// The kinds a person records on an issue from a screen, in the order the UI shows them.
pub const ISSUE_ACTIONS: &[EventKind] = &[
    EventKind::Accepted,
    EventKind::IssueResponded,
    EventKind::ProgressAdded,
    EventKind::ReportedIn,
    EventKind::IssueResolved,
    EventKind::Reviewed,
    EventKind::CallbackRecorded,
    EventKind::IssueClosed,
    EventKind::Whistled,
    EventKind::Urged,
    EventKind::Transferred,
    EventKind::Returned,
    EventKind::ExtensionRequested,
    EventKind::ExtensionDecided,
    EventKind::IssueReopened,
    EventKind::Pledged,
    EventKind::ClosedAsDuplicate,
    EventKind::Cancelled,
    EventKind::MeToo,
    EventKind::NoteAdded,
];

/// What `actor` may do on the issue now: allowed by the table **and** accepted by the fold
/// (tried on a copy with a probe event, so the two can never disagree).
pub fn offered(state: &IssueState, actor: &Actor, in_scope: bool) -> Vec<Offer> {
    let Some(rel) = relation(state, actor, in_scope) else { return Vec::new() };
    ISSUE_ACTIONS
        .iter()
        .filter(|k| may(actor.role, **k, rel))
        .filter_map(|k| {
            let body = probe(*k, state, actor)?;
            let mut copy = IssueState { history: Vec::new(), ..state.clone() };
            let e = Event {
                id: EventId(uuid::Uuid::max()),
                author: actor.worker,
                device: DeviceId(uuid::Uuid::nil()),
                hlc: Hlc::new(i64::MAX / 2, 0),
                wall_ms: state.last_hlc.ms.max(state.received_at_ms.unwrap_or(0)),
                clock_offset_ms: 0,
                entity: Entity::Issue(state.id),
                body,
            };
            step(&mut copy, &e).ok()?;
            Some(Offer { kind: *k, note_required: note_required(*k) })
        })
        .collect()
}

/// Whether the domain's validation refuses an empty note for this action.
pub fn note_required(kind: EventKind) -> bool {
    use EventKind as K;
    matches!(kind, K::IssueResolved | K::ProgressAdded | K::IssueReopened | K::ExtensionRequested | K::Cancelled | K::NoteAdded)
}

/// A stand-in body of `kind` that the fold judges like the real one would be.
fn probe(kind: EventKind, s: &IssueState, actor: &Actor) -> Option<EventBody> {
    use EventKind as K;
    let note = String::new;
    Some(match kind {
        K::Accepted => EventBody::Accepted { note: note() },
        K::IssueResponded => EventBody::IssueResponded { note: note() },
        K::ProgressAdded => EventBody::ProgressAdded { note: note(), public: false },
        K::ReportedIn => {
            // A department reports in to its own open whistle; others to any open one.
            let open = s.whistles.iter().find(|w| {
                w.reported_in_at_ms.is_none() && (actor.role != Role::DepartmentStaff || actor.departments.contains(&w.target))
            })?;
            EventBody::ReportedIn { target: open.target.clone(), note: note() }
        }
        K::IssueResolved => EventBody::IssueResolved { note: note(), photo_sha256: None },
        K::Reviewed => EventBody::Reviewed { approved: true, note: note() },
        K::CallbackRecorded => EventBody::CallbackRecorded { satisfaction: Satisfaction::Satisfied, note: note() },
        K::IssueClosed => EventBody::IssueClosed { note: note() },
        K::Whistled => EventBody::Whistled { level: WhistleLevel::PartyBranch, target: "\u{1}probe".into(), note: note() },
        K::Urged => EventBody::Urged { note: note() },
        K::Transferred => EventBody::Transferred { to: Assignee::Dispatcher, note: note() },
        K::Returned => EventBody::Returned { reason: ReturnReason::Other, note: note() },
        K::ExtensionRequested => EventBody::ExtensionRequested { until_ms: s.received_at_ms?.saturating_add(1), reason: note() },
        K::ExtensionDecided => EventBody::ExtensionDecided { approved: true, note: note() },
        K::IssueReopened => EventBody::IssueReopened { reason: note() },
        K::Pledged => EventBody::Pledged { kind: PledgeKind::Frequent, note: note() },
        K::ClosedAsDuplicate => EventBody::ClosedAsDuplicate { of: IssueId(uuid::Uuid::max()), note: note() },
        K::Cancelled => EventBody::Cancelled { reason: note() },
        K::NoteAdded => EventBody::NoteAdded { text: note() },
        K::MeToo => EventBody::MeToo { note: note(), order_no: None },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::fold_issue;
    use crate::model::IssueReport;

    fn w(n: u8) -> WorkerId {
        WorkerId::from_parts(1, [n; 10])
    }
    fn id() -> IssueId {
        IssueId::from_parts(1, [9; 10])
    }
    fn ev(n: u8, author: WorkerId, body: EventBody) -> Event {
        Event {
            id: EventId::from_parts(n as u64, [n; 10]),
            author,
            device: DeviceId::from_parts(1, [1; 10]),
            hlc: Hlc::new(1000 * n as i64, 0),
            wall_ms: 1000 * n as i64,
            clock_offset_ms: 0,
            entity: Entity::Issue(id()),
            body,
        }
    }
    fn report() -> EventBody {
        EventBody::IssueReported(IssueReport {
            courtyard: CourtyardId::from_parts(1, [3; 10]),
            category: Category::Noise,
            source: IssueSource::Hotline,
            description: "噪声扰民".into(),
            contact: None,
            location: None,
            received_at_ms: Some(1000),
            external_ref: Some("12345-1".into()),
        })
    }
    fn actor(n: u8, role: Role) -> Actor {
        Actor { worker: w(n), role, departments: vec!["区城管委".into()] }
    }
    fn kinds(offers: Vec<Offer>) -> Vec<EventKind> {
        offers.into_iter().map(|o| o.kind).collect()
    }

    /// The table pinned cell by cell for the rules the issue tracker asked for by name.
    #[test]
    fn the_table_case_by_case() {
        use EventKind as K;
        use Relation::*;
        use Role::*;
        let cases = [
            (GridWorker, K::IssueResolved, Mine, true),
            (GridWorker, K::IssueResolved, Area, false),
            (GridWorker, K::CallbackRecorded, Mine, false),
            (GridWorker, K::IssueClosed, Mine, false),
            (GridWorker, K::Reviewed, Mine, false),
            (GridWorker, K::Accepted, Mine, true),
            (GridWorker, K::Accepted, Area, false),
            (GridWorker, K::Returned, Mine, true),
            (GridWorker, K::Transferred, Mine, false),
            (GridWorker, K::Urged, Area, false),
            (Supervisor, K::Transferred, Area, true),
            (Supervisor, K::Urged, Area, true),
            (Supervisor, K::Reviewed, Area, true),
            (Supervisor, K::CallbackRecorded, Area, true),
            (Supervisor, K::Cancelled, Area, true),
            (Supervisor, K::ClosedAsDuplicate, Department, false),
            (DepartmentStaff, K::ReportedIn, Department, true),
            (DepartmentStaff, K::ProgressAdded, Department, true),
            (DepartmentStaff, K::IssueResolved, Department, false),
            (DepartmentStaff, K::IssueReported, Area, false),
            (Admin, K::Assigned, Area, false),
            (Supervisor, K::DuplicateLinked, Area, false),
            (Cadre, K::Pledged, Area, true),
            (Cadre, K::IssueResponded, Area, true),
        ];
        for (role, kind, rel, want) in cases {
            assert_eq!(may(role, kind, rel), want, "{role:?} recording {kind:?} on an issue that is {rel:?}");
        }
    }

    #[test]
    fn relation_follows_the_assignee_and_the_whistles() {
        let mut events =
            vec![ev(1, w(0), report()), ev(2, w(0), EventBody::Assigned { to: Assignee::Worker(w(1)), reason: String::new() })];
        let s = fold_issue(id(), events.clone());
        assert_eq!(relation(&s, &actor(1, Role::GridWorker), true), Some(Relation::Mine), "the assignee owns it");
        assert_eq!(relation(&s, &actor(2, Role::GridWorker), true), Some(Relation::Area), "a colleague in scope does not");
        assert_eq!(relation(&s, &actor(3, Role::DepartmentStaff), false), None, "not whistled to the department yet");
        events.push(ev(3, w(1), EventBody::Whistled { level: WhistleLevel::Subdistrict, target: "区城管委".into(), note: String::new() }));
        let s = fold_issue(id(), events);
        assert_eq!(relation(&s, &actor(3, Role::DepartmentStaff), false), Some(Relation::Department));
    }

    #[test]
    fn offers_follow_the_fold_and_the_table() {
        use EventKind as K;
        let assigned = vec![ev(1, w(0), report()), ev(2, w(0), EventBody::Assigned { to: Assignee::Worker(w(1)), reason: String::new() })];
        let s = fold_issue(id(), assigned.clone());
        let mine = kinds(offered(&s, &actor(1, Role::GridWorker), true));
        assert!(mine.contains(&K::Accepted) && mine.contains(&K::IssueResponded) && mine.contains(&K::Returned), "{mine:?}");
        assert!(!mine.contains(&K::CallbackRecorded), "a grid worker never grades: {mine:?}");

        // After a whistle the response clock still runs, so 响应 is still offered.
        let mut whistled = assigned.clone();
        whistled.push(ev(3, w(1), EventBody::Whistled { level: WhistleLevel::Community, target: "区城管委".into(), note: String::new() }));
        let s = fold_issue(id(), whistled.clone());
        assert_eq!(s.status, IssueStatus::InProgress);
        assert!(
            kinds(offered(&s, &actor(1, Role::GridWorker), true)).contains(&K::IssueResponded),
            "响应 is offered while the fold accepts it"
        );
        let dept = kinds(offered(&s, &actor(3, Role::DepartmentStaff), false));
        assert!(dept.contains(&K::ReportedIn) && dept.contains(&K::ProgressAdded) && !dept.contains(&K::IssueResolved), "{dept:?}");

        // Resolved by the worker: the supervisor may review, the worker may not close.
        let mut resolved = whistled;
        resolved.push(ev(4, w(1), EventBody::IssueResolved { note: "已处理".into(), photo_sha256: None }));
        let s = fold_issue(id(), resolved);
        let sup = kinds(offered(&s, &actor(5, Role::Supervisor), true));
        assert!(sup.contains(&K::Reviewed) && sup.contains(&K::CallbackRecorded), "{sup:?}");
        let own = kinds(offered(&s, &actor(1, Role::GridWorker), true));
        assert!(!own.contains(&K::IssueClosed) && !own.contains(&K::Reviewed) && !own.contains(&K::IssueResolved), "{own:?}");

        // A supervisor who resolved it cannot review their own work either.
        let s =
            fold_issue(id(), vec![ev(1, w(0), report()), ev(2, w(5), EventBody::IssueResolved { note: "x".into(), photo_sha256: None })]);
        assert!(!kinds(offered(&s, &actor(5, Role::Supervisor), true)).contains(&K::Reviewed), "nobody reviews their own resolution");
    }
}
