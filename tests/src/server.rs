//! Test kit for the district server: the real binary as a killable process, the library
//! in-process on 127.0.0.1:0, admin set-up straight through the library, and a small async
//! client speaking the wire types.

use gridwalk_domain::registry_gen::demo_registry;
use gridwalk_domain::{Courtyard, DeviceId, Role};
use gridwalk_proto::{LoginRequest, LoginResponse, PushRequest, PushResponse, ScopeUnit};
use gridwalk_server::admin::{self, NewWorker};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::proc::OwnedChild;
use std::process::{Command, Stdio};

pub const PASSWORD: &str = "correct-horse-battery";

/// The server binary next to the test executable (target/debug/deps/e2e-… → target/debug/).
pub fn server_binary() -> PathBuf {
    crate::workspace_bin("gridwalk-server")
}

/// The real `gridwalk-server serve` as a child process: SIGKILL-able mid-run with
/// [`ServerProcess::kill`], stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    proc: OwnedChild,
    pub base_url: String,
}

/// Start the server binary on a fresh port and wait for its `listening on` line.
pub fn spawn_server_process(data_dir: &Path) -> ServerProcess {
    spawn_server_process_on(data_dir, "127.0.0.1:0")
}

/// Start the server binary on `listen` (a known port restarts a killed server in place).
pub fn spawn_server_process_on(data_dir: &Path, listen: &str) -> ServerProcess {
    try_spawn_server_process_on(data_dir, listen)
        .unwrap_or_else(|line| panic!("the server's first line should be `listening on http://…`, got {line:?}"))
}

/// Start the server binary on `listen`; `Err` holds its first line when that is not
/// `listening on …` (e.g. the port is still taken), and the process is stopped.
pub fn try_spawn_server_process_on(data_dir: &Path, listen: &str) -> Result<ServerProcess, String> {
    try_spawn_server_process_with(data_dir, listen, None)
}

/// Start the server binary on a fresh port with a district config file (`serve --config`).
pub fn spawn_server_process_with_config(data_dir: &Path, config: &Path) -> ServerProcess {
    try_spawn_server_process_with(data_dir, "127.0.0.1:0", Some(config))
        .unwrap_or_else(|line| panic!("the server's first line should be `listening on http://…`, got {line:?}"))
}

fn try_spawn_server_process_with(data_dir: &Path, listen: &str, config: Option<&Path>) -> Result<ServerProcess, String> {
    let mut cmd = Command::new(server_binary());
    cmd.args(["serve", "--data", data_dir.to_str().expect("utf-8 path"), "--listen", listen]);
    if let Some(config) = config {
        cmd.args(["--config", config.to_str().expect("utf-8 path")]);
    }
    cmd.env("RUST_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::null());
    let mut proc = OwnedChild::spawn(&mut cmd).expect("start gridwalk-server");
    let mut line = String::new();
    BufReader::new(proc.take_stdout().expect("stdout")).read_line(&mut line).expect("read the listening line");
    match line.trim().strip_prefix("listening on ") {
        Some(url) => Ok(ServerProcess { base_url: url.to_owned(), proc }),
        None => Err(line),
    }
}

/// What an admin command of the server binary did: whether it succeeded, its stdout, its stderr.
#[derive(Debug)]
pub struct CliRun {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run `gridwalk-server ARGS…` (an admin command: `backup`, `restore`, …) to its end.
pub fn run_server_cli(args: &[&str]) -> CliRun {
    let err = tempfile::NamedTempFile::new().expect("stderr file");
    let mut cmd = Command::new(server_binary());
    cmd.args(args).env("RUST_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::from(err.reopen().expect("stderr file")));
    let mut proc = OwnedChild::spawn(&mut cmd).expect("start gridwalk-server");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut proc.take_stdout().expect("stdout"), &mut stdout).expect("read stdout");
    let status = proc.wait().expect("the command ends");
    CliRun { ok: status.success(), stdout, stderr: std::fs::read_to_string(err.path()).unwrap_or_default() }
}

impl ServerProcess {
    /// kill -9: no shutdown hook runs, in-flight requests die mid-transaction. Start a new one
    /// (e.g. [`spawn_server_process_on`] its [`addr`](Self::addr)) to restart.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// The server's process id, e.g. to read its memory from /proc/<pid>/status.
    pub fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// The bound address, e.g. to restart on the same port or to put a proxy in front.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.base_url.trim_start_matches("http://").parse().expect("host:port")
    }
}

/// A server running in this process on its own runtime thread; dropping it shuts it down.
pub struct InProcessHandle {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for InProcessHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start the server library in-process on 127.0.0.1:0 with `config`.
pub fn start_in_process_with(data_dir: &Path, config: gridwalk_server::Config) -> (String, InProcessHandle) {
    let state = gridwalk_server::AppState::open(data_dir, config).expect("open server state");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addr_tx.send(listener.local_addr().expect("addr")).expect("report addr");
            let _ = gridwalk_server::serve(listener, state, async move {
                let _ = rx.await;
            })
            .await;
        });
    });
    let addr = addr_rx.recv().expect("server thread started");
    (format!("http://{addr}"), InProcessHandle { shutdown: Some(tx), thread: Some(thread) })
}

