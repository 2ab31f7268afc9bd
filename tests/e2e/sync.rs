//! Tablet ↔ server sync against the real server on 127.0.0.1:0: two tablets converge, faults
//! on the wire, kill -9 of either side, skewed clocks, scoped dispatch, a week offline.

use gridwalk_core::sync::{sync, HttpTransport, Phase, Progress, TransportError};
use gridwalk_core::{Clock, CourtyardQuery, CourtyardRow, IssueFilter, NewIssue, SystemClock, Tablet};
use gridwalk_domain::*;
use gridwalk_e2e::fault_proxy::{FaultProxy, ALL_FAULTS};
use gridwalk_e2e::proc::OwnedChild;
use gridwalk_e2e::server::{spawn_server_process, spawn_server_process_on};
use gridwalk_e2e::sync_kit::*;
use gridwalk_e2e::TEST_KEY;
use gridwalk_proto::{HotlineIntake, IntakePlace, LoginRequest, LoginResponse, PullResponse, PushResponse, ScopeUnit};
use rand::Rng;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// 惠新西街33号院 lies in community CY10-C01; CY15-C01 is 八里庄's 甘西社区.
fn community(code: &str) -> Vec<ScopeUnit> {
    vec![ScopeUnit::Community(code.into())]
}

fn standard_server(dir: &Path) {
    server_data(
        dir,
        &[
            ("wang", Role::GridWorker, community("CY10-C01")),
            ("zhao", Role::Cadre, community("CY10-C01")),
            ("li", Role::GridWorker, community("CY15-C01")),
            ("boss", Role::Supervisor, vec![ScopeUnit::District]),
        ],
    );
}

/// The standard server in this process, in a temp dir that lives as long as it.
struct Site {
    dir: tempfile::TempDir,
    server_dir: std::path::PathBuf,
    server: InProcessServer,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let server_dir = dir.path().join("server");
        standard_server(&server_dir);
        let server = InProcessServer::start(&server_dir);
        Site { dir, server_dir, server }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    /// `username`'s tablet in `file`, enrolled and holding its scope's registry.
    fn tablet(&self, file: &str, username: &str) -> Tablet {
        let mut t = enrolled_tablet(&self.dir.path().join(file), &self.url(), username, system_clock());
        sync_once(&mut t, &self.url());
        t
    }
}

fn first_yard(t: &Tablet) -> CourtyardRow {
    t.search_courtyards(&CourtyardQuery { limit: 1, ..Default::default() }).unwrap().remove(0)
}

fn report(t: &mut Tablet, yard: CourtyardId, i: usize, photos: Vec<String>) -> IssueId {
    t.report_issue(NewIssue {
        courtyard: yard,
        category: Category::ALL[i % Category::ALL.len()],
        source: IssueSource::Visit,
        description: format!("同步测试诉求 {i}：楼道灯不亮"),
        contact: None,
        location: None,
        photos,
    })
    .unwrap()
}

fn assert_exactly_once(server_dir: &Path, t: &Tablet, rule: &str) {
    let device = t.identity().unwrap().device;
    let logged: i64 = t.connection().query_row("SELECT count(*) FROM device_log", [], |r| r.get(0)).unwrap();
    let (rows, distinct, max) = server_events_of(server_dir, device);
    assert_eq!((rows, distinct, max), (logged, logged, logged), "{rule}: every logged event is on the server exactly once");
    assert_eq!(t.sync_state().unwrap().queue_depth, 0, "{rule}: nothing is left queued on the tablet");
}

#[test]
fn a_me_too_from_a_second_tablet_converges_on_both_sides_and_the_server() {
    let site = Site::new();
    let mut a = site.tablet("a.db", "wang");
    let mut b = site.tablet("b.db", "zhao");
    let yard = first_yard(&a);
    let issue = report(&mut a, yard.id, 2, vec![]);
    let category = Category::ALL[2];
    sync_once(&mut a, &site.url());
    sync_once(&mut b, &site.url());
    // B, about to report the same problem at the same courtyard, finds it already reported,
    // offline from what it pulled, and adds "me too" instead of a second ticket.
    let near = b.nearby(yard.id, category, None).unwrap();
    assert_eq!(near.first().map(|n| (n.issue.id, n.same_courtyard)), Some((issue, true)), "B's Report screen shows A's open issue first");
    b.me_too(issue, "楼上也不亮").unwrap();
    a.add_note(issue, "已报物业").unwrap();
    sync_once(&mut b, &site.url());
    sync_once(&mut a, &site.url());
    sync_once(&mut b, &site.url());
    let on_a = serde_json::to_value(a.issue(issue).unwrap().state).unwrap();
    let on_b = serde_json::to_value(b.issue(issue).unwrap().state).unwrap();
    let on_server = serde_json::to_value(Api::login(&site.url(), "boss").issue(issue)).unwrap();
    assert_eq!(on_a, on_b, "both tablets fold the me-too to the same state");
    assert_eq!(on_a, on_server, "the server folds it to the same state as the tablets");
    assert_eq!(on_a["me_too"], 1, "one more resident on the one issue");
    assert_eq!(a.list_issues(&IssueFilter::default(), None, 50).unwrap().items.len(), 1, "no second ticket");
    assert_exactly_once(&site.server_dir, &b, "the me-too");
}

