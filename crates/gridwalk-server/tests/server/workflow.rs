//! The 接诉即办 workflow on the server, over the real router: escalations driven with a fixed
//! clock, recurrence links, department scope, rates and pledges endpoints. Every assertion
//! message names the rule it checks.

use super::kit::{self, fast_config, Site};
use axum::http::{Method, StatusCode};
use axum::Router;
use gridwalk_clock::{Clock, ManualClock};
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::AppState;
use serde_json::Value;
use std::sync::Arc;

const DEPT: &str = "区城管委";
const H: i64 = 3_600_000;
/// Event times of the fixtures: 2025-10-09, well in the past of any test run.
const T0: i64 = 1_760_000_000_000;

struct Fixture {
    site: Site,
    app: Router,
    state: AppState,
    /// The server's clock: it starts at `T0` and moves when a test says so, or when a device
    /// pushes an event (the tablets here are online: an event reaches the server when recorded).
    clock: Arc<ManualClock>,
    yard: Courtyard,
}

fn fixture() -> Fixture {
    fixture_with(fast_config())
}

fn fixture_with(config: gridwalk_server::Config) -> Fixture {
    let yard = registry_gen::demo_registry().courtyards[0].clone();
    let site = Site::demo(&[
        ("walker", Role::GridWorker, vec![ScopeUnit::Courtyard(yard.code.clone())]),
        ("cadre", Role::Cadre, vec![ScopeUnit::Courtyard(yard.code.clone())]),
        ("boss", Role::Supervisor, vec![ScopeUnit::District]),
        ("dept", Role::DepartmentStaff, vec![ScopeUnit::Department(DEPT.into())]),
        ("otherdept", Role::DepartmentStaff, vec![ScopeUnit::Department("区住建委".into())]),
    ]);
    // The server's clock starts at the fixtures' time: every time a tablet sends is checked
    // against it (validate::times).
    let clock = Arc::new(ManualClock::new(T0));
    let (state, app) = site.serve_at(config, clock.clone());
    Fixture { site, app, state, clock, yard }
}

async fn call(app: &Router, method: Method, uri: &str, token: Option<&str>, body: Option<Vec<u8>>) -> (StatusCode, Value) {
    let content_type = body.is_some().then_some("application/json");
    let r = kit::send(app, method, uri, token, content_type, body.unwrap_or_default()).await;
    (r.status, serde_json::from_slice(&r.bytes).unwrap_or(Value::Null))
}

async fn get(app: &Router, uri: &str, who: &LoginResponse) -> (StatusCode, Value) {
    call(app, Method::GET, uri, Some(&who.token), None).await
}

async fn login(app: &Router, username: &str) -> LoginResponse {
    kit::login(app, username).await
}

/// A worker's device, with its next sequence number, online: it pushes each event when it
/// records it, so the server's clock is set to the event's time.
struct Device {
    who: LoginResponse,
    seq: u64,
    clock: Arc<ManualClock>,
}

impl Device {
    async fn new(f: &Fixture, username: &str) -> Device {
        Device { who: login(&f.app, username).await, seq: 0, clock: f.clock.clone() }
    }

    fn event(&self, at_ms: i64, issue: IssueId, body: EventBody) -> Event {
        kit::event(&self.who, at_ms, self.seq + 1, Entity::Issue(issue), body)
    }

    /// Push one event; the outcome code ("accepted" or the rejection code).
    async fn push(&mut self, app: &Router, at_ms: i64, issue: IssueId, body: EventBody) -> String {
        let event = self.event(at_ms, issue, body);
        self.seq += 1;
        self.clock.set(at_ms);
        let req = PushRequest { device_id: self.who.device_id, events: vec![LoggedEvent { seq: self.seq, event }] };
        let (status, body) =
            call(app, Method::POST, "/api/v1/sync/push", Some(&self.who.token), Some(serde_json::to_vec(&req).unwrap())).await;
        assert_eq!(status, StatusCode::OK, "a push answers 200 with per-event outcomes: {body}");
        let resp: PushResponse = serde_json::from_value(body).unwrap();
        match &resp.results[0].outcome {
            PushOutcome::Accepted => "accepted".into(),
            PushOutcome::Rejected { code, .. } => code.clone(),
            other => format!("{other:?}"),
        }
    }

