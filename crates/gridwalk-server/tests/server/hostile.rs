//! The server tried as an attacker would (issue #12): each attack gets `{code, message}` or a
//! settled refusal, and the test checks in the real SQLite file that nothing was stored or
//! moved. The socket-level limits run against a real server on `127.0.0.1:0`.

use super::kit::{self, fast_config, Site};
use axum::http::{Method, StatusCode};
use axum::Router;
use gridwalk_clock::ManualClock;
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::{AppState, Config};
use serde_json::Value;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

const H: i64 = 3_600_000;

struct Fixture {
    site: Site,
    app: Router,
    state: AppState,
    clock: Arc<ManualClock>,
    /// The grid worker's courtyard, and one in another subdistrict (the attacker's).
    yard: Courtyard,
    far_yard: Courtyard,
}

fn fixture_with(config: Config) -> Fixture {
    let reg = registry_gen::demo_registry();
    let sub_of = |c: &Courtyard| reg.communities.iter().find(|m| m.id == c.community).unwrap().subdistrict;
    let yard = reg.courtyards[0].clone();
    let far_yard = reg.courtyards.iter().find(|c| sub_of(c) != sub_of(&yard)).unwrap().clone();
    let sub_code = |c: &Courtyard| reg.subdistricts.iter().find(|s| s.id == sub_of(c)).unwrap().code.clone();
    let site = Site::demo(&[
        ("walker", Role::GridWorker, vec![ScopeUnit::Courtyard(yard.code.clone())]),
        ("mallory", Role::GridWorker, vec![ScopeUnit::Subdistrict(sub_code(&far_yard))]),
        ("boss", Role::Supervisor, vec![ScopeUnit::District]),
    ]);
    let clock = Arc::new(ManualClock::new(kit::now_ms()));
    let (state, app) = site.serve_at(config, clock.clone());
    Fixture { site, app, state, clock, yard, far_yard }
}

fn fixture() -> Fixture {
    fixture_with(fast_config())
}

async fn call(app: &Router, method: Method, uri: &str, token: Option<&str>, body: Option<Vec<u8>>) -> (StatusCode, Value) {
    let content_type = body.is_some().then_some("application/json");
    let r = kit::send(app, method, uri, token, content_type, body.unwrap_or_default()).await;
    (r.status, serde_json::from_slice(&r.bytes).unwrap_or(Value::Null))
}

fn is_error_body(v: &Value) -> bool {
    v["code"].is_string() && v["message"].is_string()
}

/// A worker's device with its next sequence number.
struct Device {
    who: LoginResponse,
    seq: u64,
}

impl Device {
    async fn new(app: &Router, username: &str) -> Device {
        Device { who: kit::login(app, username).await, seq: 0 }
    }

    fn event(&self, at_ms: i64, entity: Entity, body: EventBody) -> Event {
        kit::event(&self.who, at_ms, self.seq + 1, entity, body)
    }

    /// Push events as the next sequence numbers; each one's outcome.
    async fn push(&mut self, app: &Router, events: Vec<Event>) -> Vec<PushOutcome> {
        let events = events
            .into_iter()
            .map(|event| {
                self.seq += 1;
                LoggedEvent { seq: self.seq, event }
            })
            .collect();
        let req = PushRequest { device_id: self.who.device_id, events };
        let (status, body) =
            call(app, Method::POST, "/api/v1/sync/push", Some(&self.who.token), Some(serde_json::to_vec(&req).unwrap())).await;
        assert_eq!(status, StatusCode::OK, "a push of well-formed events is answered per event: {body}");
        let resp: PushResponse = serde_json::from_value(body).unwrap();
        resp.results.into_iter().map(|r| r.outcome).collect()
    }

    async fn push_one(&mut self, app: &Router, event: Event) -> PushOutcome {
        self.push(app, vec![event]).await.remove(0)
    }
}

fn report(yard: CourtyardId, received_at_ms: Option<i64>) -> EventBody {
    EventBody::IssueReported(IssueReport {
        courtyard: yard,
        category: Category::StreetLight,
        source: IssueSource::Visit,
        description: "路灯不亮".into(),
        contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
        location: None,
        received_at_ms,
        external_ref: None,
    })
}

fn code(o: &PushOutcome) -> String {
    match o {
        PushOutcome::Accepted => "accepted".into(),
        PushOutcome::Duplicate => "duplicate".into(),
        PushOutcome::Gap => "gap".into(),
        PushOutcome::Conflict { .. } => "conflict".into(),
        PushOutcome::Rejected { code, .. } => code.clone(),
    }
}

fn new_issue(n: u8) -> IssueId {
    IssueId::from_parts(kit::now_ms() as u64, [n; 10])
}