#[test]
fn two_tablets_editing_one_issue_offline_converge_with_full_history() {
    let site = Site::new();
    let mut a = site.tablet("a.db", "wang");
    let mut b = site.tablet("b.db", "zhao");
    let yard = first_yard(&a);
    let issue = report(&mut a, yard.id, 1, vec![]);
    sync_once(&mut a, &site.url());
    sync_once(&mut b, &site.url());
    assert!(b.issue(issue).is_ok(), "tablet B pulled the issue tablet A reported");

    // Both offline: A responds and resolves; B adds a note and also resolves.
    a.respond(issue, "已电话联系").unwrap();
    a.resolve(issue, "已更换灯泡", None).unwrap();
    b.add_note(issue, "居民补充：二楼也不亮").unwrap();
    b.resolve(issue, "物业已处理", None).unwrap();

    sync_once(&mut b, &site.url());
    sync_once(&mut a, &site.url());
    sync_once(&mut b, &site.url());

    let on_a = serde_json::to_value(a.issue(issue).unwrap().state).unwrap();
    let on_b = serde_json::to_value(b.issue(issue).unwrap().state).unwrap();
    let on_server = serde_json::to_value(Api::login(&site.url(), "boss").issue(issue)).unwrap();
    assert_eq!(on_a, on_b, "both tablets fold the same events to the same state");
    assert_eq!(on_a, on_server, "the server folds to the same state as the tablets");
    let state = a.issue(issue).unwrap().state;
    assert_eq!(state.history.len(), 5, "the full history is kept: report, respond, resolve, note, resolve");
    assert_eq!(state.conflicts().count(), 1, "the second resolve is kept and flagged as a conflict, not dropped");
    assert_eq!(state.status, IssueStatus::Resolved);
}

#[test]
fn faults_on_the_wire_deliver_2000_events_exactly_once() {
    let site = Site::new();
    let mut t = site.tablet("t.db", "wang");
    let yard = first_yard(&t).id;
    for i in 0..2000 {
        report(&mut t, yard, i, vec![]);
    }
    let proxy = FaultProxy::start(site.server.addr, 0x5eed, 35).unwrap();
    let transport = HttpTransport::new(&proxy.url()).unwrap();
    // Small batches: hundreds of round trips, so every kind of fault hits pushes many times.
    let opts = gridwalk_core::sync::SyncOptions { max_batch: 20, ..fast_retries() };
    let mut rounds = 0;
    while t.sync_state().unwrap().queue_depth > 0 {
        rounds += 1;
        assert!(rounds <= 60, "sync makes progress through faults (round {rounds})");
        // A round may give up after its retries; the next round resumes from the acked position.
        let _ = sync(&mut t, &transport, &opts, &AtomicBool::new(false), &mut |_| {});
    }
    let counts = proxy.counts.0.lock().unwrap().clone();
    eprintln!("faults injected: {counts:?}");
    for fault in ALL_FAULTS {
        assert!(counts.get(&fault).copied().unwrap_or(0) > 0, "the proxy injected {fault:?} at least once: {counts:?}");
    }
    assert_exactly_once(&site.server_dir, &t, "drops, delays, resets, truncation and duplicated answers");
}

