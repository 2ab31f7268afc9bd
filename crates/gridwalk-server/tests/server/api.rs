//! Handler tests over the real router with `oneshot`: auth, push outcomes, pull scoping,
//! hotline intake, blobs, hostile input. Every assertion message names the rule it checks.

use super::kit::{self, fast_config, Site};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::Router;
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::Config;
use serde_json::{json, Value};
use std::time::Duration;

struct Fixture {
    site: Site,
    app: Router,
    /// A courtyard the grid worker covers, and one in another subdistrict.
    yard_in: Courtyard,
    yard_out: Courtyard,
}

fn fixture_with(config: Config) -> Fixture {
    let reg = registry_gen::demo_registry();
    let sub_of = |c: &Courtyard| reg.communities.iter().find(|m| m.id == c.community).unwrap().subdistrict;
    let yard_in = reg.courtyards[0].clone();
    let yard_out = reg.courtyards.iter().find(|c| sub_of(c) != sub_of(&yard_in)).unwrap().clone();
    let sub_code = |c: &Courtyard| reg.subdistricts.iter().find(|s| s.id == sub_of(c)).unwrap().code.clone();
    let site = Site::demo(&[
        ("walker", Role::GridWorker, vec![ScopeUnit::Courtyard(yard_in.code.clone())]),
        ("faraway", Role::GridWorker, vec![ScopeUnit::Subdistrict(sub_code(&yard_out))]),
        ("boss", Role::Supervisor, vec![ScopeUnit::Subdistrict(sub_code(&yard_in))]),
        ("root", Role::Admin, vec![ScopeUnit::District]),
    ]);
    let (_, app) = site.serve(config);
    Fixture { app, site, yard_in, yard_out }
}

fn fixture() -> Fixture {
    fixture_with(fast_config())
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    fn is_error_body(&self) -> bool {
        self.body["code"].is_string() && self.body["message"].is_string() && self.body.as_object().map(|o| o.len()) == Some(2)
    }
}

async fn send(app: &Router, method: Method, uri: &str, token: Option<&str>, content_type: Option<&str>, body: Vec<u8>) -> Reply {
    let r = kit::send(app, method, uri, token, content_type, body).await;
    let body = serde_json::from_slice(&r.bytes).unwrap_or(Value::Null);
    Reply { status: r.status, headers: r.headers, body }
}

async fn post_json(app: &Router, uri: &str, token: Option<&str>, body: &impl serde::Serialize) -> Reply {
    send(app, Method::POST, uri, token, Some("application/json"), serde_json::to_vec(body).unwrap()).await
}

async fn get(app: &Router, uri: &str, token: Option<&str>) -> Reply {
    send(app, Method::GET, uri, token, None, Vec::new()).await
}

async fn login(app: &Router, username: &str) -> LoginResponse {
    kit::login(app, username).await
}

fn event(who: &LoginResponse, n: u64, entity: Entity, body: EventBody) -> Event {
    kit::event(who, kit::t0() + n as i64, n, entity, body)
}

fn report(yard: CourtyardId, description: &str) -> EventBody {
    EventBody::IssueReported(IssueReport {
        courtyard: yard,
        category: Category::StreetLight,
        source: IssueSource::Visit,
        description: description.into(),
        contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
        location: None,
        received_at_ms: None,
        external_ref: None,
    })
}

fn issue_report(who: &LoginResponse, n: u64, yard: CourtyardId, description: &str) -> (IssueId, Event) {
    let issue = IssueId::from_parts(1_760_000_000_000 + n, [n as u8; 10]);
    (issue, event(who, n, Entity::Issue(issue), report(yard, description)))
}

async fn push(app: &Router, who: &LoginResponse, events: Vec<(u64, Event)>) -> Reply {
    let req = PushRequest { device_id: who.device_id, events: events.into_iter().map(|(seq, event)| LoggedEvent { seq, event }).collect() };
    post_json(app, "/api/v1/sync/push", Some(&who.token), &req).await
}