#[tokio::test]
async fn a_second_report_of_a_known_id_takes_nothing_over() {
    let f = fixture();
    let now = kit::now_ms();
    let mut walker = Device::new(&f.app, "walker").await;
    let mut mallory = Device::new(&f.app, "mallory").await;
    let issue = new_issue(1);
    let original = walker.event(now, Entity::Issue(issue), report(f.yard.id, None));
    assert_eq!(code(&walker.push_one(&f.app, original).await), "accepted", "the first report of an id is stored");
    let place_before: String = f.site.text("SELECT courtyard_id FROM issues", &[]);

    // Mallory re-reports the same id at her own courtyard, with an earlier HLC.
    let mut forged = mallory.event(now - H, Entity::Issue(issue), report(f.far_yard.id, None));
    forged.hlc = Hlc::new(now - 2 * H, 0);
    forged.wall_ms = now - 2 * H;
    let outcome = mallory.push_one(&f.app, forged).await;
    assert!(matches!(outcome, PushOutcome::Conflict { .. }), "a second report of an existing id is settled as a conflict: {outcome:?}");
    let place_after: String = f.site.text("SELECT courtyard_id FROM issues", &[]);
    assert_eq!(place_after, place_before, "the issue stays where its first report put it");
    assert_eq!(f.site.count("SELECT count(*) FROM events"), 1, "the second report is not stored");

    let (status, body) = call(&f.app, Method::GET, &format!("/api/v1/issues/{issue}"), Some(&mallory.who.token), None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")), "the attacker still cannot read the issue");
    let (status, body) = call(&f.app, Method::GET, &format!("/api/v1/issues/{issue}"), Some(&walker.who.token), None).await;
    assert_eq!(status, StatusCode::OK, "its own worker still reads it: {body}");
    assert_eq!(body["report"]["courtyard"], serde_json::to_value(f.yard.id).unwrap(), "and sees the original courtyard");

    // A follow-up is placed by the stored issue, never by a claim of its own.
    let note = mallory.event(now, Entity::Issue(issue), EventBody::NoteAdded { text: "我来接管".into() });
    assert_eq!(code(&mallory.push_one(&f.app, note).await), "out_of_scope", "a follow-up is checked against the stored owner's place");

    // Visits the same way.
    let visit = VisitId::from_parts(now as u64, [7; 10]);
    let v = |yard: CourtyardId| {
        EventBody::VisitRecorded(Visit {
            courtyard: yard,
            mode: VisitMode::WalkThrough,
            started_at_ms: now - H,
            ended_at_ms: now - H / 2,
            location: None,
            notes: "走访".into(),
            residents_met: 2,
            linked_issues: vec![],
        })
    };
    assert_eq!(
        code(&walker.push_one(&f.app, walker.event(now, Entity::Visit(visit), v(f.yard.id))).await),
        "accepted",
        "a visit is stored"
    );
    let taken = mallory.push_one(&f.app, mallory.event(now, Entity::Visit(visit), v(f.far_yard.id))).await;
    assert!(matches!(taken, PushOutcome::Conflict { .. }), "a second record of a visit id is a conflict: {taken:?}");
    let yard: String = f.site.text("SELECT courtyard_id FROM visits", &[]);
    assert_eq!(yard, f.yard.id.to_string(), "the visit stays where it was recorded");
}

#[tokio::test]
async fn poisoned_clocks_are_refused_and_move_no_clock() {
    let f = fixture();
    let now = kit::now_ms();
    let mut mallory = Device::new(&f.app, "mallory").await;
    let mut walker = Device::new(&f.app, "walker").await;
    // A real issue, so follow-ups have something to poison.
    let issue = new_issue(2);
    assert_eq!(code(&walker.push_one(&f.app, walker.event(now, Entity::Issue(issue), report(f.yard.id, None))).await), "accepted");
    let before = f.site.count("SELECT count(*) FROM events");

    let yard = f.far_yard.id;
    let fresh = |n: u8| Entity::Issue(IssueId::from_parts(now as u64, [100 + n; 10]));
    let mut cases: Vec<(&str, Event)> = Vec::new();
    let mut e = mallory.event(now, fresh(1), report(yard, None));
    e.hlc = Hlc::new(4_102_444_700_000, 0);
    cases.push(("an HLC in the year 2100", e));
    let mut e = mallory.event(now, fresh(2), report(yard, None));
    e.wall_ms = now - 10 * 365 * 24 * H;
    e.hlc = Hlc::new(e.wall_ms, 0);
    cases.push(("a wall clock ten years off", e));
    let mut e = mallory.event(now, fresh(3), report(yard, None));
    e.clock_offset_ms = i64::MAX;
    cases.push(("an absurd clock offset", e));
    cases.push(("received near i64::MIN", mallory.event(now, fresh(4), report(yard, Some(i64::MIN)))));
    cases.push(("received 30 days ago", mallory.event(now, fresh(5), report(yard, Some(now - 30 * 24 * H)))));
    let mut e = mallory.event(now - 5 * 24 * H, fresh(6), report(yard, None));
    e.hlc = Hlc::new(now, 0);
    cases.push(("a report recorded five days ago offline", e));
    for (name, e) in cases {
        let got = code(&mallory.push_one(&f.app, e).await);
        assert!(got == "time_out_of_bounds" || got == "time_out_of_range", "{name}: refused for its time, not {got}");
    }
    // A response backdated four days, so it would count as on time.
    let mut e = walker.event(now - 4 * 24 * H, Entity::Issue(issue), EventBody::IssueResponded { note: "早就联系过".into() });
    e.hlc = Hlc::new(now, 1);
    assert_eq!(code(&walker.push_one(&f.app, e).await), "time_out_of_bounds", "a backdated response is refused");
    assert_eq!(f.site.count("SELECT count(*) FROM events"), before, "no out-of-bounds event is stored");

    // The server's own stamps stay near its wall clock: a whistle the escalation job writes.
    f.clock.set(now + 73 * H);
    f.state.run_escalations().await.unwrap();
    let hlc: String = f.site.text("SELECT value FROM meta WHERE key = 'hlc'", &[]);
    let ms: i64 = hlc.split(':').next().unwrap().parse().unwrap();
    assert!(ms <= now + 73 * H + 5 * 60_000, "the server's HLC never runs more than its bound ahead of its clock: {hlc}");
    let boss = kit::login(&f.app, "boss").await;
    let uri = format!("/api/v1/rates?by=subdistrict&period=week&from={}&to={}", now - 24 * H, now + 74 * H);
    let (status, body) = call(&f.app, Method::GET, &uri, Some(&boss.token), None).await;
    assert_eq!(status, StatusCode::OK, "the rates still answer after the attempts: {body}");
}

#[tokio::test]
async fn the_escalation_job_skips_a_bad_row_and_reports_it() {
    let f = fixture();
    let now = kit::now_ms();
    let mut walker = Device::new(&f.app, "walker").await;
    let (good, bad) = (new_issue(3), new_issue(4));
    for id in [good, bad] {
        assert_eq!(code(&walker.push_one(&f.app, walker.event(now, Entity::Issue(id), report(f.yard.id, None))).await), "accepted");
    }
    // A row the job cannot use: the bad issue's stored place is garbage.
    f.site.exec("UPDATE issues SET courtyard_id = 'not-an-id' WHERE id = ?1", &[&bad.to_string()]);
    f.clock.set(now + 73 * H);
    let done = f.state.run_escalations().await.expect("one bad row does not fail the run");
    assert!(done.iter().any(|a| a.issue_id == good && a.kind == "whistle_next"), "the good issue is escalated: {done:?}");
    assert!(done.iter().all(|a| a.issue_id != bad), "the bad issue is skipped");
    let skipped = f.site.count("SELECT count(*) FROM audit WHERE action = 'escalation_skipped'");
    assert_eq!(skipped, 1, "the skipped issue is reported in the audit");
    let held = f.site.count(&format!("SELECT count(*) FROM escalations WHERE issue_id = '{bad}'"));
    assert_eq!(held, 0, "what the job began on the bad issue is undone, so a later run tries it again");
}

/// `PUT /api/v1/blobs/{sha}` with the whole photo at once.
async fn put_photo(app: &Router, who: &LoginResponse, sha: &str, bytes: &[u8]) -> (StatusCode, Value) {
    let uri = format!("/api/v1/blobs/{sha}?offset=0&final=true");
    let r = kit::send(app, Method::PUT, &uri, Some(&who.token), Some("application/octet-stream"), bytes.to_vec()).await;
    (r.status, serde_json::from_slice(&r.bytes).unwrap_or(Value::Null))
}

fn jpeg(len: usize, salt: u8) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend((0..len.saturating_sub(4)).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)));
    b
}

