//! Dispatch to display with 4,000 devices waiting on one server, and the server's memory while
//! they wait. The server is the real `gridwalk-server serve` in its own process (so its VmRSS
//! is its own); the bench process holds the 4,000 `GET /api/v1/sync/wait` long-polls.
//!
//! Of the 4,000 devices, [`TABLETS`] are real tablets (`gridwalk_core::Tablet`, an encrypted
//! SQLite file, the sync engine over HTTP), each the responsible worker of one courtyard; their
//! waiter gets `news` and runs a sync, which stores the order's `Assigned` event. The others are
//! lightweight waiters (a device token and a loop of wait, and on news a pull) with scopes over
//! the district: a few share a courtyard, community, subdistrict or the district with the
//! tablets and wake on their orders too, most sit elsewhere and never do.
//!
//! Dispatch to display: from the start of the intake call to the moment the tablet's sync has
//! stored the order with its assignment. Baseline, on the same server process in the same run:
//! the same orders to the same tablets with nobody waiting, each tablet syncing as soon as the
//! intake call returned — the bare cost of intake, pull and apply.
//!
//! Memory: the server's VmRSS (from /proc/<pid>/status) while all 4,000 waits are held, peak of
//! samples taken every 200 ms while the waits are held and the orders flow, against the same
//! process idle with no waiter, just before the waiters start.

use super::server_ingest::percentile;
use super::BenchResult;
use crate::server::{spawn_server_process, PASSWORD};
use crate::sync_kit::{fast_retries, system_clock, Api};
use crate::TEST_KEY;
use gridwalk_core::sync::{enrol, sync, HttpTransport};
use gridwalk_core::{IssueFilter, Tablet};
use gridwalk_domain::registry_gen::demo_registry;
use gridwalk_domain::{Assignee, Courtyard, IssueId, Registry, ResidentContact, Role, SubdistrictId, WorkerId};
use gridwalk_proto::{HotlineIntake, IntakePlace, PullResponse, ScopeUnit};
use gridwalk_server::admin::{self, NewWorker};
use gridwalk_server::app::notify::WaitResponse;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Devices holding a wait, tablets included.
pub const DEVICES: usize = 4000;
/// Real tablets, one per courtyard, each its courtyard's responsible worker.
pub const TABLETS: usize = 10;
/// Orders measured, in the baseline and with the waiters alike.
pub const ORDERS: usize = 200;
/// One order every 250 ms: 4 a second.
const ORDER_EVERY: Duration = Duration::from_millis(250);
/// How long a tablet holds its wait (the server's default).
const TABLET_WAIT_S: u64 = 25;
/// The 2 s of the issue.
const GOAL_MS: f64 = 2000.0;
/// 300 MB (decimal), in MiB as the table reports memory.
const GOAL_MIB: f64 = 300e6 / 1048576.0;

/// A worker whose devices are lightweight waiters.
struct Group {
    username: String,
    role: Role,
    scope: ScopeUnit,
    devices: usize,
}