fn outcomes(r: &Reply) -> Vec<PushOutcome> {
    let resp: PushResponse = serde_json::from_value(r.body.clone()).unwrap();
    resp.results.into_iter().map(|x| x.outcome).collect()
}

fn count(f: &Fixture, sql: &str) -> i64 {
    f.site.count(sql)
}

#[tokio::test]
async fn login_ok_wrong_password_and_lockout_after_five_failures() {
    let f = fixture_with(Config {
        lockout: Duration::from_millis(1500),
        rate_per_sec: 1000.0,
        rate_burst: 1000.0,
        login_burst: 1000,
        ..Config::default()
    });
    let ok = login(&f.app, "walker").await;
    assert_eq!(ok.token.len(), 64, "the token is 256 random bits in hex");
    assert_eq!(
        count(&f, &format!("SELECT count(*) FROM devices WHERE token_hash = '{}'", ok.token)),
        0,
        "the token itself is never stored"
    );
    let bad = LoginRequest { username: "walker".into(), password: "wrong password".into(), device_name: "t".into(), device_id: None };
    for i in 1..=5 {
        let r = post_json(&f.app, "/api/v1/auth/login", None, &bad).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"), "failure {i} is a plain wrong password");
    }
    for _ in 0..5 {
        let r = post_json(&f.app, "/api/v1/auth/login", None, &bad).await;
        assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "login_locked"), "after 5 failures the username is locked");
    }
    let good = LoginRequest { username: "walker".into(), password: kit::PASSWORD.into(), device_name: "t".into(), device_id: None };
    let r = post_json(&f.app, "/api/v1/auth/login", None, &good).await;
    assert_eq!(r.code(), "login_locked", "even the right password is refused while locked");
    let unknown = LoginRequest { username: "nobody".into(), password: kit::PASSWORD.into(), device_name: "t".into(), device_id: None };
    assert_eq!(
        post_json(&f.app, "/api/v1/auth/login", None, &unknown).await.code(),
        "invalid_credentials",
        "an unknown user looks like a wrong password"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let r = post_json(&f.app, "/api/v1/auth/login", None, &good).await;
    assert_eq!(r.status, StatusCode::OK, "the lock expires after the lockout period");
    let audited =
        count(&f, "SELECT count(*) FROM audit WHERE action IN ('login_failed', 'login_locked', 'login_refused_locked', 'login_ok')");
    assert!(audited >= 13, "logins, failures and lockouts are audited (got {audited})");
}

