//! Glue for sync tests on top of the server kit (`crate::server`): enrolled tablets, one-shot
//! syncs, and a small blocking HTTP client for checking what the server holds.

use crate::server::{start_in_process_with, test_config, InProcessHandle, PASSWORD};
use crate::TEST_KEY;
use gridwalk_core::sync::{enrol, sync, HttpTransport, SyncOptions, SyncReport};
use gridwalk_core::{Clock, NewIssue, SystemClock, Tablet};
use gridwalk_domain::{Category, CourtyardId, IssueId, IssueSource, IssueState, Location, ResidentContact, Role};
use gridwalk_proto::{HotlineIntake, HotlineIntakeResponse, LoginRequest, LoginResponse, ScopeUnit};
use gridwalk_server::admin::{self, NewWorker};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A server data dir with the demo registry and the given workers (username, role, scope).
pub fn server_data(dir: &Path, workers: &[(&str, Role, Vec<ScopeUnit>)]) {
    crate::engine::bind(dir);
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

/// The server in this process on 127.0.0.1:0 with the kit's test limits, until dropped.
pub struct InProcessServer {
    pub addr: SocketAddr,
    _handle: InProcessHandle,
}

impl InProcessServer {
    pub fn start(data: &Path) -> InProcessServer {
        let (url, handle) = start_in_process_with(data, test_config());
        InProcessServer { addr: url.trim_start_matches("http://").parse().expect("host:port"), _handle: handle }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

/// The sync tests' and benchmarks' report: the `i`-th of a run in `yard` (categories in turn,
/// a resident's phone, a GPS fix), with `photos`. About 700 bytes of event JSON.
pub fn lamp_report(yard: CourtyardId, i: usize, photos: Vec<String>) -> NewIssue {
    NewIssue {
        courtyard: yard,
        category: Category::ALL[i % Category::ALL.len()],
        source: IssueSource::Visit,
        description: format!("3号楼东侧路灯不亮，居民夜间出行不便，请尽快维修。编号{i}"),
        contact: Some(ResidentContact { name: None, phone: "13812345678".into() }),
        location: Some(Location { lat: 39.98, lon: 116.41, accuracy_m: 10.0 }),
        photos,
    }
}

/// `n` [`lamp_report`]s without photos in `yard`, recorded without an fsync each (what is
/// measured or tested is the sync, not the recording).
pub fn record_reports(t: &mut Tablet, yard: CourtyardId, n: usize) {
    t.connection().execute_batch("PRAGMA synchronous=OFF").unwrap();
    for i in 0..n {
        t.report_issue(lamp_report(yard, i, vec![])).unwrap();
    }
    t.connection().execute_batch("PRAGMA synchronous=FULL").unwrap();
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
    /// The API as a tablet's own device: its token (what only that device may see, such as
    /// the photos its events name).
    pub fn of_tablet(url: &str, t: &gridwalk_core::Tablet) -> Api {
        let token = t.wait_ticket().expect("the tablet is enrolled").token;
        Api { url: url.to_owned(), token, client: reqwest::blocking::Client::new() }
    }

    pub fn login(url: &str, username: &str) -> Api {
        let client = reqwest::blocking::Client::new();
        let resp: LoginResponse = client
            .post(format!("{url}/api/v1/auth/login"))
            .json(&LoginRequest { username: username.into(), password: PASSWORD.into(), device_name: "checker".into(), device_id: None })
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
    let row = crate::engine::Peek::open(data)
        .ints("SELECT count(*), count(DISTINCT seq), COALESCE(max(seq), 0) FROM events WHERE device_id = ?1", &[device.to_string().into()]);
    (row[0].unwrap_or(0), row[1].unwrap_or(0), row[2].unwrap_or(0))
}