#[test]
fn sigkill_of_the_tablet_during_sync_loses_and_doubles_nothing() {
    let site = Site::new();
    let db = site.dir.path().join("t.db");
    drop(site.tablet("t.db", "wang"));
    let sim = env!("CARGO_BIN_EXE_tablet-sim");
    let mut rng = rand::thread_rng();
    for _trial in 0..50 {
        let mut child = OwnedChild::spawn(
            std::process::Command::new(sim)
                .args(["sync", db.to_str().unwrap(), &site.url(), "30"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..400)));
        child.kill(); // SIGKILL the tablet
    }
    let mut t = Tablet::open(&db, &TEST_KEY, system_clock()).unwrap();
    let ok: String = t.connection().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok", "the tablet store is sound after 50 SIGKILLs");
    sync_once(&mut t, &site.url());
    let logged: i64 = t.connection().query_row("SELECT count(*) FROM device_log", [], |r| r.get(0)).unwrap();
    assert!(logged > 50, "the trials recorded and synced something ({logged} events)");
    assert_exactly_once(&site.server_dir, &t, "kill -9 of the tablet mid-sync");
}

#[test]
fn sigkill_of_the_server_mid_push_still_gives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    standard_server(&server_dir);
    let first = spawn_server_process(&server_dir);
    let addr = first.addr();
    let url = first.base_url.clone();
    let db = dir.path().join("t.db");
    let mut t = enrolled_tablet(&db, &url, "wang", system_clock());
    sync_once(&mut t, &url);
    let yard = first_yard(&t).id;
    for i in 0..3000 {
        report(&mut t, yard, i, vec![]);
    }
    let device = t.identity().unwrap().device;
    let pusher = {
        let url = url.clone();
        std::thread::spawn(move || {
            let transport = HttpTransport::new(&url).unwrap();
            // Small batches: many acknowledged round trips, so every kill lands mid-push.
            let opts = gridwalk_core::sync::SyncOptions { max_attempts: 200, max_batch: 25, ..fast_retries() };
            let result = sync(&mut t, &transport, &opts, &AtomicBool::new(false), &mut |_| {});
            (t, result.map(|r| r.retries))
        })
    };
    let mut server = first;
    let mut stored_before = 0;
    for kill in 0..3 {
        // Kill only once this server has taken some of the push, at a random moment after.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while server_events_of(&server_dir, device).0 <= stored_before {
            assert!(std::time::Instant::now() < deadline, "the push makes progress after restart {kill}");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rand::thread_rng().gen_range(0..40)));
        server.kill(); // SIGKILL: no shutdown hook runs
        let (stored, _, _) = server_events_of(&server_dir, device);
        assert!(stored < 3000, "kill {kill} landed before the push finished ({stored} stored)");
        stored_before = stored;
        std::thread::sleep(Duration::from_millis(100));
        server = spawn_server_process_on(&server_dir, &addr.to_string());
    }
    let (t, result) = pusher.join().unwrap();
    let retries = result.expect("the sync resumes after each server restart and finishes");
    assert!(retries > 0, "the server really went away mid-sync");
    drop(server);
    assert_exactly_once(&server_dir, &t, "kill -9 of the server mid-push");
}

#[test]
fn skewed_device_clocks_still_give_correct_response_times() {
    for skew_hours in [2i64, -2] {
        let site = Site::new();
        let server = &site.server;
        let clock = Arc::new(SystemClock { skew_ms: skew_hours * 3_600_000 });
        let mut t = enrolled_tablet(&site.dir.path().join("t.db"), &server.url(), "wang", clock);
        assert!((t.clock_offset_ms() + skew_hours * 3_600_000).abs() < 5_000, "enrolment measured the {skew_hours} h skew");
        sync_once(&mut t, &server.url());
        let yard = first_yard(&t);
        // The order goes to wang as the courtyard's responsible worker (责任网格员).
        gridwalk_server::admin::set_responsible(&site.server_dir, &yard.code, "wang").unwrap();
        let boss = Api::login(&server.url(), "boss");
        let received = SystemClock::default().now_ms();
        let order = boss.hotline(&HotlineIntake {
            order_no: format!("12345-skew{skew_hours}"),
            place: IntakePlace::Courtyard { courtyard_id: yard.id },
            category: "noise".into(),
            description: "夜间施工噪声扰民".into(),
            received_at_ms: received,
            contact: None,
        });
        sync_once(&mut t, &server.url());
        t.respond(order.issue_id, "已联系居民").unwrap();
        sync_once(&mut t, &server.url());
        let state = boss.issue(order.issue_id);
        let responded = state.responded_at_ms.unwrap();
        assert!(
            (responded - received).abs() < 60_000,
            "skew {skew_hours} h: the response time is on the corrected clock ({} ms after receipt)",
            responded - received
        );
        assert_eq!(state.responded_on_time(), Some(true), "skew {skew_hours} h: responded within the hour");
    }
}

