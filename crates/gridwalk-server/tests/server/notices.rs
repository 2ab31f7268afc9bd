//! 告知: the resident hears of the response, of public progress and of the resolution, through
//! the webhook sender to a local gateway that fails the first tries; each message is delivered
//! once, and a message queued before a restart is delivered after it. The server runs for real
//! (`gridwalk_server::serve` on 127.0.0.1:0, with its background task); requests go through the
//! router.

use super::kit::{self, fast_config, Site};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::config::NoticeSenderConfig;
use gridwalk_server::Config;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PHONE: &str = "13912345678";
const MASKED: &str = "139****5678";

/// A stand-in SMS gateway: answers 503 to the first `fail_first` tries of each message (by
/// Idempotency-Key) and to everything while `down`; otherwise records the delivery.
#[derive(Default)]
struct Gateway {
    fail_first: u32,
    down: AtomicBool,
    tries: Mutex<HashMap<String, u32>>,
    delivered: Mutex<Vec<(String, Value)>>,
}

impl Gateway {
    fn delivered(&self) -> Vec<(String, Value)> {
        self.delivered.lock().unwrap().clone()
    }
    fn tries(&self) -> u32 {
        self.tries.lock().unwrap().values().sum()
    }
}

async fn receive(State(g): State<Arc<Gateway>>, headers: HeaderMap, Json(body): Json<Value>) -> StatusCode {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let n = {
        let mut tries = g.tries.lock().unwrap();
        let n = tries.entry(key.clone()).or_default();
        *n += 1;
        *n
    };
    if key.is_empty() || g.down.load(Ordering::SeqCst) || n <= g.fail_first {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    g.delivered.lock().unwrap().push((key, body));
    StatusCode::OK
}

/// Start a gateway; its URL.
async fn gateway(g: Arc<Gateway>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/sms", post(receive)).with_state(g);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/sms")
}

fn webhook_config(url: &str) -> Config {
    Config {
        notice_sender: NoticeSenderConfig::Webhook { url: url.into(), max_attempts: 50, retry_base: Duration::from_millis(20) },
        notice_period: Duration::from_millis(20),
        ..fast_config()
    }
}

/// A running server: its state, router, and how to stop it.
struct Running {
    app: Router,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    async fn start(site: &Site, config: Config) -> Running {
        let (state, app) = site.serve(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(gridwalk_server::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Running { app, stop: Some(stop), served: Some(served) }
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.served.take().unwrap().await.unwrap().unwrap();
    }
}

/// Wait (polling) until `done` holds, at most `within`.
async fn until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn call(app: &Router, method: Method, uri: &str, token: &str, body: Option<Vec<u8>>) -> (StatusCode, Vec<u8>) {
    let content_type = body.is_some().then_some("application/json");
    let r = kit::send(app, method, uri, Some(token), content_type, body.unwrap_or_default()).await;
    (r.status, r.bytes)
}

/// A 12345 order with the resident's contact, taken in by `desk`.
async fn take_order(app: &Router, desk: &LoginResponse, order_no: &str, yard: &Courtyard) -> IssueId {
    let order = HotlineIntake {
        order_no: order_no.into(),
        place: IntakePlace::Courtyard { courtyard_id: yard.id },
        category: "street_light".into(),
        description: "楼下路灯不亮".into(),
        received_at_ms: kit::now_ms(),
        contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: PHONE.into() }),
    };
    let (status, body) = call(app, Method::POST, "/api/v1/hotline/intake", &desk.token, Some(serde_json::to_vec(&order).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "the order is taken in: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<HotlineIntakeResponse>(&body).unwrap().issue_id
}

/// A tablet-like client: the worker's device and its next sequence number.
struct Tablet {
    who: LoginResponse,
    seq: u64,
}

impl Tablet {
    async fn push(&mut self, app: &Router, issue: IssueId, bodies: Vec<EventBody>) {
        let now = kit::now_ms();
        let events = bodies
            .into_iter()
            .map(|body| {
                self.seq += 1;
                LoggedEvent { seq: self.seq, event: kit::event(&self.who, now + self.seq as i64, self.seq, Entity::Issue(issue), body) }
            })
            .collect();
        let req = PushRequest { device_id: self.who.device_id, events };
        let (status, body) = call(app, Method::POST, "/api/v1/sync/push", &self.who.token, Some(serde_json::to_vec(&req).unwrap())).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let resp: PushResponse = serde_json::from_slice(&body).unwrap();
        assert!(resp.results.iter().all(|r| r.outcome == PushOutcome::Accepted), "every event is accepted: {:?}", resp.results);
    }
}

fn site() -> (Site, Courtyard) {
    let reg = registry_gen::demo_registry();
    let yard = reg.courtyards[0].clone();
    let sub_of = |c: &Courtyard| reg.communities.iter().find(|m| m.id == c.community).unwrap().subdistrict;
    let other = reg.subdistricts.iter().find(|s| s.id != sub_of(&yard)).unwrap().code.clone();
    let site = Site::demo(&[
        ("walker", Role::GridWorker, vec![ScopeUnit::Courtyard(yard.code.clone())]),
        ("boss", Role::Supervisor, vec![ScopeUnit::District]),
        ("elsewhere", Role::Supervisor, vec![ScopeUnit::Subdistrict(other)]),
    ]);
    // The walker is the courtyard's responsible worker: the orders are theirs to answer.
    gridwalk_server::app::admin::set_responsible(site.dir.path(), &yard.code, "walker").unwrap();
    (site, yard)
}

/// Every log line of this test binary, from when the first test here asked for it. A scoped
/// (thread-local) subscriber would miss callsites that another test's thread registered first
/// (tracing caches each callsite's interest), so this is the process's global subscriber; the
/// other tests do not read their logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured_logs() -> &'static Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber =
            tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).with_ansi(false).with_writer(move || writer.clone()).finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other test sets a global subscriber");
        logs
    })
}

