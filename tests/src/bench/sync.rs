//! End-to-end sync over loopback with durable acks, against a bare baseline in the same run:
//! the same bytes POSTed raw to a server that only reads them, plus a raw SQLite insert of the
//! same rows (one transaction per batch, synchronous=FULL).

use super::{median, BenchResult};
use crate::sync_kit::*;
use gridwalk_core::sync::{sync, HttpTransport, SyncOptions};
use gridwalk_core::{CourtyardQuery, Tablet};
use gridwalk_domain::*;
use gridwalk_proto::{PushRequest, ScopeUnit};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// A server that reads request bodies and answers `{}`: the network floor.
pub(super) fn bare_server(rt: &tokio::runtime::Runtime) -> std::net::SocketAddr {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route("/raw", post(|body: axum::body::Bytes| async move { format!("{{\"len\":{}}}", body.len()) }))
        .route("/raw", get(|| async { "{}" }));
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The bare cost of moving `bodies` and storing their rows: raw POSTs + raw SQLite inserts.
fn baseline_secs(raw_url: &str, bodies: &[Vec<u8>], rows: &[Vec<String>], db: &Path) -> f64 {
    let client = reqwest::blocking::Client::new();
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS r (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    )
    .unwrap();
    let start = Instant::now();
    if bodies.is_empty() {
        client.get(raw_url).send().unwrap().bytes().unwrap();
    }
    for (body, batch) in bodies.iter().zip(rows) {
        client.post(raw_url).header("content-type", "application/json").body(body.clone()).send().unwrap().bytes().unwrap();
        let tx = conn.unchecked_transaction().unwrap();
        for row in batch {
            tx.execute("INSERT INTO r (body) VALUES (?1)", [row]).unwrap();
        }
        tx.commit().unwrap();
    }
    start.elapsed().as_secs_f64()
}

/// The outbox as the engine would send it, in batches of `batch`.
pub(super) fn outbox_bodies(t: &Tablet, batch: usize) -> (Vec<Vec<u8>>, Vec<Vec<String>>) {
    let all = t.outbox(u32::MAX).unwrap();
    let device = t.identity().unwrap().device;
    let mut bodies = Vec::new();
    let mut rows = Vec::new();
    for chunk in all.chunks(batch) {
        bodies.push(serde_json::to_vec(&PushRequest { device_id: device, events: chunk.to_vec() }).unwrap());
        rows.push(chunk.iter().map(|e| serde_json::to_string(&e.event).unwrap()).collect());
    }
    (bodies, rows)
}

/// Times the transport's calls, to split a sync's time between the wire+server and the tablet.
struct Timed<'a>(&'a HttpTransport, std::cell::Cell<f64>);
impl gridwalk_core::sync::Transport for Timed<'_> {
    fn login(&self, r: &gridwalk_proto::LoginRequest) -> Result<gridwalk_proto::LoginResponse, gridwalk_core::sync::TransportError> {
        self.0.login(r)
    }
    fn push(
        &self,
        token: &str,
        r: &gridwalk_core::sync::PushBody,
    ) -> Result<gridwalk_proto::PushResponse, gridwalk_core::sync::TransportError> {
        let s = Instant::now();
        let out = self.0.push(token, r);
        self.1.set(self.1.get() + s.elapsed().as_secs_f64());
        out
    }
    fn pull(&self, token: &str, a: u64, l: u32, v: u64) -> Result<gridwalk_proto::PullResponse, gridwalk_core::sync::TransportError> {
        let s = Instant::now();
        let out = self.0.pull(token, a, l, v);
        self.1.set(self.1.get() + s.elapsed().as_secs_f64());
        out
    }
    // The app's pulls carry the device's report (设备自报), which the server keeps when it
    // changed: the benchmark's do too.
    fn pull_reporting(
        &self,
        token: &str,
        a: u64,
        l: u32,
        v: u64,
        report: &gridwalk_proto::console::DeviceReport,
    ) -> Result<gridwalk_proto::PullResponse, gridwalk_core::sync::TransportError> {
        let s = Instant::now();
        let out = self.0.pull_reporting(token, a, l, v, report);
        self.1.set(self.1.get() + s.elapsed().as_secs_f64());
        out
    }
    fn blob_status(&self, token: &str, sha: &str) -> Result<gridwalk_proto::BlobStatus, gridwalk_core::sync::TransportError> {
        self.0.blob_status(token, sha)
    }
    fn compresses_pushes(&self) -> Option<bool> {
        gridwalk_core::sync::Transport::compresses_pushes(self.0)
    }
    fn assume_compression(&self, yes: bool) {
        self.0.assume_compression(yes)
    }
    fn blob_put(
        &self,
        token: &str,
        sha: &str,
        o: u64,
        c: &[u8],
        l: bool,
    ) -> Result<gridwalk_proto::BlobStatus, gridwalk_core::sync::TransportError> {
        self.0.blob_put(token, sha, o, c, l)
    }
}

pub fn run(dir: &Path) -> Vec<BenchResult> {
    let server_dir = dir.join("server");
    server_data(&server_dir, &[("wang", Role::GridWorker, vec![ScopeUnit::Community("CY10-C01".into())])]);
    let server = InProcessServer::start(&server_dir);
    let bare_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let raw_url = format!("http://{}/raw", bare_server(&bare_rt));
    let mut t = enrolled_tablet(&dir.join("t.db"), &server.url(), "wang", system_clock());
    sync_once(&mut t, &server.url());
    let yard = t.search_courtyards(&CourtyardQuery { limit: 1, ..Default::default() }).unwrap()[0].id;
    let transport = HttpTransport::new(&server.url()).unwrap();
    let opts = SyncOptions::default();
    let mut out = Vec::new();
    // The small syncs take a few milliseconds, where one fsync more or less on a shared disk
    // moves a single run twofold: they are the median of several runs, each side its own.
    for (name, n, runs) in [("sync.full_10000", 10_000usize, 1), ("sync.incremental_100", 100, 7), ("sync.nothing_new", 0, 9)] {
        let (mut ours, mut bare, mut wire_share) = (Vec::new(), Vec::new(), Vec::new());
        let mut bytes = 0;
        for run in 0..runs {
            record_reports(&mut t, yard, n);
            let (bodies, rows) = outbox_bodies(&t, 1000);
            bytes = bodies.iter().map(Vec::len).sum();
            let timed = Timed(&transport, std::cell::Cell::new(0.0));
            let start = Instant::now();
            let report = sync(&mut t, &timed, &opts, &AtomicBool::new(false), &mut |_| {}).unwrap();
            let took = start.elapsed().as_secs_f64();
            assert_eq!(report.pushed as usize, n, "the benchmark sync pushed everything");
            ours.push(took);
            wire_share.push(timed.1.get() / took);
            bare.push(baseline_secs(&raw_url, &bodies, &rows, &dir.join(format!("{name}.{run}.raw.db"))));
        }
        let (ours, bare, wire) = (median(&mut ours), median(&mut bare), median(&mut wire_share));
        out.push(BenchResult {
            name: name.into(),
            value: ours * 1000.0,
            unit: "ms".into(),
            baseline: bare * 1000.0,
            ratio: bare / ours,
            goal: if n == 10_000 { ">= 0.5".into() } else { ">= 0.3".into() },
            note: format!(
                "{n} reports, {bytes} bytes{}; {:.0}% of our time in HTTP+server; ratio = bare time / ours (raw POST of the same bytes + raw SQLite insert)",
                if runs > 1 { format!(", median of {runs} runs") } else { String::new() },
                100.0 * wire
            ),
        });
    }
    out
}
