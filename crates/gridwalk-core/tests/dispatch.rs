//! The field screens follow the dispatch: Today, the department inbox, new orders for me, and
//! the dispatch steps recorded from the tablet, on a real encrypted store fed by pulled events.

use gridwalk_core::*;
use gridwalk_domain::registry_gen::demo_registry;
use gridwalk_domain::*;
use gridwalk_proto::{PullResponse, PulledEvent, ScopeUnit, WorkerInfo};
use std::sync::Arc;

const T0: i64 = 1_764_000_000_000;
const MIN: i64 = 60_000;
const DEPT: &str = "区城管委";

fn me() -> WorkerId {
    WorkerId::from_parts(1, [1; 10])
}
fn other() -> WorkerId {
    WorkerId::from_parts(1, [7; 10])
}
fn desk() -> WorkerId {
    WorkerId::from_parts(1, [8; 10])
}

fn tablet(dir: &tempfile::TempDir, role: Role, scope: Vec<ScopeUnit>) -> (Tablet, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let mut t = Tablet::open(&dir.path().join("t.db"), &StoreKey([5; 32]), clock.clone()).unwrap();
    t.set_identity(Identity { worker: me(), device: DeviceId::from_parts(1, [2; 10]) }).unwrap();
    t.set_worker(&WorkerInfo { id: me(), username: "wang".into(), name: "王丽".into(), role, scope }).unwrap();
    t.replace_registry(&demo_registry()).unwrap();
    (t, clock)
}

fn yard(t: &Tablet) -> CourtyardRow {
    t.search_courtyards(&CourtyardQuery { text: "惠新西街33号院".into(), ..Default::default() }).unwrap().remove(0)
}

/// Builds the server's side of the story: events with increasing server sequence numbers.
struct Server {
    seq: u64,
    events: Vec<PulledEvent>,
}

impl Server {
    fn new() -> Server {
        Server { seq: 0, events: Vec::new() }
    }

    fn event(&mut self, author: WorkerId, issue: IssueId, at_ms: i64, body: EventBody) {
        self.seq += 1;
        let n = self.seq;
        let event = Event {
            id: EventId::from_parts(at_ms as u64, [n as u8; 10]),
            author,
            device: DeviceId::from_parts(9, [9; 10]),
            hlc: Hlc::new(at_ms, n as u32),
            wall_ms: at_ms,
            clock_offset_ms: 0,
            entity: Entity::Issue(issue),
            body,
        };
        self.events.push(PulledEvent { server_seq: n, event });
    }

    /// A hotline order received at `received_ms`, assigned to `to`.
    fn order(&mut self, n: u8, courtyard: CourtyardId, received_ms: i64, to: WorkerId) -> IssueId {
        let id = IssueId::from_parts(received_ms as u64, [n; 10]);
        self.event(
            desk(),
            id,
            received_ms,
            EventBody::IssueReported(IssueReport {
                courtyard,
                category: Category::Noise,
                source: IssueSource::Hotline,
                description: format!("12345 工单 {n}"),
                contact: None,
                location: None,
                received_at_ms: Some(received_ms),
                external_ref: Some(format!("12345-{n}")),
            }),
        );
        self.event(desk(), id, received_ms, EventBody::Assigned { to: Assignee::Worker(to), reason: String::new() });
        id
    }

    /// Everything not yet handed over, as one pull page.
    fn pull(&mut self, t: &mut Tablet, from: usize) {
        let events = self.events[from..].to_vec();
        let resp = PullResponse {
            events,
            next_cursor: self.seq,
            has_more: false,
            registry: None,
            server_time_ms: T0,
            epoch: None,
            held_seq: None,
            max_seq: None,
        };
        t.apply_pull(&resp, None).unwrap();
    }
}

fn ids(rows: &[IssueRow]) -> Vec<IssueId> {
    rows.iter().map(|r| r.id).collect()
}