#[tokio::test]
async fn the_resident_is_told_of_response_public_progress_and_resolution_once_each_through_a_flaky_gateway() {
    let logs = captured_logs();

    let g = Arc::new(Gateway { fail_first: 2, ..Gateway::default() });
    let url = gateway(g.clone()).await;
    let (site, yard) = site();
    let server = Running::start(&site, webhook_config(&url)).await;
    let boss = kit::login(&server.app, "boss").await;
    let mut tablet = Tablet { who: kit::login(&server.app, "walker").await, seq: 0 };

    let issue = take_order(&server.app, &boss, "BJ12345-7001", &yard).await;
    tablet
        .push(
            &server.app,
            issue,
            vec![
                EventBody::IssueResponded { note: "已电话联系居民".into() },
                EventBody::ProgressAdded { note: "内部：已报修".into(), public: false },
                EventBody::ProgressAdded { note: "维修人员明天上午到场".into(), public: true },
            ],
        )
        .await;
    tablet.push(&server.app, issue, vec![EventBody::IssueResolved { note: "路灯已更换".into(), photo_sha256: None }]).await;

    until(Duration::from_secs(20), "three messages are delivered", || g.delivered().len() >= 3).await;
    until(Duration::from_secs(5), "every message is marked sent", || site.count("SELECT count(*) FROM notices WHERE state = 'sent'") == 3)
        .await;
    // A few more rounds: nothing is sent again.
    tokio::time::sleep(Duration::from_millis(150)).await;

    let delivered = g.delivered();
    let mut keys: Vec<&str> = delivered.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!((delivered.len(), keys.len()), (3, 3), "each message is delivered exactly once: {delivered:?}");
    assert_eq!(g.tries(), 9, "each message took three tries: two 503s, then the delivery");
    for (key, body) in &delivered {
        assert_eq!(body["id"].as_str(), Some(key.as_str()), "the Idempotency-Key is the message's id");
        assert_eq!(body["phone"].as_str(), Some(PHONE), "the gateway gets the resident's phone");
    }
    let texts: Vec<&str> = delivered.iter().map(|(_, b)| b["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        vec![
            "【朝阳区接诉即办】您反映的路灯不亮问题（工单号BJ12345-7001，祥文家园1号院）已受理，正在办理。已电话联系居民",
            "【朝阳区接诉即办】工单BJ12345-7001（路灯不亮，祥文家园1号院）办理进展：维修人员明天上午到场",
            "【朝阳区接诉即办】您反映的路灯不亮问题（工单号BJ12345-7001，祥文家园1号院）已办结：路灯已更换。如不满意，请致电12345。",
        ],
        "in Chinese, in order; the private progress step is not told"
    );

    // Staff see the delivery state, never the phone.
    let uri = format!("/api/v1/issues/{issue}/notices");
    let (status, body) = call(&server.app, Method::GET, &uri, &boss.token, None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(!String::from_utf8_lossy(&body).contains(PHONE), "the API answer holds no phone");
    let list: NoticeList = serde_json::from_slice(&body).unwrap();
    let seen: Vec<(&str, &str, &str, u32)> =
        list.notices.iter().map(|n| (n.kind.as_str(), n.state.as_str(), n.phone_masked.as_str(), n.attempts)).collect();
    assert_eq!(seen, vec![("responded", "sent", MASKED, 3), ("progress", "sent", MASKED, 3), ("resolved", "sent", MASKED, 3)]);
    assert!(list.notices.iter().all(|n| n.sent_ms.is_some() && n.next_attempt_ms.is_none()));
    assert_eq!(
        list.notices.iter().map(|n| n.id.to_string()).collect::<Vec<_>>(),
        delivered.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
    );
    let (status, body) = call(&server.app, Method::GET, &uri, &tablet.who.token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only supervisors and admins read the messages: {}", String::from_utf8_lossy(&body));
    let elsewhere = kit::login(&server.app, "elsewhere").await;
    let (status, body) = call(&server.app, Method::GET, &uri, &elsewhere.token, None).await;
    let code = serde_json::from_slice::<ErrorBody>(&body).map(|e| e.code).unwrap_or_default();
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "out_of_scope"), "a supervisor reads only the messages of issues in scope");
    let (status, _) = call(&server.app, Method::GET, "/api/v1/issues/nope/notices", &boss.token, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a malformed issue id");
    let unknown = IssueId::from_parts(1, [9; 10]);
    let (status, _) = call(&server.app, Method::GET, &format!("/api/v1/issues/{unknown}/notices"), &boss.token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unknown issue");

    server.shutdown().await;
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let sent_lines: Vec<&str> = logs.lines().filter(|l| l.contains("notice sent") && l.contains(delivered[0].0.as_str())).collect();
    assert!(sent_lines.len() == 1 && sent_lines[0].contains(MASKED), "the delivery is logged once, with the masked phone: {sent_lines:?}");
    assert!(!logs.contains(PHONE), "no log line holds the phone");
}

#[tokio::test]
async fn a_message_queued_before_a_restart_is_delivered_once_after_it() {
    let g = Arc::new(Gateway::default());
    g.down.store(true, Ordering::SeqCst);
    let url = gateway(g.clone()).await;
    let (site, yard) = site();

    // The first server queues the message and tries it while the gateway is down, then stops.
    let first = Running::start(&site, webhook_config(&url)).await;
    let boss = kit::login(&first.app, "boss").await;
    let mut tablet = Tablet { who: kit::login(&first.app, "walker").await, seq: 0 };
    let issue = take_order(&first.app, &boss, "BJ12345-7002", &yard).await;
    tablet.push(&first.app, issue, vec![EventBody::IssueResponded { note: "已联系".into() }]).await;
    until(Duration::from_secs(10), "the first server tried to send", || g.tries() >= 1).await;
    first.shutdown().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let tried_before = g.tries();
    assert!(g.delivered().is_empty(), "nothing was delivered before the restart");
    assert_eq!(site.count("SELECT count(*) FROM notices WHERE state = 'queued'"), 1, "the message is still queued on disk");

    // The gateway is back; a new server on the same data directory delivers it, once.
    g.down.store(false, Ordering::SeqCst);
    let second = Running::start(&site, webhook_config(&url)).await;
    until(Duration::from_secs(10), "the message is delivered after the restart", || !g.delivered().is_empty()).await;
    until(Duration::from_secs(5), "it is marked sent", || site.count("SELECT count(*) FROM notices WHERE state = 'sent'") == 1).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let delivered = g.delivered();
    assert_eq!(delivered.len(), 1, "delivered exactly once: {delivered:?}");
    assert!(g.tries() > tried_before, "the new server sent it");
    assert_eq!(
        delivered[0].1["text"].as_str(),
        Some("【朝阳区接诉即办】您反映的路灯不亮问题（工单号BJ12345-7002，祥文家园1号院）已受理，正在办理。已联系")
    );
    assert_eq!(site.count("SELECT count(*) FROM notices"), 1, "the restart queued nothing new (views rebuilt or not)");
    second.shutdown().await;
}

#[tokio::test]
async fn a_refusing_gateway_fails_the_message_and_the_log_sender_sends_by_default() {
    // 4xx is final: one try, then `failed`.
    async fn refuse() -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, Router::new().route("/sms", post(refuse))).await.unwrap() });
    let (site, yard) = site();
    let (state, app) = site.serve(webhook_config(&url));
    let boss = kit::login(&app, "boss").await;
    let mut tablet = Tablet { who: kit::login(&app, "walker").await, seq: 0 };
    let issue = take_order(&app, &boss, "BJ12345-7003", &yard).await;
    tablet.push(&app, issue, vec![EventBody::IssueResponded { note: String::new() }]).await;
    let round = state.deliver_notices(state.notice_sender().as_ref()).await.unwrap();
    assert_eq!((round.sent, round.retried, round.failed), (0, 0, 1), "a 4xx is not retried");
    let list: NoticeList =
        serde_json::from_slice(&call(&app, Method::GET, &format!("/api/v1/issues/{issue}/notices"), &boss.token, None).await.1).unwrap();
    assert_eq!((list.notices[0].state.as_str(), list.notices[0].attempts), ("failed", 1));
    assert_eq!(list.notices[0].last_error.as_deref(), Some("gateway answered HTTP 422"));
    drop((state, app));

    // With the default configuration the log sender takes every message.
    let (site, yard) = self::site();
    let (state, app) = site.serve(fast_config());
    let boss = kit::login(&app, "boss").await;
    let issue = take_order(&app, &boss, "BJ12345-7004", &yard).await;
    let mut tablet = Tablet { who: kit::login(&app, "walker").await, seq: 0 };
    tablet.push(&app, issue, vec![EventBody::IssueResolved { note: "已处理".into(), photo_sha256: None }]).await;
    let round = state.deliver_notices(state.notice_sender().as_ref()).await.unwrap();
    assert_eq!((round.sent, round.failed), (1, 0), "resolved on the spot: one message, the resolution");
    assert_eq!(site.count("SELECT count(*) FROM notices WHERE state = 'sent' AND kind = 'resolved'"), 1);
}