    async fn report(&mut self, app: &Router, at_ms: i64, yard: CourtyardId, category: Category) -> IssueId {
        let issue = IssueId::from_parts(at_ms as u64, [self.seq as u8 + 1; 10]);
        let body = EventBody::IssueReported(IssueReport {
            courtyard: yard,
            category,
            source: IssueSource::Visit,
            description: "楼道灯不亮".into(),
            contact: None,
            location: None,
            received_at_ms: None,
            external_ref: None,
        });
        assert_eq!(self.push(app, at_ms, issue, body).await, "accepted", "the report is in scope");
        issue
    }
}

async fn issue_state(f: &Fixture, who: &LoginResponse, id: IssueId) -> IssueState {
    let (status, body) = get(&f.app, &format!("/api/v1/issues/{id}"), who).await;
    assert_eq!(status, StatusCode::OK, "the issue is readable: {body}");
    serde_json::from_value(body).unwrap()
}

async fn pulled(f: &Fixture, who: &LoginResponse) -> Vec<Event> {
    let (status, body) = get(&f.app, "/api/v1/sync/pull?after=0", who).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_value::<PullResponse>(body).unwrap().events.into_iter().map(|e| e.event).collect()
}

#[tokio::test]
async fn escalations_happen_once_at_the_configured_times_and_whistle_by_a_server_event() {
    let f = fixture();
    let boss = login(&f.app, "boss").await;
    let walker = login(&f.app, "walker").await;
    let order = HotlineIntake {
        order_no: "12345-E1".into(),
        place: IntakePlace::Courtyard { courtyard_id: f.yard.id },
        category: "noise".into(),
        description: "夜间施工噪声".into(),
        received_at_ms: T0,
        contact: None,
    };
    let (status, body) =
        call(&f.app, Method::POST, "/api/v1/hotline/intake", Some(&boss.token), Some(serde_json::to_vec(&order).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED);
    let issue: IssueId = serde_json::from_value(body["issue_id"].clone()).unwrap();

    let kinds = |v: &[Alert]| {
        v.iter()
            .map(|a| format!("{}{}", a.kind, if a.level.is_empty() { String::new() } else { format!(":{}", a.level) }))
            .collect::<Vec<_>>()
    };
    // Default rules: alert at the 1-hour deadline, whistle after 3 days unresolved.
    let cases: [(i64, Vec<&str>); 6] = [
        (T0 + 30 * 60_000, vec![]),
        (T0 + H + 60_000, vec!["alert_supervisor"]),
        (T0 + 2 * H, vec![]),
        (T0 + 72 * H + 60_000, vec!["whistle_next:party_branch"]),
        (T0 + 73 * H, vec![]),
        (T0 + 144 * H + 60_000, vec!["whistle_next:community"]),
    ];
    for (now, want) in cases {
        f.clock.set(now);
        let done = f.state.run_escalations().await.unwrap();
        assert_eq!(kinds(&done), want, "at +{} min: each escalation is due once, at its rule's time", (now - T0) / 60_000);
    }
    let state = issue_state(&f, &boss, issue).await;
    let whistles: Vec<(WhistleLevel, &str)> = state.whistles.iter().map(|w| (w.level, w.target.as_str())).collect();
    assert_eq!(
        whistles,
        vec![(WhistleLevel::PartyBranch, "党支部"), (WhistleLevel::Community, "街道科室")],
        "automatic whistles go to each level's configured default target"
    );
    assert_eq!(state.status, IssueStatus::InProgress, "a whistle puts the issue in progress");
    let auto: Vec<&Event> = state.history.iter().map(|h| &h.event).filter(|e| e.body.kind() == "whistled").collect();
    assert!(
        auto.iter().all(|e| e.device == gridwalk_server::app::authored::hotline_device() && e.wall_ms > T0),
        "automatic whistles are authored by the server's own device"
    );
    let seen = pulled(&f, &walker).await;
    assert_eq!(seen.iter().filter(|e| e.body.kind() == "whistled").count(), 2, "the courtyard's worker pulls the automatic whistles");

    let (status, body) = get(&f.app, "/api/v1/alerts", &boss).await;
    assert_eq!(status, StatusCode::OK);
    let alerts: AlertList = serde_json::from_value(body).unwrap();
    assert_eq!(
        kinds(&alerts.alerts),
        vec!["whistle_next:community", "whistle_next:party_branch", "alert_supervisor"],
        "the supervisor's alert list shows every escalation once, newest first"
    );
    assert_eq!(alerts.alerts[0].issue.as_ref().map(|i| i.id), Some(issue), "an alert carries its issue's summary");
    let (status, body) = get(&f.app, "/api/v1/alerts", &walker).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "alerts are for supervisors and admins");
    let audited = f.site.count("SELECT count(*) FROM audit WHERE actor = 'system' AND action IN ('alert_supervisor', 'whistle_next')");
    assert_eq!(audited, 3, "every escalation is audited once");
}

