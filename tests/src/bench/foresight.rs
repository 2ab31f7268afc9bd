//! 未诉先办 on the server over 1,000,000 issues and 2,000,000 visits, each against one bare SQL
//! GROUP BY of the same counts on the same file in the same run:
//!
//! - `foresight.hotspots_1m`: `AppState::foresight_hotspots` (courtyard × category, 7-day
//!   window and its 8 trailing windows) as a district supervisor, in-process on the real SQLite
//!   file: the store's GROUP BY, the roll-up into cells and the domain's Poisson test. Baseline:
//!   the same GROUP BY (same `WHERE`, same buckets) with rusqlite, raw rows. Before timing, the
//!   hotspots made from the bare rows by the domain's method must equal ours.
//! - `foresight.coverage_2m`: `AppState::foresight_coverage` (community level, 4 ISO weeks, a
//!   14-day overdue threshold) against the bare GROUP BY of visits by courtyard, worker, mode,
//!   week and distance over the same range. Before timing, the counted visits of our rows must
//!   equal the bare rows' near ones.
//!
//! # The fixture
//! The demo registry, and rows written straight into the server's own schema (migrated by
//! opening the server once): 1,000,000 issues over the 20 weeks before the run (mixed
//! categories, sources — 2 % proactive —, statuses — 2 % duplicates, 1 % cancelled —, 3 %
//! repeating an earlier issue) and 2,000,000 visits (200 workers, the three modes, 5 % far
//! from their courtyard), each at a demo courtyard. These reads take only the views' columns,
//! never their JSON or the event log, so the rows carry the columns alone: folding three
//! million entities would take many minutes and change nothing the reads touch.

use super::console::{medians_ms, Rng};
use super::BenchResult;
use crate::server::{add_worker, device_tokens, load_demo};
use gridwalk_domain::foresight::{self, hotspot, WEEK_MS, WEEK_ORIGIN_MS};
use gridwalk_domain::*;
use gridwalk_proto::ScopeUnit;
use gridwalk_server::app::foresight::{cells_of, CoverageAsk, HotspotAsk};
use gridwalk_server::model::IssueBucket;
use gridwalk_server::{admin, AppState, Config};
use std::path::Path;
use std::time::Instant;

pub const ISSUES: usize = 1_000_000;
pub const VISITS: usize = 2_000_000;
const WEEKS: i64 = 20;
const DAY_MS: i64 = 86_400_000;

/// `p`'s chance, from the console bench's generator.
fn chance(g: &mut Rng, p: f64) -> bool {
    g.unit() < p
}

const HOTSPOT_SQL: &str = "SELECT courtyard_id, category, (received_at_ms - ?1) / ?2, count(*) FROM issues
     WHERE received_at_ms >= ?1 AND received_at_ms < ?3 AND category IS NOT NULL
       AND status NOT IN ('duplicate', 'cancelled') AND (source IS NULL OR source <> 'proactive')
     GROUP BY 1, 2, 3";

const COVERAGE_SQL: &str =
    "SELECT courtyard_id, worker_id, mode, (started_at_ms - ?1) / ?2, COALESCE(distance_m > ?3, 0), count(*), max(started_at_ms)
     FROM visits WHERE started_at_ms >= ?4 AND started_at_ms < ?5 AND worker_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5";