#[tokio::test]
async fn push_settles_each_event_and_stores_the_rest_of_the_batch() {
    let f = fixture();
    let w = login(&f.app, "walker").await;
    let (issue, e1) = issue_report(&w, 1, f.yard_in.id, "3号楼路灯不亮");
    let (_, out_of_scope) = issue_report(&w, 2, f.yard_out.id, "不在我的范围");
    let (_, invalid) = issue_report(&w, 3, f.yard_in.id, "   ");
    let e4 = event(&w, 4, Entity::Issue(issue), EventBody::IssueResponded { note: "已联系居民".into() });
    let unknown_issue = event(&w, 5, Entity::Issue(IssueId::from_parts(1, [9; 10])), EventBody::NoteAdded { text: "x".into() });
    let batch = vec![(1, e1.clone()), (2, out_of_scope.clone()), (3, invalid.clone()), (4, e4.clone()), (5, unknown_issue.clone())];
    let r = push(&f.app, &w, batch.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    let got = outcomes(&r);
    assert_eq!(got[0], PushOutcome::Accepted, "an in-scope valid report is accepted");
    assert!(
        matches!(&got[1], PushOutcome::Rejected { code, .. } if code == "out_of_scope"),
        "an out-of-scope event is rejected alone: {:?}",
        got[1]
    );
    assert!(
        matches!(&got[2], PushOutcome::Rejected { code, .. } if code == "empty_text"),
        "an invalid event is rejected with the validation code: {:?}",
        got[2]
    );
    assert_eq!(got[3], PushOutcome::Accepted, "events after a rejection are still stored");
    assert!(
        matches!(&got[4], PushOutcome::Rejected { code, .. } if code == "unknown_issue"),
        "an event about an unknown issue is rejected"
    );
    assert_eq!(r.body["acked_seq"], 5, "rejections count as held, so they never block the queue");
    assert_eq!(count(&f, "SELECT count(*) FROM events"), 2, "only accepted events are stored as events");

    let again = push(&f.app, &w, batch).await;
    let got = outcomes(&again);
    assert_eq!(got[0], PushOutcome::Duplicate, "a resend of a stored event is a duplicate");
    assert!(
        matches!(&got[1], PushOutcome::Rejected { code, .. } if code == "out_of_scope"),
        "a resend of a rejected event gets the same rejection"
    );
    assert_eq!(count(&f, "SELECT count(*) FROM events"), 2, "resends store nothing twice");

    let mut changed = e1.clone();
    changed.body = report(f.yard_in.id, "内容被改了");
    let r = push(&f.app, &w, vec![(1, changed)]).await;
    assert!(matches!(outcomes(&r)[0], PushOutcome::Conflict { .. }), "same (device, seq) with other content is a conflict");
    let stored: String = f.site.text("SELECT json FROM events WHERE seq = 1", &[]);
    assert!(stored.contains("3号楼路灯不亮"), "a conflict never overwrites the stored event");

    let (_, e7) = issue_report(&w, 7, f.yard_in.id, "跳号");
    let r = push(&f.app, &w, vec![(7, e7)]).await;
    assert_eq!(outcomes(&r), vec![PushOutcome::Gap], "an event past a gap is not taken");
    assert_eq!(r.body["acked_seq"], 5, "a gap does not move the ack");
    let (_, reuse) = issue_report(&w, 6, f.yard_in.id, "重复id");
    let mut reuse = reuse;
    reuse.id = e1.id;
    let r = push(&f.app, &w, vec![(6, reuse)]).await;
    assert!(matches!(outcomes(&r)[0], PushOutcome::Conflict { .. }), "an event id already held under another seq is a conflict");
    assert_eq!(r.body["acked_seq"], 6, "the conflict is settled and does not block the queue");

    let state = get(&f.app, &format!("/api/v1/issues/{issue}"), Some(&w.token)).await;
    assert_eq!(state.body["status"], "responded", "the server folds accepted events into the issue view");

    let other = login(&f.app, "faraway").await;
    let r = post_json(&f.app, "/api/v1/sync/push", Some(&other.token), &PushRequest { device_id: w.device_id, events: vec![] }).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "wrong_device"), "a token pushes only for its own device");
    let r = push(&f.app, &other, vec![(1, e4)]).await;
    assert!(
        matches!(&outcomes(&r)[0], PushOutcome::Rejected { code, .. } if code == "wrong_device"),
        "an event from another device is rejected"
    );
}