#[tokio::test]
async fn a_config_file_sets_when_automatic_whistles_blow_and_whom_they_call() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("district.toml");
    let file =
        "[escalation]\nwhistle_after_hours = 24\n\n[whistle_targets]\nparty_branch = \"楼门党小组\"\ncommunity = \"街道城市管理科\"\n";
    std::fs::write(&path, file).unwrap();
    let config = gridwalk_server::Config::from_file(&path).expect("the config file parses");
    let f = fixture_with(gridwalk_server::Config { rate_per_sec: 1000.0, rate_burst: 1000.0, ..config });
    f.state.config().district.check_registry(&f.state.registry().registry).expect("the file fits the demo registry");
    let boss = login(&f.app, "boss").await;
    let order = HotlineIntake {
        order_no: "12345-C1".into(),
        place: IntakePlace::Courtyard { courtyard_id: f.yard.id },
        category: "sanitation".into(),
        description: "楼道堆物".into(),
        received_at_ms: T0,
        contact: None,
    };
    let (status, body) =
        call(&f.app, Method::POST, "/api/v1/hotline/intake", Some(&boss.token), Some(serde_json::to_vec(&order).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED);
    let issue: IssueId = serde_json::from_value(body["issue_id"].clone()).unwrap();
    let whistled = |v: &[Alert]| v.iter().filter(|a| a.kind == "whistle_next").map(|a| a.level.clone()).collect::<Vec<_>>();
    let cases: [(i64, Vec<&str>); 3] =
        [(T0 + 23 * H, vec![]), (T0 + 24 * H + 60_000, vec!["party_branch"]), (T0 + 48 * H + 60_000, vec!["community"])];
    for (now, want) in cases {
        f.clock.set(now);
        let done = f.state.run_escalations().await.unwrap();
        assert_eq!(whistled(&done), want, "at +{} h: the file's whistle_after_hours (24) sets when each level blows", (now - T0) / H);
    }
    let state = issue_state(&f, &boss, issue).await;
    let whistles: Vec<(WhistleLevel, &str)> = state.whistles.iter().map(|w| (w.level, w.target.as_str())).collect();
    assert_eq!(
        whistles,
        vec![(WhistleLevel::PartyBranch, "楼门党小组"), (WhistleLevel::Community, "街道城市管理科")],
        "automatic whistles call the targets the config file names"
    );
}

