//! 接诉即办 for people: orders go to named workers, the dispatch steps, the rules table on push
//! (every cell), review before close, duplicates out of the rates, a department tablet that
//! enrolled before the whistle, and the long-poll that tells a tablet at once.

use super::kit::{self, fast_config, Site};
use axum::http::{Method, StatusCode};
use axum::Router;
use gridwalk_domain::rules::{may, Relation};
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::app::admin;
use gridwalk_server::AppState;
use serde_json::Value;
use std::time::{Duration, Instant};

const DEPT: &str = "区城管委";

struct Fixture {
    site: Site,
    app: Router,
    state: AppState,
    yard: Courtyard,
    /// A courtyard in no tested worker's scope: its issues reach them only by a whistle.
    far: Courtyard,
    next_order: std::cell::Cell<u32>,
}

/// One user per role, all with the same courtyard and department in scope, plus a colleague,
/// the hotline desk and a supervisor.
fn fixture() -> Fixture {
    let reg = registry_gen::demo_registry();
    let yard = reg.courtyards[0].clone();
    let far = reg.courtyards[4000].clone();
    let home = vec![ScopeUnit::Courtyard(yard.code.clone()), ScopeUnit::Department(DEPT.into())];
    let mut users: Vec<(&str, Role, Vec<ScopeUnit>)> = Role::ALL.iter().map(|r| (r.code(), *r, home.clone())).collect();
    users.push(("colleague", Role::GridWorker, vec![ScopeUnit::Courtyard(yard.code.clone())]));
    users.push(("root", Role::Admin, vec![ScopeUnit::District]));
    users.push(("boss", Role::Supervisor, vec![ScopeUnit::District]));
    let site = Site::demo(&users);
    let (state, app) = site.serve(fast_config());
    Fixture { site, app, state, yard, far, next_order: std::cell::Cell::new(0) }
}

async fn call(app: &Router, method: Method, uri: &str, token: &str, body: Option<Vec<u8>>) -> (StatusCode, Value) {
    let content_type = body.is_some().then_some("application/json");
    let r = kit::send(app, method, uri, Some(token), content_type, body.unwrap_or_default()).await;
    (r.status, serde_json::from_slice(&r.bytes).unwrap_or(Value::Null))
}

/// A device with its next sequence number.
struct Device {
    who: LoginResponse,
    seq: u64,
}

impl Device {
    async fn new(app: &Router, username: &str) -> Device {
        Device { who: kit::login(app, username).await, seq: 0 }
    }