#[tokio::test]
async fn pull_returns_only_the_scope_and_not_the_callers_own_events() {
    let f = fixture();
    let walker = login(&f.app, "walker").await;
    let faraway = login(&f.app, "faraway").await;
    let boss = login(&f.app, "boss").await;
    let root = login(&f.app, "root").await;
    let (_, a) = issue_report(&walker, 1, f.yard_in.id, "院内");
    // A distinct issue id: one id reported at two places would fold to whichever report sorts first.
    let (_, b) = issue_report(&faraway, 2, f.yard_out.id, "远处");
    assert_eq!(outcomes(&push(&f.app, &walker, vec![(1, a.clone())]).await), vec![PushOutcome::Accepted]);
    assert_eq!(outcomes(&push(&f.app, &faraway, vec![(1, b.clone())]).await), vec![PushOutcome::Accepted]);
    let pulled = |r: &Reply| -> Vec<EventId> {
        let p: PullResponse = serde_json::from_value(r.body.clone()).unwrap();
        p.events.into_iter().map(|e| e.event.id).collect()
    };
    let r = get(&f.app, "/api/v1/sync/pull?after=0&limit=100&registry_version=0", Some(&walker.token)).await;
    assert_eq!(pulled(&r), Vec::<EventId>::new(), "a worker does not pull its own events nor other scopes");
    let snap: PullResponse = serde_json::from_value(r.body.clone()).unwrap();

    let reg = snap.registry.expect("a device with an old registry version gets the registry");
    assert_eq!(reg.courtyards.len(), 1, "the registry in the pull is the scope: one courtyard");
    let r = get(&f.app, &format!("/api/v1/sync/pull?after=0&registry_version={}", reg.version), Some(&walker.token)).await;
    assert!(r.body["registry"].is_null(), "an up-to-date device gets no registry");
    let r = get(&f.app, "/api/v1/sync/pull?after=0", Some(&boss.token)).await;
    assert_eq!(pulled(&r), vec![a.id], "a supervisor pulls their subdistrict only");
    let r = get(&f.app, "/api/v1/sync/pull?after=0", Some(&root.token)).await;
    assert_eq!(pulled(&r), vec![a.id, b.id], "a district admin pulls everything in server order");
    let everything: PullResponse = serde_json::from_value(r.body.clone()).unwrap();
    let last = everything.events.last().unwrap().server_seq;
    assert_eq!(
        (snap.next_cursor, snap.has_more, snap.max_seq),
        (last, false, Some(last)),
        "a page that is not full moves the cursor past what it left out (own events, other scopes), so they are not read again"
    );
    let r = get(&f.app, "/api/v1/sync/pull?after=0&limit=1", Some(&root.token)).await;
    assert_eq!((r.body["has_more"].as_bool(), pulled(&r).len()), (Some(true), 1), "the limit pages the pull");
    let next = r.body["next_cursor"].as_u64().unwrap();
    assert_eq!(next, everything.events[0].server_seq, "a full page's cursor is its last event: what lies after it is not yet seen");
    let r = get(&f.app, &format!("/api/v1/sync/pull?after={next}&limit=1"), Some(&root.token)).await;
    assert_eq!(pulled(&r), vec![b.id], "the cursor continues where the page ended");
    let r = get(&f.app, "/api/v1/sync/pull?after=-1", Some(&root.token)).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_query"), "a malformed cursor is a 400");
    let r = get(&f.app, &format!("/api/v1/issues?courtyard_id={}", f.yard_out.id), Some(&walker.token)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "out_of_scope"), "listing another scope's courtyard is refused");
    let r = get(&f.app, "/api/v1/issues", Some(&walker.token)).await;
    let list: IssueList = serde_json::from_value(r.body).unwrap();
    assert_eq!(list.issues.len(), 1, "a worker lists the issues in scope");
    assert_eq!(list.issues[0].contact_phone_masked.as_deref(), Some("138****5678"), "phones are masked in lists");
}

fn order(order_no: &str, place: IntakePlace) -> HotlineIntake {
    HotlineIntake {
        order_no: order_no.into(),
        place,
        category: "leak".into(),
        description: "楼道漏水".into(),
        received_at_ms: 1_760_000_000_000,
        contact: Some(ResidentContact { name: None, phone: "13900001111".into() }),
    }
}