fn fill(db: &Path, reg: &Registry, now: i64) -> f64 {
    let t = Instant::now();
    let mut conn = rusqlite::Connection::open(db).expect("open db");
    conn.pragma_update(None, "synchronous", "OFF").unwrap();
    let sub_of: std::collections::HashMap<CommunityId, SubdistrictId> = reg.communities.iter().map(|c| (c.id, c.subdistrict)).collect();
    let yards: Vec<(String, String, String, GeoPoint)> =
        reg.courtyards.iter().map(|y| (y.id.to_string(), y.community.to_string(), sub_of[&y.community].to_string(), y.point)).collect();
    let first = now - WEEKS * WEEK_MS;
    let mut g = Rng(0x666f_7265_7369_6768);
    let tx = conn.transaction().unwrap();
    {
        let mut put = tx
            .prepare(
                "INSERT INTO issues (id, courtyard_id, community_id, subdistrict_id, status, received_at_ms, response_due_ms, category, source, lat, lon, recurrence_of)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .unwrap();
        let statuses = ["reported", "responded", "in_progress", "resolved", "closed", "closed", "closed", "closed"];
        for i in 0..ISSUES {
            let (c, m, s, p) = &yards[g.below(yards.len())];
            let r = first + (g.next() % (WEEKS * WEEK_MS) as u64) as i64;
            let status = if chance(&mut g, 0.02) {
                "duplicate"
            } else if chance(&mut g, 0.01) {
                "cancelled"
            } else {
                statuses[g.below(statuses.len())]
            };
            let source = if chance(&mut g, 0.02) { "proactive" } else { ["visit", "hotline", "online"][g.below(3)] };
            let category = Category::ALL[g.below(Category::ALL.len())].code();
            let id = IssueId::from_parts(r as u64, (i as u128).to_be_bytes()[6..].try_into().unwrap());
            let recurrence = chance(&mut g, 0.03).then(|| IssueId::from_parts(first as u64, [7; 10]).to_string());
            put.execute(rusqlite::params![id.to_string(), c, m, s, status, r, r + 3_600_000, category, source, p.lat, p.lon, recurrence])
                .unwrap();
        }
        let mut put = tx
            .prepare(
                "INSERT INTO visits (id, courtyard_id, community_id, subdistrict_id, state_json, worker_id, started_at_ms, mode, distance_m)
                 VALUES (?1, ?2, ?3, ?4, '{}', ?5, ?6, ?7, ?8)",
            )
            .unwrap();
        let workers: Vec<String> = (0..200u8).map(|w| WorkerId::from_parts(first as u64, [w; 10]).to_string()).collect();
        for i in 0..VISITS {
            let (c, m, s, _) = &yards[g.below(yards.len())];
            let at = first + (g.next() % (WEEKS * WEEK_MS) as u64) as i64;
            let mode = VisitMode::ALL[g.below(3)].code();
            let distance = if chance(&mut g, 0.05) { 800.0 } else { (g.below(250)) as f64 };
            let id = VisitId::from_parts(at as u64, (i as u128).to_be_bytes()[6..].try_into().unwrap());
            put.execute(rusqlite::params![id.to_string(), c, m, s, workers[g.below(workers.len())], at, mode, distance]).unwrap();
        }
    }
    tx.commit().unwrap();
    conn.execute_batch("ANALYZE").unwrap();
    t.elapsed().as_secs_f64()
}

fn bare_buckets(conn: &rusqlite::Connection, from: i64, to: i64, bucket: i64) -> Vec<IssueBucket> {
    let mut stmt = conn.prepare_cached(HOTSPOT_SQL).unwrap();
    let rows = stmt
        .query_map(rusqlite::params![from, bucket, to], |r| {
            Ok(IssueBucket {
                courtyard: r.get::<_, String>(0)?.parse().unwrap(),
                category: Category::from_code(&r.get::<_, String>(1)?).unwrap(),
                bucket: r.get(2)?,
                count: r.get::<_, i64>(3)? as u64,
            })
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// (rows, near visits) of the bare coverage GROUP BY.
fn bare_coverage(conn: &rusqlite::Connection, from: i64, to: i64, far_m: f64) -> (usize, u64) {
    let mut stmt = conn.prepare_cached(COVERAGE_SQL).unwrap();
    let mut rows = stmt.query(rusqlite::params![WEEK_ORIGIN_MS, WEEK_MS, far_m, from, to]).unwrap();
    let (mut n, mut near) = (0, 0);
    while let Some(r) = rows.next().unwrap() {
        let (_, _, _): (String, String, String) = (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap());
        let (_, far, count, _): (i64, i64, i64, i64) = (r.get(3).unwrap(), r.get(4).unwrap(), r.get(5).unwrap(), r.get(6).unwrap());
        n += 1;
        if far == 0 {
            near += count as u64;
        }
    }
    (n, near)
}

pub fn run(dir: &Path) -> Vec<BenchResult> {
    let data = dir.join("server");
    load_demo(&data);
    add_worker(&data, "boss", Role::Supervisor, vec![ScopeUnit::District]);
    let token = device_tokens(&data, "boss", 1).pop().expect("a token").1;
    let (reg, _) = admin::stored_registry(&data).expect("registry");
    let db = data.join(gridwalk_server::store::sqlite::DB_FILE);
    let config = || Config { rate_per_sec: 1e9, rate_burst: 1e9, ..Default::default() };
    // Open once so the schema is current, then fill it behind the server's back.
    let now = AppState::open(&data, config()).expect("open server state").now_ms();
    let made_in = fill(&db, &reg, now);
    let made = format!("fixture of {ISSUES} issues and {VISITS} visits over {WEEKS} weeks written in {made_in:.0} s");
    eprintln!("bench: foresight {made}");

    let state = AppState::open(&data, config()).expect("open server state");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let who = rt.block_on(state.authenticate(&token)).expect("token");
    let conn = rusqlite::Connection::open(&db).expect("open db");
    let rules = foresight::Rules::default();
    let mut results = Vec::new();

    // Hotspots: the same answer from the bare rows first.
    let hot = || rt.block_on(state.foresight_hotspots(&who, HotspotAsk::default())).expect("hotspots");
    let ours = hot();
    let at = state.now_ms();
    let window = 7 * DAY_MS;
    let from = hotspot::first_window_start(at, window);
    let index = gridwalk_server::app::registry::RegistryIndex::new(reg.clone(), 0);
    let bare_rows = bare_buckets(&conn, from, at + 1, window);
    let theirs = hotspot::hotspots(&cells_of(&index, "courtyard", &bare_rows), rules.hotspot_min_count, rules.hotspot_z);
    assert_eq!(
        ours.hotspots, theirs,
        "the hotspots and those made from the bare GROUP BY must agree, or the bench compares different things"
    );
    let scanned: u64 = bare_rows.iter().map(|b| b.count).sum();
    let (o, b) = medians_ms(
        9,
        || {
            hot();
        },
        || {
            let at = state.now_ms();
            bare_buckets(&conn, hotspot::first_window_start(at, window), at + 1, window);
        },
    );
    results.push(BenchResult {
        name: "foresight.hotspots_1m".into(),
        value: o,
        unit: "ms".into(),
        baseline: b,
        ratio: o / b,
        goal: "<= 3".into(),
        note: format!(
            "foresight_hotspots (courtyard × category, 7-day window and 8 trailing) as a district supervisor over {ISSUES} issues ({scanned} in the 9 windows, {} cells, {} hotspots), median of 9 after a warm-up; baseline: the same GROUP BY with rusqlite, raw rows (hotspots from them checked equal); {made}",
            bare_rows.len(),
            ours.hotspots.len()
        ),
    });

    // Coverage: the same counted visits first.
    let ask = || CoverageAsk { level: Some("community".into()), weeks: Some(4), stale_days: Some(14) };
    let cov = || rt.block_on(state.foresight_coverage(&who, ask())).expect("coverage");
    let ours = cov();
    let at = state.now_ms();
    let cov_from = foresight::week_start(at) - 3 * WEEK_MS;
    let cov_from = cov_from.min(at - 14 * DAY_MS);
    let (rows, near_all) = bare_coverage(&conn, cov_from, at + 1, rules.far_visit_m);
    let shown_from = foresight::week_start(at) - 3 * WEEK_MS;
    let mut c2 = conn
        .prepare(
            "SELECT count(*) FROM visits WHERE started_at_ms >= ?1 AND started_at_ms < ?2 AND (distance_m IS NULL OR distance_m <= ?3)",
        )
        .unwrap();
    let near_shown: i64 = c2.query_row(rusqlite::params![shown_from, at + 1, rules.far_visit_m], |r| r.get(0)).unwrap();
    let counted: u64 = ours.coverage.rows.iter().map(|r| r.visits).sum();
    assert_eq!(counted, near_shown as u64, "coverage's counted visits in the weeks shown are the bare count of near visits");
    assert!(near_all >= counted, "the lookback holds the weeks shown");
    let (o, b) = medians_ms(
        9,
        || {
            cov();
        },
        || {
            let at = state.now_ms();
            bare_coverage(&conn, cov_from.min(at - 14 * DAY_MS), at + 1, rules.far_visit_m);
        },
    );
    results.push(BenchResult {
        name: "foresight.coverage_2m".into(),
        value: o,
        unit: "ms".into(),
        baseline: b,
        ratio: o / b,
        goal: "<= 3".into(),
        note: format!(
            "foresight_coverage (community level, 4 ISO weeks, 14-day overdue) as a district supervisor over {VISITS} visits ({rows} groups in the lookback, {counted} counting visits shown over {} communities), median of 9 after a warm-up; baseline: the same GROUP BY with rusqlite, raw rows (counted visits checked equal); {made}",
            ours.coverage.rows.len() / 4
        ),
    });
    results
}