#[test]
fn a_hotline_issue_reaches_only_its_courtyards_worker() {
    let site = Site::new();
    let mut wang = site.tablet("wang.db", "wang");
    let mut li = site.tablet("li.db", "li");
    let yard = wang.search_courtyards(&CourtyardQuery { text: "惠新西街33号院".into(), ..Default::default() }).unwrap().remove(0);
    assert!(
        li.search_courtyards(&CourtyardQuery { text: "惠新西街33号院".into(), ..Default::default() }).unwrap().is_empty(),
        "li's registry holds only li's scope"
    );
    let order = Api::login(&site.url(), "boss").hotline(&HotlineIntake {
        order_no: "12345-0001".into(),
        place: IntakePlace::Courtyard { courtyard_id: yard.id },
        category: "street_light".into(),
        description: "惠新西街33号院路灯不亮".into(),
        received_at_ms: SystemClock::default().now_ms(),
        contact: None,
    });
    sync_once(&mut wang, &site.url());
    sync_once(&mut li, &site.url());
    let on_wang = wang.issue(order.issue_id).expect("the courtyard's worker pulled the hotline issue");
    assert_eq!(on_wang.state.report.unwrap().source, IssueSource::Hotline);
    assert!(li.issue(order.issue_id).is_err(), "a worker of another community never receives it");
    let due = wang.list_issues(&IssueFilter::default(), None, 10).unwrap().items[0].response_due_ms;
    assert_eq!(due, Some(order.response_due_ms), "the tablet shows the 1-hour deadline the server started at receipt");
}

#[test]
fn a_week_offline_2000_reports_and_200_photos_sync_in_one_go_with_progress() {
    let site = Site::new();
    let mut t = site.tablet("t.db", "wang");
    let yard = first_yard(&t).id;
    let mut shas = Vec::new();
    for i in 0..2000 {
        let photos = if i % 10 == 0 {
            let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
            jpeg.extend_from_slice(&(i as u64).to_be_bytes());
            jpeg.extend((0..20_000u32).map(|b| b.wrapping_mul(31) as u8));
            let sha = t.store_photo(&jpeg).unwrap();
            shas.push(sha.clone());
            vec![sha]
        } else {
            vec![]
        };
        report(&mut t, yard, i, photos);
    }
    let mut seen: Vec<Progress> = Vec::new();
    let transport = HttpTransport::new(&site.url()).unwrap();
    let report =
        sync(&mut t, &transport, &fast_retries(), &AtomicBool::new(false), &mut |p| seen.push(p.clone())).expect("one sync does it all");
    assert_eq!(report.pushed, 2200, "2,000 reports and their 200 photo events pushed");
    assert_eq!(report.photos_uploaded, 200, "all 200 photos uploaded in the same sync");
    let pushes: Vec<&Progress> = seen.iter().filter(|p| p.phase == Phase::Push).collect();
    assert!(pushes.windows(2).all(|w| w[0].events_done <= w[1].events_done), "push progress only moves forward");
    assert_eq!(pushes.last().map(|p| (p.events_done, p.events_total)), Some((2200, 2200)), "push progress ends at its total");
    assert!(seen.iter().any(|p| p.phase == Phase::Photos), "photo progress is reported");
    // Only the device whose events name a photo may ask about it.
    let api = Api::of_tablet(&site.url(), &t);
    for sha in &shas {
        let (status, body) = api.get_json(&format!("/api/v1/blobs/{sha}"));
        assert_eq!((status, body["complete"].as_bool()), (200, Some(true)), "photo {sha} is complete on the server");
    }
    assert_exactly_once(&site.server_dir, &t, "a week offline");
}

