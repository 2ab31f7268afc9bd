//! The district console over 1,000,000 issues, each figure against the bare SQL (or the bare
//! export library) for the same thing, on the same file in the same run:
//!
//! - `console.overview_1m`: `AppState::console_overview` as a district supervisor, in-process
//!   on the real SQLite file, against the same figures (today's four, the 12-week trend of
//!   received / response / resolution / satisfaction counts, and this week per subdistrict)
//!   computed by SQL aggregates with rusqlite. Before anything is timed the two are compared
//!   and the bench panics if they differ: a ratio between different answers means nothing.
//! - `console.first_ticket_page_1m` and `console.filtered_ticket_page_1m`: the first page of
//!   `console_tickets` (50 rows, newest receipt first, with its total), unfiltered and with
//!   status = reported in one subdistrict, against the bare keyset `SELECT view_json … LIMIT 51`
//!   and `count(*)` with the same `WHERE`, as raw values. Same ids and total checked first.
//! - `console.export_1m_csv` and `console.export_1m_xlsx`: `GET /api/v1/console/export/tickets.csv`
//!   and `.xlsx` from the release `gridwalk-server serve` process (bearer token), rows/s over the
//!   whole streamed download, against writing the same rows read by bare SQL with the bare
//!   library to a file (`csv::Writer`; `rust_xlsxwriter` in constant-memory mode).
//! - `console.export_1m_peak_rss`: the server process's VmHWM after both exports, in MB, against
//!   a fixed 300 MB budget.
//!
//! # The fixture
//! 1,000,000 issues spread over the 20 weeks before the run across the demo registry's
//! courtyards, with a mix of categories, sources and outcomes (unanswered, answered in time or
//! late, in progress, resolved, closed after a callback — satisfied, basically or not, which
//! reopens —, resolved on the spot, duplicates, cancelled). Each is a real `IssueView`: a report
//! event and its follow-ups folded by the domain's `fold_issue` and made lean by
//! `app::views::issue_view`, written with the store's own `Tx::put_issue_view` (columns and view
//! JSON exactly as ingest writes them) in batches of 10,000 per `write_blocking` job, while a
//! second thread folds the next batch.
//!
//! Only the `issues` table is filled: the overview, the ticket list and the export read the
//! issue views and their columns and never the event log (events are read only to open one
//! ticket, to pull, or to rebuild views). Storing a million events as well would take several
//! times longer and change nothing these pages read. The views are written after the server
//! state is opened once, so `views_version` is current and no rebuild from the (empty) event
//! log happens when the server process opens the same file.
//!
//! The fixture is made once per bench run in its temp dir and reused by all five results. The
//! newest issue is received 70 minutes before the fixture is made and every follow-up lies at
//! least 10 minutes in the past, so no issue crosses its response deadline between our call and
//! the baseline's (the figures cannot drift apart while they are compared).

use super::BenchResult;
use crate::server::{add_worker, device_tokens, load_demo, spawn_server_process_with_config};
use gridwalk_domain::rates::{Period, RateRow};
use gridwalk_domain::*;
use gridwalk_proto::ScopeUnit;
use gridwalk_server::app::console::overview::{day_start, OverviewQuery};
use gridwalk_server::app::console::tickets::TicketFilter;
use gridwalk_server::model::{IssueView, Place};
use gridwalk_server::{admin, AppState, Config};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Issues in the fixture.
pub const ISSUES: usize = 1_000_000;
/// Issues per write job.
const BATCH: usize = 10_000;
/// Weeks the issues are spread over.
const WEEKS: i64 = 20;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// The peak RSS budget of the server, MB.
const RSS_BUDGET_MB: f64 = 300.0;

/// Statuses that owe nothing more (never overdue).
const FINAL: &str = "('closed', 'duplicate', 'cancelled')";
/// Statuses that count in no rate.
const UNCOUNTED: &str = "('duplicate', 'cancelled')";

/// A small deterministic generator (splitmix64): the same fixture every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Uniform in `[lo, hi)`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }
    fn pick<T: Copy>(&mut self, weighted: &[(T, f64)]) -> T {
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let mut x = self.unit() * total;
        for (v, w) in weighted {
            if x < *w {
                return *v;
            }
            x -= w;
        }
        weighted[weighted.len() - 1].0
    }
}

const DESCRIPTIONS: &[&str] = &[
    "号楼东侧路灯不亮，居民夜间出行不便，请尽快维修。",
    "单元门口垃圾堆放多日无人清运，气味较大。",
    "楼道暖气管漏水，地面结冰，老人出行有摔倒风险。",
    "院内有人私自搭建棚子占用消防通道。",
    "电梯经常停运，高层住户上下楼困难，请物业尽快处理。",
    "夜间装修噪声扰民，多次沟通无果。",
    "小区内乱停车严重，救护车无法进入。",
    "独居老人需要上门助餐服务，请社区协调。",
];

/// What the fixture made, and how to use it.
struct Fixture {
    data: PathBuf,
    db: PathBuf,
    /// The district supervisor's device token.
    token: String,
    /// The subdistrict of the filtered ticket page.
    subdistrict: SubdistrictId,
    made_in: Duration,
}

