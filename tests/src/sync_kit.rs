//! Glue for sync tests: a real server (in-process on 127.0.0.1:0, or as a process that can be
//! killed), enrolled tablets, and a small HTTP client for checking what the server holds.

use crate::TEST_KEY;
use gridwalk_core::sync::{enrol, sync, HttpTransport, SyncOptions, SyncReport};
use gridwalk_core::{Clock, SystemClock, Tablet};
use gridwalk_domain::{IssueId, IssueState, Role};
use gridwalk_proto::{HotlineIntake, HotlineIntakeResponse, LoginRequest, LoginResponse, ScopeUnit};
use gridwalk_server::admin::{self, NewWorker};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub const PASSWORD: &str = "correct-horse-battery";

/// A server data dir with the demo registry and the given workers (username, role, scope).
pub fn server_data(dir: &Path, workers: &[(&str, Role, Vec<ScopeUnit>)]) {
    admin::load_demo_registry(dir).expect("demo registry");
    for (username, role, scope) in workers {
        admin::add_worker(
            dir,
            &NewWorker {
                username: username.to_string(),
                name: username.to_string(),
                role: *role,
                scope: scope.clone(),
                password: PASSWORD.into(),
            },
        )
        .expect("add worker");
    }
}

/// Generous limits: sync tests retry hard through faults.
pub fn test_config() -> gridwalk_server::Config {
    gridwalk_server::Config { rate_per_sec: 100_000.0, rate_burst: 100_000.0, ..Default::default() }
}

/// The server in this process, on its own runtime, until dropped.
pub struct InProcessServer {
    pub addr: SocketAddr,
    pub data: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl InProcessServer {
    pub fn start(data: &Path) -> InProcessServer {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let state = gridwalk_server::AppState::open(data, test_config()).expect("open server state");
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(async move {
            let _ = gridwalk_server::serve(listener, state, async move {
                let _ = rx.await;
            })
            .await;
        });
        InProcessServer { addr, data: data.to_path_buf(), shutdown: Some(tx), rt: Some(rt) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().unwrap()
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

/// The real `gridwalk-server` binary as a child process, so a test can SIGKILL it.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Start on `listen` (use port 0 for a fresh port, or a known port to restart in place).
    pub fn start(data: &Path, listen: &str) -> ServerProcess {
        let bin = crate::workspace_bin("gridwalk-server");
        let mut child = Command::new(bin)
            .args(["serve", "--data", data.to_str().unwrap(), "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gridwalk-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr =
            line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("unexpected first line {line:?}")).parse().unwrap();
        ServerProcess { child, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new tablet store enrolled as `username` against `url`.
pub fn enrolled_tablet(path: &Path, url: &str, username: &str, clock: Arc<dyn Clock>) -> Tablet {
    let mut t = Tablet::open(path, &TEST_KEY, clock).expect("open tablet");
    enrol(&mut t, &HttpTransport::new(url).unwrap(), url, username, PASSWORD, &format!("{username}-tablet")).expect("enrol");
    t
}

pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock::default())
}

pub fn fast_retries() -> SyncOptions {
    SyncOptions { backoff_base_ms: 10, backoff_cap_ms: 300, max_attempts: 30, ..Default::default() }
}

pub fn sync_once(t: &mut Tablet, url: &str) -> SyncReport {
    let transport = HttpTransport::new(url).unwrap();
    sync(t, &transport, &fast_retries(), &AtomicBool::new(false), &mut |_| {}).expect("sync succeeds")
}

/// A logged-in HTTP client for checking the server's side.
pub struct Api {
    pub url: String,
    pub token: String,
    client: reqwest::blocking::Client,
}

impl Api {
    pub fn login(url: &str, username: &str) -> Api {
        let client = reqwest::blocking::Client::new();
        let resp: LoginResponse = client
            .post(format!("{url}/api/v1/auth/login"))
            .json(&LoginRequest { username: username.into(), password: PASSWORD.into(), device_name: "checker".into() })
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .unwrap();
        Api { url: url.to_owned(), token: resp.token, client }
    }

    pub fn issue(&self, id: IssueId) -> IssueState {
        self.client
            .get(format!("{}/api/v1/issues/{id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .unwrap()
    }

    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.client.get(format!("{}{path}", self.url)).bearer_auth(&self.token).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(serde_json::Value::Null))
    }

    pub fn hotline(&self, order: &HotlineIntake) -> HotlineIntakeResponse {
        self.client
            .post(format!("{}/api/v1/hotline/intake", self.url))
            .bearer_auth(&self.token)
            .json(order)
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .unwrap()
    }
}

/// What the server's database holds for one device: (rows, distinct seqs, max seq).
pub fn server_events_of(data: &Path, device: gridwalk_domain::DeviceId) -> (i64, i64, i64) {
    let conn = rusqlite::Connection::open(data.join(gridwalk_server::db::DB_FILE)).unwrap();
    conn.query_row(
        "SELECT count(*), count(DISTINCT seq), COALESCE(max(seq), 0) FROM events WHERE device_id = ?1",
        [device.to_string()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}