#[test]
fn today_lists_my_running_clocks_by_deadline_whatever_the_status_then_urged_and_sent_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _) = tablet(&dir, Role::GridWorker, vec![ScopeUnit::Subdistrict("CY10".into())]);
    let c = yard(&t).id;
    let mut s = Server::new();
    let later = s.order(1, c, T0 - 10 * MIN, me());
    let sooner = s.order(2, c, T0 - 30 * MIN, me());
    let colleagues = s.order(3, c, T0 - 40 * MIN, other());
    let whistled = s.order(4, c, T0 - 5 * MIN, me());
    s.event(
        me(),
        whistled,
        T0 - 4 * MIN,
        EventBody::Whistled { level: WhistleLevel::Subdistrict, target: DEPT.into(), note: String::new() },
    );
    let urged = s.order(5, c, T0 - 90 * MIN, me());
    s.event(me(), urged, T0 - 80 * MIN, EventBody::IssueResponded { note: "已联系".into() });
    s.event(desk(), urged, T0 - 20 * MIN, EventBody::Urged { note: "请尽快".into() });
    let sent_back = s.order(6, c, T0 - 120 * MIN, me());
    s.event(me(), sent_back, T0 - 110 * MIN, EventBody::IssueResolved { note: "已处理".into(), photo_sha256: None });
    s.event(desk(), sent_back, T0 - 100 * MIN, EventBody::Reviewed { approved: false, note: "照片不清楚".into() });
    let cancelled = s.order(7, c, T0 - 3 * MIN, me());
    s.event(desk(), cancelled, T0 - 2 * MIN, EventBody::Cancelled { reason: "误报".into() });
    let transferred_away = s.order(8, c, T0 - 2 * MIN, me());
    s.event(desk(), transferred_away, T0 - MIN, EventBody::Transferred { to: Assignee::Worker(other()), note: String::new() });
    s.pull(&mut t, 0);
    let own = t
        .report_issue(NewIssue {
            courtyard: c,
            category: Category::StreetLight,
            source: IssueSource::Visit,
            description: "路灯不亮".into(),
            contact: None,
            location: None,
            photos: vec![],
        })
        .unwrap();

    let today = t.today().unwrap();
    assert_eq!(
        ids(&today.clock),
        vec![sooner, later, whistled, own],
        "mine with a running clock, by deadline: an in-progress (whistled) one and my own undispatched report count too"
    );
    assert_eq!(today.clock[2].status, IssueStatus::InProgress, "whatever the status");
    assert!(!ids(&today.clock).contains(&colleagues), "a colleague's order is not on my Today");
    assert_eq!(ids(&today.follow_up), vec![urged, sent_back], "then the urged, then those a review sent back");
    assert_eq!((today.follow_up[0].urged, today.follow_up[1].review_returns), (1, 1));
    for gone in [cancelled, transferred_away] {
        assert!(!ids(&today.clock).contains(&gone) && !ids(&today.follow_up).contains(&gone), "cancelled or transferred away: gone");
    }

    // What the sync found new for me: each issue once, by its latest such event, still mine and open.
    let news = t.orders_for_me(0).unwrap();
    let kinds: Vec<(IssueId, EventKind)> = news.iter().map(|o| (o.issue.id, o.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (later, EventKind::Assigned),
            (sooner, EventKind::Assigned),
            (whistled, EventKind::Assigned),
            (urged, EventKind::Urged),
            (sent_back, EventKind::Assigned)
        ],
        "assigned to me or urged on mine; not a colleague's, not cancelled, not transferred away"
    );
    assert!(t.orders_for_me(s.seq).unwrap().is_empty(), "nothing after the cursor the sync started from is new");

    // A transfer to me later is a new order too.
    let before = s.events.len();
    s.event(desk(), colleagues, T0 + MIN, EventBody::Transferred { to: Assignee::Worker(me()), note: "转给你".into() });
    let cursor = s.seq - 1;
    s.pull(&mut t, before);
    let news = t.orders_for_me(cursor).unwrap();
    assert_eq!(news.iter().map(|o| (o.issue.id, o.kind)).collect::<Vec<_>>(), vec![(colleagues, EventKind::Transferred)]);
    assert_eq!(news[0].issue.response_due_ms, Some(T0 - 40 * MIN + 60 * MIN), "the order carries its deadline for the banner's countdown");
}

