//! What the lean views buy, each against the code path they replaced, measured in the same run
//! on the same file:
//! - `GET /issues/{id}` of an issue with 200 events, now folded from the events, against the
//!   former path: read the issue view that carried the whole history and parse it;
//! - a list page of 500 issues (20 events each), now read from history-less views, against the
//!   former path: 500 views with their histories;
//! - a push of 1,000 events on one issue (writer hold time: the push's one write job and its
//!   commit), against a push of 1,000 reports; and against the former write path, which re-folded
//!   the issue from all its stored events and rewrote its view with the history after each event.

use super::BenchResult;
use crate::server::{add_worker, device_tokens, load_demo, two_places};
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::app::query::IssueFilter;
use gridwalk_server::{AppState, Config};
use std::time::{Duration, Instant};

fn note(issue: IssueId, device: DeviceId, worker: WorkerId, n: u64) -> Event {
    let ms = crate::server::recent_ms() + n as i64;
    let mut bits = [0u8; 10];
    bits[..8].copy_from_slice(&n.to_be_bytes());
    bits[8..].copy_from_slice(&issue.0.as_bytes()[14..16]);
    let body = EventBody::NoteAdded { text: format!("第{n}次跟进：已与物业沟通，正在协调维修。") };
    crate::server::stamped(worker, device, ms, bits, Entity::Issue(issue), body)
}

fn report(issue: IssueId, device: DeviceId, worker: WorkerId, n: u64, yard: CourtyardId) -> Event {
    let body = EventBody::IssueReported(IssueReport {
        courtyard: yard,
        category: Category::StreetLight,
        source: IssueSource::Visit,
        description: "3号楼东侧路灯不亮，居民夜间出行不便，请尽快维修。".into(),
        contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
        location: None,
        received_at_ms: None,
        external_ref: None,
    });
    Event { body, ..note(issue, device, worker, n) }
}