    /// Push events about one issue in one batch; their outcome codes.
    async fn push(&mut self, app: &Router, issue: IssueId, bodies: Vec<EventBody>) -> Vec<String> {
        let now = kit::now_ms();
        let events: Vec<LoggedEvent> = bodies
            .into_iter()
            .map(|b| {
                self.seq += 1;
                LoggedEvent { seq: self.seq, event: kit::event(&self.who, now + self.seq as i64, self.seq, Entity::Issue(issue), b) }
            })
            .collect();
        let req = PushRequest { device_id: self.who.device_id, events };
        let (status, body) = call(app, Method::POST, "/api/v1/sync/push", &self.who.token, Some(serde_json::to_vec(&req).unwrap())).await;
        assert_eq!(status, StatusCode::OK, "a push answers 200 with per-event outcomes: {body}");
        let resp: PushResponse = serde_json::from_value(body).unwrap();
        resp.results
            .iter()
            .map(|r| match &r.outcome {
                PushOutcome::Accepted => "accepted".to_owned(),
                PushOutcome::Rejected { code, .. } => code.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    async fn pull(&self, app: &Router, after: u64) -> PullResponse {
        let (status, body) = call(app, Method::GET, &format!("/api/v1/sync/pull?after={after}"), &self.who.token, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }
}

impl Fixture {
    /// A hotline order at `yard`, taken in by the desk; its issue.
    async fn order(&self, yard: &Courtyard, contact: bool) -> IssueId {
        let n = self.next_order.get() + 1;
        self.next_order.set(n);
        let root = kit::login(&self.app, "root").await;
        let o = HotlineIntake {
            order_no: format!("12345-D{n:04}"),
            place: IntakePlace::CourtyardCode { code: yard.code.clone() },
            category: "noise".into(),
            description: "夜间施工噪声".into(),
            received_at_ms: kit::now_ms() - 60_000,
            contact: contact.then(|| ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
        };
        let (status, body) =
            call(&self.app, Method::POST, "/api/v1/hotline/intake", &root.token, Some(serde_json::to_vec(&o).unwrap())).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        serde_json::from_value::<HotlineIntakeResponse>(body).unwrap().issue_id
    }

    fn responsible(&self, yard: &Courtyard, username: &str) {
        admin::set_responsible(self.site.dir.path(), &yard.code, username).unwrap();
    }

    async fn state(&self, issue: IssueId) -> IssueState {
        let boss = kit::login(&self.app, "boss").await;
        let (status, body) = call(&self.app, Method::GET, &format!("/api/v1/issues/{issue}"), &boss.token, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }
}

/// A body of every kind a person pushes about an issue, valid on its own, in an order where
/// the two that change the owner come last.
fn every_kind(other: IssueId) -> Vec<EventBody> {
    let note = || "说明".to_owned();
    vec![
        EventBody::Accepted { note: note() },
        EventBody::IssueResponded { note: note() },
        EventBody::NoteAdded { text: note() },
        EventBody::ProgressAdded { note: note(), public: true },
        EventBody::ReportedIn { target: DEPT.into(), note: note() },
        EventBody::Urged { note: note() },
        EventBody::ExtensionRequested { until_ms: kit::now_ms() + 86_400_000, reason: note() },
        EventBody::ExtensionDecided { approved: true, note: note() },
        EventBody::Pledged { kind: PledgeKind::Frequent, note: note() },
        EventBody::Whistled { level: WhistleLevel::Community, target: "街道科室".into(), note: note() },
        EventBody::IssueResolved { note: note(), photo_sha256: None },
        EventBody::Reviewed { approved: false, note: note() },
        EventBody::CallbackRecorded { satisfaction: Satisfaction::Satisfied, note: note() },
        EventBody::IssueClosed { note: note() },
        EventBody::IssueReopened { reason: note() },
        EventBody::ClosedAsDuplicate { of: other, note: note() },
        EventBody::Cancelled { reason: note() },
        EventBody::Recurred { new_issue: other },
        EventBody::RecurrenceFlagged { earlier_issue: other },
        EventBody::DuplicateLinked { duplicate: other },
        EventBody::Assigned { to: Assignee::Dispatcher, reason: note() },
        EventBody::Transferred { to: Assignee::Dispatcher, note: note() },
        EventBody::Returned { reason: ReturnReason::NotMyArea, note: note() },
    ]
}

/// The rules table on push: every role × event kind × relation, each cell tried once.
#[tokio::test]
async fn the_role_by_event_kind_matrix_is_enforced_on_push_cell_by_cell() {
    let f = fixture();
    let other = f.order(&f.yard, false).await;
    let mut boss = Device::new(&f.app, "boss").await;
    let mut cells = 0;
    for role in Role::ALL {
        let mut device = Device::new(&f.app, role.code()).await;
        for rel in Relation::ALL {
            let issue = match rel {
                Relation::Mine => {
                    f.responsible(&f.yard, role.code());
                    f.order(&f.yard, false).await
                }
                Relation::Area => {
                    f.responsible(&f.yard, "colleague");
                    f.order(&f.yard, false).await
                }
                Relation::Department => {
                    let issue = f.order(&f.far, false).await;
                    let whistle = EventBody::Whistled { level: WhistleLevel::Subdistrict, target: DEPT.into(), note: String::new() };
                    assert_eq!(boss.push(&f.app, issue, vec![whistle]).await, vec!["accepted"]);
                    issue
                }
            };
            let bodies = every_kind(other);
            let kinds: Vec<EventKind> = bodies.iter().map(|b| b.event_kind()).collect();
            let got = device.push(&f.app, issue, bodies).await;
            for (kind, outcome) in kinds.into_iter().zip(got) {
                let want = if may(*role, kind, *rel) { "accepted" } else { "not_permitted" };
                assert_eq!(outcome, want, "{} recording {} on an issue that is {rel:?}: the table says {want}", role.code(), kind.code());
                cells += 1;
            }
        }
    }
    assert_eq!(cells, Role::ALL.len() * 3 * every_kind(other).len(), "every cell was tried");
    // Outside the scope and not whistled to them: out of scope, whatever the role.
    let stray = f.order(&f.far, false).await;
    let mut walker = Device::new(&f.app, "grid_worker").await;
    assert_eq!(walker.push(&f.app, stray, vec![EventBody::NoteAdded { text: "x".into() }]).await, vec!["out_of_scope"]);
}

#[tokio::test]
async fn an_order_goes_to_the_courtyards_responsible_worker_who_may_return_it_and_a_transfer_keeps_the_clock() {
    let f = fixture();
    f.responsible(&f.yard, "grid_worker");
    let issue = f.order(&f.yard, false).await;
    let s = f.state(issue).await;
    let worker = kit::login(&f.app, "grid_worker").await.worker.id;
    let colleague = kit::login(&f.app, "colleague").await.worker.id;
    assert_eq!(s.assignee, Some(Assignee::Worker(worker)), "a hotline order is assigned to the courtyard's responsible worker");
    let due = s.response_due_ms;

    let mut w = Device::new(&f.app, "grid_worker").await;
    let back = EventBody::Returned { reason: ReturnReason::NotMyKind, note: "属燃气公司".into() };
    assert_eq!(w.push(&f.app, issue, vec![EventBody::Accepted { note: String::new() }, back]).await, vec!["accepted", "accepted"]);
    let s = f.state(issue).await;
    assert_eq!(s.assignee, Some(Assignee::Dispatcher), "a return goes back to the dispatcher's queue");
    assert_eq!(s.returned.as_ref().map(|r| r.reason), Some(ReturnReason::NotMyKind), "with its reason");
    assert_eq!(s.accepted_at_ms, None, "a return clears the acceptance");

    let mut boss = Device::new(&f.app, "boss").await;
    let nobody = WorkerId::from_parts(1, [0xee; 10]);
    let before = f.site.count("SELECT count(*) FROM events");
    let out = boss.push(&f.app, issue, vec![EventBody::Transferred { to: Assignee::Worker(nobody), note: String::new() }]).await;
    assert_eq!(out, vec!["unknown_worker"], "a transfer to an unknown worker is refused");
    assert_eq!(f.site.count("SELECT count(*) FROM events"), before, "and stores nothing");
    let out = boss
        .push(
            &f.app,
            issue,
            vec![
                EventBody::Transferred { to: Assignee::Worker(colleague), note: "改派".into() },
                EventBody::Urged { note: "请尽快联系".into() },
            ],
        )
        .await;
    assert_eq!(out, vec!["accepted", "accepted"]);
    let s = f.state(issue).await;
    assert_eq!(s.assignee, Some(Assignee::Worker(colleague)), "the supervisor re-dispatches to another worker");
    assert_eq!(s.response_due_ms, due, "a transfer does not reset the 1-hour clock");
    assert_eq!(s.urged, 1, "the urge is on the issue");
    let c = Device::new(&f.app, "colleague").await;
    let kinds: Vec<&str> =
        c.pull(&f.app, 0).await.events.iter().filter(|e| e.event.entity == Entity::Issue(issue)).map(|e| e.event.body.kind()).collect();
    assert!(
        kinds.contains(&"transferred") && kinds.contains(&"urged"),
        "the new assignee's tablet pulls the transfer and the urge: {kinds:?}"
    );
}

#[tokio::test]
async fn nobody_grades_their_own_work_and_duplicates_count_in_no_rate() {
    let f = fixture();
    f.responsible(&f.yard, "grid_worker");
    let a = f.order(&f.yard, false).await;
    let b = f.order(&f.yard, false).await;
    let mut w = Device::new(&f.app, "grid_worker").await;
    let mut boss = Device::new(&f.app, "boss").await;
    w.push(
        &f.app,
        a,
        vec![EventBody::IssueResponded { note: "已联系".into() }, EventBody::IssueResolved { note: "已处理".into(), photo_sha256: None }],
    )
    .await;
    let cb = || EventBody::CallbackRecorded { satisfaction: Satisfaction::Satisfied, note: String::new() };
    assert_eq!(w.push(&f.app, a, vec![cb()]).await, vec!["not_permitted"], "the resolver cannot record the callback");
    assert_eq!(f.state(a).await.status, IssueStatus::Resolved, "so the issue stays resolved, awaiting review");
    assert_eq!(boss.push(&f.app, a, vec![EventBody::Reviewed { approved: true, note: String::new() }]).await, vec!["accepted"]);
    assert_eq!(f.state(a).await.status, IssueStatus::Closed, "a supervisor's review closes it");

    // A supervisor who resolves is a resolver too: their own review is kept as a conflict.
    boss.push(&f.app, b, vec![EventBody::IssueResolved { note: "现场处置".into(), photo_sha256: None }]).await;
    assert_eq!(boss.push(&f.app, b, vec![EventBody::Reviewed { approved: true, note: String::new() }]).await, vec!["accepted"]);
    let s = f.state(b).await;
    assert_eq!(s.status, IssueStatus::Resolved, "nobody reviews their own resolution");
    assert!(s.history.iter().any(|h| h.conflict == Some(Conflict::OwnWork)), "the fold flags it as own work");

    // Rates: a, b and a duplicate d of a, all received now. Hand-computed: d counts nowhere, so
    // 2 received, 2 responded in time (a responded, b resolved on the spot), 2 resolved.
    let d = f.order(&f.yard, false).await;
    assert_eq!(boss.push(&f.app, d, vec![EventBody::ClosedAsDuplicate { of: a, note: "同一工单".into() }]).await, vec!["accepted"]);
    assert_eq!(f.state(d).await.status, IssueStatus::Duplicate);
    assert_eq!(f.state(d).await.duplicate_of, Some(a), "the duplicate names its original");
    assert_eq!(f.state(a).await.duplicates, vec![d], "and the original is linked back by the server");
    let nowhere = IssueId::from_parts(1, [0xdd; 10]);
    let e = f.order(&f.yard, false).await;
    let out = boss.push(&f.app, e, vec![EventBody::ClosedAsDuplicate { of: nowhere, note: String::new() }]).await;
    assert_eq!(out, vec!["unknown_issue"], "a duplicate of an unknown issue is refused");
    boss.push(&f.app, e, vec![EventBody::Cancelled { reason: "误报，居民已撤回".into() }]).await;
    assert_eq!(f.state(e).await.status, IssueStatus::Cancelled, "a supervisor cancels a mistaken report");
    let now = kit::now_ms();
    let uri = format!("/api/v1/rates?by=district&period=month&from={}&to={}", now - 3_600_000, now + 3_600_000);
    let (status, body) = call(&f.app, Method::GET, &uri, &boss.who.token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: RatesReport = serde_json::from_value(body).unwrap();
    let row = &report.rows[0];
    assert_eq!(
        (row.response.numerator, row.response.denominator, row.resolution.numerator, row.resolution.denominator),
        (2, 2, 2, 2),
        "the duplicate counts in no rate (the other order of the matrix fixture is not in this test)"
    );
}

#[tokio::test]
async fn a_department_tablet_enrolled_before_the_whistle_receives_the_whole_issue_and_reports_in() {
    let f = fixture();
    let mut dept = Device::new(&f.app, "department_staff").await;
    let issue = f.order(&f.far, true).await;
    let first = dept.pull(&f.app, 0).await;
    assert!(first.events.iter().all(|e| e.event.entity != Entity::Issue(issue)), "before the whistle the department sees nothing of it");
    let cursor = first.next_cursor;
    let mut boss = Device::new(&f.app, "boss").await;
    let whistle = EventBody::Whistled { level: WhistleLevel::Subdistrict, target: DEPT.into(), note: "请城管委处置".into() };
    boss.push(&f.app, issue, vec![EventBody::NoteAdded { text: "先记一笔".into() }, whistle]).await;
    let after = dept.pull(&f.app, cursor).await;
    let kinds: Vec<&str> = after.events.iter().filter(|e| e.event.entity == Entity::Issue(issue)).map(|e| e.event.body.kind()).collect();
    assert_eq!(
        kinds,
        vec!["issue_reported", "assigned", "note_added", "whistled"],
        "the whistle brings every earlier event, whatever the cursor"
    );
    let report_in = EventBody::ReportedIn { target: DEPT.into(), note: "已报到".into() };
    assert_eq!(dept.push(&f.app, issue, vec![report_in]).await, vec!["accepted"], "the department reports in");
    assert!(f.state(issue).await.whistles[0].reported_in_at_ms.is_some());
}

#[tokio::test]
async fn a_waiting_tablet_hears_of_an_order_for_it_at_once_and_of_nothing_else() {
    let f = fixture();
    let feed = tokio::spawn(f.state.feed().run(f.state.storage().clone()));
    f.responsible(&f.yard, "grid_worker");
    let w = Device::new(&f.app, "grid_worker").await;
    let cursor = w.pull(&f.app, 0).await.next_cursor;
    let wait = |after: u64, timeout: u64| {
        let (app, token) = (f.app.clone(), w.who.token.clone());
        tokio::spawn(
            async move { call(&app, Method::GET, &format!("/api/v1/sync/wait?after={after}&timeout_s={timeout}"), &token, None).await },
        )
    };
    // Nothing for this tablet: an order far away does not wake it.
    let quiet = wait(cursor, 1);
    f.order(&f.far, false).await;
    let (status, body) = quiet.await.unwrap();
    assert_eq!((status, body["news"].as_bool()), (StatusCode::OK, Some(false)), "an order elsewhere is no news: {body}");

    let started = Instant::now();
    let waiting = wait(cursor, 30);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let issue = f.order(&f.yard, false).await;
    let (status, body) = waiting.await.unwrap();
    assert_eq!((status, body["news"].as_bool()), (StatusCode::OK, Some(true)), "an order at my courtyard is news: {body}");
    assert!(started.elapsed() < Duration::from_secs(10), "the wait answers when the order is stored, not at its timeout");
    let pulled = w.pull(&f.app, cursor).await;
    assert!(pulled.events.iter().any(|e| e.event.entity == Entity::Issue(issue)), "and the pull that follows brings it");
    let (status, body) = call(&f.app, Method::GET, "/api/v1/sync/wait?after=0&timeout_s=abc", &w.who.token, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "a bad timeout is a clear 400");
    feed.abort();
}

#[tokio::test]
async fn a_locked_tablet_learns_only_how_many_new_orders_wait_with_its_notify_token() {
    let f = fixture();
    let feed = tokio::spawn(f.state.feed().run(f.state.storage().clone()));
    f.responsible(&f.yard, "grid_worker");
    let w = Device::new(&f.app, "grid_worker").await;
    assert_eq!(w.who.notify_token.len(), 64, "the login hands out a notify-only token");
    assert_ne!(w.who.notify_token, w.who.token, "distinct from the session token");
    let cursor = w.pull(&f.app, 0).await.next_cursor;
    let count = |token: String, timeout: u64| {
        let app = f.app.clone();
        tokio::spawn(async move {
            call(&app, Method::GET, &format!("/api/v1/notify/count?after={cursor}&timeout_s={timeout}"), &token, None).await
        })
    };
    let (status, body) = count(w.who.token.clone(), 1).await.unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token")),
        "the session token does not answer here"
    );
    let (status, _) = call(&f.app, Method::GET, "/api/v1/sync/pull?after=0", &w.who.notify_token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the notify token opens nothing else");
    let (status, body) = count(w.who.notify_token.clone(), 1).await.unwrap();
    assert_eq!((status, body["new"].as_u64()), (StatusCode::OK, Some(0)), "nothing new yet: {body}");

    let waiting = count(w.who.notify_token.clone(), 30);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    f.order(&f.yard, true).await;
    let (status, body) = waiting.await.unwrap();
    assert_eq!((status, body["new"].as_u64()), (StatusCode::OK, Some(1)), "one new order for me, as soon as it is stored: {body}");
    assert!(started.elapsed() < Duration::from_secs(10), "answered when the order landed, not at the timeout");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["latest_seq", "new"], "a count and a cursor, nothing about the order");
    // An order for someone else is not counted.
    f.responsible(&f.yard, "colleague");
    f.order(&f.yard, false).await;
    let (_, body) = count(w.who.notify_token.clone(), 0).await.unwrap();
    assert_eq!(body["new"].as_u64(), Some(1), "only orders assigned to me count");
    admin::revoke_device(f.site.dir.path(), w.who.device_id).unwrap();
    let (status, body) = count(w.who.notify_token.clone(), 0).await.unwrap();
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_revoked")), "revoked with the device");
    feed.abort();
}

/// Orders placed by a free Chinese address: matched at the right courtyard, or, when they
/// cannot be, queued for the dispatcher with the reason, never refused and never filed far away.
#[tokio::test]
async fn an_order_is_placed_by_its_address_or_queued_for_the_dispatcher_with_the_reason() {
    let f = fixture();
    let root = kit::login(&f.app, "root").await;
    let reg = registry_gen::demo_registry();
    let yard33 = reg.courtyards.iter().find(|c| c.name == "惠新西街33号院").unwrap().clone();
    // One receipt time for every order: a resend repeats its order exactly (else `order_no_taken`).
    let received = kit::now_ms() - 5 * 60_000;
    let intake = |no: &str, address: &str, point: Option<(f64, f64)>| HotlineIntake {
        order_no: no.into(),
        place: IntakePlace::Address { address: address.into(), lat: point.map(|p| p.0), lon: point.map(|p| p.1) },
        category: "street_light".into(),
        description: "路灯不亮".into(),
        received_at_ms: received,
        contact: Some(ResidentContact { name: None, phone: "13812345678".into() }),
    };
    let send = |o: HotlineIntake| {
        let (app, token) = (f.app.clone(), root.token.clone());
        async move { call(&app, Method::POST, "/api/v1/hotline/intake", &token, Some(serde_json::to_vec(&o).unwrap())).await }
    };
    let (status, body) = send(intake("A-1", "北京市朝阳区小关街道惠新西街33号院2号楼3单元", None)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["courtyard_id"].as_str(), Some(yard33.id.to_string().as_str()), "the courtyard named in a free address");
    let far = (yard33.point.lat + 0.05, yard33.point.lon);
    let cases = [
        ("A-2", "北京市海淀区中关村大街1号", None, "outside_district"),
        ("A-3", "惠新西街33号院", Some(far), "point_disagrees"),
        ("A-4", "某某路", None, "no_match"),
    ];
    for (no, address, point, reason) in cases {
        let (status, body) = send(intake(no, address, point)).await;
        assert_eq!((status, body["reason"].as_str()), (StatusCode::ACCEPTED, Some(reason)), "{address}: queued with its reason: {body}");
        assert!(!body["reason_zh"].as_str().unwrap_or_default().is_empty(), "the reason has its Chinese label");
    }
    assert_eq!(f.site.count("SELECT count(*) FROM issues"), 1, "a queued order files nothing at a courtyard");
    let (status, again) = send(intake("A-2", "北京市海淀区中关村大街1号", None)).await;
    assert_eq!((status, again["created"].as_bool()), (StatusCode::ACCEPTED, Some(false)), "a resend is queued once");

    let (status, desk) = call(&f.app, Method::GET, "/api/v1/dispatch/queue", &root.token, None).await;
    assert_eq!(status, StatusCode::OK, "{desk}");
    let desk: DispatchQueue = serde_json::from_value(desk).unwrap();
    let queued: Vec<&str> = desk.unplaced.iter().map(|u| u.order_no.as_str()).collect();
    assert_eq!(queued, vec!["A-2", "A-3", "A-4"], "the desk lists the queued orders, oldest first");
    assert_eq!(desk.unplaced[0].contact_phone_masked.as_deref(), Some("138****5678"), "the desk shows the phone masked");
    let walker = kit::login(&f.app, "grid_worker").await;
    let (status, _) = call(&f.app, Method::GET, "/api/v1/dispatch/queue", &walker.token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the desk is for supervisors and admins");

    let place = |no: &str, yard: CourtyardId| {
        let (app, token, uri) = (f.app.clone(), root.token.clone(), format!("/api/v1/dispatch/orders/{no}/place"));
        async move { call(&app, Method::POST, &uri, &token, Some(serde_json::to_vec(&PlaceOrder { courtyard_id: yard }).unwrap())).await }
    };
    let (status, body) = place("A-3", yard33.id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let placed: HotlineIntakeResponse = serde_json::from_value(body).unwrap();
    let state = f.state(placed.issue_id).await;
    assert_eq!(state.received_at_ms, Some(desk.unplaced[1].received_at_ms), "the clock runs from receipt, not from placing");
    assert!(matches!(state.assignee, Some(Assignee::Community(_))), "and the placed order is dispatched like any");
    let (status, body) = place("A-3", yard33.id).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("already_placed")), "an order is placed once");
    let (status, body) = place("A-9", yard33.id).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");
    let (status, body) = send(intake("A-3", "惠新西街33号院", Some(far))).await;
    assert_eq!(
        (status, body["issue_id"].as_str()),
        (StatusCode::OK, Some(placed.issue_id.to_string().as_str())),
        "a resend of a placed order answers with its issue"
    );
}

#[tokio::test]
async fn the_hotline_centre_records_its_callback_through_the_api_and_it_closes_the_issue() {
    let f = fixture();
    f.responsible(&f.yard, "grid_worker");
    let issue = f.order(&f.yard, true).await;
    let order_no = f.state(issue).await.report.unwrap().external_ref.unwrap();
    let root = kit::login(&f.app, "root").await;
    let callback = |token: String, satisfaction: &str| {
        let body = serde_json::to_vec(&HotlineCallback {
            order_no: order_no.clone(),
            satisfaction: satisfaction.into(),
            note: "居民表示满意".into(),
        })
        .unwrap();
        let app = f.app.clone();
        async move { call(&app, Method::POST, "/api/v1/hotline/callback", &token, Some(body)).await }
    };
    let (status, body) = callback(root.token.clone(), "satisfied").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("not_resolved")), "a callback follows a resolution");
    let mut w = Device::new(&f.app, "grid_worker").await;
    w.push(&f.app, issue, vec![EventBody::IssueResolved { note: "已处理".into(), photo_sha256: None }]).await;
    let (status, _) = callback(w.who.token.clone(), "satisfied").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the worker cannot record it through the API either");
    let (status, body) = callback(root.token.clone(), "sure").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "a bad satisfaction is refused: {body}");
    let (status, body) = callback(root.token.clone(), "satisfied").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("closed")),
        "the hotline centre's satisfied callback closes it: {body}"
    );
    let s = f.state(issue).await;
    assert_eq!(s.satisfaction, Some(Satisfaction::Satisfied));
    assert!(s.conflicts().next().is_none(), "recorded by the hotline identity, not the resolver: no own-work conflict");
}
