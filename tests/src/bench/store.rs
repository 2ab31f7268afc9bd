//! Tablet store benchmarks, each against a bare SQLite baseline measured in the same run.

use super::BenchResult;
use crate::{seeded_store, TEST_KEY};
use gridwalk_core::{CourtyardQuery, IssueFilter, NewIssue, SystemClock, Tablet};
use gridwalk_domain::*;
use gridwalk_proto::{PullResponse, PulledEvent};
use rusqlite::{params, Connection};
use std::sync::Arc;
use std::time::Instant;

fn issue(courtyard: CourtyardId, i: usize) -> NewIssue {
    NewIssue {
        courtyard,
        category: Category::ALL[i % Category::ALL.len()],
        source: IssueSource::Visit,
        description: format!("3号楼东侧路灯不亮，居民夜间出行不便，请尽快维修。编号{i}"),
        contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
        location: Some(Location { lat: 39.98, lon: 116.41, accuracy_m: 10.0 }),
        photos: vec![],
    }
}

/// Recording an issue durably (event + device log + view, one fsync'd transaction) against a
/// raw insert of a same-sized row into a plain SQLite file, one transaction per row, with the
/// same WAL + synchronous=FULL. Rounds alternate so machine noise hits both sides alike.
pub fn record_issue(dir: &std::path::Path) -> BenchResult {
    let mut t = seeded_store(&dir.join("record.db"), 20);
    let yard = t.search_courtyards(&CourtyardQuery { limit: 1, ..Default::default() }).unwrap()[0].id;
    let raw = Connection::open(dir.join("raw.db")).unwrap();
    raw.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE r (id TEXT PRIMARY KEY, body TEXT NOT NULL);")
        .unwrap();
    let row_bytes = {
        let id = t.report_issue(issue(yard, 0)).unwrap();
        t.connection().query_row("SELECT length(body) FROM events WHERE entity_id = ?1", [id.to_string()], |r| r.get::<_, i64>(0)).unwrap()
            as usize
    };
    let payload = "x".repeat(row_bytes);
    let (mut ours, mut bare) = (0.0, 0.0);
    let per_round = 40;
    let mut n = 1;
    for _round in 0..6 {
        let s = Instant::now();
        for _ in 0..per_round {
            t.report_issue(issue(yard, n)).unwrap();
            n += 1;
        }
        ours += s.elapsed().as_secs_f64();
        let s = Instant::now();
        for _ in 0..per_round {
            let tx = raw.unchecked_transaction().unwrap();
            tx.execute("INSERT INTO r (id, body) VALUES (?1, ?2)", params![uuid::Uuid::now_v7().to_string(), payload]).unwrap();
            tx.commit().unwrap();
        }
        bare += s.elapsed().as_secs_f64();
    }
    let total = (6 * per_round) as f64;
    let (ours_rate, bare_rate) = (total / ours, total / bare);
    BenchResult {
        name: "store.record_issue".into(),
        value: ours_rate,
        unit: "records/s".into(),
        baseline: bare_rate,
        ratio: ours_rate / bare_rate,
        goal: ">= 0.6".into(),
        note: format!("encrypted WAL, synchronous=FULL; baseline: plain SQLite, one {row_bytes}-byte row per transaction"),
    }
}

/// Fill a store with `n` issues through the pull path (as a tablet gets them from the server).
pub fn fill_issues(t: &mut Tablet, n: usize) {
    let yards: Vec<CourtyardId> =
        t.search_courtyards(&CourtyardQuery { limit: 20, ..Default::default() }).unwrap().iter().map(|c| c.id).collect();
    let device = DeviceId::from_parts(1, [42; 10]);
    let author = WorkerId::from_parts(1, [43; 10]);
    let base = 1_760_000_000_000i64;
    let mut seq = 0u64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let events = chunk
            .iter()
            .map(|&i| {
                let ms = base + i as i64 * 1_000;
                let mut rnd = [0u8; 10];
                rnd[..8].copy_from_slice(&(i as u64).to_be_bytes());
                let id = IssueId::from_parts(ms as u64, rnd);
                let new = issue(yards[i % yards.len()], i);
                seq += 1;
                PulledEvent {
                    server_seq: seq,
                    event: Event {
                        id: EventId::from_parts(ms as u64, rnd),
                        author,
                        device,
                        hlc: Hlc::new(ms, 0),
                        wall_ms: ms,
                        clock_offset_ms: 0,
                        entity: Entity::Issue(id),
                        body: EventBody::IssueReported(IssueReport {
                            courtyard: new.courtyard,
                            category: new.category,
                            source: IssueSource::Hotline,
                            description: new.description,
                            contact: new.contact,
                            location: new.location,
                            received_at_ms: Some(ms),
                            external_ref: None,
                        }),
                    },
                }
            })
            .collect();
        t.apply_pull(
            &PullResponse {
                events,
                next_cursor: seq,
                has_more: false,
                registry: None,
                server_time_ms: base,
                epoch: None,
                held_seq: None,
                max_seq: None,
            },
            None,
        )
        .unwrap();
    }
}

/// The first page of issues out of 100,000 through the use-case API, against the bare
/// indexed keyset query on the same file and connection.
pub fn first_page(dir: &std::path::Path) -> BenchResult {
    let path = dir.join("page.db");
    fill_issues(&mut seeded_store(&path, 20), 100_000);
    let t = Tablet::open(&path, &TEST_KEY, Arc::new(SystemClock::default())).unwrap();
    // The bare query reads the same 50 rows and columns as raw SQLite values: what is left of
    // our time is the API's own cost (filter building, typed decoding, the next-page cursor).
    let bare = |t: &Tablet| {
        let mut st = t
            .connection()
            .prepare_cached(
                "SELECT id, courtyard_id, category, source, status, description, contact_masked, received_at_ms,
                        response_due_ms, responded_at_ms, conflicts, sync_state
                 FROM issues ORDER BY received_at_ms DESC, id DESC LIMIT 51",
            )
            .unwrap();
        let rows: Vec<Vec<rusqlite::types::Value>> =
            st.query_map([], |r| (0..12).map(|i| r.get(i)).collect()).unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 51);
    };
    let ours = |t: &Tablet| {
        let page = t.list_issues(&IssueFilter::default(), None, 50).unwrap();
        assert_eq!(page.items.len(), 50);
    };
    for _ in 0..50 {
        bare(&t);
        ours(&t);
    }
    let (mut a, mut b) = (0.0, 0.0);
    let rounds = 2_000;
    for _ in 0..10 {
        let s = Instant::now();
        for _ in 0..rounds / 10 {
            ours(&t);
        }
        a += s.elapsed().as_secs_f64();
        let s = Instant::now();
        for _ in 0..rounds / 10 {
            bare(&t);
        }
        b += s.elapsed().as_secs_f64();
    }
    let (ours_us, bare_us) = (a / rounds as f64 * 1e6, b / rounds as f64 * 1e6);
    BenchResult {
        name: "store.first_page_of_100k".into(),
        value: ours_us,
        unit: "µs/page".into(),
        baseline: bare_us,
        ratio: ours_us / bare_us,
        goal: "<= 2.0".into(),
        note: "50 rows of 100,000; baseline: the bare keyset SELECT of the same rows and columns as raw values".into(),
    }
}