#[tokio::test]
async fn a_report_at_a_closed_issues_courtyard_and_category_is_linked_and_reopens_it() {
    let f = fixture();
    let boss = login(&f.app, "boss").await;
    let mut w = Device::new(&f, "walker").await;
    let first = w.report(&f.app, T0, f.yard.id, Category::StreetLight).await;
    w.push(&f.app, T0 + 60_000, first, EventBody::IssueResolved { note: "换灯泡".into(), photo_sha256: None }).await;
    let cb = EventBody::CallbackRecorded { satisfaction: Satisfaction::Satisfied, note: String::new() };
    let mut desk = Device::new(&f, "boss").await;
    assert_eq!(desk.push(&f.app, T0 + 2 * 60_000, first, cb).await, "accepted", "the supervisor records the callback");
    assert_eq!(issue_state(&f, &boss, first).await.status, IssueStatus::Closed, "a satisfied callback closes the issue");

    let other = w.report(&f.app, T0 + 10 * 24 * H, f.yard.id, Category::Parking).await;
    assert_eq!(issue_state(&f, &boss, other).await.recurrence_of, None, "another category at the same courtyard is not a recurrence");
    let again = w.report(&f.app, T0 + 20 * 24 * H, f.yard.id, Category::StreetLight).await;
    let new_state = issue_state(&f, &boss, again).await;
    assert_eq!(new_state.recurrence_of, Some(first), "the same courtyard and category within 30 days of the close is flagged");
    let old_state = issue_state(&f, &boss, first).await;
    assert_eq!(old_state.recurrences, vec![again], "the earlier issue is linked to the repeat");
    assert_eq!(old_state.status, IssueStatus::InProgress, "a recurrence reopens the earlier issue");
    let kinds: Vec<&str> = pulled(&f, &w.who).await.iter().map(|e| e.body.kind()).collect();
    assert_eq!(
        kinds,
        vec!["callback_recorded", "recurrence_flagged", "recurred"],
        "the tablet pulls the supervisor's callback and both server-authored links"
    );

    // Another category closed, then repeated 31 days after its close: outside the window.
    let green = w.report(&f.app, T0 + 100, f.yard.id, Category::Greening).await;
    w.push(&f.app, T0 + 200, green, EventBody::IssueResolved { note: "修剪".into(), photo_sha256: None }).await;
    assert_eq!(
        w.push(&f.app, T0 + 300, green, EventBody::IssueClosed { note: String::new() }).await,
        "not_permitted",
        "a grid worker never closes"
    );
    assert_eq!(desk.push(&f.app, T0 + 300, green, EventBody::IssueClosed { note: String::new() }).await, "accepted");
    let late = w.report(&f.app, T0 + 300 + 31 * 24 * H, f.yard.id, Category::Greening).await;
    assert_eq!(issue_state(&f, &boss, late).await.recurrence_of, None, "a report after the 30-day window is not a recurrence");
}