/// Limits that do not get in a test's way.
pub fn test_config() -> gridwalk_server::Config {
    gridwalk_server::Config { rate_per_sec: 100_000.0, rate_burst: 100_000.0, login_burst: 100_000, ..Default::default() }
}

pub fn start_in_process(data_dir: &Path) -> (String, InProcessHandle) {
    start_in_process_with(data_dir, test_config())
}

/// Load the demo registry into a data dir.
pub fn load_demo(data_dir: &Path) {
    crate::engine::bind(data_dir);
    admin::load_demo_registry(data_dir).expect("demo registry");
}

/// Add a worker with the kit's password.
pub fn add_worker(data_dir: &Path, username: &str, role: Role, scope: Vec<ScopeUnit>) {
    admin::add_worker(data_dir, &NewWorker { username: username.into(), name: username.into(), role, scope, password: PASSWORD.into() })
        .expect("add worker");
}

/// Device tokens without a password login (cheap: no argon2).
pub fn device_tokens(data_dir: &Path, username: &str, n: usize) -> Vec<(DeviceId, String)> {
    let names: Vec<String> = (0..n).map(|i| format!("{username}-tablet-{i}")).collect();
    admin::issue_device_tokens(data_dir, username, &names).expect("issue device tokens")
}

/// Two courtyards of the demo registry in different subdistricts, with their subdistrict codes.
pub fn two_places() -> ((Courtyard, String), (Courtyard, String)) {
    let reg = demo_registry();
    let sub = |c: &Courtyard| reg.communities.iter().find(|m| m.id == c.community).expect("community").subdistrict;
    let code = |c: &Courtyard| reg.subdistricts.iter().find(|s| s.id == sub(c)).expect("subdistrict").code.clone();
    let a = reg.courtyards[0].clone();
    let b = reg.courtyards.iter().find(|c| sub(c) != sub(&a)).expect("another subdistrict").clone();
    let (ca, cb) = (code(&a), code(&b));
    ((a, ca), (b, cb))
}

/// Log in over HTTP.
pub async fn login(http: &reqwest::Client, base_url: &str, username: &str) -> LoginResponse {
    let req =
        LoginRequest { username: username.into(), password: PASSWORD.into(), device_name: format!("{username}-tablet"), device_id: None };
    let resp = http.post(format!("{base_url}/api/v1/auth/login")).json(&req).send().await.expect("login request");
    assert!(resp.status().is_success(), "login of {username} should succeed: {}", resp.status());
    resp.json().await.expect("login response")
}

/// Push and decode; `Err` carries the HTTP status (or 0 when the connection failed).
pub async fn push(http: &reqwest::Client, base_url: &str, token: &str, req: &PushRequest) -> Result<PushResponse, u16> {
    let resp = http.post(format!("{base_url}/api/v1/sync/push")).bearer_auth(token).json(req).send().await.map_err(|_| 0u16)?;
    if !resp.status().is_success() {
        return Err(resp.status().as_u16());
    }
    resp.json().await.map_err(|_| 0u16)
}

/// When the kit's stamped events happen: an hour before this process started, on the real
/// clock, so a server on the real clock takes them (it refuses times far from its own).
pub fn recent_ms() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("the clock is past 1970");
        now.as_millis() as i64 - 3_600_000
    })
}

/// An `IssueReported` event as `device`'s `seq`-th, with ids that differ per (device, seq), so
/// load and crash tests can make many distinct events cheaply.
pub fn report_event(
    worker: gridwalk_domain::WorkerId,
    device: DeviceId,
    seq: u64,
    report: gridwalk_domain::IssueReport,
) -> gridwalk_domain::Event {
    use gridwalk_domain::{Entity, EventBody, IssueId};
    let ms = recent_ms() + seq as i64;
    let mut bits = [0u8; 10];
    bits[..6].copy_from_slice(&device.0.as_bytes()[10..16]);
    bits[6..].copy_from_slice(&(seq as u32).to_be_bytes());
    stamped(worker, device, ms, bits, Entity::Issue(IssueId::from_parts(ms as u64, bits)), EventBody::IssueReported(report))
}

/// An event by `worker` on `device` at `ms` (HLC and wall clock alike), its id from `ms` and
/// `bits`: the one place the kit stamps events for load and benchmark runs.
pub fn stamped(
    worker: gridwalk_domain::WorkerId,
    device: DeviceId,
    ms: i64,
    bits: [u8; 10],
    entity: gridwalk_domain::Entity,
    body: gridwalk_domain::EventBody,
) -> gridwalk_domain::Event {
    use gridwalk_domain::{Event, EventId, Hlc};
    Event {
        id: EventId::from_parts(ms as u64, bits),
        author: worker,
        device,
        hlc: Hlc::new(ms, 0),
        wall_ms: ms,
        clock_offset_ms: 0,
        entity,
        body,
    }
}
