//! 未诉先办 over the wire: every foresight route × role, bad asks refused with `{code, message}`
//! and nothing stored, a hotline order beside an open issue linked (or attached, as the
//! district chose), a warning made into a proactive task once, a tablet's visits moving its
//! worker's coverage (a far one only flagged), and a burst of reports making a hotspot and a
//! warning.

use super::kit::{self, fast_config, Site};
use axum::http::{Method, StatusCode};
use axum::Router;
use gridwalk_clock::{Clock, ManualClock};
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::app::admin;
use gridwalk_server::district::{DistrictConfig, ForesightConfig, OnDuplicate};
use gridwalk_server::Config;
use serde_json::{json, Value};
use std::sync::Arc;

struct Fixture {
    site: Site,
    app: Router,
    yard: Courtyard,
    /// A courtyard beside `yard` (same community), for "nearby".
    next: Courtyard,
    clock: Arc<ManualClock>,
}

fn fixture_with(config: Config) -> Fixture {
    let reg = registry_gen::demo_registry();
    let yard = reg.courtyards[0].clone();
    let next = reg.courtyards.iter().find(|c| c.id != yard.id && c.community == yard.community).unwrap().clone();
    let home = vec![ScopeUnit::Community(reg.communities.iter().find(|c| c.id == yard.community).unwrap().code.clone())];
    let mut users: Vec<(&str, Role, Vec<ScopeUnit>)> = Role::ALL.iter().map(|r| (r.code(), *r, home.clone())).collect();
    users.push(("root", Role::Admin, vec![ScopeUnit::District]));
    let site = Site::demo(&users);
    admin::set_responsible(site.dir.path(), &yard.code, "grid_worker").unwrap();
    let clock = Arc::new(ManualClock::new(kit::now_ms()));
    let (_, app) = site.serve_at(config, clock.clone());
    Fixture { site, app, yard, next, clock }
}

fn fixture() -> Fixture {
    fixture_with(fast_config())
}

fn with_foresight(f: ForesightConfig) -> Config {
    let mut district = DistrictConfig::default();
    district.foresight = f;
    Config { district: Arc::new(district), ..fast_config() }
}

struct Reply {
    status: StatusCode,
    body: Value,
}

async fn call(app: &Router, method: Method, uri: &str, token: &str, body: Option<Value>) -> Reply {
    let (ct, bytes) = match body {
        Some(b) => (Some("application/json"), serde_json::to_vec(&b).unwrap()),
        None => (None, Vec::new()),
    };
    let r = kit::send(app, method, uri, Some(token), ct, bytes).await;
    Reply { status: r.status, body: serde_json::from_slice(&r.bytes).unwrap_or(Value::Null) }
}

impl Fixture {
    /// A hotline order of `category` at `yard`, received `minutes_ago`: the intake's answer.
    async fn order(&self, yard: &Courtyard, n: u32, category: &str, minutes_ago: i64) -> HotlineIntakeResponse {
        let root = kit::login(&self.app, "root").await;
        let o = HotlineIntake {
            order_no: format!("12345-F{n:04}"),
            place: IntakePlace::CourtyardCode { code: yard.code.clone() },
            category: category.into(),
            description: format!("第{n}单：楼道漏水"),
            received_at_ms: self.clock.now_ms() - minutes_ago * 60_000,
            contact: Some(ResidentContact { name: None, phone: "13812345678".into() }),
        };
        let body = serde_json::to_value(&o).unwrap();
        let r = call(&self.app, Method::POST, "/api/v1/hotline/intake", &root.token, Some(body)).await;
        assert!(r.status.is_success(), "the order is taken in: {}", r.body);
        serde_json::from_value(r.body).unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.site.count(sql)
    }
}

/// A request id, unique per `n` (a task's id becomes its issue's).
fn rid(n: u8) -> uuid::Uuid {
    IssueId::from_parts(kit::t0() as u64, [n, 0xF0, 0, 0, 0, 0, 0, 0, 0, 0x5A]).0
}

const READS: &[&str] = &[
    "/api/v1/foresight/coverage",
    "/api/v1/foresight/coverage?level=worker&weeks=2",
    "/api/v1/foresight/hotspots?level=community&window_days=14",
    "/api/v1/foresight/trends?level=community&weeks=53&category=leak",
    "/api/v1/foresight/warnings",
];

