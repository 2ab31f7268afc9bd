//! Server ingest under 4,000 concurrent devices over loopback, against a raw baseline on the
//! same engine measured in the same run: the same rows (same JSON sizes), one transaction per
//! batch. On SQLite: WAL and synchronous=FULL in a plain file, the server in this process. On
//! PostgreSQL (a private cluster the bench starts): one server process, then two on the same
//! database with the devices split between them, as behind a load balancer.

use super::BenchResult;
use crate::server::{add_worker, device_tokens, load_demo, start_in_process_with, two_places};
use gridwalk_domain::*;
use gridwalk_proto::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const DEVICES: usize = 4000;
pub const BATCH: u64 = 10;
/// How long devices push as fast as the server answers (throughput).
const SATURATED: Duration = Duration::from_secs(6);
/// How long devices push at a tablet's pace, one batch every `PACE` (latency): long enough
/// for every device to push at least once.
const PACED: Duration = Duration::from_secs(20);
/// A tablet's pace: the app pushes two seconds after a record and syncs at most every 15 s
/// (`gridwalk_core::sync::auto::PERIOD_RANGE_S`). Ten events every 15 s from every tablet at
/// once is already far past a day's field work (a few dozen records per worker); an 8 s pace
/// (5,000 events/s offered) measured the saturated queue, not a tablet's wait.
const PACE: Duration = Duration::from_secs(15);