#[test]
fn accepting_and_responding_from_the_offers_moves_the_order_off_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, clock) = tablet(&dir, Role::GridWorker, vec![ScopeUnit::Subdistrict("CY10".into())]);
    let c = yard(&t).id;
    let mut s = Server::new();
    let order = s.order(1, c, T0 - 5 * MIN, me());
    s.pull(&mut t, 0);
    let kinds = |t: &Tablet| t.issue(order).unwrap().offers.iter().map(|o| o.kind).collect::<Vec<_>>();
    let offered = kinds(&t);
    for k in [EventKind::Accepted, EventKind::IssueResponded, EventKind::Returned, EventKind::ExtensionRequested] {
        assert!(offered.contains(&k), "the assignee is offered {k:?}: {offered:?}");
    }
    assert!(!offered.contains(&EventKind::Urged), "a grid worker does not urge: {offered:?}");

    clock.advance(MIN);
    t.accept(order, "").unwrap();
    let state = t.issue(order).unwrap().state;
    assert_eq!(state.accepted_at_ms, Some(T0 + MIN), "签收 is recorded");
    assert!(!kinds(&t).contains(&EventKind::Accepted), "an accepted order is not offered 签收 again");
    assert_eq!(t.today().unwrap().clock[0].accepted_at_ms, Some(T0 + MIN), "Today shows it accepted");
    t.respond(order, "已电话联系居民").unwrap();
    assert!(t.today().unwrap().clock.is_empty(), "answered: off the response clock");

    // A return hands it to the dispatcher: no longer mine.
    let second = {
        let before = s.events.len();
        let id = s.order(2, c, T0, me());
        s.pull(&mut t, before);
        id
    };
    t.return_order(second, ReturnReason::NotMyArea, "不在本网格").unwrap();
    let state = t.issue(second).unwrap().state;
    assert_eq!(state.assignee, Some(Assignee::Dispatcher), "退单 goes back to the dispatcher");
    assert!(!ids(&t.today().unwrap().clock).contains(&second), "and leaves my Today");
    t.request_extension(order, T0 + 3 * 24 * 3_600_000, "待配件").unwrap();
    let x = t.issue(order).unwrap().state.extension.expect("延期 requested");
    assert_eq!((x.until_ms, x.approved), (T0 + 3 * 24 * 3_600_000, None), "the extension waits for a supervisor's decision");
}

#[test]
fn the_department_inbox_holds_what_was_whistled_to_my_departments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _) = tablet(&dir, Role::DepartmentStaff, vec![ScopeUnit::Department(DEPT.into())]);
    // A department's scope holds no place: an issue whistled to it is its business all the same.
    let c = yard(&t).id;
    let mut s = Server::new();
    let ours = s.order(1, c, T0 - 5 * MIN, other());
    s.event(
        other(),
        ours,
        T0 - 4 * MIN,
        EventBody::Whistled { level: WhistleLevel::Subdistrict, target: DEPT.into(), note: String::new() },
    );
    let theirs = s.order(2, c, T0 - 5 * MIN, other());
    s.event(
        other(),
        theirs,
        T0 - 4 * MIN,
        EventBody::Whistled { level: WhistleLevel::Subdistrict, target: "区水务局".into(), note: String::new() },
    );
    s.pull(&mut t, 0);
    assert_eq!(ids(&t.department_inbox().unwrap()), vec![ours], "only what was whistled to my department");
    let offered: Vec<EventKind> = t.issue(ours).unwrap().offers.iter().map(|o| o.kind).collect();
    assert!(
        offered.contains(&EventKind::ReportedIn) && offered.contains(&EventKind::ProgressAdded),
        "the department reports in and adds progress: {offered:?}"
    );
    t.report_in(ours, DEPT, "已报到").unwrap();
    t.add_progress(ours, "已安排执法", true).unwrap();
    let state = t.issue(ours).unwrap().state;
    assert!(state.whistles[0].reported_in_at_ms.is_some(), "报到 recorded");
    let public = state.history.iter().any(|h| matches!(h.event.body, EventBody::ProgressAdded { public: true, .. }));
    assert!(public, "a progress step told to the resident keeps its flag");

    let dir2 = tempfile::tempdir().unwrap();
    let (worker, _) = tablet(&dir2, Role::GridWorker, vec![ScopeUnit::Subdistrict("CY10".into())]);
    assert!(worker.department_inbox().unwrap().is_empty(), "a worker without departments has no inbox");
}