#[tokio::test]
async fn hotline_intake_is_idempotent_and_lands_in_the_courtyards_scope() {
    let f = fixture();
    let root = login(&f.app, "root").await;
    let walker = login(&f.app, "walker").await;
    let faraway = login(&f.app, "faraway").await;
    let o = order("12345-0001", IntakePlace::CourtyardCode { code: f.yard_in.code.clone() });
    let r = post_json(&f.app, "/api/v1/hotline/intake", Some(&root.token), &o).await;
    assert_eq!(r.status, StatusCode::CREATED, "a new order creates an issue: {:?}", r.body);
    let first: HotlineIntakeResponse = serde_json::from_value(r.body).unwrap();
    assert_eq!(first.response_due_ms, o.received_at_ms + 3_600_000, "the 1-hour clock starts at receipt");
    let r = post_json(&f.app, "/api/v1/hotline/intake", Some(&root.token), &o).await;
    let second: HotlineIntakeResponse = serde_json::from_value(r.body).unwrap();
    assert_eq!((second.created, second.issue_id), (false, first.issue_id), "a repeated order number returns the same issue");
    assert_eq!(count(&f, "SELECT count(*) FROM events"), 2, "a new order stores its report and its dispatch; the repeat stores nothing");
    let pull = |t: String| {
        let app = f.app.clone();
        async move { serde_json::from_value::<PullResponse>(get(&app, "/api/v1/sync/pull", Some(&t)).await.body).unwrap() }
    };
    let got = pull(walker.token.clone()).await;
    assert_eq!(got.events.len(), 2, "the courtyard's worker pulls the hotline issue and its dispatch");
    assert!(
        matches!(&got.events[1].event.body, EventBody::Assigned { to: Assignee::Community(_), .. }),
        "with no responsible worker named, the order goes to the community's supervisor queue, never to nobody"
    );
    assert!(
        matches!(&got.events[0].event.body, EventBody::IssueReported(r) if r.source == IssueSource::Hotline && r.external_ref.as_deref() == Some("12345-0001"))
    );
    assert!(pull(faraway.token.clone()).await.events.is_empty(), "a worker outside the scope does not");
    let issue = get(&f.app, &format!("/api/v1/issues/{}", first.issue_id), Some(&walker.token)).await;
    assert_eq!(issue.body["response_due_ms"], o.received_at_ms + 3_600_000, "the folded issue keeps the receipt deadline");
    let r = get(&f.app, &format!("/api/v1/issues/{}", first.issue_id), Some(&faraway.token)).await;
    assert_eq!(r.code(), "out_of_scope", "an issue outside the scope is refused");

    let by_point = order(
        "12345-0002",
        IntakePlace::Address { address: "某路1号".into(), lat: Some(f.yard_out.point.lat), lon: Some(f.yard_out.point.lon) },
    );
    let r: HotlineIntakeResponse =
        serde_json::from_value(post_json(&f.app, "/api/v1/hotline/intake", Some(&root.token), &by_point).await.body).unwrap();
    assert_eq!(r.courtyard_id, f.yard_out.id, "an address with coordinates goes to the nearest courtyard");

    let r = post_json(
        &f.app,
        "/api/v1/hotline/intake",
        Some(&walker.token),
        &order("12345-0003", IntakePlace::Courtyard { courtyard_id: f.yard_in.id }),
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "a grid worker cannot take in hotline orders");
    let boss = login(&f.app, "boss").await;
    let r = post_json(
        &f.app,
        "/api/v1/hotline/intake",
        Some(&boss.token),
        &order("12345-0004", IntakePlace::Courtyard { courtyard_id: f.yard_out.id }),
    )
    .await;
    assert_eq!(r.code(), "out_of_scope", "a supervisor takes in orders only inside their scope");
    let r = post_json(
        &f.app,
        "/api/v1/hotline/intake",
        Some(&root.token),
        &order("12345-0005", IntakePlace::CourtyardCode { code: "NOPE".into() }),
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_courtyard"), "an unknown courtyard is refused");
    let mut bad = order("12345-0006", IntakePlace::CourtyardCode { code: f.yard_in.code.clone() });
    bad.category = "ufo".into();
    let r = post_json(&f.app, "/api/v1/hotline/intake", Some(&root.token), &bad).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "unknown_category"), "validation errors carry their code");
    assert_eq!(count(&f, "SELECT count(*) FROM events"), 4, "refused orders store nothing (two orders, each a report and its dispatch)");
}