/// The workers the fixture's events are authored by.
struct People {
    boss: WorkerId,
    grid: [WorkerId; 2],
    device: DeviceId,
}

/// The events of issue `i` received at `r`, none after `limit`.
// The generator's whole state is these values; a struct for one call site would only rename them.
#[allow(clippy::too_many_arguments)]
fn issue_events(
    g: &mut Rng,
    i: u64,
    r: i64,
    now: i64,
    limit: i64,
    yard: CourtyardId,
    who: &People,
    prev: IssueId,
) -> (IssueId, Vec<Event>) {
    let mut bits = [0u8; 10];
    bits[..8].copy_from_slice(&i.to_be_bytes());
    bits[8] = 0xC0;
    let source = g.pick(&[
        (IssueSource::Visit, 0.45),
        (IssueSource::Hotline, 0.30),
        (IssueSource::MobileCommittee, 0.10),
        (IssueSource::Online, 0.10),
        (IssueSource::DeliberationHall, 0.05),
    ]);
    let hotline = source == IssueSource::Hotline;
    let reported_at = if hotline { r + 20_000 } else { r };
    let id = IssueId::from_parts(reported_at as u64, bits);
    let grid = who.grid[g.below(2)];
    let category = Category::ALL[g.below(Category::ALL.len())];
    let report = IssueReport {
        courtyard: yard,
        category,
        source,
        description: format!("{}{}", 1 + g.below(30), DESCRIPTIONS[g.below(DESCRIPTIONS.len())]),
        contact: (g.unit() < 0.6).then(|| ResidentContact {
            name: (g.unit() < 0.5).then(|| "王阿姨".to_owned()),
            phone: format!("138{:08}", g.below(100_000_000)),
        }),
        location: None,
        received_at_ms: hotline.then_some(r),
        external_ref: hotline.then(|| format!("12345-{i:08}")),
    };
    let mut n = 0u8;
    let mut event = |author: WorkerId, at: i64, body: EventBody| {
        n += 1;
        let mut b = bits;
        b[9] = n;
        crate::server::stamped(author, who.device, at, b, Entity::Issue(id), body)
    };
    let reporter = if hotline { who.boss } else { grid };
    let mut events = vec![event(reporter, reported_at, EventBody::IssueReported(report))];
    if hotline {
        events.push(event(who.boss, reported_at + 10_000, EventBody::Assigned { to: Assignee::Worker(grid), reason: "责任网格员".into() }));
    }
    // How far it got: fresh issues are more often still open.
    let age = now - r;
    #[derive(Clone, Copy, PartialEq, PartialOrd)]
    enum Stage {
        Reported,
        Responded,
        InProgress,
        Resolved,
        CalledBack,
    }
    let open = if age < 3 * DAY_MS {
        [0.25, 0.25, 0.20, 0.15]
    } else if age < 14 * DAY_MS {
        [0.05, 0.10, 0.15, 0.15]
    } else {
        [0.01, 0.02, 0.05, 0.07]
    };
    let x = g.unit();
    if x < 0.02 {
        events.push(event(
            who.boss,
            r + g.between(10, 60) * MINUTE_MS,
            EventBody::ClosedAsDuplicate { of: prev, note: "与前一工单重复".into() },
        ));
    } else if x < 0.03 {
        events.push(event(reporter, r + g.between(5, 50) * MINUTE_MS, EventBody::Cancelled { reason: "居民撤回诉求".into() }));
    } else {
        let stage = g.pick(&[
            (Stage::Reported, open[0]),
            (Stage::Responded, open[1]),
            (Stage::InProgress, open[2]),
            (Stage::Resolved, open[3]),
            (Stage::CalledBack, 1.0 - open.iter().sum::<f64>()),
        ]);
        let on_the_spot = stage >= Stage::Resolved && g.unit() < 0.08;
        let mut t = r;
        if stage >= Stage::Responded && !on_the_spot {
            // Three in four answered within the hour.
            t += if g.unit() < 0.75 { g.between(5, 56) } else { g.between(65, 360) } * MINUTE_MS;
            events.push(event(grid, t, EventBody::IssueResponded { note: "已电话联系居民，了解情况。".into() }));
        }
        if stage >= Stage::InProgress && !on_the_spot {
            t += g.between(HOUR_MS, DAY_MS);
            let public = g.unit() < 0.3;
            events.push(event(grid, t, EventBody::ProgressAdded { note: "已联系物业，约定上门维修时间。".into(), public }));
        }
        if stage >= Stage::Resolved {
            t += if on_the_spot { g.between(15, 50) * MINUTE_MS } else { g.between(2 * HOUR_MS, 3 * DAY_MS) };
            events.push(event(grid, t, EventBody::IssueResolved { note: "已维修完毕，居民确认。".into(), photo_sha256: None }));
        }
        if stage >= Stage::CalledBack {
            t += g.between(2 * HOUR_MS, 2 * DAY_MS);
            let satisfaction =
                g.pick(&[(Satisfaction::Satisfied, 0.70), (Satisfaction::BasicallySatisfied, 0.20), (Satisfaction::Dissatisfied, 0.10)]);
            events.push(event(who.boss, t, EventBody::CallbackRecorded { satisfaction, note: "回访居民".into() }));
        }
    }
    // What has not happened yet by the fixture's time is left out (with what follows it).
    if let Some(cut) = events.iter().position(|e| e.wall_ms > limit) {
        events.truncate(cut);
    }
    (id, events)
}