fn event(worker: WorkerId, device: DeviceId, seq: u64, yard: CourtyardId) -> Event {
    let report = IssueReport {
        courtyard: yard,
        category: Category::StreetLight,
        source: IssueSource::Visit,
        description: format!("3号楼东侧路灯不亮，居民夜间出行不便，请尽快维修。编号{seq}"),
        contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
        location: Some(Location { lat: 39.98, lon: 116.41, accuracy_m: 10.0 }),
        received_at_ms: None,
        external_ref: None,
    };
    crate::server::report_event(worker, device, seq, report)
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The simulated devices and what they share.
#[derive(Clone)]
struct Fleet {
    http: reqwest::Client,
    /// The servers; device `i` pushes to `bases[i % len]`.
    bases: Arc<Vec<String>>,
    devices: Arc<Vec<(DeviceId, String)>>,
    next_seq: Arc<Vec<std::sync::atomic::AtomicU64>>,
    worker: WorkerId,
    yard: CourtyardId,
}

struct Load {
    events: u64,
    latencies_ms: Vec<f64>,
    elapsed: Duration,
    /// Pushes that got no push response, by what they got instead (an HTTP status, or the
    /// transport error): a run that stores little says why.
    failed: std::collections::BTreeMap<String, u64>,
}

impl Load {
    /// The failures, for a note: "" when every push was answered.
    fn failures(&self) -> String {
        if self.failed.is_empty() {
            return String::new();
        }
        let each: Vec<String> = self.failed.iter().map(|(k, n)| format!("{n} × {k}")).collect();
        format!("; pushes not answered: {}", each.join(", "))
    }
}

/// Every device pushes batches until `duration` is over, waiting `pace` between pushes
/// (zero: as fast as the server answers). Devices continue their own sequence across runs.
async fn drive(fleet: Fleet, duration: Duration, pace: Duration) -> Load {
    let Fleet { http, bases, devices, next_seq, worker, yard } = fleet;
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(devices.len());
    for i in 0..devices.len() {
        let (http, base, devices, next_seq) = (http.clone(), bases[i % bases.len()].clone(), devices.clone(), next_seq.clone());
        tasks.push(tokio::spawn(async move {
            let (device, token) = &devices[i];
            let mut lat = Vec::new();
            let mut stored = 0u64;
            let mut failed = std::collections::BTreeMap::<String, u64>::new();
            // Spread the first pushes over the pace so paced devices do not all fire at once.
            if !pace.is_zero() {
                tokio::time::sleep(pace.mul_f64(i as f64 / devices.len() as f64)).await;
            }
            while Instant::now() < deadline {
                let from = next_seq[i].load(std::sync::atomic::Ordering::Relaxed);
                let events = (from..from + BATCH).map(|seq| LoggedEvent { seq, event: event(worker, *device, seq, yard) }).collect();
                let req = PushRequest { device_id: *device, events };
                let t0 = Instant::now();
                let resp = http.post(format!("{base}/api/v1/sync/push")).bearer_auth(token).json(&req).send().await;
                let resp = match resp {
                    Ok(r) if r.status().is_success() => r,
                    Ok(r) => {
                        *failed.entry(format!("HTTP {}", r.status().as_u16())).or_default() += 1;
                        // As a tablet would: wait before trying again (it backs off for longer).
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    Err(e) => {
                        *failed.entry(if e.is_timeout() { "timeout".to_owned() } else { "transport error".to_owned() }).or_default() += 1;
                        continue;
                    }
                };
                let Ok(body) = resp.json::<PushResponse>().await else {
                    *failed.entry("unreadable body".to_owned()).or_default() += 1;
                    continue;
                };
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                stored += body.results.iter().filter(|r| r.outcome == PushOutcome::Accepted).count() as u64;
                next_seq[i].store(body.acked_seq + 1, std::sync::atomic::Ordering::Relaxed);
                if !pace.is_zero() {
                    tokio::time::sleep(pace.saturating_sub(t0.elapsed())).await;
                }
            }
            (stored, lat, failed)
        }));
    }
    let mut load = Load { events: 0, latencies_ms: Vec::new(), elapsed: Duration::ZERO, failed: Default::default() };
    for t in tasks {
        if let Ok((n, lat, failed)) = t.await {
            load.events += n;
            load.latencies_ms.extend(lat);
            for (k, v) in failed {
                *load.failed.entry(k).or_default() += v;
            }
        }
    }
    load.elapsed = start.elapsed();
    load.latencies_ms.sort_by(f64::total_cmp);
    load
}

/// Raw SQLite: the same rows, one transaction per batch, for about `duration`.
fn raw_baseline(dir: &std::path::Path, json: &str, duration: Duration) -> f64 {
    let conn = rusqlite::Connection::open(dir.join("raw.db")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE events (server_seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, device_id TEXT NOT NULL,
                              seq INTEGER NOT NULL, json TEXT NOT NULL, UNIQUE (device_id, seq));",
    )
    .unwrap();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        let tx = conn.unchecked_transaction().unwrap();
        for _ in 0..BATCH {
            tx.execute(
                "INSERT INTO events (event_id, device_id, seq, json) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![uuid::Uuid::now_v7().to_string(), "raw-device", n as i64, json],
            )
            .unwrap();
            n += 1;
        }
        tx.commit().unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// The benchmark, with its files under `dir`.
pub fn run_in(dir: &std::path::Path) -> Vec<BenchResult> {
    let data = dir.join("server");
    let ((yard, _), _) = two_places();
    load_demo(&data);
    add_worker(&data, "bench", Role::GridWorker, vec![ScopeUnit::District]);
    let worker = gridwalk_server::admin::list_workers(&data).unwrap().into_iter().find(|w| w.username == "bench").unwrap().id;
    let devices = Arc::new(device_tokens(&data, "bench", DEVICES));
    let config = gridwalk_server::Config { rate_per_sec: 1e9, rate_burst: 1e9, ..Default::default() };
    let (base, server) = start_in_process_with(&data, config);
    let bases = Arc::new(vec![base]);
    let next_seq: Arc<Vec<_>> = Arc::new((0..DEVICES).map(|_| std::sync::atomic::AtomicU64::new(1)).collect());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let http = reqwest::Client::builder().pool_max_idle_per_host(DEVICES).timeout(Duration::from_secs(30)).build().unwrap();
    let fleet = Fleet { http, bases, devices, next_seq, worker, yard: yard.id };
    let saturated = rt.block_on(drive(fleet.clone(), SATURATED, Duration::ZERO));
    let paced = rt.block_on(drive(fleet, PACED, PACE));
    let rss = peak_rss_mb();
    drop(rt);
    drop(server);
    let json = serde_json::to_string(&event(worker, DeviceId::from_parts(1, [1; 10]), 1, yard.id)).unwrap();
    let raw = raw_baseline(dir, &json, Duration::from_secs(4));
    let ours = saturated.events as f64 / saturated.elapsed.as_secs_f64();
    let (p50, p99) = (percentile(&paced.latencies_ms, 0.50), percentile(&paced.latencies_ms, 0.99));
    let (sat_p50, sat_p99) = (percentile(&saturated.latencies_ms, 0.50), percentile(&saturated.latencies_ms, 0.99));
    let paced_rate = paced.events as f64 / paced.elapsed.as_secs_f64();
    vec![
        BenchResult {
            name: "server.ingest_events_per_s".into(),
            value: ours,
            unit: "events/s".into(),
            baseline: raw,
            ratio: ours / raw,
            goal: ">= 0.5".into(),
            note: format!(
                "{DEVICES} devices pushing {BATCH}-event batches as fast as answered over loopback (HTTP, auth, scope, fold, group commit, synchronous=FULL); baseline: raw SQLite, one {BATCH}-row transaction per batch, same {}-byte JSON rows; saturated p50 {sat_p50:.0} ms, p99 {sat_p99:.0} ms{}",
                json.len(),
                saturated.failures()
            ),
        },
        BenchResult {
            name: "server.push_p50_ms".into(),
            value: p50,
            unit: "ms".into(),
            baseline: 100.0,
            ratio: p50 / 100.0,
            goal: "<= 1 (of 100 ms)".into(),
            note: format!("{DEVICES} devices, one {BATCH}-event push every {} s each ({paced_rate:.0} events/s offered and stored)", PACE.as_secs()),
        },
        BenchResult {
            name: "server.push_p99_ms".into(),
            value: p99,
            unit: "ms".into(),
            baseline: 100.0,
            ratio: p99 / 100.0,
            goal: "<= 1 (of 100 ms)".into(),
            note: format!("same paced load; {} pushes measured{}", paced.latencies_ms.len(), paced.failures()),
        },
        BenchResult {
            name: "server.peak_rss_mb".into(),
            value: rss,
            unit: "MiB".into(),
            baseline: rss,
            ratio: 1.0,
            goal: "report".into(),
            note: "VmHWM of the bench process: in-process server plus the 4,000-device load generator".into(),
        },
    ]
}

/// Raw PostgreSQL: the same rows, one transaction per batch on one connection, for about
/// `duration` (the SQLite baseline's shape, on the other engine).
fn raw_postgres_baseline(url: &str, json: &str, duration: Duration) -> f64 {
    let (url, json) = (url.to_owned(), json.to_owned());
    // The blocking client runs a runtime of its own: on a thread of its own.
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(
            "CREATE TABLE raw_events (server_seq BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, device_id TEXT NOT NULL,
                                      seq BIGINT NOT NULL, json TEXT NOT NULL, UNIQUE (device_id, seq))",
        )
        .unwrap();
        let insert = c.prepare("INSERT INTO raw_events (event_id, device_id, seq, json) VALUES ($1, $2, $3, $4)").unwrap();
        let start = Instant::now();
        let mut n = 0i64;
        while start.elapsed() < duration {
            let mut tx = c.transaction().unwrap();
            for _ in 0..BATCH {
                tx.execute(&insert, &[&uuid::Uuid::now_v7().to_string(), &"raw-device", &n, &json]).unwrap();
                n += 1;
            }
            tx.commit().unwrap();
        }
        n as f64 / start.elapsed().as_secs_f64()
    })
    .join()
    .unwrap()
}