fn jpeg(n: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend((0..n).map(|i| (i * 7 % 251) as u8));
    v
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn put_blob(f: &Fixture, token: &str, hash: &str, offset: usize, chunk: &[u8], last: bool) -> Reply {
    let uri = format!("/api/v1/blobs/{hash}?offset={offset}&final={last}");
    send(&f.app, Method::PUT, &uri, Some(token), Some("application/octet-stream"), chunk.to_vec()).await
}

#[tokio::test]
async fn blobs_resume_dedup_and_refuse_non_images_and_oversize() {
    let f = fixture_with(Config { photo_max_bytes: 64 * 1024, rate_per_sec: 1000.0, rate_burst: 1000.0, ..Config::default() });
    let w = login(&f.app, "walker").await;
    let photo = jpeg(40_000);
    let h = sha(&photo);
    let script = b"#!/bin/sh\necho pwned\n".to_vec();
    let big = jpeg(70_000);
    let other = jpeg(1_000);
    let wrong = sha(b"something else");
    // Every upload is for a photo an event of the uploading device names.
    let (issue, reported) = issue_report(&w, 1, f.yard_in.id, "井盖松动");
    let mut events = vec![(1, reported)];
    for (i, (sha256, bytes)) in
        [(h.clone(), photo.len()), (sha(&script), script.len()), (sha(&big), big.len()), (wrong.clone(), other.len())]
            .into_iter()
            .enumerate()
    {
        let body = EventBody::PhotoAttached { sha256, bytes: bytes as u64, mime: "image/jpeg".into() };
        events.push((i as u64 + 2, event(&w, i as u64 + 2, Entity::Issue(issue), body)));
    }
    assert!(
        outcomes(&push(&f.app, &w, events).await).iter().all(|o| *o == PushOutcome::Accepted),
        "the report and its photo events are stored"
    );
    let r = get(&f.app, &format!("/api/v1/blobs/{h}"), Some(&w.token)).await;
    assert_eq!((r.body["held_bytes"].as_u64(), r.body["complete"].as_bool()), (Some(0), Some(false)), "an unknown blob is held at 0");
    let r = put_blob(&f, &w.token, &h, 0, &photo[..10_000], false).await;
    assert_eq!(r.body["held_bytes"], 10_000, "a first chunk is held");
    let r = put_blob(&f, &w.token, &h, 5_000, &photo[5_000..10_000], false).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "offset_mismatch"), "a chunk at the wrong offset is refused");
    assert!(r.body["message"].as_str().unwrap().contains("10000"), "the refusal tells the held size");
    let r = get(&f.app, &format!("/api/v1/blobs/{h}"), Some(&w.token)).await;
    assert_eq!(r.body["held_bytes"], 10_000, "the status gives the resume point");
    let r = put_blob(&f, &w.token, &h, 10_000, &photo[10_000..], true).await;
    assert_eq!((r.status, r.body["complete"].as_bool()), (StatusCode::OK, Some(true)), "the last chunk completes a verified blob");
    let r = put_blob(&f, &w.token, &h, 0, &photo, true).await;
    assert_eq!(r.body["complete"].as_bool(), Some(true), "a complete blob uploaded again is deduplicated");

    let r = put_blob(&f, &w.token, &sha(&script), 0, &script, true).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_an_image"), "non-images are refused");
    let r = put_blob(&f, &w.token, &sha(&big), 0, &big, true).await;
    assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, "photo_too_large"), "photos over the limit are refused");
    let r = put_blob(&f, &w.token, &wrong, 0, &other, true).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch"), "bytes that do not hash to the name are refused");
    let r = get(&f.app, &format!("/api/v1/blobs/{wrong}"), Some(&w.token)).await;
    assert_eq!(r.body["held_bytes"], 0, "a hash mismatch discards the partial upload");
    let r = get(&f.app, "/api/v1/blobs/not-a-hash", Some(&w.token)).await;
    assert_eq!(r.code(), "bad_blob_hash", "blob names are sha256 hex");
}

