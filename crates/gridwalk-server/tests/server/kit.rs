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

/// The engine the suite runs on: `GRIDWALK_TEST_ENGINE=postgres` puts every site on a fresh
/// PostgreSQL database of the cluster `GRIDWALK_TEST_POSTGRES` names (`cargo xtask test` runs
/// the suite once per engine); otherwise the embedded SQLite file.
pub fn on_postgres() -> bool {
    match std::env::var("GRIDWALK_TEST_ENGINE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("GRIDWALK_TEST_ENGINE={other:?}: use sqlite or postgres"),
    }
}

/// The cluster PostgreSQL tests run on: its maintenance database's URL. Missing is a failure,
/// never a skip: `cargo xtask test` starts a private cluster and sets it.
pub fn postgres_admin_url() -> String {
    std::env::var("GRIDWALK_TEST_POSTGRES")
        .expect("GRIDWALK_TEST_POSTGRES names the PostgreSQL cluster for the tests (cargo xtask test starts one)")
}

/// Run blocking PostgreSQL client work on a thread of its own: the blocking client runs a
/// runtime of its own, which must not start inside a test's.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
}

/// A database of its own on the test cluster, dropped with it (connections and all).
pub struct ScratchDb {
    pub url: String,
    name: String,
}

impl ScratchDb {
    pub fn new() -> ScratchDb {
        off_runtime(ScratchDb::create)
    }

    fn create() -> ScratchDb {
        let admin = postgres_admin_url();
        let name = format!("gw_{}", uuid::Uuid::now_v7().simple());
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("the test cluster accepts connections");
        c.batch_execute(&format!("CREATE DATABASE {name}")).expect("a scratch database is created");
        let config: postgres::Config = admin.parse().expect("GRIDWALK_TEST_POSTGRES is a connection URL");
        let mut url = config.clone();
        url.dbname(&name);
        ScratchDb { url: connection_url(&url), name }
    }

    /// Work on a connection to the scratch database (on a thread of its own).
    pub fn with<T: Send>(&self, f: impl FnOnce(&mut postgres::Client) -> T + Send) -> T {
        off_runtime(|| f(&mut postgres::Client::connect(&self.url, postgres::NoTls).expect("the scratch database accepts connections")))
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        off_runtime(move || {
            if let Ok(mut c) = postgres::Client::connect(&postgres_admin_url(), postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
    }
}

/// A config as a `postgres://` URL (host, port, user, password, database).
fn connection_url(c: &postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = c.get_user().unwrap_or("postgres");
    let auth = match c.get_password() {
        Some(p) => format!("{user}:{}", String::from_utf8_lossy(p)),
        None => user.to_owned(),
    };
    format!("postgres://{auth}@{host}:{port}/{}", c.get_dbname().unwrap_or("postgres"))
}

/// A data directory with the demo registry and the given workers (all with [`PASSWORD`]), on
/// the suite's engine.
pub struct Site {
    pub dir: tempfile::TempDir,
    /// The site's PostgreSQL database, when the suite runs on PostgreSQL.
    pub pg: Option<ScratchDb>,
}

impl Site {
    /// An empty data directory on the suite's engine (nothing loaded yet).
    pub fn empty() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let pg = on_postgres().then(ScratchDb::new);
        if let Some(db) = &pg {
            admin::use_database(dir.path(), &db.url).expect("a fresh data directory binds to the scratch database");
        }
        Site { dir, pg }
    }

    pub fn demo(workers: &[(&str, Role, Vec<ScopeUnit>)]) -> Site {
        let site = Site::empty();
        let dir = &site.dir;
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
        site
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
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

    /// A connection to the real SQLite file, for what only SQLite has (its locks, its pragmas).
    pub fn sqlite(&self) -> rusqlite::Connection {
        assert!(!self.is_postgres(), "this check is of the SQLite file");
        rusqlite::Connection::open(self.dir.path().join(DB_FILE)).unwrap()
    }

    /// One integer the real database holds (a count, a column), to check what was (not) stored.
    pub fn count(&self, sql: &str) -> i64 {
        match &self.pg {
            Some(db) => db.with(|c| {
                let row = c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
                // A BIGINT column, or an int4 expression (PostgreSQL types what SQLite does not).
                row.try_get::<_, i64>(0).or_else(|_| row.try_get::<_, i32>(0).map(i64::from)).unwrap_or_else(|e| panic!("{sql}: {e}"))
            }),
            None => self.sqlite().query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// The text column of every row `sql` returns with `params` (`?1`… in either engine).
    pub fn texts(&self, sql: &str, params: &[&str]) -> Vec<Option<String>> {
        match &self.pg {
            Some(db) => db.with(|c| {
                let args: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p as _).collect();
                c.query(&pg_dialect(sql), &args).unwrap_or_else(|e| panic!("{sql}: {e}")).iter().map(|r| r.get(0)).collect()
            }),
            None => {
                let db = self.sqlite();
                let mut stmt = db.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                stmt.query_map(rusqlite::params_from_iter(params), |r| r.get(0)).unwrap().map(Result::unwrap).collect()
            }
        }
    }

    /// The one text value `sql` returns.
    pub fn text(&self, sql: &str, params: &[&str]) -> String {
        let rows = self.texts(sql, params);
        assert_eq!(rows.len(), 1, "{sql} returns one row");
        rows.into_iter().next().flatten().unwrap_or_else(|| panic!("{sql} returns a text"))
    }

    /// Run a statement on the real database (to plant what a test needs: an old shape, garbage).
    pub fn exec(&self, sql: &str, params: &[&str]) {
        match &self.pg {
            Some(db) => {
                db.with(|c| {
                    let args: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p as _).collect();
                    c.execute(&pg_dialect(sql), &args).unwrap_or_else(|e| panic!("{sql}: {e}"));
                });
            }
            None => {
                self.sqlite().execute(sql, rusqlite::params_from_iter(params)).unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }
}

/// `?1`-style parameters as PostgreSQL's `$1`.
fn pg_dialect(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
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