/// A server process's peak resident set (VmHWM), in MiB.
fn process_peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The PostgreSQL benchmark: one server process, then two, on one database of a private
/// cluster; each against raw inserts on the same cluster.
pub fn run_postgres_in(dir: &std::path::Path) -> Vec<BenchResult> {
    use crate::proc::postgres::Cluster;
    use crate::server::spawn_server_process;
    let cluster = Cluster::start().expect("a private PostgreSQL cluster for the benchmark");
    let admin = cluster.url();
    std::thread::spawn(move || {
        postgres::Client::connect(&admin, postgres::NoTls).unwrap().batch_execute("CREATE DATABASE ingest").unwrap()
    })
    .join()
    .unwrap();
    let data = dir.join("server");
    gridwalk_server::admin::use_database(&data, &cluster.url_of("ingest")).unwrap();
    let ((yard, _), _) = two_places();
    load_demo(&data);
    add_worker(&data, "bench", Role::GridWorker, vec![ScopeUnit::District]);
    let worker = gridwalk_server::admin::list_workers(&data).unwrap().into_iter().find(|w| w.username == "bench").unwrap().id;
    let devices = Arc::new(device_tokens(&data, "bench", DEVICES));
    let next_seq: Arc<Vec<_>> = Arc::new((0..DEVICES).map(|_| std::sync::atomic::AtomicU64::new(1)).collect());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let http = reqwest::Client::builder().pool_max_idle_per_host(DEVICES).timeout(Duration::from_secs(30)).build().unwrap();
    let fleet = |bases: Vec<String>| Fleet {
        http: http.clone(),
        bases: Arc::new(bases),
        devices: devices.clone(),
        next_seq: next_seq.clone(),
        worker,
        yard: yard.id,
    };

    let one = spawn_server_process(&data);
    // Unmeasured: every device's first requests (token renewal, first held position) and the
    // connection pools filling, so one and two processes are compared warm.
    rt.block_on(drive(fleet(vec![one.base_url.clone()]), SATURATED, Duration::ZERO));
    let sat_one = rt.block_on(drive(fleet(vec![one.base_url.clone()]), SATURATED, Duration::ZERO));
    let paced_one = rt.block_on(drive(fleet(vec![one.base_url.clone()]), PACED, PACE));
    let rss_one = process_peak_rss_mb(one.pid());
    drop(one);

    let (a, b) = (spawn_server_process(&data), spawn_server_process(&data));
    let sat_two = rt.block_on(drive(fleet(vec![a.base_url.clone(), b.base_url.clone()]), SATURATED, Duration::ZERO));
    let paced_two = rt.block_on(drive(fleet(vec![a.base_url.clone(), b.base_url.clone()]), PACED, PACE));
    let rss_two = process_peak_rss_mb(a.pid()).max(process_peak_rss_mb(b.pid()));
    drop((a, b));
    drop(rt);

    let json = serde_json::to_string(&event(worker, DeviceId::from_parts(1, [1; 10]), 1, yard.id)).unwrap();
    let raw = raw_postgres_baseline(&cluster.url_of("ingest"), &json, Duration::from_secs(4));
    let rate = |l: &Load| l.events as f64 / l.elapsed.as_secs_f64();
    let (one_rate, two_rate) = (rate(&sat_one), rate(&sat_two));
    let p99 = |l: &Load| percentile(&l.latencies_ms, 0.99);
    vec![
        BenchResult {
            name: "server.ingest_pg_1_process_events_per_s".into(),
            value: one_rate,
            unit: "events/s".into(),
            baseline: raw,
            ratio: one_rate / raw,
            goal: ">= 0.5".into(),
            note: format!(
                "{DEVICES} devices, {BATCH}-event batches as fast as answered, one release server process on PostgreSQL {}; baseline: raw inserts of the same {}-byte rows on the same cluster, one {BATCH}-row transaction per batch, one connection; saturated p99 {:.0} ms{}",
                cluster.major(),
                json.len(),
                p99(&sat_one),
                sat_one.failures()
            ),
        },
        BenchResult {
            name: "server.ingest_pg_2_processes_events_per_s".into(),
            value: two_rate,
            unit: "events/s".into(),
            baseline: one_rate,
            ratio: two_rate / one_rate,
            goal: ">= 1.6 (of one process)".into(),
            note: format!(
                "the same fleet split between two server processes on the one database ({:.2} of raw inserts); on this 2-core machine the load generator, PostgreSQL and both servers share the cores{}",
                two_rate / raw,
                sat_two.failures()
            ),
        },
        BenchResult {
            name: "server.push_p99_ms_pg".into(),
            value: p99(&paced_one),
            unit: "ms".into(),
            baseline: 100.0,
            ratio: p99(&paced_one) / 100.0,
            goal: "<= 1 (of 100 ms)".into(),
            note: format!(
                "{DEVICES} devices, one {BATCH}-event push every {} s each ({:.0} events/s offered and stored), one server process on PostgreSQL{}; two processes: p99 {:.0} ms{}",
                PACE.as_secs(),
                rate(&paced_one),
                paced_one.failures(),
                p99(&paced_two),
                paced_two.failures()
            ),
        },
        BenchResult {
            name: "server.peak_rss_mb_pg".into(),
            value: rss_one,
            unit: "MiB".into(),
            baseline: rss_one,
            ratio: 1.0,
            goal: "report".into(),
            note: format!("VmHWM of the one server process under the 4,000-device load (the load generator is another process); each of two: {rss_two:.0} MiB"),
        },
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_pick_the_right_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::percentile(&v, 0.5), 51.0);
        assert_eq!(super::percentile(&v, 0.99), 99.0);
        assert_eq!(super::percentile(&[], 0.99), 0.0);
    }
}