/// The median of `runs` timings of `f`, in µs.
fn median_us(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

struct Bench {
    rt: tokio::runtime::Runtime,
    state: AppState,
    who: gridwalk_server::app::Principal,
    worker: WorkerId,
    device: DeviceId,
    seq: u64,
    yard: CourtyardId,
    db: std::path::PathBuf,
}

impl Bench {
    fn push(&mut self, events: Vec<Event>) -> Duration {
        let events = events
            .into_iter()
            .map(|event| {
                self.seq += 1;
                LoggedEvent { seq: self.seq, event }
            })
            .collect();
        let req = PushRequest { device_id: self.device, events };
        let start = Instant::now();
        let resp = self.rt.block_on(self.state.push(&self.who, req)).expect("push");
        let took = start.elapsed();
        assert!(resp.results.iter().all(|r| r.outcome == PushOutcome::Accepted), "every benchmark event is accepted");
        took
    }

    /// The former issue view: the whole folded state, history included, as it was stored.
    fn store_legacy_views(&self, ids: &[IssueId]) {
        let conn = rusqlite::Connection::open(&self.db).expect("open db");
        conn.execute_batch("CREATE TABLE IF NOT EXISTS legacy_issues (id TEXT PRIMARY KEY, state_json TEXT NOT NULL)").unwrap();
        for id in ids {
            let state = self.rt.block_on(self.state.get_issue(&self.who, *id)).expect("issue");
            conn.execute(
                "INSERT OR REPLACE INTO legacy_issues (id, state_json) VALUES (?1, ?2)",
                rusqlite::params![id.to_string(), serde_json::to_string(&state).unwrap()],
            )
            .unwrap();
        }
    }
}

fn setup(dir: &std::path::Path) -> Bench {
    let data = dir.join("server");
    let ((yard, _), _) = two_places();
    load_demo(&data);
    add_worker(&data, "bench", Role::Supervisor, vec![ScopeUnit::District]);
    let (device, token) = device_tokens(&data, "bench", 1).pop().expect("a token");
    let config = Config { rate_per_sec: 1e9, rate_burst: 1e9, ..Default::default() };
    let state = AppState::open(&data, config).expect("open server");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let who = rt.block_on(state.authenticate(&token)).expect("token");
    let worker = who.worker.id;
    Bench { rt, state, who, worker, device, seq: 0, yard: yard.id, db: data.join(gridwalk_server::store::sqlite::DB_FILE) }
}

pub fn run(dir: &std::path::Path) -> Vec<BenchResult> {
    let mut b = setup(dir);
    let mut results = Vec::new();

    // A push of 1,000 events on one issue, against a push of 1,000 reports.
    let one = IssueId::from_parts(crate::server::recent_ms() as u64, [1; 10]);
    let mut on_one = vec![report(one, b.device, b.worker, 1, b.yard)];
    on_one.extend((2..=1000).map(|n| note(one, b.device, b.worker, n)));
    let one_issue = b.push(on_one);
    let reports: Vec<Event> = (0..1000u64)
        .map(|i| {
            let id = IssueId::from_parts(crate::server::recent_ms() as u64 + 10 + i, [2; 10]);
            report(id, b.device, b.worker, 10_000 + i, b.yard)
        })
        .collect();
    let many = b.push(reports);
    // The former write path, replayed on the same file: after each event, re-read every stored
    // event of the issue, fold them, and rewrite the view with its history.
    let legacy_write = {
        let conn = rusqlite::Connection::open(&b.db).expect("open db");
        conn.execute_batch("CREATE TABLE legacy_refold (id TEXT PRIMARY KEY, state_json TEXT NOT NULL)").unwrap();
        let mut stmt =
            conn.prepare("SELECT json FROM events WHERE entity_kind = 'issue' AND entity_id = ?1 ORDER BY server_seq LIMIT ?2").unwrap();
        let start = Instant::now();
        let tx = conn.unchecked_transaction().unwrap();
        for n in 1..=1000i64 {
            let events: Vec<Event> = stmt
                .query_map(rusqlite::params![one.to_string(), n], |r| r.get::<_, String>(0))
                .unwrap()
                .map(|j| serde_json::from_str(&j.unwrap()).unwrap())
                .collect();
            let state = fold_issue(one, events);
            tx.execute(
                "INSERT OR REPLACE INTO legacy_refold (id, state_json) VALUES (?1, ?2)",
                rusqlite::params![one.to_string(), serde_json::to_string(&state).unwrap()],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        start.elapsed()
    };
    results.push(BenchResult {
        name: "server.push_1000_on_one_issue_ms".into(),
        value: one_issue.as_secs_f64() * 1e3,
        unit: "ms".into(),
        baseline: many.as_secs_f64() * 1e3,
        ratio: one_issue.as_secs_f64() / many.as_secs_f64(),
        goal: "<= 1.5".into(),
        note: "writer hold time of one push of 1,000 events on one issue (one fold at the end); baseline: a push of 1,000 reports of 1,000 issues".into(),
    });
    results.push(BenchResult {
        name: "server.push_1000_on_one_issue_vs_refold_per_event".into(),
        value: one_issue.as_secs_f64() * 1e3,
        unit: "ms".into(),
        baseline: legacy_write.as_secs_f64() * 1e3,
        ratio: one_issue.as_secs_f64() / legacy_write.as_secs_f64(),
        goal: "report (< 1: the O(n²) is gone)".into(),
        note: "the same push against the former write path replayed on the same file: re-fold from all stored events and rewrite the view with its history after every event (its fold and view writes only, no HTTP or validation)".into(),
    });

    // GET /issues/{id} of an issue with 200 events.
    let two_hundred = IssueId::from_parts(crate::server::recent_ms() as u64 + 5_000, [3; 10]);
    let mut events = vec![report(two_hundred, b.device, b.worker, 20_000, b.yard)];
    events.extend((1..200).map(|n| note(two_hundred, b.device, b.worker, 20_000 + n)));
    b.push(events);
    // A list page's worth of issues with 20 events each.
    let mut listed = Vec::new();
    for chunk in 0..10u64 {
        let mut events = Vec::new();
        for i in 0..50u64 {
            let k = chunk * 50 + i;
            let id = IssueId::from_parts(crate::server::recent_ms() as u64 + 100_000 + k, [4; 10]);
            listed.push(id);
            let base = 100_000 + k * 100;
            events.push(report(id, b.device, b.worker, base, b.yard));
            events.extend((1..20).map(|n| note(id, b.device, b.worker, base + n)));
        }
        b.push(events);
    }
    b.store_legacy_views(&[two_hundred]);
    b.store_legacy_views(&listed);

    let get_new = median_us(200, || {
        let s = b.rt.block_on(b.state.get_issue(&b.who, two_hundred)).expect("issue");
        assert_eq!(s.history.len(), 200, "the issue folds all 200 events");
    });
    let conn = rusqlite::Connection::open(&b.db).expect("open db");
    let get_old = median_us(200, || {
        let json: String =
            conn.query_row("SELECT state_json FROM legacy_issues WHERE id = ?1", [two_hundred.to_string()], |r| r.get(0)).unwrap();
        let s: IssueState = serde_json::from_str(&json).unwrap();
        assert_eq!(s.history.len(), 200);
    });
    results.push(BenchResult {
        name: "server.get_issue_200_events_us".into(),
        value: get_new,
        unit: "µs".into(),
        baseline: get_old,
        ratio: get_new / get_old,
        goal: "<= 2".into(),
        note: "GET /issues/{id} use case, folded from its 200 events; baseline: the former path, one stored view with its history, parsed"
            .into(),
    });

    let filter = IssueFilter { limit: Some(500), ..Default::default() };
    let first = listed.iter().min().copied().expect("issues");
    let after = IssueId::from_parts(0, [0; 10]);
    let list_new = median_us(30, || {
        let f = IssueFilter { after: Some(after), ..filter.clone() };
        let page = b.rt.block_on(b.state.list_issues(&b.who, f)).expect("list");
        assert_eq!(page.issues.len(), 500, "a full page");
    });
    let list_old = median_us(30, || {
        let mut stmt = conn.prepare_cached("SELECT state_json FROM legacy_issues WHERE id >= ?1 ORDER BY id LIMIT 501").unwrap();
        let states: Vec<IssueState> = stmt
            .query_map([first.to_string()], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|j| serde_json::from_str(&j.unwrap()).unwrap())
            .collect();
        assert_eq!(states.len(), 500, "the former views of the same 500 issues");
    });
    results.push(BenchResult {
        name: "server.list_500_issues_us".into(),
        value: list_new,
        unit: "µs".into(),
        baseline: list_old,
        ratio: list_new / list_old,
        goal: "< 1".into(),
        note: "GET /issues page of 500 (20 events each) from the lean views, summaries built; baseline: the former views of the same 500 issues with their histories, parsed".into(),
    });
    results
}