#[tokio::test]
async fn department_staff_see_and_touch_only_issues_whistled_to_their_department() {
    let f = fixture();
    let mut w = Device::new(&f, "walker").await;
    let mut d = Device::new(&f, "dept").await;
    let other_dept = login(&f.app, "otherdept").await;
    let whistled = w.report(&f.app, T0, f.yard.id, Category::IllegalBuilding).await;
    let quiet = w.report(&f.app, T0 + 1, f.yard.id, Category::Noise).await;

    let progress = || EventBody::ProgressAdded { note: "已派人".into(), public: false };
    assert_eq!(d.push(&f.app, T0 + 10, whistled, progress()).await, "out_of_scope", "before the whistle the department may not write");
    let (status, _) = get(&f.app, &format!("/api/v1/issues/{whistled}"), &d.who).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "before the whistle the department may not read the issue");

    let whistle = EventBody::Whistled { level: WhistleLevel::Subdistrict, target: DEPT.into(), note: "请区城管委报到".into() };
    assert_eq!(w.push(&f.app, T0 + 20, whistled, whistle).await, "accepted");

    let (status, body) = get(&f.app, "/api/v1/issues", &d.who).await;
    assert_eq!(status, StatusCode::OK);
    let list: IssueList = serde_json::from_value(body).unwrap();
    assert_eq!(
        list.issues.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![whistled],
        "the department lists exactly the issues whistled to it"
    );
    assert_eq!(issue_state(&f, &d.who, whistled).await.id, whistled, "the department reads an issue whistled to it");
    let (status, body) = get(&f.app, &format!("/api/v1/issues/{quiet}"), &d.who).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")), "other issues stay out of scope");
    let pulled_issues: std::collections::HashSet<Entity> = pulled(&f, &d.who).await.iter().map(|e| e.entity).collect();
    assert_eq!(pulled_issues, [Entity::Issue(whistled)].into(), "the department pulls the events of its whistled issues only");
    assert!(pulled(&f, &other_dept).await.is_empty(), "another department pulls nothing");

    let cases: Vec<(&str, IssueId, EventBody, &str)> = vec![
        ("report in to itself", whistled, EventBody::ReportedIn { target: DEPT.into(), note: "已报到".into() }, "accepted"),
        ("add progress", whistled, progress(), "accepted"),
        ("add a note", whistled, EventBody::NoteAdded { text: "周五拆除".into() }, "accepted"),
        (
            "report in for another department",
            whistled,
            EventBody::ReportedIn { target: "区住建委".into(), note: String::new() },
            "not_permitted",
        ),
        ("resolve", whistled, EventBody::IssueResolved { note: "x".into(), photo_sha256: None }, "not_permitted"),
        ("touch an issue not whistled to it", quiet, progress(), "out_of_scope"),
    ];
    for (i, (what, issue, body, want)) in cases.into_iter().enumerate() {
        assert_eq!(d.push(&f.app, T0 + 100 + i as i64, issue, body).await, want, "department staff may {what}: {want}");
    }
    let state = issue_state(&f, &w.who, whistled).await;
    assert!(state.whistles[0].reported_in_at_ms.is_some(), "the department's report-in is folded into the whistle");
    let row = f.site.text(
        "SELECT target || ' ' || level || ' ' || CAST(reported_in_at_ms AS TEXT) FROM issue_whistles WHERE issue_id = ?1",
        &[&whistled.to_string()],
    );
    assert_eq!(row, format!("{DEPT} subdistrict {}", T0 + 100), "issue_whistles follows the fold");
}

#[tokio::test]
async fn rates_and_pledges_endpoints_answer_in_scope_and_refuse_bad_queries() {
    let f = fixture();
    let boss = login(&f.app, "boss").await;
    let mut w = Device::new(&f, "walker").await;
    let a = w.report(&f.app, T0, f.yard.id, Category::Lift).await;
    w.push(&f.app, T0 + 30 * 60_000, a, EventBody::IssueResponded { note: "已联系".into() }).await;
    let b = w.report(&f.app, T0 + 1, f.yard.id, Category::Lift).await;
    w.push(&f.app, T0 + 2 * H, b, EventBody::IssueResponded { note: "晚了".into() }).await;
    w.push(&f.app, T0 + 3 * H, b, EventBody::IssueResolved { note: "修好".into(), photo_sha256: None }).await;
    let mut cadre = Device::new(&f, "cadre").await;
    assert_eq!(cadre.push(&f.app, T0 + 4 * H, a, EventBody::Pledged { kind: PledgeKind::Frequent, note: "包联".into() }).await, "accepted");

    let uri = format!("/api/v1/rates?by=category&period=month&from={}&to={}", T0 - H, T0 + H);
    let (status, body) = get(&f.app, &uri, &boss).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: RatesReport = serde_json::from_value(body).unwrap();
    let rows: Vec<_> = report
        .rows
        .iter()
        .map(|r| (r.group.as_str(), r.response.numerator, r.response.denominator, r.resolution.numerator, r.resolution.denominator))
        .collect();
    assert_eq!(rows, vec![("lift", 1, 2, 1, 2)], "one of two lift issues answered within the hour, one resolved");
    assert_eq!(report.labels.get("lift").map(String::as_str), Some("电梯"), "groups carry readable labels");
    let (status, body) = get(&f.app, &uri.replace("by=category", "by=worker"), &boss).await;
    let report: RatesReport = serde_json::from_value(body).unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report.rows[0].group, w.who.worker.id.to_string(), "an issue counts for the worker who first responded");
    for bad in
        ["by=planet&period=week&from=0&to=1", "by=district&period=year&from=0&to=1", "by=district&period=week&from=5&to=5", "by=district"]
    {
        let (status, body) = get(&f.app, &format!("/api/v1/rates?{bad}"), &boss).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{bad} is a clear 400");
    }
    let (status, _) = get(&f.app, &uri, &w.who).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "rates are for supervisors and admins");

    let cases = vec![
        (String::new(), vec![a]),
        (format!("?worker_id={}", cadre.who.worker.id), vec![a]),
        (format!("?worker_id={}", w.who.worker.id), vec![]),
    ];
    for (query, want) in cases {
        let (status, body) = get(&f.app, &format!("/api/v1/pledges{query}"), &boss).await;
        assert_eq!(status, StatusCode::OK);
        let list: PledgeList = serde_json::from_value(body).unwrap();
        assert_eq!(
            list.pledges.iter().map(|p| p.issue.id).collect::<Vec<_>>(),
            want,
            "pledges{query} lists the pledged issues of that cadre"
        );
    }
}