#[tokio::test]
async fn every_foresight_route_is_in_the_matrix_and_bad_asks_are_refused_storing_nothing() {
    let f = fixture();
    for (_, path) in gridwalk_server::routes().into_iter().filter(|(_, p)| p.starts_with("/api/v1/foresight/")) {
        let covered = READS.iter().any(|r| r.split('?').next() == Some(path.as_str())) || path == "/api/v1/foresight/tasks";
        assert!(covered, "foresight route {path} is in the authorisation matrix");
    }
    for (i, role) in Role::ALL.iter().enumerate() {
        let who = kit::login(&f.app, role.code()).await;
        let reads = matches!(role, Role::Supervisor | Role::Admin | Role::Cadre);
        for uri in READS {
            let r = call(&f.app, Method::GET, uri, &who.token, None).await;
            let want = if reads { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(r.status, want, "{} GET {uri}: supervisors, admins and cadres read foresight: {}", role.code(), r.body);
        }
        let events = f.count("SELECT count(*) FROM events");
        let task =
            json!({"request_id": rid(100 + i as u8), "courtyard_id": f.yard.id, "category": "leak", "description": "预警：楼道漏水反复"});
        let r = call(&f.app, Method::POST, "/api/v1/foresight/tasks", &who.token, Some(task)).await;
        let desk = matches!(role, Role::Supervisor | Role::Admin);
        assert_eq!(r.status == StatusCode::OK, desk, "{} making a task: supervisors and admins only: {}", role.code(), r.body);
        if !desk {
            assert_eq!(r.body["code"], "forbidden", "a refused task says why");
            assert_eq!(f.count("SELECT count(*) FROM events"), events, "a refused task stores nothing");
        }
    }
    let sup = kit::login(&f.app, "supervisor").await;
    for uri in [
        "/api/v1/foresight/coverage?level=planet",
        "/api/v1/foresight/coverage?weeks=0",
        "/api/v1/foresight/coverage?weeks=54",
        "/api/v1/foresight/coverage?stale_days=-3",
        "/api/v1/foresight/coverage?weeks=9223372036854775807",
        "/api/v1/foresight/hotspots?window_days=-7",
        "/api/v1/foresight/hotspots?window_days=91",
        "/api/v1/foresight/hotspots?level=worker",
        "/api/v1/foresight/trends?weeks=100",
        "/api/v1/foresight/trends?category=weather",
        "/api/v1/foresight/trends?radius=3",
    ] {
        let r = call(&f.app, Method::GET, uri, &sup.token, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri} is refused: {}", r.body);
        assert!(
            r.body["code"].is_string() && r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{uri}: {{code, message}}: {}",
            r.body
        );
    }
    let events = f.count("SELECT count(*) FROM events");
    let far = registry_gen::demo_registry().courtyards[4000].id;
    for (body, code) in [
        (json!({"request_id": rid(2), "courtyard_id": f.yard.id, "category": "weather", "description": "x"}), "unknown_category"),
        (json!({"request_id": rid(3), "courtyard_id": f.yard.id, "category": "leak", "description": "  "}), "empty_text"),
        (json!({"request_id": rid(4), "courtyard_id": far, "category": "leak", "description": "x"}), "out_of_scope"),
        (json!({"request_id": rid(5), "courtyard_id": f.yard.id, "category": "leak", "description": "x", "urgent": true}), "unknown_field"),
    ] {
        let r = call(&f.app, Method::POST, "/api/v1/foresight/tasks", &sup.token, Some(body.clone())).await;
        assert_eq!(r.body["code"], code, "{body} is refused as {code}: {}", r.body);
    }
    assert_eq!(f.count("SELECT count(*) FROM events"), events, "refused tasks store nothing");
}

#[tokio::test]
async fn a_hotline_order_beside_an_open_issue_is_linked_as_a_probable_duplicate() {
    // The radius reaches the neighbouring courtyard (checked below), so "nearby" is exercised
    // by the demo registry's own points, not only by the same courtyard.
    let radius = 2_000.0;
    let rules = foresight::Rules { nearby_radius_m: radius, ..foresight::Rules::default() };
    let f = fixture_with(with_foresight(ForesightConfig { rules, ..ForesightConfig::default() }));
    let metres = foresight::geo::distance_m(f.yard.point, f.next.point);
    assert!(metres > 0.0 && metres <= radius, "the fixture's neighbour lies inside the radius: {metres:.0} m");
    let first = f.order(&f.yard, 1, "leak", 60).await;
    assert_eq!(first.probable_duplicate_of, None, "the first order repeats nothing");
    let other = f.order(&f.next, 2, "noise", 30).await;
    assert_eq!(other.probable_duplicate_of, None, "another category is no duplicate, however near");
    let second = f.order(&f.next, 3, "leak", 10).await;
    assert_eq!(second.probable_duplicate_of, Some(first.issue_id), "a leak {metres:.0} m away within 7 days is linked");
    assert!(second.created && !second.attached, "link: the order still opens its own ticket");
    // Beyond the radius of both open leaks: no duplicate.
    let reg = registry_gen::demo_registry();
    let far = reg
        .courtyards
        .iter()
        .find(|c| [f.yard.point, f.next.point].iter().all(|p| foresight::geo::distance_m(*p, c.point) > radius))
        .expect("the demo district reaches beyond 2 km")
        .clone();
    let away = f.order(&far, 5, "leak", 8).await;
    assert_eq!(away.probable_duplicate_of, None, "a leak farther than the radius from every open one is not linked");
    let same = f.order(&f.yard, 4, "leak", 5).await;
    assert_eq!(same.probable_duplicate_of, Some(first.issue_id), "a leak at the same courtyard within 7 days is linked");
    assert!(same.created && !same.attached, "link: its own ticket");
    let view = f.site.text("SELECT view_json FROM issues WHERE id = ?1", &[&same.issue_id.to_string()]);
    let view: Value = serde_json::from_str(&view).unwrap();
    assert_eq!(view["state"]["probable_duplicate_of"], json!(first.issue_id), "the new issue's view names the one it probably repeats");
    let again = f.order(&f.yard, 4, "leak", 5).await;
    assert_eq!(
        (again.issue_id, again.created, again.probable_duplicate_of),
        (same.issue_id, false, Some(first.issue_id)),
        "a resend answers the same"
    );
}

#[tokio::test]
async fn with_attach_an_order_beside_an_open_issue_becomes_a_me_too_and_no_ticket() {
    let f = fixture_with(with_foresight(ForesightConfig { on_duplicate: OnDuplicate::Attach, ..ForesightConfig::default() }));
    let first = f.order(&f.yard, 1, "leak", 60).await;
    let issues = f.count("SELECT count(*) FROM issues");
    let second = f.order(&f.yard, 2, "leak", 10).await;
    assert!(second.attached && !second.created, "attach: no new ticket");
    assert_eq!((second.issue_id, second.probable_duplicate_of), (first.issue_id, Some(first.issue_id)), "the answer names the open issue");
    assert_eq!(f.count("SELECT count(*) FROM issues"), issues, "no issue was opened");
    let view: Value =
        serde_json::from_str(&f.site.text("SELECT view_json FROM issues WHERE id = ?1", &[&first.issue_id.to_string()])).unwrap();
    assert_eq!(view["state"]["me_too"], 1, "the open issue counts one more resident");
    let again = f.order(&f.yard, 2, "leak", 10).await;
    assert_eq!(
        (again.issue_id, again.attached, again.created),
        (first.issue_id, true, false),
        "a resend of the attached order answers the same"
    );
    let view: Value =
        serde_json::from_str(&f.site.text("SELECT view_json FROM issues WHERE id = ?1", &[&first.issue_id.to_string()])).unwrap();
    assert_eq!(view["state"]["me_too"], 1, "a resend adds no second me-too");
    let later = f.order(&f.yard, 3, "leak", 60 * 24 * 8).await;
    assert!(later.created && later.probable_duplicate_of.is_none(), "an order received 8 days before the open issue is not its duplicate");
}

#[tokio::test]
async fn a_supervisor_turns_a_warning_into_a_proactive_task_for_the_courtyards_worker_once() {
    let f = fixture();
    let sup = kit::login(&f.app, "supervisor").await;
    let request_id = rid(6);
    let task =
        json!({"request_id": request_id, "courtyard_id": f.yard.id, "category": "leak", "description": "预警：本院漏水反复，主动排查"});
    let r = call(&f.app, Method::POST, "/api/v1/foresight/tasks", &sup.token, Some(task.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let worker = kit::login(&f.app, "grid_worker").await;
    assert_eq!(r.body["created"], true);
    assert_eq!(r.body["assigned_to"], json!(worker.worker.id), "the task goes to the courtyard's responsible worker");
    let id = r.body["issue_id"].as_str().unwrap().to_owned();
    let again = call(&f.app, Method::POST, "/api/v1/foresight/tasks", &sup.token, Some(task)).await;
    assert_eq!(
        (again.body["issue_id"].as_str(), again.body["created"].as_bool()),
        (Some(id.as_str()), Some(false)),
        "a resend is the same task"
    );
    assert_eq!(f.count("SELECT count(*) FROM issues WHERE source = 'proactive'"), 1, "one task, stored once");
    let view: Value = serde_json::from_str(&f.site.text("SELECT view_json FROM issues WHERE id = ?1", &[&id])).unwrap();
    assert_eq!(view["state"]["report"]["source"], "proactive", "its source is proactive");
    assert_eq!(view["state"]["assignee"], json!({"to": "worker", "id": worker.worker.id}), "assigned to the worker");
    // Authored by the supervisor, recorded on the server's device: the supervisor's own device
    // log is untouched, so its next push at seq 1 is stored.
    let detail = call(&f.app, Method::GET, &format!("/api/v1/issues/{id}"), &sup.token, None).await;
    assert_eq!(detail.body["history"][0]["event"]["author"], json!(sup.worker.id), "the task is the supervisor's: {}", detail.body);
    let note =
        kit::event(&sup, f.clock.now_ms() - 1_000, 1, Entity::Issue(id.parse().unwrap()), EventBody::NoteAdded { text: "已安排".into() });
    let push = PushRequest { device_id: sup.device_id, events: vec![LoggedEvent { seq: 1, event: note }] };
    let r = call(&f.app, Method::POST, "/api/v1/sync/push", &sup.token, Some(serde_json::to_value(&push).unwrap())).await;
    assert_eq!(r.body["results"][0]["outcome"], "accepted", "the supervisor's tablet keeps its own sequence: {}", r.body);
    // A task answers no resident: it counts in no complaint rate, and apart under by=source.
    let (from, to) = (f.clock.now_ms() - 86_400_000, f.clock.now_ms() + 1);
    let rates = call(&f.app, Method::GET, &format!("/api/v1/rates?by=district&period=week&from={from}&to={to}"), &sup.token, None).await;
    assert_eq!(rates.body["rows"], json!([]), "the complaint rates leave the task out: {}", rates.body);
    let by_source = call(&f.app, Method::GET, &format!("/api/v1/rates?by=source&period=week&from={from}&to={to}"), &sup.token, None).await;
    let rows = by_source.body["rows"].as_array().unwrap();
    assert!(
        rows.len() == 1 && rows[0]["group"] == "proactive" && rows[0]["received"] == 1,
        "by=source counts the task apart: {}",
        by_source.body
    );
    // The worker's tablet pulls it like any order.
    let r = call(&f.app, Method::GET, "/api/v1/sync/pull?after=0", &worker.token, None).await;
    assert!(r.body.to_string().contains(&id), "the worker's pull carries the task");
    // A request id naming an existing issue is refused, and stores nothing.
    let first_order = f.order(&f.yard, 90, "noise", 5).await;
    let events = f.count("SELECT count(*) FROM events");
    let clash = json!({"request_id": first_order.issue_id, "courtyard_id": f.yard.id, "category": "noise", "description": "另一个任务"});
    let r = call(&f.app, Method::POST, "/api/v1/foresight/tasks", &sup.token, Some(clash)).await;
    assert_eq!(r.body["code"], "invalid_id", "a request id that names an existing issue is refused: {}", r.body);
    assert_eq!(f.count("SELECT count(*) FROM events"), events, "a refused task stores nothing");
}

fn visit(f: &Fixture, at_ms: i64, mode: VisitMode, lat_offset: f64) -> EventBody {
    let p = f.yard.point;
    EventBody::VisitRecorded(Visit {
        courtyard: f.yard.id,
        mode,
        started_at_ms: at_ms - 600_000,
        ended_at_ms: at_ms,
        location: Some(Location { lat: p.lat + lat_offset, lon: p.lon, accuracy_m: 10.0 }),
        notes: "走访".into(),
        residents_met: 2,
        linked_issues: vec![],
    })
}

/// Push the worker's `seq`-th event, a visit `lat_offset` degrees north of the courtyard that
/// ended at `at_ms`; it must be stored.
async fn push_visit(f: &Fixture, worker: &LoginResponse, seq: u64, at_ms: i64, mode: VisitMode, lat_offset: f64) {
    let id = Entity::Visit(VisitId::from_parts(at_ms as u64, [seq as u8; 10]));
    let event = kit::event(worker, at_ms, seq, id, visit(f, at_ms, mode, lat_offset));
    let push = PushRequest { device_id: worker.device_id, events: vec![LoggedEvent { seq, event }] };
    let r = call(&f.app, Method::POST, "/api/v1/sync/push", &worker.token, Some(serde_json::to_value(&push).unwrap())).await;
    assert_eq!(r.body["results"][0]["outcome"], "accepted", "the visit is stored: {}", r.body);
}

#[tokio::test]
async fn a_workers_visits_move_their_coverage_and_a_far_one_is_only_flagged() {
    let f = fixture();
    let sup = kit::login(&f.app, "supervisor").await;
    let worker = kit::login(&f.app, "grid_worker").await;
    let mine = |body: &Value| -> Value {
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r["unit"] == json!({"level": "worker", "id": worker.worker.id}))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let before = call(&f.app, Method::GET, "/api/v1/foresight/coverage?level=worker&weeks=1", &sup.token, None).await;
    let row = mine(&before.body);
    assert_eq!(
        (row["courtyards"].as_u64(), row["visited"].as_u64()),
        (Some(1), Some(0)),
        "one courtyard, not yet visited: {}",
        before.body
    );
    assert_eq!(row["share"], 0.0);
    let now = f.clock.now_ms();
    // 0.01° of latitude is 1.1 km: far past the 300 m a counting visit may be.
    push_visit(&f, &worker, 1, now - 3_600_000, VisitMode::InDepth, 0.01).await;
    let after = call(&f.app, Method::GET, "/api/v1/foresight/coverage?level=worker&weeks=1", &sup.token, None).await;
    let row = mine(&after.body);
    assert_eq!(
        (row["visited"].as_u64(), row["flagged"].as_u64()),
        (Some(0), Some(1)),
        "a visit 1.1 km away is flagged, not counted: {}",
        after.body
    );
    push_visit(&f, &worker, 2, now - 1_800_000, VisitMode::Stationed, 0.0005).await;
    let after = call(&f.app, Method::GET, "/api/v1/foresight/coverage?level=worker&weeks=1", &sup.token, None).await;
    let row = mine(&after.body);
    assert_eq!(
        (row["visited"].as_u64(), row["share"].as_f64()),
        (Some(1), Some(1.0)),
        "a visit 56 m away covers the courtyard: {}",
        after.body
    );
    assert_eq!(row["visited_by_mode"], json!({"walk_through": 0, "in_depth": 0, "stationed": 1}), "by mode: the stationed visit");
    let yard = after.body["courtyards"].as_array().unwrap().iter().find(|c| c["courtyard"] == json!(f.yard.id)).cloned().unwrap();
    assert_eq!(
        (yard["last_visit_ms"].as_i64(), yard["overdue"].as_bool()),
        (Some(now - 2_400_000), Some(false)),
        "its last visit, not overdue"
    );
    let community = call(&f.app, Method::GET, "/api/v1/foresight/coverage?level=community&weeks=1", &sup.token, None).await;
    let row = &community.body["rows"][0];
    assert_eq!(row["visited"], 1, "the community's coverage counts the courtyard too: {}", community.body);
    assert!(row["courtyards"].as_u64().unwrap() > 1, "against all of the community's courtyards");

    // The console's 走访 page is the same method: the same figures, the far visit flagged.
    let page = call(&f.app, Method::GET, "/api/v1/console/coverage?weeks=1", &sup.token, None).await;
    assert_eq!(page.status, StatusCode::OK, "the supervisor opens 走访: {}", page.body);
    let w = page.body["workers"].as_array().unwrap().iter().find(|w| w["username"] == "grid_worker").cloned().unwrap_or(Value::Null);
    assert_eq!(
        (w["courtyards"].as_u64(), &w["weeks"][0]),
        (Some(1), &json!({"visited": 1, "share": 1.0, "visits": 1, "flagged": 1})),
        "the page's worker row is the domain's: one counting visit, one flagged: {}",
        page.body
    );
    assert_eq!(page.body["communities"][0]["weeks"][0]["visited"], 1, "and its community row: {}", page.body);
    assert_eq!(page.body["stale_days"], 14, "the overdue threshold defaults to [foresight] stale_days");
    assert!(
        page.body["stale"].as_array().unwrap().iter().all(|y| y["courtyard_id"] != json!(f.yard.id)),
        "a courtyard visited today is not overdue: {}",
        page.body
    );
}

#[tokio::test]
async fn a_burst_of_reports_over_a_quiet_baseline_is_a_hotspot_and_heads_the_warnings() {
    let f = fixture();
    let sup = kit::login(&f.app, "supervisor").await;
    let quiet = call(&f.app, Method::GET, "/api/v1/foresight/hotspots", &sup.token, None).await;
    assert_eq!(quiet.body["hotspots"], json!([]), "no reports, no hotspot");
    for n in 0..2 {
        f.order(&f.yard, 10 + n, "heating", 60 * (n as i64 + 1)).await;
    }
    let two = call(&f.app, Method::GET, "/api/v1/foresight/hotspots", &sup.token, None).await;
    assert_eq!(two.body["hotspots"], json!([]), "two reports are under the minimum count of 3, however sudden");
    for n in 2..5 {
        f.order(&f.yard, 10 + n, "heating", 60 * (n as i64 + 1)).await;
    }
    let five = call(&f.app, Method::GET, "/api/v1/foresight/hotspots", &sup.token, None).await;
    let h = &five.body["hotspots"][0];
    assert_eq!(h["unit"], json!({"level": "courtyard", "id": f.yard.id}), "the courtyard is hot: {}", five.body);
    assert_eq!((h["category"].as_str(), h["count"].as_u64(), h["z"].as_f64()), (Some("heating"), Some(5), Some(5.0)), "z = (5 − 0) / √1");
    let w = call(&f.app, Method::GET, "/api/v1/foresight/warnings", &sup.token, None).await;
    let kinds: Vec<&str> = w.body["warnings"].as_array().unwrap().iter().filter_map(|w| w["reason"]["kind"].as_str()).collect();
    assert!(kinds.contains(&"rising_hotspot"), "the hotspot is on the list: {}", w.body);
    assert!(kinds.contains(&"unvisited_with_issues"), "an unvisited courtyard with reports is too: {}", w.body);
    assert!(w.body["warnings"][0]["reason_zh"].as_str().is_some_and(|s| !s.is_empty()), "each entry gives its reason in Chinese");
    let trend = call(&f.app, Method::GET, "/api/v1/foresight/trends?category=heating&weeks=2", &sup.token, None).await;
    let points = trend.body["series"][0]["points"].as_array().cloned().unwrap_or_default();
    // Five hours back may reach last week early on a Monday: the two weeks hold all five.
    assert_eq!(
        points.iter().filter_map(|p| p["count"].as_u64()).sum::<u64>(),
        5,
        "the heating reports in the district's series: {}",
        trend.body
    );
    assert!(points.iter().all(|p| p["last_year"] == 0), "none the same weeks last year");

    // The map colours by the same test: z 5 against a threshold of 3 is level 1 (under 2×).
    let level =
        |body: &Value| body["courtyards"].as_array().unwrap().iter().find(|c| c["id"] == json!(f.yard.id)).map(|c| c["hotspot"].clone());
    let map = call(&f.app, Method::GET, "/api/v1/console/map", &sup.token, None).await;
    assert_eq!(level(&map.body), Some(json!(1)), "the hotspot courtyard is hot on the map: {}", map.body);
    assert!(
        map.body["courtyards"].as_array().unwrap().iter().filter(|c| c["id"] != json!(f.yard.id)).all(|c| c["hotspot"] == 0),
        "and no other courtyard is"
    );
    let noise = call(&f.app, Method::GET, "/api/v1/console/map?category=noise", &sup.token, None).await;
    assert_eq!(level(&noise.body), Some(json!(0)), "filtered to noise, the heating hotspot does not colour it");
}