/// Fold `events` into the lean view ingest would store.
fn view_of(id: IssueId, events: Vec<Event>) -> IssueView {
    let state = fold_issue(id, events);
    assert!(state.conflicts().next().is_none(), "a fixture issue folds without conflicts: {:?}", state.history);
    gridwalk_server::app::views::issue_view(state)
}

fn token_of(data: &Path, username: &str) -> String {
    device_tokens(data, username, 1).pop().expect("a token").1
}

/// Make the fixture under `dir`, or reuse the one made there earlier in this run.
fn fixture(dir: &Path) -> Fixture {
    let data = dir.join("server");
    let db = data.join(gridwalk_server::store::sqlite::DB_FILE);
    let done = data.join("console-fixture.json");
    if let Ok(text) = std::fs::read_to_string(&done) {
        let v: serde_json::Value = serde_json::from_str(&text).expect("fixture note");
        return Fixture {
            token: v["token"].as_str().expect("token").to_owned(),
            subdistrict: v["subdistrict"].as_str().expect("subdistrict").parse().expect("subdistrict id"),
            made_in: Duration::from_secs_f64(v["made_in_s"].as_f64().unwrap_or(0.0)),
            data,
            db,
        };
    }
    let start = Instant::now();
    load_demo(&data);
    add_worker(&data, "boss", Role::Supervisor, vec![ScopeUnit::District]);
    add_worker(&data, "grid-a", Role::GridWorker, vec![ScopeUnit::District]);
    add_worker(&data, "grid-b", Role::GridWorker, vec![ScopeUnit::District]);
    let token = token_of(&data, "boss");
    let (reg, _) = admin::stored_registry(&data).expect("registry");
    let sub_of: HashMap<CommunityId, SubdistrictId> = reg.communities.iter().map(|c| (c.id, c.subdistrict)).collect();
    let yards: Vec<Place> = reg
        .courtyards
        .iter()
        .filter_map(|y| Some(Place { courtyard: y.id, community: y.community, subdistrict: *sub_of.get(&y.community)? }))
        .collect();
    assert!(!yards.is_empty(), "the demo registry has courtyards");
    let subdistrict = yards[0].subdistrict;

    let config = Config { rate_per_sec: 1e9, rate_burst: 1e9, ..Default::default() };
    let state = AppState::open(&data, config).expect("open server state");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let id_of = |username: &str| rt.block_on(state.authenticate(&token_of(&data, username))).expect("token").worker.id;
    let people = People {
        boss: id_of("boss"),
        grid: [id_of("grid-a"), id_of("grid-b")],
        device: DeviceId::from_parts(crate::server::recent_ms() as u64, [0xC0; 10]),
    };
    let now = state.now_ms();
    let end = now - 70 * MINUTE_MS;
    let first = end - WEEKS * WEEK_MS;
    let limit = now - 10 * MINUTE_MS;
    let step = (end - first) / ISSUES as i64;

    // One thread folds batches, this one writes them: the two cores each do one.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(IssueView, Place)>>(2);
    let producer = std::thread::spawn(move || {
        let mut g = Rng(0x6772_6964_7761_6c6b);
        let mut prev = IssueId::from_parts(first as u64 - 1, [0xC1; 10]);
        for b in 0..ISSUES.div_ceil(BATCH) {
            let batch: Vec<(IssueView, Place)> = (b * BATCH..((b + 1) * BATCH).min(ISSUES))
                .map(|i| {
                    let r = first + i as i64 * step + g.between(0, step);
                    let place = yards[g.below(yards.len())];
                    let (id, events) = issue_events(&mut g, i as u64, r, now, limit, place.courtyard, &people, prev);
                    prev = id;
                    (view_of(id, events), place)
                })
                .collect();
            if tx.send(batch).is_err() {
                return;
            }
        }
    });
    let mut written = 0usize;
    for batch in rx {
        written += batch.len();
        state
            .storage()
            .write_blocking(move |tx| {
                for (view, place) in &batch {
                    tx.put_issue_view(view, place, None)?;
                }
                Ok(())
            })
            .expect("write a batch of issue views");
        if written.is_multiple_of(100_000) {
            eprintln!("bench: console fixture: {written} issues in {:.0} s", start.elapsed().as_secs_f64());
        }
    }
    producer.join().expect("the fixture's producer");
    assert_eq!(written, ISSUES, "every fixture issue written");
    drop(state);
    // The planner's statistics, as a long-running server's `PRAGMA optimize` would have them.
    rusqlite::Connection::open(&db).expect("open db").execute_batch("ANALYZE").expect("analyze");
    let made_in = start.elapsed();
    let note = serde_json::json!({ "token": token, "subdistrict": subdistrict.to_string(), "made_in_s": made_in.as_secs_f64() });
    std::fs::write(&done, note.to_string()).expect("fixture note");
    Fixture { data, db, token, subdistrict, made_in }
}