fn sha(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[tokio::test]
async fn photos_are_taken_only_from_their_own_events_within_quota() {
    let f = fixture_with(Config { photo_quota_per_day: 50_000, ..fast_config() });
    let now = kit::now_ms();
    let mut walker = Device::new(&f.app, "walker").await;
    let mallory = Device::new(&f.app, "mallory").await;
    let issue = new_issue(5);
    let photo = jpeg(30_000, 1);
    let attach = |p: &[u8], declared: u64| EventBody::PhotoAttached { sha256: sha(p), bytes: declared, mime: "image/jpeg".into() };
    let events = vec![
        walker.event(now, Entity::Issue(issue), report(f.yard.id, None)),
        kit::event(&walker.who, now, 2, Entity::Issue(issue), attach(&photo, photo.len() as u64)),
    ];
    assert!(walker.push(&f.app, events).await.iter().all(|o| code(o) == "accepted"), "the report and its photo event are stored");

    let stray = jpeg(1_000, 2);
    let (status, body) = put_photo(&f.app, &walker.who, &sha(&stray), &stray).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("photo_not_referenced")),
        "an upload no event names is refused"
    );
    assert_eq!(f.site.count("SELECT count(*) FROM blob_uploads"), 0, "and nothing of it is counted");

    let (status, body) = put_photo(&f.app, &walker.who, &sha(&photo), &photo).await;
    assert_eq!((status, body["complete"].as_bool()), (StatusCode::OK, Some(true)), "the photo its event names is taken: {body}");

    // Mallory probes for walker's photo and for one nobody has: the answers are the same.
    let probe = |sha: String| {
        let (app, token) = (f.app.clone(), mallory.who.token.clone());
        async move { call(&app, Method::GET, &format!("/api/v1/blobs/{sha}"), Some(&token), None).await }
    };
    let (held, held_body) = probe(sha(&photo)).await;
    let (absent, absent_body) = probe(sha(b"nobody has this")).await;
    assert_eq!((held, held_body["code"].clone()), (absent, absent_body["code"].clone()), "a probe outside one's own events learns nothing");
    assert_eq!(held, StatusCode::NOT_FOUND, "both are not found");

    // A photo bigger than its event declared, and the daily quota.
    let small = jpeg(10_000, 3);
    let big = jpeg(25_000, 4);
    let events = vec![
        walker.event(now, Entity::Issue(issue), attach(&small, 5_000)),
        kit::event(&walker.who, now, 9, Entity::Issue(issue), attach(&big, big.len() as u64)),
    ];
    assert!(walker.push(&f.app, events).await.iter().all(|o| code(o) == "accepted"));
    let (status, body) = put_photo(&f.app, &walker.who, &sha(&small), &small).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("photo_too_large")),
        "a photo larger than its event declared is refused"
    );
    let (status, body) = put_photo(&f.app, &walker.who, &sha(&big), &big).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("photo_quota_exceeded")),
        "past the device's daily quota (30 kB held of 50 kB) the next 25 kB waits"
    );
    assert!(is_error_body(&body), "a refusal is {{code, message}}");
}