/// (name, content type, body, expected status, expected code)
type HostileCase = (&'static str, Option<&'static str>, Vec<u8>, StatusCode, &'static str);

#[tokio::test]
async fn hostile_input_gets_a_clear_4xx_and_stores_nothing() {
    let f = fixture_with(Config { json_body_limit: 16 * 1024, rate_per_sec: 1000.0, rate_burst: 1000.0, ..Config::default() });
    let w = login(&f.app, "walker").await;
    let before = count(&f, "SELECT count(*) FROM events") + count(&f, "SELECT count(*) FROM refusals");
    let t = Some(w.token.as_str());
    let cases: Vec<HostileCase> = vec![
        ("oversized body", Some("application/json"), vec![b' '; 20 * 1024], StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
        ("invalid JSON", Some("application/json"), b"{\"device_id\": ".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        ("invalid UTF-8", Some("application/json"), b"{\"device_id\": \"\xff\xfe\"}".to_vec(), StatusCode::BAD_REQUEST, "invalid_utf8"),
        (
            "unknown field",
            Some("application/json"),
            serde_json::to_vec(&json!({"device_id": w.device_id, "events": [], "admin": true})).unwrap(),
            StatusCode::BAD_REQUEST,
            "unknown_field",
        ),
        ("wrong content type", Some("text/plain"), b"{}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("no content type", None, b"{}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("wrong shape", Some("application/json"), b"[1,2,3]".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
    ];
    for (name, ct, body, status, code) in cases {
        let r = send(&f.app, Method::POST, "/api/v1/sync/push", t, ct, body).await;
        assert_eq!((r.status, r.code()), (status, code), "case {name}: gets {status} {code}");
        assert!(r.is_error_body(), "case {name}: the error body is exactly {{code, message}}: {:?}", r.body);
    }
    let mut long = order("12345-9", IntakePlace::CourtyardCode { code: f.yard_in.code.clone() });
    long.description = "长".repeat(5000);
    let root = login(&f.app, "root").await;
    let r = post_json(&f.app, "/api/v1/hotline/intake", Some(&root.token), &long).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "text_too_long"), "over-long text is refused with its code");
    let (_, long_event) = issue_report(&w, 1, f.yard_in.id, &"长".repeat(3000));
    let r = push(&f.app, &w, vec![(1, long_event)]).await;
    assert!(matches!(&outcomes(&r)[0], PushOutcome::Rejected { code, .. } if code == "text_too_long"), "an over-long event is rejected");
    assert_eq!(count(&f, "SELECT count(*) FROM events"), 0, "nothing hostile is stored as an event");
    assert_eq!(
        count(&f, "SELECT count(*) FROM refusals") + count(&f, "SELECT count(*) FROM events"),
        before + 1,
        "only the settled rejection is recorded"
    );

    let sql = "'); DROP TABLE events; -- \" OR 1=1; SELECT * FROM workers WHERE '1'='1";
    let (issue, e) = issue_report(&w, 2, f.yard_in.id, sql);
    assert_eq!(outcomes(&push(&f.app, &w, vec![(2, e)]).await), vec![PushOutcome::Accepted], "SQL metacharacters are just text");
    let r = get(&f.app, &format!("/api/v1/issues/{issue}"), Some(&w.token)).await;
    assert_eq!(r.body["report"]["description"], sql, "the text is stored verbatim");
    assert_eq!(count(&f, "SELECT count(*) FROM events"), 1, "and the events table is intact");
    let r = get(&f.app, &format!("/api/v1/issues?courtyard_id={}'%20OR%201=1--", f.yard_in.id), t).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_query"), "SQL in a query parameter is a bad id");

    let r = get(&f.app, "/api/v1/nowhere", None).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "unknown routes are JSON 404s");
    let r = send(&f.app, Method::DELETE, "/api/v1/sync/push", t, None, vec![]).await;
    assert_eq!((r.status, r.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"), "wrong methods are JSON 405s");
    let r = get(&f.app, "/api/v1/issues/not-a-uuid", t).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_id"), "a malformed id is a 400");
}

#[tokio::test]
async fn unknown_revoked_and_replayed_tokens_are_refused() {
    let f = fixture();
    let w = login(&f.app, "walker").await;
    let r = get(&f.app, "/api/v1/registry", None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "missing_token"), "no token, no access");
    let r = get(&f.app, "/api/v1/registry", Some(&"ab".repeat(32))).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"), "an unknown token is refused");
    let r = get(&f.app, "/api/v1/registry", Some("' OR 1=1 --")).await;
    assert_eq!(r.code(), "invalid_token", "garbage tokens are refused");
    assert_eq!(get(&f.app, "/api/v1/registry", Some(&w.token)).await.status, StatusCode::OK, "the live token works");
    gridwalk_server::app::admin::revoke_device(f.site.dir.path(), w.device_id).unwrap();
    for _ in 0..2 {
        let r = get(&f.app, "/api/v1/registry", Some(&w.token)).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "token_revoked"),
            "a revoked token is refused every time it is replayed"
        );
    }
    assert_eq!(count(&f, "SELECT count(*) FROM audit WHERE action = 'revoked_token_used'"), 2, "each use of a revoked token is audited");
    assert_eq!(count(&f, "SELECT count(*) FROM audit WHERE action = 'device_revoked'"), 1, "the revocation is audited");
}

#[tokio::test]
async fn rate_limit_and_server_time_header() {
    let f = fixture_with(Config { rate_per_sec: 0.01, rate_burst: 3.0, ..Config::default() });
    let w = login(&f.app, "walker").await;
    let codes: Vec<StatusCode> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(get(&f.app, "/api/v1/visits", Some(&w.token)).await.status);
        }
        v
    };
    assert_eq!(codes.iter().filter(|s| **s == StatusCode::OK).count(), 3, "the burst passes");
    let r = get(&f.app, "/api/v1/visits", Some(&w.token)).await;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "then the token is limited");
    for r in [r, get(&f.app, "/healthz", None).await, get(&f.app, "/nope", None).await] {
        let t: i64 = r.headers.get(SERVER_TIME_HEADER).expect("every response has the server time").to_str().unwrap().parse().unwrap();
        assert!(t > 1_700_000_000_000, "the server time is ms since the epoch");
    }
}