/// The median of `runs` timings of `ours` and of `bare`, in ms, taken in alternating rounds
/// (ours first in even rounds, bare first in odd ones) after one warm-up call of each, so
/// machine noise and cache order hit both sides alike.
pub(crate) fn medians_ms(runs: usize, mut ours: impl FnMut(), mut bare: impl FnMut()) -> (f64, f64) {
    ours();
    bare();
    let (mut a, mut b) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1e3
    };
    for round in 0..runs {
        if round % 2 == 0 {
            a.push(time(&mut ours));
            b.push(time(&mut bare));
        } else {
            b.push(time(&mut bare));
            a.push(time(&mut ours));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(a), median(b))
}

/// The counts behind one row of rates.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Counts {
    group: String,
    week: i64,
    received: u64,
    response: (u64, u64),
    resolution: (u64, u64),
    satisfaction: (u64, u64),
}

impl Counts {
    fn of(r: &RateRow) -> Counts {
        Counts {
            group: r.group.clone(),
            week: r.period_start_ms,
            received: r.received,
            response: (r.response.numerator, r.response.denominator),
            resolution: (r.resolution.numerator, r.resolution.denominator),
            satisfaction: (r.satisfaction.numerator, r.satisfaction.denominator),
        }
    }
}

/// The overview's figures as numbers, to compare ours with the bare SQL's.
#[derive(Debug, PartialEq, Eq)]
struct Figures {
    /// Received today, of them answered within the hour, overdue, resolved today.
    today: [u64; 4],
    trend: Vec<Counts>,
    units: Vec<Counts>,
}

fn figures_of(o: &gridwalk_proto::console::Overview) -> Figures {
    let mut units: Vec<Counts> = o.units.iter().map(Counts::of).collect();
    units.sort();
    Figures {
        today: [o.today.received, o.today.responded_in_time, o.today.overdue, o.today.resolved],
        trend: o.trend.iter().map(Counts::of).collect(),
        units,
    }
}

/// The same figures by SQL aggregates over the `issues` columns, as of `now`.
fn bare_figures(conn: &rusqlite::Connection, now: i64, code_of: &HashMap<String, String>) -> Figures {
    let w = RESPONSE_WINDOW_MS;
    let day = day_start(now);
    let week = Period::Week.start(now);
    let from = week - 11 * WEEK_MS;
    let n = |v: i64| v.max(0) as u64;
    let (received, in_time): (i64, i64) = conn
        .prepare_cached(&format!(
            "SELECT count(*), COALESCE(SUM(responded_at_ms IS NOT NULL AND responded_at_ms <= received_at_ms + {w}), 0)
             FROM issues WHERE status NOT IN {UNCOUNTED} AND received_at_ms >= ?1 AND received_at_ms < ?2"
        ))
        .unwrap()
        .query_row([day, now + 1], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let overdue: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM issues WHERE responded_at_ms IS NULL AND response_due_ms < ?1 AND status NOT IN {FINAL}"
        ))
        .unwrap()
        .query_row([now], |r| r.get(0))
        .unwrap();
    let resolved: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM issues WHERE status NOT IN {UNCOUNTED} AND resolved_at_ms >= ?1 AND resolved_at_ms <= ?2"
        ))
        .unwrap()
        .query_row([day, now], |r| r.get(0))
        .unwrap();
    // Each week is its own range aggregate over the received index: a GROUP BY of the week
    // would sort every row of 12 weeks first.
    let aggregates = format!(
        "count(*), COALESCE(SUM(responded_at_ms IS NOT NULL AND responded_at_ms <= received_at_ms + {w}), 0),
         COALESCE(SUM(responded_at_ms IS NOT NULL OR ?3 > received_at_ms + {w}), 0), COALESCE(SUM(status IN ('resolved', 'closed')), 0),
         COALESCE(SUM(satisfaction IN ('satisfied', 'basically_satisfied')), 0), COALESCE(SUM(satisfaction IS NOT NULL), 0)"
    );
    let where_ = format!("received_at_ms >= ?1 AND received_at_ms < ?2 AND status NOT IN {UNCOUNTED}");
    let six = |r: &rusqlite::Row<'_>, at: usize| -> rusqlite::Result<[i64; 6]> {
        Ok([r.get(at)?, r.get(at + 1)?, r.get(at + 2)?, r.get(at + 3)?, r.get(at + 4)?, r.get(at + 5)?])
    };
    let mut weekly = conn.prepare_cached(&format!("SELECT {aggregates} FROM issues WHERE {where_}")).unwrap();
    let mut trend_rows = Vec::new();
    for k in 0..12 {
        let start = from + k * WEEK_MS;
        let c = weekly.query_row([start, (start + WEEK_MS).min(now + 1), now], |r| six(r, 0)).unwrap();
        if c[0] > 0 {
            trend_rows.push(("district".to_owned(), start, c));
        }
    }
    let mut by_unit = conn.prepare_cached(&format!("SELECT subdistrict_id, {aggregates} FROM issues WHERE {where_} GROUP BY 1")).unwrap();
    let unit_rows: Vec<(String, i64, [i64; 6])> =
        by_unit.query_map([week, now + 1, now], |r| Ok((r.get::<_, String>(0)?, week, six(r, 1)?))).unwrap().map(Result::unwrap).collect();
    let counts = |group: String, week: i64, c: [i64; 6]| Counts {
        group,
        week,
        received: n(c[0]),
        response: (n(c[1]), n(c[2])),
        resolution: (n(c[3]), n(c[0])),
        satisfaction: (n(c[4]), n(c[5])),
    };
    let trend = trend_rows.into_iter().map(|(g, wk, c)| counts(g, wk, c)).collect();
    let mut units: Vec<Counts> = unit_rows.into_iter().map(|(id, wk, c)| counts(code_of.get(&id).cloned().unwrap_or(id), wk, c)).collect();
    units.sort();
    Figures { today: [n(received), n(in_time), n(overdue), n(resolved)], trend, units }
}