/// A real server on 127.0.0.1:0 with small socket limits; its address and its stop switch.
async fn real_server(config: Config) -> (Site, std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let site = Site::demo(&[("walker", Role::GridWorker, vec![ScopeUnit::District])]);
    let state = AppState::open(site.dir.path(), config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gridwalk_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    (site, addr, stop)
}

/// Read what the server sends until it closes the connection or `limit` passes; whether it
/// closed, and what it sent.
fn read_until_closed(stream: &mut std::net::TcpStream, limit: Duration) -> (bool, String) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (true, String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return (false, String::from_utf8_lossy(&got).into_owned())
            }
            Err(_) => return (true, String::from_utf8_lossy(&got).into_owned()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_and_connections_are_bounded() {
    let config = Config {
        header_timeout: Duration::from_millis(1500),
        body_idle_timeout: Duration::from_millis(500),
        max_connections: 2,
        ..fast_config()
    };
    let (_site, addr, stop) = real_server(config).await;
    tokio::task::spawn_blocking(move || {
        // A slow-loris head: never finished.
        let mut slow = std::net::TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        let (closed, _) = read_until_closed(&mut slow, Duration::from_secs(10));
        assert!(closed, "a client that never finishes its request head is cut off after the header timeout");

        // A body that stops halfway.
        let mut stalled = std::net::TcpStream::connect(addr).unwrap();
        stalled
            .write_all(
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
            )
            .unwrap();
        let (closed, sent) = read_until_closed(&mut stalled, Duration::from_secs(10));
        assert!(closed || sent.starts_with("HTTP/1.1 4"), "a body that stalls is cut off after the body timeout: {sent:?}");
        assert!(!sent.starts_with("HTTP/1.1 2"), "a stalled body is never taken as a request");

        // Two connections are the limit: a third is not served until one closes.
        let mut a = std::net::TcpStream::connect(addr).unwrap();
        let b = std::net::TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut buf = [0u8; 64];
        let early = c.read(&mut buf);
        assert!(early.is_err(), "past the connection limit a client waits: {early:?}");
        a.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let (_, first) = read_until_closed(&mut a, Duration::from_secs(10));
        assert!(first.starts_with("HTTP/1.1 200"), "a connection within the limit is served: {first:?}");
        drop(b);
        let (_, third) = read_until_closed(&mut c, Duration::from_secs(10));
        assert!(third.starts_with("HTTP/1.1 200"), "once a connection closes, the waiting one is served: {third:?}");
    })
    .await
    .unwrap();
    let _ = stop.send(());
}