/// Regression: Open311 filed through its own write path and skipped the recurrence check that
/// the hotline desk ran; both now go through `AppState::take_in`.
#[tokio::test]
async fn an_open311_request_repeating_a_closed_issue_is_linked_like_a_hotline_order() {
    let f = fixture();
    let boss = login(&f.app, "boss").await;
    let mut w = Device::new(&f, "walker").await;
    let now = f.clock.now_ms();
    let first = w.report(&f.app, now - 2 * H, f.yard.id, Category::StreetLight).await;
    w.push(&f.app, now - H, first, EventBody::IssueResolved { note: "换灯泡".into(), photo_sha256: None }).await;
    let mut desk = Device::new(&f, "boss").await;
    assert_eq!(desk.push(&f.app, now - H + 1, first, EventBody::IssueClosed { note: String::new() }).await, "accepted");
    let key = gridwalk_server::app::admin::add_api_key(f.site.dir.path(), "12345 platform").unwrap().key;
    let form = format!(
        "api_key={key}&service_code=street_light&lat={}&long={}&description=%E8%B7%AF%E7%81%AF%E5%8F%88%E4%B8%8D%E4%BA%AE",
        f.yard.point.lat, f.yard.point.lon
    );
    let resp =
        kit::send(&f.app, Method::POST, "/open311/v2/requests.json", None, Some("application/x-www-form-urlencoded"), form.into_bytes())
            .await;
    assert_eq!(resp.status, StatusCode::CREATED, "the Open311 request is filed");
    let bytes = resp.bytes;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let public = body[0]["service_request_id"].as_str().unwrap().to_owned();
    let id: String = f.site.text("SELECT id FROM issues WHERE public_id = ?1", &[&public]);
    let id: IssueId = id.parse().unwrap();
    assert_eq!(issue_state(&f, &boss, id).await.recurrence_of, Some(first), "an Open311 repeat of a closed issue is flagged");
    assert_eq!(issue_state(&f, &boss, first).await.status, IssueStatus::InProgress, "and the earlier issue reopens");
}

/// A bad config file stops the server at start with the file's line, and stores nothing.
#[test]
fn serve_refuses_a_bad_config_file_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown department",
            "default_department = \"区城管委\"\n\n[[routing]]\ncategory = \"noise\"\ndepartment = \"区不存在局\"\n",
            "line 5",
        ),
        ("unknown category", "[[routing]]\ncategory = \"ufo\"\ndepartment = \"区城管委\"\n", "line 2"),
    ];
    for (what, text, line) in cases {
        let file = dir.path().join("district.toml");
        std::fs::write(&file, text).unwrap();
        let data = dir.path().join(format!("data-{}", what.replace(' ', "-")));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gridwalk-server"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: serve refuses the file");
        assert!(stderr.contains(line), "{what}: the error names {line}: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"), "{what}: it never starts listening");
        assert!(!data.exists(), "{what}: nothing is stored");
    }
}
