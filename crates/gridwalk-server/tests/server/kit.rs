//! The shared kit of the server tests: a data directory with the demo registry and named
//! workers, the server state on it (on the system clock or a manual one), the real router
//! driven with `oneshot`, and a look into the real SQLite file.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use gridwalk_clock::{Clock, ManualClock, SystemClock};
use gridwalk_domain::{Entity, Event, EventBody, EventId, Hlc, Role};
use gridwalk_proto::{LoginRequest, LoginResponse, ScopeUnit};
use gridwalk_server::app::admin::{self, NewWorker};
use gridwalk_server::store::sqlite::DB_FILE;
use gridwalk_server::{app, AppState, Config};
use std::sync::Arc;
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

/// Limits that do not get in a test's way.
pub fn fast_config() -> Config {
    Config { rate_per_sec: 1000.0, rate_burst: 1000.0, login_burst: 1000, ..Config::default() }
}

/// The system clock's now, for tests that file things "now".
pub fn now_ms() -> i64 {
    SystemClock::default().now_ms()
}

/// When the fixtures' events are recorded: an hour before the test binary's first call, on
/// the real clock the server runs on (it refuses times far from its own).
pub fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| now_ms() - 3_600_000)
}

/// A data directory with the demo registry and the given workers (all with [`PASSWORD`]).
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn demo(workers: &[(&str, Role, Vec<ScopeUnit>)]) -> Site {
        let dir = tempfile::tempdir().unwrap();
        admin::load_demo_registry(dir.path()).unwrap();
        let store = admin::open(dir.path()).unwrap();
        for (username, role, scope) in workers {
            let w = NewWorker {
                username: (*username).into(),
                name: (*username).into(),
                role: *role,
                scope: scope.clone(),
                password: PASSWORD.into(),
            };
            admin::add_worker_to(&store, &w).unwrap();
        }
        Site { dir }
    }

    /// The server state on the system clock, and its router.
    pub fn serve(&self, config: Config) -> (AppState, Router) {
        let state = AppState::open(self.dir.path(), config).unwrap();
        (state.clone(), app(state))
    }

    /// The server state on a clock that moves only when told, and its router.
    pub fn serve_at(&self, config: Config, clock: Arc<ManualClock>) -> (AppState, Router) {
        let state = AppState::open_with_clock(self.dir.path(), config, clock).unwrap();
        (state.clone(), app(state))
    }

    /// A connection to the real database file, to check what was (not) stored.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join(DB_FILE)).unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// An answer as it came off the router.
pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

pub async fn send(app: &Router, method: Method, uri: &str, token: Option<&str>, content_type: Option<&str>, body: Vec<u8>) -> Raw {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
    Raw { status, headers, bytes }
}

/// Log in with the kit's password; the login must succeed.
pub async fn login(app: &Router, username: &str) -> LoginResponse {
    let req = LoginRequest { username: username.into(), password: PASSWORD.into(), device_name: "tablet".into(), device_id: None };
    let r = send(app, Method::POST, "/api/v1/auth/login", None, Some("application/json"), serde_json::to_vec(&req).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{username} logs in with the right password: {}", String::from_utf8_lossy(&r.bytes));
    serde_json::from_slice(&r.bytes).unwrap()
}

/// An event by `who`'s device at `at_ms` (HLC and wall clock alike); `n` makes its id unique
/// per device. The id's last byte is a marker the server's own ids never carry (on a manual
/// clock they end in zeros), so a test event never collides with a server event of the same
/// millisecond; the byte before it tells devices apart (a manual clock's device ids differ
/// there).
pub fn event(who: &LoginResponse, at_ms: i64, n: u64, entity: Entity, body: EventBody) -> Event {
    let mut rnd = [0u8; 10];
    rnd[..8].copy_from_slice(&n.to_be_bytes());
    let d = who.device_id.0.as_bytes();
    rnd[8] = d[13] ^ d[15];
    rnd[9] = 0xA5;
    Event {
        id: EventId::from_parts(at_ms as u64, rnd),
        author: who.worker.id,
        device: who.device_id,
        hlc: Hlc::new(at_ms, 0),
        wall_ms: at_ms,
        clock_offset_ms: 0,
        entity,
        body,
    }
}