/// The tablets' courtyards, and the waiters' workers: the ones who share a place with the
/// tablets (and so wake on their orders) first, then the rest of the district.
fn plan(reg: &Registry) -> (Vec<Courtyard>, Vec<Group>) {
    let sub_of: HashMap<_, SubdistrictId> = reg.communities.iter().map(|c| (c.id, c.subdistrict)).collect();
    let near: Vec<SubdistrictId> = reg.subdistricts.iter().take(TABLETS / 2).map(|s| s.id).collect();
    let mut yards: Vec<Courtyard> = Vec::new();
    for s in &near {
        let mut communities = reg.communities.iter().filter(|c| c.subdistrict == *s);
        for _ in 0..2 {
            let c = communities.find(|c| reg.courtyards.iter().any(|y| y.community == c.id)).expect("two communities with courtyards");
            yards.push(reg.courtyards.iter().find(|y| y.community == c.id).expect("a courtyard").clone());
        }
    }
    let code_of_community = |id| reg.communities.iter().find(|c| c.id == id).expect("community").code.clone();
    let code_of_sub = |id| reg.subdistricts.iter().find(|s| s.id == id).expect("subdistrict").code.clone();
    let mut groups = Vec::new();
    let mut group = |username: String, role, scope, devices| groups.push(Group { username, role, scope, devices });
    // Waking: 2 colleagues' tablets per courtyard, 8 community tablets, 12 per subdistrict, and
    // 40 district-wide screens (dispatch desk, leaders): 200 devices, about 62 per order.
    for (k, y) in yards.iter().enumerate() {
        group(format!("colleague-{k}"), Role::GridWorker, ScopeUnit::Courtyard(y.code.clone()), 2);
        group(format!("community-{k}"), Role::Cadre, ScopeUnit::Community(code_of_community(y.community)), 8);
    }
    for (j, s) in near.iter().enumerate() {
        group(format!("subdistrict-{j}"), Role::Supervisor, ScopeUnit::Subdistrict(code_of_sub(*s)), 12);
    }
    group("dispatch".into(), Role::Supervisor, ScopeUnit::District, 40);
    let waking: usize = 2 * TABLETS + 8 * TABLETS + 12 * near.len() + 40;
    // The rest, never concerned: courtyards beside the tablets' (same communities and
    // subdistricts) and far away, communities and subdistricts elsewhere.
    let mine: HashSet<_> = yards.iter().map(|y| y.id).collect();
    let is_near = |y: &&Courtyard| near.contains(&sub_of[&y.community]);
    let pick = |v: Vec<String>, n: usize| -> Vec<String> {
        let step = (v.len() / n).max(1);
        v.into_iter().step_by(step).take(n).collect()
    };
    let near_yards = pick(reg.courtyards.iter().filter(is_near).filter(|y| !mine.contains(&y.id)).map(|y| y.code.clone()).collect(), 70);
    let far_yards = pick(reg.courtyards.iter().filter(|y| !is_near(y)).map(|y| y.code.clone()).collect(), 70);
    let far_communities = pick(reg.communities.iter().filter(|c| !near.contains(&c.subdistrict)).map(|c| c.code.clone()).collect(), 40);
    let far_subs: Vec<String> = reg.subdistricts.iter().filter(|s| !near.contains(&s.id)).take(10).map(|s| s.code.clone()).collect();
    let mut far: Vec<(Role, ScopeUnit)> = Vec::new();
    far.extend(near_yards.into_iter().chain(far_yards).map(|c| (Role::GridWorker, ScopeUnit::Courtyard(c))));
    far.extend(far_communities.into_iter().map(|c| (Role::Cadre, ScopeUnit::Community(c))));
    far.extend(far_subs.into_iter().map(|c| (Role::Supervisor, ScopeUnit::Subdistrict(c))));
    let rest = DEVICES - TABLETS - waking;
    let n = far.len();
    for (i, (role, scope)) in far.into_iter().enumerate() {
        group(format!("far-{i}"), role, scope, rest / n + usize::from(i < rest % n));
    }
    (yards, groups)
}

/// A real tablet and what it has shown so far.
struct RealTablet {
    tablet: Tablet,
    transport: HttpTransport,
    token: String,
    worker: WorkerId,
    seen: HashSet<IssueId>,
}

impl RealTablet {
    /// Sync, then the moment the store holds what the sync brought, and the orders newly in
    /// the store with their assignment to this tablet's worker.
    fn sync_now(&mut self) -> Result<(Instant, Vec<IssueId>), gridwalk_core::CoreError> {
        sync(&mut self.tablet, &self.transport, &fast_retries(), &AtomicBool::new(false), &mut |_| {})?;
        let at = Instant::now();
        let mut new = Vec::new();
        for row in self.tablet.list_issues(&IssueFilter::default(), None, 1000)?.items {
            if !self.seen.contains(&row.id) && self.tablet.issue(row.id)?.state.assignee == Some(Assignee::Worker(self.worker)) {
                self.seen.insert(row.id);
                new.push(row.id);
            }
        }
        Ok((at, new))
    }
}

fn order(no: String, yard: &Courtyard) -> HotlineIntake {
    HotlineIntake {
        order_no: no,
        place: IntakePlace::CourtyardCode { code: yard.code.clone() },
        category: "noise".into(),
        description: "夜间施工噪声扰民，居民无法休息，请尽快处理".into(),
        received_at_ms: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64,
        contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
    }
}

fn proc_status_kb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0.0)
}