#[test]
fn a_revoked_device_stops_keeps_everything_and_says_so() {
    let site = Site::new();
    let mut t = site.tablet("t.db", "wang");
    let yard = first_yard(&t).id;
    for i in 0..5 {
        report(&mut t, yard, i, vec![]);
    }
    gridwalk_server::admin::revoke_device(&site.server_dir, t.identity().unwrap().device).unwrap();
    let transport = HttpTransport::new(&site.url()).unwrap();
    let err = sync(&mut t, &transport, &fast_retries(), &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert_eq!(err.code(), "device_revoked", "a 401 stops the engine with device_revoked");
    let state = t.sync_state().unwrap();
    assert!(state.revoked, "the tablet remembers it was revoked");
    assert_eq!(state.queue_depth, 5, "every unsynced record is kept");
    assert!(state.last_error.unwrap().contains("revoked"), "the last error says so plainly");
    let again = sync(&mut t, &transport, &fast_retries(), &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert_eq!(again.code(), "device_revoked", "a revoked tablet does not try again");
}

#[test]
fn a_rejected_record_is_kept_with_its_reason_never_blocks_and_can_be_corrected() {
    let site = Site::new();
    let mut t = site.tablet("t.db", "wang");
    let mine = first_yard(&t).id;
    // The tablet is handed the whole district's registry (say, a stale install), so the
    // worker can report in a courtyard outside their scope; the server must refuse that one.
    t.replace_registry(&gridwalk_domain::registry_gen::demo_registry()).unwrap();
    let outside = t.search_courtyards(&CourtyardQuery { text: "花家地南里".into(), limit: 1, ..Default::default() }).unwrap().remove(0).id;
    let bad = report(&mut t, outside, 1, vec![]);
    let good = report(&mut t, mine, 2, vec![]);
    let r = sync_once(&mut t, &site.url());
    assert_eq!(r.rejected, 1, "exactly the out-of-scope report is rejected");
    let rejected = t.rejected_records().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].code, "out_of_scope", "the reason is kept and shown");
    assert_eq!(t.issue(bad).unwrap().state.status, IssueStatus::Reported, "the rejected record stays on the tablet");
    let boss = Api::login(&site.url(), "boss");
    assert_eq!(boss.issue(good).report.unwrap().courtyard, mine, "the record behind the rejected one reached the server");
    let rows = t.list_issues(&IssueFilter::default(), None, 10).unwrap().items;
    assert_eq!(rows.iter().find(|r| r.id == bad).unwrap().sync_state, "rejected", "the record shows its rejected state");

    // Correct it: the same issue, reported again at the worker's own courtyard.
    let mut corrected = rejected[0].event.body.clone();
    if let EventBody::IssueReported(r) = &mut corrected {
        r.courtyard = mine;
    }
    t.correct_rejected(rejected[0].seq, corrected).unwrap();
    sync_once(&mut t, &site.url());
    assert!(t.rejected_records().unwrap().is_empty(), "nothing is left rejected after the correction");
    assert_eq!(boss.issue(bad).report.unwrap().courtyard, mine, "the corrected report reached the server under the same issue id");
}

#[test]
fn cancelling_a_sync_stops_it_and_keeps_the_queue() {
    let site = Site::new();
    let mut t = site.tablet("t.db", "wang");
    let yard = first_yard(&t).id;
    for i in 0..3 {
        report(&mut t, yard, i, vec![]);
    }
    let transport = HttpTransport::new(&site.url()).unwrap();
    let err = sync(&mut t, &transport, &fast_retries(), &AtomicBool::new(true), &mut |_| {}).unwrap_err();
    assert_eq!(err.code(), "cancelled", "a cancelled sync says so");
    assert_eq!(t.sync_state().unwrap().queue_depth, 3, "cancelling loses nothing");
}