/// The query plans of the bare side, on stderr, so a baseline that lost its index shows.
fn explain(conn: &rusqlite::Connection, fx: &Fixture) {
    let now = crate::server::recent_ms();
    let queries = [
        format!(
            "SELECT count(*), SUM(responded_at_ms IS NOT NULL) FROM issues WHERE received_at_ms >= {} AND received_at_ms < {now} AND status NOT IN {UNCOUNTED}",
            now - WEEK_MS
        ),
        format!("SELECT count(*) FROM issues WHERE received_at_ms IS NOT NULL AND 1 AND status = 'reported' AND subdistrict_id = '{}'", fx.subdistrict),
    ];
    for q in queries {
        let t = Instant::now();
        conn.prepare(&q).unwrap().query_map([], |_| Ok(())).unwrap().for_each(drop);
        let took = t.elapsed().as_secs_f64() * 1e3;
        let plan: Vec<String> =
            conn.prepare(&format!("EXPLAIN QUERY PLAN {q}")).unwrap().query_map([], |r| r.get(3)).unwrap().map(Result::unwrap).collect();
        eprintln!("bench: console: bare plan {plan:?} ({took:.0} ms) for {q}");
    }
}

/// The bare ticket page: the keyset SELECT of 51 views and the count, as raw values.
fn bare_page(conn: &rusqlite::Connection, filter: &str, args: &[String]) -> (Vec<String>, i64) {
    let rows: Vec<String> = conn
        .prepare_cached(&format!(
            "SELECT view_json FROM issues WHERE received_at_ms IS NOT NULL{filter} ORDER BY received_at_ms DESC, id DESC LIMIT ?"
        ))
        .unwrap()
        .query_map(rusqlite::params_from_iter(args.iter().map(|a| rusqlite::types::Value::Text(a.clone())).chain([51.into()])), |r| {
            r.get(0)
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM issues WHERE received_at_ms IS NOT NULL{filter}"))
        .unwrap()
        .query_row(rusqlite::params_from_iter(args), |r| r.get(0))
        .unwrap();
    (rows, total)
}

/// One export row as the bare baseline writes it: the columns of the server's ticket export.
struct Row {
    id: String,
    received: Option<i64>,
    category: &'static str,
    source: &'static str,
    status: &'static str,
    subdistrict: String,
    community: String,
    courtyard: String,
    assignee: String,
    due: Option<i64>,
    responded: Option<i64>,
    resolved: Option<i64>,
    closed: Option<i64>,
    overdue: &'static str,
    description: String,
    external_ref: String,
    contact: String,
    phone: String,
}

/// The server's ticket export's headers.
const HEADERS: [&str; 18] = [
    "工单编号",
    "受理时间",
    "类别",
    "来源",
    "状态",
    "街乡",
    "社区",
    "院落",
    "承办",
    "响应时限",
    "响应时间",
    "解决时间",
    "办结时间",
    "是否超时",
    "诉求描述",
    "外部单号",
    "联系人",
    "联系电话",
];

/// Names of places and workers by the ids the `issues` columns hold.
struct Labels {
    places: HashMap<String, String>,
    assignees: HashMap<String, String>,
}

fn labels(conn: &rusqlite::Connection, reg: &Registry) -> Labels {
    let mut places = HashMap::new();
    places.extend(reg.subdistricts.iter().map(|s| (s.id.to_string(), s.name.clone())));
    places.extend(reg.communities.iter().map(|c| (c.id.to_string(), c.name.clone())));
    places.extend(reg.courtyards.iter().map(|y| (y.id.to_string(), y.name.clone())));
    let mut assignees: HashMap<String, String> = conn
        .prepare("SELECT id, name FROM workers")
        .unwrap()
        .query_map([], |r| Ok((format!("worker:{}", r.get::<_, String>(0)?), r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assignees.insert("dispatcher".into(), "区派单员".into());
    assignees.extend(reg.communities.iter().map(|c| (format!("community:{}", c.id), format!("{}（社区督办）", c.name))));
    Labels { places, assignees }
}

/// Read every issue with bare SQL, newest receipt first, and hand each row to `each`.
fn each_bare_row(conn: &rusqlite::Connection, l: &Labels, now: i64, mut each: impl FnMut(&Row)) -> usize {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT id, received_at_ms, category, source, status, subdistrict_id, community_id, courtyard_id, assignee,
                    response_due_ms, responded_at_ms, resolved_at_ms, closed_at_ms,
                    status NOT IN {FINAL} AND responded_at_ms IS NULL AND response_due_ms < ?1,
                    json_extract(view_json, '$.state.report.description'), json_extract(view_json, '$.state.report.external_ref'),
                    json_extract(view_json, '$.state.report.contact.name'), json_extract(view_json, '$.state.report.contact.phone')
             FROM issues WHERE received_at_ms IS NOT NULL ORDER BY received_at_ms DESC, id DESC"
        ))
        .unwrap();
    let mut rows = stmt.query([now]).unwrap();
    let label = |map: &HashMap<String, String>, key: Option<String>| key.map(|k| map.get(&k).cloned().unwrap_or(k)).unwrap_or_default();
    let mut n = 0;
    while let Some(r) = rows.next().unwrap() {
        let text = |i: usize| r.get::<_, Option<String>>(i).unwrap();
        let row = Row {
            id: r.get(0).unwrap(),
            received: r.get(1).unwrap(),
            category: text(2).and_then(|c| Category::from_code(&c)).map_or("", |s| s.label_zh()),
            source: text(3).and_then(|c| IssueSource::from_code(&c)).map_or("", |s| s.label_zh()),
            status: text(4).and_then(|c| IssueStatus::from_code(&c)).map_or("", |s| s.label_zh()),
            subdistrict: label(&l.places, text(5)),
            community: label(&l.places, text(6)),
            courtyard: label(&l.places, text(7)),
            assignee: label(&l.assignees, text(8)),
            due: r.get(9).unwrap(),
            responded: r.get(10).unwrap(),
            resolved: r.get(11).unwrap(),
            closed: r.get(12).unwrap(),
            overdue: if r.get::<_, Option<bool>>(13).unwrap().unwrap_or(false) { "是" } else { "否" },
            description: text(14).unwrap_or_default(),
            external_ref: text(15).unwrap_or_default(),
            contact: text(16).unwrap_or_default(),
            phone: text(17).map(|p| mask_phone(&p)).unwrap_or_default(),
        };
        each(&row);
        n += 1;
    }
    n
}

/// `YYYY-MM-DD HH:MM`, Beijing time.
fn minute_text(ms: Option<i64>) -> String {
    ms.map(gridwalk_server::app::console::export::beijing_text).unwrap_or_default()
}

/// Beijing's minute of `ms` as an Excel serial date-time.
fn excel_serial(ms: i64) -> f64 {
    let minute = (ms + 8 * HOUR_MS).div_euclid(MINUTE_MS);
    (minute.div_euclid(1440) + 25_569) as f64 + minute.rem_euclid(1440) as f64 / 1440.0
}

/// The bare CSV: BOM, header, every row, with the csv crate's writer. Returns (rows, seconds).
fn bare_csv(conn: &rusqlite::Connection, l: &Labels, now: i64, out: &Path) -> (usize, f64) {
    let t = Instant::now();
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    file.write_all(b"\xEF\xBB\xBF").unwrap();
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(file);
    w.write_record(HEADERS).unwrap();
    let n = each_bare_row(conn, l, now, |r| {
        w.write_record([
            r.id.as_str(),
            &minute_text(r.received),
            r.category,
            r.source,
            r.status,
            &r.subdistrict,
            &r.community,
            &r.courtyard,
            &r.assignee,
            &minute_text(r.due),
            &minute_text(r.responded),
            &minute_text(r.resolved),
            &minute_text(r.closed),
            r.overdue,
            &r.description,
            &r.external_ref,
            &r.contact,
            &r.phone,
        ])
        .unwrap();
    });
    w.flush().unwrap();
    (n, t.elapsed().as_secs_f64())
}

/// The bare .xlsx: header and every row in rust_xlsxwriter's constant-memory mode, times as
/// Excel date-times. Returns (rows, seconds).
fn bare_xlsx(conn: &rusqlite::Connection, l: &Labels, now: i64, out: &Path, tmp: &Path) -> (usize, f64) {
    use rust_xlsxwriter::{Format, Workbook};
    let t = Instant::now();
    let mut wb = Workbook::new();
    wb.set_tempdir(tmp).unwrap();
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let ws = wb.add_worksheet_with_constant_memory().unwrap();
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let mut row = 0u32;
    let n = each_bare_row(conn, l, now, |r| {
        row += 1;
        let text = [
            (0, r.id.as_str()),
            (2, r.category),
            (3, r.source),
            (4, r.status),
            (5, &r.subdistrict),
            (6, &r.community),
            (7, &r.courtyard),
            (8, &r.assignee),
            (13, r.overdue),
            (14, &r.description),
            (15, &r.external_ref),
            (16, &r.contact),
            (17, &r.phone),
        ];
        for (c, v) in text {
            if !v.is_empty() {
                ws.write_string(row, c, v).unwrap();
            }
        }
        for (c, v) in [(1, r.received), (9, r.due), (10, r.responded), (11, r.resolved), (12, r.closed)] {
            if let Some(ms) = v {
                ws.write_number_with_format(row, c, excel_serial(ms), &time).unwrap();
            }
        }
    });
    wb.save(out).unwrap();
    (n, t.elapsed().as_secs_f64())
}

/// A writer that counts what passes and keeps nothing.
#[derive(Default)]
struct Tally {
    bytes: u64,
    lines: u64,
}

impl Write for Tally {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        self.lines += buf.iter().filter(|b| **b == b'\n').count() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one export download gave.
struct Download {
    rows: u64,
    secs: f64,
    tally: Tally,
}

/// `GET` an export and read its streamed body to the end. `None` when the route is not there
/// (404: the export is not in this build).
fn download(http: &reqwest::blocking::Client, url: &str, token: &str) -> Option<Download> {
    let t = Instant::now();
    let mut resp = http.get(url).bearer_auth(token).send().expect("export request");
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    if !resp.status().is_success() {
        let status = resp.status();
        let mut body = String::new();
        let _ = resp.read_to_string(&mut body);
        panic!("GET {url} answered {status}: {body}");
    }
    let rows = resp
        .headers()
        .get("x-total-rows")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("GET {url} has no X-Total-Rows header"));
    let mut tally = Tally::default();
    std::io::copy(&mut resp, &mut tally).expect("read the whole export");
    Some(Download { rows, secs: t.elapsed().as_secs_f64(), tally })
}

fn proc_status_kb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0.0)
}

fn export_results(fx: &Fixture, dir: &Path) -> Vec<BenchResult> {
    let conn = rusqlite::Connection::open(&fx.db).expect("open db");
    let (reg, _) = admin::stored_registry(&fx.data).expect("registry");
    let l = labels(&conn, &reg);
    let tmp = dir.join("xlsx-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // The server's first escalation run comes one period after it starts: an hour here, after
    // the exports. The fixture's views were never swept (a live server escalates issues as they
    // come due), so a run at the default minute would escalate the whole backlog of open issues
    // in one write job — seen taking over 10 minutes and 9 GB, with every write (and the
    // export's request behind it) waiting — and measure that instead of the export.
    let config = dir.join("district.toml");
    std::fs::write(&config, "[escalation]\nperiod_seconds = 3600\n").expect("config file");
    let server = spawn_server_process_with_config(&fx.data, &config);
    let pid = server.pid();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(1800)).build().expect("http client");
    let mut results = Vec::new();
    let mut untested = Vec::new();
    let mut hwm_after = String::new();
    for ext in ["csv", "xlsx"] {
        let out = dir.join(format!("bare.{ext}"));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
        let (bare_rows, bare_secs) = if ext == "csv" { bare_csv(&conn, &l, now, &out) } else { bare_xlsx(&conn, &l, now, &out, &tmp) };
        let bare_bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(&out).ok();
        let url = format!("{}/api/v1/console/export/tickets.{ext}", server.base_url);
        let Some(d) = download(&http, &url, &fx.token) else {
            untested.push(ext);
            continue;
        };
        assert_eq!(d.rows, ISSUES as u64, "the export of every ticket has {ISSUES} rows (X-Total-Rows)");
        if ext == "csv" {
            assert!(d.tally.lines > d.rows, "the CSV holds its header and {} rows: {} lines", d.rows, d.tally.lines);
        }
        let (ours, bare) = (d.rows as f64 / d.secs, bare_rows as f64 / bare_secs);
        hwm_after.push_str(&format!("{ext}: {:.0} MB; ", proc_status_kb(pid, "VmHWM:") * 1024.0 / 1e6));
        results.push(BenchResult {
            name: format!("console.export_1m_{ext}"),
            value: ours,
            unit: "rows/s".into(),
            baseline: bare,
            ratio: ours / bare,
            goal: ">= 0.5".into(),
            note: format!(
                "GET /api/v1/console/export/tickets.{ext} of all {} tickets from the release server process over loopback, request to last byte ({:.1} s, {:.0} MB streamed); baseline: the same {bare_rows} rows read by bare SQL (its 18 columns: the issue columns, report text by json_extract, names by hash map, phone masked) written with the bare library ({}) to a file ({bare_secs:.1} s, {:.0} MB)",
                d.rows,
                d.secs,
                d.tally.bytes as f64 / 1e6,
                if ext == "csv" { "csv::Writer" } else { "rust_xlsxwriter, constant_memory" },
                bare_bytes as f64 / 1e6,
            ),
        });
    }
    if !untested.is_empty() {
        eprintln!(
            "bench: console: GET /api/v1/console/export/tickets.{{{}}} answered 404 in this build: the export results are left out (untested)",
            untested.join(",")
        );
    }
    if untested.len() < 2 {
        let hwm_mb = proc_status_kb(pid, "VmHWM:") * 1024.0 / 1e6;
        let rss_mb = proc_status_kb(pid, "VmRSS:") * 1024.0 / 1e6;
        results.push(BenchResult {
            name: "console.export_1m_peak_rss".into(),
            value: hwm_mb,
            unit: "MB".into(),
            baseline: RSS_BUDGET_MB,
            ratio: hwm_mb / RSS_BUDGET_MB,
            goal: "<= 1".into(),
            note: format!(
                "VmHWM of the server process over its life (start, then the exports above, one after the other), read after them (after each: {}VmRSS now {rss_mb:.0} MB); baseline: the 300 MB budget",
                hwm_after
            ),
        });
    }
    drop(server);
    results
}

pub fn run(dir: &Path) -> Vec<BenchResult> {
    // For working on the bench only: GRIDWALK_CONSOLE_FIXTURE=<dir> keeps the fixture there
    // across runs (its issues then end earlier before "now" than a fresh one's).
    let kept = std::env::var_os("GRIDWALK_CONSOLE_FIXTURE").map(PathBuf::from);
    let fx = fixture(kept.as_deref().unwrap_or(dir));
    eprintln!("bench: console fixture: {ISSUES} issues ready in {:.0} s", fx.made_in.as_secs_f64());
    let made = format!("fixture of {ISSUES} issue views over {WEEKS} weeks made in {:.0} s", fx.made_in.as_secs_f64());
    let mut results = Vec::new();
    {
        let config = Config { rate_per_sec: 1e9, rate_burst: 1e9, ..Default::default() };
        let state = AppState::open(&fx.data, config).expect("open server state");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let who = rt.block_on(state.authenticate(&fx.token)).expect("token");
        let conn = rusqlite::Connection::open(&fx.db).expect("open db");
        let (reg, _) = admin::stored_registry(&fx.data).expect("registry");
        let code_of: HashMap<String, String> = reg.subdistricts.iter().map(|s| (s.id.to_string(), s.code.clone())).collect();

        // The overview: the same figures first, then the timings.
        let overview = || rt.block_on(state.console_overview(&who, OverviewQuery::default())).expect("overview");
        let ours = figures_of(&overview());
        let bare = bare_figures(&conn, state.now_ms(), &code_of);
        explain(&conn, &fx);
        assert_eq!(ours, bare, "the overview and the bare SQL must give the same figures, or the bench compares different things");
        // (11 only in the first 70 minutes of a Monday, before this week's first issue.)
        assert!((11..=12).contains(&ours.trend.len()), "12 weeks of trend: {:?}", ours.trend);
        let (o, b) = medians_ms(
            9,
            || {
                overview();
            },
            || {
                bare_figures(&conn, state.now_ms(), &code_of);
            },
        );
        let week = ours.trend.last().map_or(0, |c| c.received);
        results.push(BenchResult {
            name: "console.overview_1m".into(),
            value: o,
            unit: "ms".into(),
            baseline: b,
            ratio: o / b,
            goal: "<= 2".into(),
            note: format!(
                "console_overview as a district supervisor over {ISSUES} issues (12-week trend over {} of them, {week} this week, {} subdistricts), median of 9 after a warm-up; baseline: the same figures (checked equal) by SQL aggregates on the same file; {made}",
                ours.trend.iter().map(|c| c.received).sum::<u64>(),
                ours.units.len()
            ),
        });

        // The first ticket page, unfiltered and filtered.
        let pages = [
            ("console.first_ticket_page_1m", TicketFilter::default(), " AND 1".to_owned(), Vec::new(), "no filter"),
            (
                "console.filtered_ticket_page_1m",
                TicketFilter { status: Some("reported".into()), subdistrict: Some(fx.subdistrict.to_string()), ..Default::default() },
                " AND 1 AND status = ? AND subdistrict_id = ?".to_owned(),
                vec!["reported".to_owned(), fx.subdistrict.to_string()],
                "status = reported in one subdistrict",
            ),
        ];
        for (name, filter, sql, args, what) in pages {
            let page = || rt.block_on(state.console_tickets(&who, filter.clone())).expect("ticket page");
            let p = page();
            let (rows, total) = bare_page(&conn, &sql, &args);
            let bare_ids: Vec<IssueId> =
                rows.iter().take(50).map(|j| serde_json::from_str::<IssueView>(j).expect("view json").state.id).collect();
            let ids: Vec<IssueId> = p.tickets.iter().map(|t| t.issue.id).collect();
            assert_eq!(ids.len(), 50, "{name}: a full page of 50");
            assert_eq!(ids, bare_ids, "{name}: the page and the bare SELECT list the same issues");
            assert_eq!(p.total, Some(total as u64), "{name}: the page's total is the bare count");
            let (o, b) = medians_ms(
                15,
                || {
                    page();
                },
                || {
                    bare_page(&conn, &sql, &args);
                },
            );
            results.push(BenchResult {
                name: name.into(),
                value: o,
                unit: "ms".into(),
                baseline: b,
                ratio: o / b,
                goal: "<= 2".into(),
                note: format!(
                    "console_tickets first page of 50 ({what}, newest first) with its total of {total}, median of 15 after a warm-up; baseline: the bare keyset SELECT view_json … LIMIT 51 and count(*) with the same WHERE, raw values, same connection kind and file"
                ),
            });
        }
    }
    results.extend(export_results(&fx, dir));
    results
}