fn rss_mib(pid: u32) -> f64 {
    proc_status_kb(pid, "VmRSS:") / 1024.0
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// This process's soft limit on open files (the server inherits it).
fn fd_soft_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits.lines().find(|l| l.starts_with("Max open files"))?.split_whitespace().nth(3)?.parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What the waiters did, shared with the bench's main thread.
#[derive(Default)]
struct Counters {
    stop: AtomicBool,
    /// Waits sent and not answered yet.
    holding: AtomicUsize,
    /// Waits answered with news (lightweight waiters).
    wakes: AtomicU64,
    /// Waits or pulls that failed.
    errors: AtomicU64,
}

/// A lightweight waiter: wait, and on news pull to the end; again until told to stop.
async fn waiter(http: reqwest::Client, base: Arc<String>, token: String, version: u64, timeout_s: u64, delay: Duration, c: Arc<Counters>) {
    tokio::time::sleep(delay).await;
    let mut cursor = 0u64;
    while !c.stop.load(Ordering::Relaxed) {
        c.holding.fetch_add(1, Ordering::Relaxed);
        let url = format!("{base}/api/v1/sync/wait?after={cursor}&timeout_s={timeout_s}");
        let answer = async { http.get(url).bearer_auth(&token).send().await?.error_for_status()?.json::<WaitResponse>().await }.await;
        c.holding.fetch_sub(1, Ordering::Relaxed);
        match answer {
            Ok(w) if w.news => {
                c.wakes.fetch_add(1, Ordering::Relaxed);
                loop {
                    let url = format!("{base}/api/v1/sync/pull?after={cursor}&limit=500&registry_version={version}");
                    let page =
                        async { http.get(url).bearer_auth(&token).send().await?.error_for_status()?.json::<PullResponse>().await }.await;
                    match page {
                        Ok(p) => {
                            cursor = p.next_cursor;
                            if !p.has_more {
                                break;
                            }
                        }
                        Err(_) => {
                            c.errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            break;
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(_) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// A real tablet's waiter, on a thread of its own as the app's blocking sync engine runs: wait,
/// and on news sync and note when each new order is in the store.
fn tablet_waiter(mut t: RealTablet, base: String, c: Arc<Counters>, stored: Arc<Mutex<HashMap<IssueId, Instant>>>) -> RealTablet {
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(TABLET_WAIT_S + 60)).build().expect("http client");
    while !c.stop.load(Ordering::Relaxed) {
        let cursor = t.tablet.pull_cursor().expect("cursor");
        c.holding.fetch_add(1, Ordering::Relaxed);
        let answer = http
            .get(format!("{base}/api/v1/sync/wait?after={cursor}&timeout_s={TABLET_WAIT_S}"))
            .bearer_auth(&t.token)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json::<WaitResponse>());
        c.holding.fetch_sub(1, Ordering::Relaxed);
        match answer {
            Ok(w) if w.news => match t.sync_now() {
                Ok((at, new)) => {
                    let mut s = stored.lock().expect("stored");
                    for id in new {
                        s.insert(id, at);
                    }
                }
                Err(_) => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                }
            },
            Ok(_) => {}
            Err(_) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    t
}

fn sleep_until(t: Instant) {
    if let Some(d) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

/// The benchmark, with its files under `dir`.
pub fn run(dir: &Path) -> Vec<BenchResult> {
    let limit = fd_soft_limit().unwrap_or(0);
    assert!(
        limit >= DEVICES as u64 + 1000,
        "open-file soft limit {limit} is below the {} this benchmark needs (4,000 sockets each side): raise it with `ulimit -n`",
        DEVICES + 1000
    );
    let data = dir.join("server");
    let reg = demo_registry();
    let (yards, groups) = plan(&reg);
    admin::load_demo_registry(&data).expect("demo registry");
    let version = admin::stored_registry(&data).expect("registry").1;
    {
        let store = admin::open(&data).expect("open server data");
        let add = |username: &str, role, scope| {
            let w = NewWorker { username: username.into(), name: username.into(), role, scope: vec![scope], password: PASSWORD.into() };
            admin::add_worker_to(&store, &w).expect("add worker")
        };
        add("boss", Role::Supervisor, ScopeUnit::District);
        for (k, y) in yards.iter().enumerate() {
            add(&format!("tablet-{k}"), Role::GridWorker, ScopeUnit::Courtyard(y.code.clone()));
        }
        for g in &groups {
            add(&g.username, g.role, g.scope.clone());
        }
    }
    for (k, y) in yards.iter().enumerate() {
        admin::set_responsible(&data, &y.code, &format!("tablet-{k}")).expect("responsible worker");
    }
    let mut tokens: Vec<String> = Vec::with_capacity(DEVICES);
    for g in &groups {
        let names: Vec<String> = (0..g.devices).map(|i| format!("{}-tablet-{i}", g.username)).collect();
        tokens.extend(admin::issue_device_tokens(&data, &g.username, &names).expect("device tokens").into_iter().map(|(_, t)| t));
    }
    assert_eq!(tokens.len() + TABLETS, DEVICES, "4,000 devices in all");

    let server = spawn_server_process(&data);
    let (base, pid) = (server.base_url.clone(), server.pid());
    let mut tablets: Vec<RealTablet> = yards
        .iter()
        .enumerate()
        .map(|(k, _)| {
            let mut tablet = Tablet::open(&dir.join(format!("tablet-{k}.db")), &TEST_KEY, system_clock()).expect("open tablet");
            let transport = HttpTransport::new(&base).expect("transport");
            let login = enrol(&mut tablet, &transport, &base, &format!("tablet-{k}"), PASSWORD, &format!("tablet-{k}")).expect("enrol");
            let mut t = RealTablet { tablet, transport, token: login.token, worker: login.worker.id, seen: HashSet::new() };
            t.sync_now().expect("first sync");
            t
        })
        .collect();
    let boss = Api::login(&base, "boss");

    // Baseline: nobody waits; each tablet syncs as soon as the intake call returned.
    let mut bare = Vec::with_capacity(ORDERS);
    let mut next = Instant::now();
    for i in 0..ORDERS {
        sleep_until(next);
        next += ORDER_EVERY;
        let k = i % TABLETS;
        let t0 = Instant::now();
        let resp = boss.hotline(&order(format!("12345-B{i:04}"), &yards[k]));
        let (at, new) = tablets[k].sync_now().expect("sync");
        assert_eq!(new, vec![resp.issue_id], "the tablet stores the order assigned to its worker");
        bare.push(ms(at - t0));
    }
    std::thread::sleep(Duration::from_secs(2));
    let (rss_idle, fds_idle) = (rss_mib(pid), open_fds(pid));

    // 4,000 waiting.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let http = reqwest::Client::builder().pool_max_idle_per_host(DEVICES).timeout(Duration::from_secs(90)).build().expect("http client");
    let counters = Arc::new(Counters::default());
    let stored: Arc<Mutex<HashMap<IssueId, Instant>>> = Arc::default();
    let shared_base = Arc::new(base.clone());
    let n = tokens.len();
    for (i, token) in tokens.into_iter().enumerate() {
        // Spread over 4 s and over 20–30 s timeouts, as tablets that woke at different times.
        let delay = Duration::from_secs(4).mul_f64(i as f64 / n as f64);
        rt.spawn(waiter(http.clone(), shared_base.clone(), token, version, 20 + (i % 11) as u64, delay, counters.clone()));
    }
    let threads: Vec<_> = tablets
        .drain(..)
        .map(|t| {
            let (base, c, s) = (base.clone(), counters.clone(), stored.clone());
            std::thread::spawn(move || tablet_waiter(t, base, c, s))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while counters.holding.load(Ordering::Relaxed) < DEVICES {
        assert!(Instant::now() < deadline, "only {} of {DEVICES} waits held after 2 minutes", counters.holding.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let (rss_held, fds_held) = (rss_mib(pid), open_fds(pid));
    let held_at_start = counters.holding.load(Ordering::Relaxed);

    // Sample the server's memory and the waits held while the orders flow.
    let sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (sampling, c) = (sampling.clone(), counters.clone());
        std::thread::spawn(move || {
            let (mut peak, mut min_held) = (0f64, usize::MAX);
            while !sampling.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib(pid));
                min_held = min_held.min(c.holding.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(200));
            }
            (peak, min_held)
        })
    };
    let wakes_before = counters.wakes.load(Ordering::Relaxed);
    let errors_before = counters.errors.load(Ordering::Relaxed);
    let mut starts: Vec<(IssueId, Instant)> = Vec::with_capacity(ORDERS);
    let mut next = Instant::now();
    for i in 0..ORDERS {
        sleep_until(next);
        next += ORDER_EVERY;
        let t0 = Instant::now();
        let resp = boss.hotline(&order(format!("12345-W{i:04}"), &yards[i % TABLETS]));
        starts.push((resp.issue_id, t0));
    }
    let give_up = Instant::now() + Duration::from_secs(30);
    while Instant::now() < give_up && starts.iter().any(|(id, _)| !stored.lock().expect("stored").contains_key(id)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let wakes = counters.wakes.load(Ordering::Relaxed) - wakes_before;
    let errors = counters.errors.load(Ordering::Relaxed) - errors_before;
    sampling.store(true, Ordering::Relaxed);
    let (rss_peak, min_held) = sampler.join().expect("sampler");
    let hwm = proc_status_kb(pid, "VmHWM:") / 1024.0;
    let mut missing = 0;
    let mut waited: Vec<f64> = {
        let stored = stored.lock().expect("stored");
        starts
            .iter()
            .map(|(id, t0)| match stored.get(id) {
                Some(at) => ms(at.saturating_duration_since(*t0)),
                None => {
                    missing += 1;
                    ms(give_up - *t0)
                }
            })
            .collect()
    };

    // Stop: the waiters, then the server (its shutdown answers every held wait at once).
    counters.stop.store(true, Ordering::Relaxed);
    drop(server);
    rt.shutdown_timeout(Duration::from_secs(10));
    for t in threads {
        drop(t.join().expect("tablet thread"));
    }

    waited.sort_by(f64::total_cmp);
    bare.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&waited, 0.50), percentile(&waited, 0.99));
    let (b50, b99) = (percentile(&bare, 0.50), percentile(&bare, 0.99));
    let met = |ok: bool| if ok { "met" } else { "**missed**" };
    let rss = rss_peak.max(rss_held);
    vec![
        BenchResult {
            name: "server.dispatch_p50_ms".into(),
            value: p50,
            unit: "ms".into(),
            baseline: b50,
            ratio: p50 / b50,
            goal: "report".into(),
            note: format!(
                "hotline intake start → the order and its assignment stored in an idle waiting tablet's encrypted store ({ORDERS} orders, 4 a second, to {TABLETS} real tablets at {TABLETS} courtyards) with {DEVICES} devices holding GET /sync/wait on the server process; {:.0} waiters woke per order and pulled; baseline: the same path with nobody waiting, the tablet syncing as soon as the intake call returned",
                wakes as f64 / ORDERS as f64
            ),
        },
        BenchResult {
            name: "server.dispatch_p99_ms".into(),
            value: p99,
            unit: "ms".into(),
            baseline: b99,
            ratio: p99 / b99,
            goal: format!("value <= {GOAL_MS:.0} ms"),
            note: format!(
                "same run; goal {}; max {:.0} ms; {missing} of {ORDERS} not stored within 30 s; at least {min_held} of {DEVICES} waits held throughout; {errors} failed waits or pulls",
                met(p99 <= GOAL_MS && missing == 0),
                waited.last().copied().unwrap_or(0.0)
            ),
        },
        BenchResult {
            name: "server.waiting_rss_mb".into(),
            value: rss,
            unit: "MiB".into(),
            baseline: rss_idle,
            ratio: rss / rss_idle,
            goal: "value <= 300 MB (286 MiB)".into(),
            note: format!(
                "VmRSS of the server process with {DEVICES} waits held, peak of 200 ms samples while the orders flowed ({rss_held:.1} MiB once all {held_at_start} were held, {fds_held} open fds); baseline: the same process idle with no waiter ({fds_idle} fds) after the baseline orders; goal {}; VmHWM over its life {hwm:.1} MiB",
                met(rss <= GOAL_MIB)
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plan_has_4000_devices_and_only_the_near_groups_share_a_place_with_the_tablets() {
        let reg = gridwalk_domain::registry_gen::demo_registry();
        let (yards, groups) = super::plan(&reg);
        assert_eq!(yards.len(), super::TABLETS);
        assert_eq!(groups.iter().map(|g| g.devices).sum::<usize>() + super::TABLETS, super::DEVICES);
        let codes: std::collections::HashSet<_> = yards.iter().map(|y| y.code.clone()).collect();
        for g in groups.iter().filter(|g| g.username.starts_with("far-")) {
            if let gridwalk_proto::ScopeUnit::Courtyard(c) = &g.scope {
                assert!(!codes.contains(c), "a far waiter is not at a tablet's courtyard");
            }
        }
        let names: std::collections::HashSet<_> = groups.iter().map(|g| g.username.clone()).collect();
        assert_eq!(names.len(), groups.len(), "usernames are distinct");
    }
}