#[test]
fn a_photo_upload_resumes_from_what_the_server_holds() {
    let site = Site::new();
    let mut t = site.tablet("t.db", "wang");
    let yard = first_yard(&t).id;
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    png.extend((0..700_000u32).map(|i| (i % 251) as u8));
    let sha = t.store_photo(&png).unwrap();
    report(&mut t, yard, 1, vec![sha.clone()]);
    // A first sync pushes the report and its photo event, then the link drops at the photo …
    let pushed_only = NoPhotoUploads(HttpTransport::new(&site.url()).unwrap());
    let err = sync(&mut t, &pushed_only, &fast_retries(), &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(
        matches!(&err, gridwalk_core::CoreError::Server { code, .. } if code == "link_dropped"),
        "the first sync stops at the photo: {err:?}"
    );
    // … and an earlier attempt of this device got the first 300,000 bytes across.
    let api = Api::of_tablet(&site.url(), &t);
    let client = reqwest::blocking::Client::new();
    let held: gridwalk_proto::BlobStatus = client
        .put(format!("{}/api/v1/blobs/{sha}?offset=0", site.url()))
        .bearer_auth(&api.token)
        .header("content-type", "application/octet-stream")
        .body(png[..300_000].to_vec())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!((held.held_bytes, held.complete), (300_000, false), "the server holds the partial upload");
    let r = sync_once(&mut t, &site.url());
    assert_eq!(r.photos_uploaded, 1);
    let (status, body) = api.get_json(&format!("/api/v1/blobs/{sha}"));
    assert_eq!(
        (status, body["held_bytes"].as_u64(), body["complete"].as_bool()),
        (200, Some(png.len() as u64), Some(true)),
        "the upload resumed and completed"
    );
    let blob = std::fs::read(site.server_dir.join("blobs").join(&sha)).expect("the verified blob is stored by its hash");
    assert_eq!(blob, png, "the resumed upload is byte-identical");
}

#[test]
fn an_expired_session_is_renewed_as_the_same_device_and_loses_nothing() {
    let site = Site::new();
    let mut t = site.tablet("t.db", "wang");
    let yard = first_yard(&t).id;
    let device = t.identity().expect("enrolled").device;
    for i in 0..5 {
        report(&mut t, yard, i, vec![]);
    }
    // The server answers as it does to a token that went unused past its lifetime.
    let expired = ExpiredToken(HttpTransport::new(&site.url()).unwrap());
    let err = sync(&mut t, &expired, &fast_retries(), &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert_eq!(err.code(), "session_expired", "an expired token is a session to renew, not a revoked tablet");
    let state = t.sync_state().unwrap();
    assert!(state.session_expired && !state.revoked, "the tablet asks for a login, and offers no wipe");
    assert_eq!(state.queue_depth, 5, "nothing queued is lost");
    let login = gridwalk_core::sync::renew_session(&mut t, &HttpTransport::new(&site.url()).unwrap(), gridwalk_e2e::server::PASSWORD)
        .expect("renewed");
    assert_eq!(login.device_id, device, "the tablet stays the same device");
    assert!(!t.sync_state().unwrap().session_expired, "the renewal clears the state");
    let r = sync_once(&mut t, &site.url());
    assert_eq!(r.pushed, 5, "the queue goes out under the new token");
    assert_exactly_once(&site.server_dir, &t, "after a renewed session");
}

/// The server as it answers an expired token.
struct ExpiredToken(HttpTransport);

impl gridwalk_core::sync::Transport for ExpiredToken {
    fn login(&self, req: &LoginRequest) -> Result<LoginResponse, TransportError> {
        self.0.login(req)
    }
    fn push(&self, _: &str, _: &gridwalk_core::sync::PushBody) -> Result<PushResponse, TransportError> {
        Err(TransportError::Unauthorized { code: "token_expired".into(), message: "the device's token expired".into() })
    }
    fn pull(&self, _: &str, _: u64, _: u32, _: u64) -> Result<PullResponse, TransportError> {
        Err(TransportError::Unauthorized { code: "token_expired".into(), message: "the device's token expired".into() })
    }
    fn blob_status(&self, t: &str, s: &str) -> Result<gridwalk_proto::BlobStatus, TransportError> {
        self.0.blob_status(t, s)
    }
    fn blob_put(&self, t: &str, s: &str, o: u64, c: &[u8], l: bool) -> Result<gridwalk_proto::BlobStatus, TransportError> {
        self.0.blob_put(t, s, o, c, l)
    }
}

/// A link that carries events but drops at the first photo.
struct NoPhotoUploads(HttpTransport);

impl gridwalk_core::sync::Transport for NoPhotoUploads {
    fn login(&self, req: &LoginRequest) -> Result<LoginResponse, TransportError> {
        self.0.login(req)
    }
    fn push(&self, token: &str, body: &gridwalk_core::sync::PushBody) -> Result<PushResponse, TransportError> {
        self.0.push(token, body)
    }
    fn pull(&self, token: &str, after: u64, limit: u32, registry_version: u64) -> Result<PullResponse, TransportError> {
        self.0.pull(token, after, limit, registry_version)
    }
    fn blob_status(&self, _: &str, _: &str) -> Result<gridwalk_proto::BlobStatus, TransportError> {
        Err(TransportError::Refused { status: 499, code: "link_dropped".into(), message: "the test drops the link at photos".into() })
    }
    fn blob_put(&self, _: &str, _: &str, _: u64, _: &[u8], _: bool) -> Result<gridwalk_proto::BlobStatus, TransportError> {
        Err(TransportError::Refused { status: 499, code: "link_dropped".into(), message: "the test drops the link at photos".into() })
    }
}