#[test]
fn supervisors_steer_from_the_tablet() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _) = tablet(&dir, Role::Supervisor, vec![ScopeUnit::Subdistrict("CY10".into())]);
    let c = yard(&t);
    let mut s = Server::new();
    let a = s.order(1, c.id, T0 - 5 * MIN, other());
    let b = s.order(2, c.id, T0 - 4 * MIN, other());
    s.pull(&mut t, 0);
    let offered: Vec<EventKind> = t.issue(a).unwrap().offers.iter().map(|o| o.kind).collect();
    for k in [EventKind::Urged, EventKind::Transferred, EventKind::ClosedAsDuplicate, EventKind::Cancelled] {
        assert!(offered.contains(&k), "a supervisor in the area is offered {k:?}: {offered:?}");
    }
    t.urge(a, "请尽快联系居民").unwrap();
    assert_eq!(t.issue(a).unwrap().state.urged, 1);
    assert_eq!(
        t.transfer(a, Assignee::Community(CommunityId::from_parts(1, [0xee; 10])), "").unwrap_err().code(),
        "not_found",
        "a transfer to a community this tablet does not know is refused"
    );
    t.transfer(a, Assignee::Community(c.community_id), "转社区").unwrap();
    assert_eq!(t.issue(a).unwrap().state.assignee, Some(Assignee::Community(c.community_id)));
    t.close_as_duplicate(b, a, "同一问题").unwrap();
    assert_eq!(t.issue(b).unwrap().state.status, IssueStatus::Duplicate);
    assert_eq!(t.cancel(a, "").unwrap_err().code(), "empty_text", "a cancellation needs its reason");
    t.cancel(a, "居民撤回").unwrap();
    assert_eq!(t.issue(a).unwrap().state.status, IssueStatus::Cancelled);
    assert!(t.issue(a).unwrap().offers.iter().all(|o| o.kind == EventKind::NoteAdded), "a cancelled issue offers only a note");
}

#[test]
fn the_first_stored_report_counts_on_the_tablet_as_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _) = tablet(&dir, Role::GridWorker, vec![ScopeUnit::District]);
    let reg = demo_registry();
    let (home, away) = (reg.courtyards[0].id, reg.courtyards[1].id);
    let mut s = Server::new();
    let id = s.order(1, home, T0 - 10 * MIN, me());
    // A second report of the same id, with an earlier HLC and another courtyard, reaches the
    // tablet after the first (the server never stores one; an older server might have).
    s.event(
        other(),
        id,
        T0 - 60 * MIN,
        EventBody::IssueReported(IssueReport {
            courtyard: away,
            category: Category::Noise,
            source: IssueSource::Visit,
            description: "抢单".into(),
            contact: None,
            location: None,
            received_at_ms: None,
            external_ref: None,
        }),
    );
    s.pull(&mut t, 0);
    let detail = t.issue(id).unwrap();
    assert_eq!(
        detail.state.report.as_ref().map(|r| r.courtyard),
        Some(home),
        "the report first in the server's sequence counts, not the one with the earliest HLC"
    );
    let second = detail.state.history.iter().find(|h| h.event.hlc.ms == T0 - 60 * MIN).expect("the second report is in the history");
    assert_eq!(second.conflict, Some(Conflict::AlreadyReported), "the second report is kept as a conflict and moves nothing");
}