#[tokio::test]
async fn visits_are_folded_and_scoped() {
    let f = fixture();
    let w = login(&f.app, "walker").await;
    let visit = VisitId::from_parts(1_760_000_000_000, [3; 10]);
    let v = Visit {
        courtyard: f.yard_in.id,
        mode: VisitMode::WalkThrough,
        started_at_ms: kit::t0() - 600_000,
        ended_at_ms: kit::t0(),
        location: None,
        notes: "走访".into(),
        residents_met: 3,
        linked_issues: vec![],
    };
    let e = event(&w, 1, Entity::Visit(visit), EventBody::VisitRecorded(v));
    assert_eq!(outcomes(&push(&f.app, &w, vec![(1, e)]).await), vec![PushOutcome::Accepted]);
    let r = get(&f.app, &format!("/api/v1/visits?courtyard_id={}", f.yard_in.id), Some(&w.token)).await;
    let list: VisitList = serde_json::from_value(r.body).unwrap();
    assert_eq!(list.visits.len(), 1, "the visit is in the view");
    assert_eq!(list.visits[0].worker, Some(w.worker.id), "folded with its worker");
    let far = login(&f.app, "faraway").await;
    let list: VisitList = serde_json::from_value(get(&f.app, "/api/v1/visits", Some(&far.token)).await.body).unwrap();
    assert!(list.visits.is_empty(), "another scope does not see the visit");
}
