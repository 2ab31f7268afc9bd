//! Walk-around coverage (走访覆盖).
//!
//! # Definitions
//! - A visit **counts** when it has no GPS point, or its point lies within `far_visit_m` of its
//!   courtyard's registry point. A visit farther away is **flagged**: it is shown, and counted
//!   apart, but it visits nothing.
//! - A courtyard is **visited in a week** (ISO week, Beijing) when a counting visit to it
//!   started in that week. For a worker, only their own visits; for a community or a
//!   subdistrict, anyone's.
//! - **Coverage** of a unit in a week = courtyards it answers for that were visited that week ÷
//!   courtyards it answers for. A worker answers for the courtyards naming them as responsible
//!   worker; a community or subdistrict for its courtyards. No courtyards: no figure (`None`).
//!   The same share is given per visit mode (走动 / 穿透 / 蹲点): courtyards with a counting
//!   visit of that mode.
//! - A courtyard's **last visit** is its latest counting visit; it is **overdue** when that is
//!   more than `stale_days` days before now, or there is none in the lookback.
//! - On the tablet, "my courtyards this week": **visited** (a counting visit this week),
//!   **overdue** (as above) or **due** (neither).

use super::geo::distance_m;
use super::{week_start, Duty, Unit, DAY_MS};
use crate::ids::*;
use crate::model::Visit;
use crate::registry::GeoPoint;
use crate::vocab::VisitMode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Visits of one worker to one courtyard in one mode and week, split by whether they count:
/// one row of the store's GROUP BY (or of [`tally`] on the tablet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VisitTally {
    pub courtyard: CourtyardId,
    pub worker: WorkerId,
    pub mode: VisitMode,
    pub week_start_ms: i64,
    pub far: bool,
    pub visits: u64,
    /// The latest start among them.
    pub last_ms: i64,
}

/// Whether a visit at `at` (if it has a point) is far from its courtyard's `point`.
pub fn is_far(at: Option<GeoPoint>, point: Option<GeoPoint>, far_visit_m: f64) -> bool {
    match (at, point) {
        (Some(a), Some(p)) => distance_m(a, p) > far_visit_m,
        _ => false,
    }
}

/// The tallies of recorded visits (the tablet's own store; the server's SQL groups the same
/// way). `point` gives a courtyard's registry point.
pub fn tally<'a>(
    visits: impl IntoIterator<Item = (WorkerId, &'a Visit)>,
    point: impl Fn(CourtyardId) -> Option<GeoPoint>,
    far_visit_m: f64,
) -> Vec<VisitTally> {
    // (courtyard, worker, mode, week, far) → (visits, latest start): the store's GROUP BY.
    type Key = (CourtyardId, WorkerId, VisitMode, i64, bool);
    let mut out: BTreeMap<Key, (u64, i64)> = BTreeMap::new();
    for (worker, v) in visits {
        let at = v.location.map(|l| GeoPoint { lat: l.lat, lon: l.lon });
        let far = is_far(at, point(v.courtyard), far_visit_m);
        let e = out.entry((v.courtyard, worker, v.mode, week_start(v.started_at_ms), far)).or_insert((0, i64::MIN));
        e.0 += 1;
        e.1 = e.1.max(v.started_at_ms);
    }
    out.into_iter()
        .map(|((courtyard, worker, mode, week_start_ms, far), (visits, last_ms))| VisitTally {
            courtyard,
            worker,
            mode,
            week_start_ms,
            far,
            visits,
            last_ms,
        })
        .collect()
}

/// Courtyards per visit mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ByMode {
    pub walk_through: u64,
    pub in_depth: u64,
    pub stationed: u64,
}

impl ByMode {
    fn slot(&mut self, m: VisitMode) -> &mut u64 {
        match m {
            VisitMode::WalkThrough => &mut self.walk_through,
            VisitMode::InDepth => &mut self.in_depth,
            VisitMode::Stationed => &mut self.stationed,
        }
    }
}

/// One unit's coverage in one week.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageRow {
    pub unit: Unit,
    pub week_start_ms: i64,
    /// Courtyards the unit answers for.
    pub courtyards: u64,
    /// Of them, visited this week (by a counting visit).
    pub visited: u64,
    /// Of them, visited this week in each mode.
    pub visited_by_mode: ByMode,
    /// `visited ÷ courtyards`; `None` without courtyards.
    pub share: Option<f64>,
    /// Counting visits to the unit's courtyards this week.
    pub visits: u64,
    /// Flagged visits (far from their courtyard) to the unit's courtyards this week.
    pub flagged: u64,
}

/// One courtyard's last visits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CourtyardVisits {
    pub courtyard: CourtyardId,
    pub community: CommunityId,
    pub worker: Option<WorkerId>,
    /// The latest counting visit in the lookback.
    pub last_visit_ms: Option<i64>,
    /// The latest flagged visit in the lookback, if later than the last counting one.
    pub last_flagged_ms: Option<i64>,
    /// Not visited in `stale_days` (or never in the lookback).
    pub overdue: bool,
}

/// The coverage of every unit at `level` (worker, community or subdistrict) in each of
/// `weeks` (week starts), and every courtyard's last visit, as of `now_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coverage {
    pub rows: Vec<CoverageRow>,
    pub courtyards: Vec<CourtyardVisits>,
}

/// Which units the rows are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Worker,
    Community,
    Subdistrict,
}

impl Level {
    pub fn from_code(code: &str) -> Option<Level> {
        match code {
            "worker" => Some(Level::Worker),
            "community" => Some(Level::Community),
            "subdistrict" => Some(Level::Subdistrict),
            _ => None,
        }
    }

    fn unit_of(self, d: &Duty) -> Option<Unit> {
        match self {
            Level::Worker => d.worker.map(Unit::Worker),
            Level::Community => Some(Unit::Community(d.community)),
            Level::Subdistrict => Some(Unit::Subdistrict(d.subdistrict)),
        }
    }
}

/// Coverage over `duties` (the courtyards in scope) from their visit tallies. Rows come sorted
/// by unit, then week; every unit with a courtyard gets a row for every week, visited or not.
/// A worker with visits but no courtyards gets rows too (0 courtyards, no share), so their
/// walking shows.
pub fn compute(duties: &[Duty], tallies: &[VisitTally], level: Level, weeks: &[i64], now_ms: i64, stale_days: i64) -> Coverage {
    let by_yard: HashMap<CourtyardId, &Duty> = duties.iter().map(|d| (d.courtyard, d)).collect();
    let mut yards_of: BTreeMap<Unit, u64> = BTreeMap::new();
    for d in duties {
        if let Some(u) = level.unit_of(d) {
            *yards_of.entry(u).or_default() += 1;
        }
    }
    // (unit, week) → visited courtyards overall and per mode, visits, flagged.
    #[derive(Default)]
    struct Acc {
        visited: HashSet<CourtyardId>,
        by_mode: [HashSet<CourtyardId>; 3],
        visits: u64,
        flagged: u64,
    }
    let week_set: HashSet<i64> = weeks.iter().copied().collect();
    let mut acc: HashMap<(Unit, i64), Acc> = HashMap::new();
    let mut last: HashMap<CourtyardId, (Option<i64>, Option<i64>)> = HashMap::new();
    for t in tallies {
        let Some(d) = by_yard.get(&t.courtyard) else { continue };
        let l = last.entry(t.courtyard).or_default();
        let slot = if t.far { &mut l.1 } else { &mut l.0 };
        *slot = Some(slot.map_or(t.last_ms, |x| x.max(t.last_ms)));
        if !week_set.contains(&t.week_start_ms) {
            continue;
        }
        let unit = match level {
            // A worker's coverage counts their own visits, to any courtyard in scope: whether
            // the courtyard is theirs decides `visited`, below.
            Level::Worker => Unit::Worker(t.worker),
            _ => match level.unit_of(d) {
                Some(u) => u,
                None => continue,
            },
        };
        let a = acc.entry((unit, t.week_start_ms)).or_default();
        let answers_for = match level {
            Level::Worker => d.worker == Some(t.worker),
            _ => true,
        };
        if t.far {
            if answers_for {
                a.flagged += t.visits;
            }
            continue;
        }
        if answers_for {
            a.visits += t.visits;
            a.visited.insert(t.courtyard);
            a.by_mode[t.mode as usize].insert(t.courtyard);
        }
        if level == Level::Worker {
            yards_of.entry(unit).or_default();
        }
    }
    let mut rows = Vec::new();
    for (unit, courtyards) in &yards_of {
        for w in weeks {
            let a = acc.remove(&(*unit, *w)).unwrap_or_default();
            let mut by_mode = ByMode::default();
            for m in VisitMode::ALL {
                *by_mode.slot(*m) = a.by_mode[*m as usize].len() as u64;
            }
            let visited = a.visited.len() as u64;
            rows.push(CoverageRow {
                unit: *unit,
                week_start_ms: *w,
                courtyards: *courtyards,
                visited,
                visited_by_mode: by_mode,
                share: (*courtyards > 0).then(|| visited as f64 / *courtyards as f64),
                visits: a.visits,
                flagged: a.flagged,
            });
        }
    }
    let stale_before = now_ms.saturating_sub(stale_days.saturating_mul(DAY_MS));
    let courtyards = duties
        .iter()
        .map(|d| {
            let (counted, flagged) = last.get(&d.courtyard).copied().unwrap_or_default();
            CourtyardVisits {
                courtyard: d.courtyard,
                community: d.community,
                worker: d.worker,
                last_visit_ms: counted,
                last_flagged_ms: flagged.filter(|f| counted.is_none_or(|c| *f > c)),
                overdue: counted.is_none_or(|c| c < stale_before),
            }
        })
        .collect();
    Coverage { rows, courtyards }
}

/// Where one of my courtyards stands this week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WeekState {
    Visited,
    Due,
    Overdue,
}

/// One line of "my courtyards this week".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MyCourtyard {
    pub courtyard: CourtyardId,
    pub state: WeekState,
    pub last_visit_ms: Option<i64>,
    /// A visit this week that was too far from the courtyard to count.
    pub flagged_this_week: bool,
}

/// "My courtyards this week", from the worker's own visit tallies: overdue first (the longest
/// unvisited first), then due, then visited.
pub fn my_week(mine: &[CourtyardId], tallies: &[VisitTally], now_ms: i64, stale_days: i64) -> Vec<MyCourtyard> {
    let this_week = week_start(now_ms);
    let stale_before = now_ms.saturating_sub(stale_days.saturating_mul(DAY_MS));
    let mut out: Vec<MyCourtyard> = mine
        .iter()
        .map(|y| {
            let of_yard = tallies.iter().filter(|t| t.courtyard == *y);
            let (mut last, mut visited, mut flagged) = (None::<i64>, false, false);
            for t in of_yard {
                if t.far {
                    flagged |= t.week_start_ms == this_week;
                    continue;
                }
                last = Some(last.map_or(t.last_ms, |l| l.max(t.last_ms)));
                visited |= t.week_start_ms == this_week;
            }
            let state = if visited {
                WeekState::Visited
            } else if last.is_none_or(|l| l < stale_before) {
                WeekState::Overdue
            } else {
                WeekState::Due
            };
            MyCourtyard { courtyard: *y, state, last_visit_ms: last, flagged_this_week: flagged && !visited }
        })
        .collect();
    let rank = |s: WeekState| match s {
        WeekState::Overdue => 0,
        WeekState::Due => 1,
        WeekState::Visited => 2,
    };
    out.sort_by_key(|m| (rank(m.state), m.last_visit_ms.unwrap_or(i64::MIN), m.courtyard));
    out
}

#[cfg(test)]
mod tests {
    use super::super::{WEEK_MS, WEEK_ORIGIN_MS};
    use super::*;
    use crate::model::Location;

    pub(crate) fn id<T: std::str::FromStr>(n: u8) -> T {
        uuid::Uuid::from_bytes([n; 16]).to_string().parse().ok().expect("a uuid parses as every id")
    }
    const W: i64 = WEEK_ORIGIN_MS + 2_900 * WEEK_MS; // a Monday 00:00 Beijing
    const YARD_POINT: GeoPoint = GeoPoint { lat: 39.95, lon: 116.45 };

    fn duty(y: u8, c: u8, w: Option<u8>) -> Duty {
        Duty { courtyard: id(y), community: id(c), subdistrict: id(90), worker: w.map(id) }
    }
    fn visit(y: u8, mode: VisitMode, at: i64, loc: Option<(f64, f64)>) -> Visit {
        Visit {
            courtyard: id(y),
            mode,
            started_at_ms: at,
            ended_at_ms: at + 600_000,
            location: loc.map(|(lat, lon)| Location { lat, lon, accuracy_m: 10.0 }),
            notes: "走访".into(),
            residents_met: 1,
            linked_issues: vec![],
        }
    }

    /// Courtyards 1, 2, 3 in community 10 (1 and 2 worker 7's, 3 worker 8's); courtyard 4 in
    /// community 11 with nobody responsible. Worker 9 answers for nothing.
    fn fixture() -> (Vec<Duty>, Vec<VisitTally>) {
        let duties = vec![duty(1, 10, Some(7)), duty(2, 10, Some(7)), duty(3, 10, Some(8)), duty(4, 11, None)];
        let near = Some((39.9501, 116.45)); // 11 m from the courtyard point
        let far = Some((39.96, 116.45)); // 1.1 km away
        let v7 = [
            visit(1, VisitMode::WalkThrough, W + 3_600_000, near),
            visit(1, VisitMode::InDepth, W + 2 * 3_600_000, None), // no GPS: counts
            visit(2, VisitMode::WalkThrough, W + DAY_MS, far),     // flagged
            visit(1, VisitMode::Stationed, W + WEEK_MS + 1, near), // next week
        ];
        let v8 = [visit(3, VisitMode::WalkThrough, W + 5 * DAY_MS, None), visit(1, VisitMode::WalkThrough, W + 4 * DAY_MS, None)];
        let v9 = [visit(4, VisitMode::InDepth, W - WEEK_MS, None)];
        let all: Vec<(WorkerId, &Visit)> =
            v7.iter().map(|v| (id(7), v)).chain(v8.iter().map(|v| (id(8), v))).chain(v9.iter().map(|v| (id(9), v))).collect();
        (duties, tally(all, |_| Some(YARD_POINT), 300.0))
    }

    #[test]
    fn tallies_split_far_visits_and_group_by_week() {
        let (_, t) = fixture();
        let of7: Vec<_> = t.iter().filter(|t| t.worker == id(7)).collect();
        assert_eq!(of7.len(), 4, "four (courtyard, mode, week, far) groups for worker 7: {of7:?}");
        assert!(of7.iter().any(|t| t.courtyard == id(2) && t.far), "1.1 km away is flagged");
        assert!(of7.iter().all(|t| t.courtyard != id(1) || !t.far), "11 m away and no GPS both count");
    }

    #[test]
    fn worker_coverage_by_hand() {
        let (duties, t) = fixture();
        let weeks = [W - WEEK_MS, W, W + WEEK_MS];
        let c = compute(&duties, &t, Level::Worker, &weeks, W + WEEK_MS + DAY_MS, 14);
        let row = |w: u8, week: i64| c.rows.iter().find(|r| r.unit == Unit::Worker(id(w)) && r.week_start_ms == week).unwrap();
        // Worker 7, week W: courtyard 1 visited (walk-through near, in-depth without GPS);
        // courtyard 2 only by a far visit → flagged, not visited. 1 of 2.
        let r = row(7, W);
        assert_eq!((r.courtyards, r.visited, r.visits, r.flagged), (2, 1, 2, 1));
        assert_eq!(r.share, Some(0.5));
        assert_eq!(r.visited_by_mode, ByMode { walk_through: 1, in_depth: 1, stationed: 0 });
        // The empty week before: a row of zeros, share 0 (not missing).
        let r = row(7, W - WEEK_MS);
        assert_eq!((r.visited, r.visits, r.share), (0, 0, Some(0.0)), "an empty week is 0 %, not absent");
        // Worker 8 visited courtyard 1 too, which is not theirs: only courtyard 3 counts.
        let r = row(8, W);
        assert_eq!((r.courtyards, r.visited, r.visits), (1, 1, 1), "another's courtyard does not cover one's own");
        // Worker 9 answers for nothing: rows with 0 courtyards and no share.
        let r = row(9, W - WEEK_MS);
        assert_eq!((r.courtyards, r.visited, r.share), (0, 0, None), "a worker with no courtyards has no figure");
        assert_eq!(c.rows.len(), 3 * 3, "three workers × three weeks");
    }

    #[test]
    fn community_coverage_counts_anyones_visits() {
        let (duties, t) = fixture();
        let c = compute(&duties, &t, Level::Community, &[W], W + 6 * DAY_MS, 14);
        let r = c.rows.iter().find(|r| r.unit == Unit::Community(id(10))).unwrap();
        // Community 10 in week W: courtyards 1 (by 7 and 8) and 3 (by 8) visited; 2 only flagged.
        assert_eq!((r.courtyards, r.visited, r.visits, r.flagged), (3, 2, 4, 1));
        assert!((r.share.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        let r = c.rows.iter().find(|r| r.unit == Unit::Community(id(11))).unwrap();
        assert_eq!((r.courtyards, r.visited), (1, 0), "community 11's only visit was the week before");
    }

    #[test]
    fn last_visits_and_overdue() {
        let (duties, t) = fixture();
        let now = W + 20 * DAY_MS;
        let c = compute(&duties, &t, Level::Community, &[W], now, 14);
        let y = |n: u8| c.courtyards.iter().find(|y| y.courtyard == id(n)).unwrap();
        assert_eq!(y(1).last_visit_ms, Some(W + WEEK_MS + 1), "the latest counting visit");
        assert!(!y(1).overdue, "13 days ago is within 14");
        assert_eq!((y(2).last_visit_ms, y(2).last_flagged_ms), (None, Some(W + DAY_MS)), "a flagged visit is not a visit");
        assert!(y(2).overdue, "only flagged: overdue");
        assert!(y(3).overdue, "15 days ago is past 14");
    }

    #[test]
    fn my_week_orders_overdue_then_due_then_visited() {
        let (_, t) = fixture();
        let mine: Vec<CourtyardId> = vec![id(1), id(2)];
        let of7: Vec<VisitTally> = t.iter().filter(|t| t.worker == id(7)).copied().collect();
        // In week W + 1 week: courtyard 1 visited (stationed, Monday 00:00:00.001); 2 never.
        let now = W + WEEK_MS + DAY_MS;
        let m = my_week(&mine, &of7, now, 14);
        assert_eq!(
            m.iter().map(|m| (m.courtyard, m.state)).collect::<Vec<_>>(),
            vec![(id(2), WeekState::Overdue), (id(1), WeekState::Visited)]
        );
        // Two weeks on, courtyard 1 is due (8 days since), not yet overdue.
        let m = my_week(&mine, &of7, W + 2 * WEEK_MS + DAY_MS, 14);
        assert_eq!(m[1].state, WeekState::Due);
        // Flagged this week shows as such, and is still due or overdue.
        let m = my_week(&mine, &of7, W + DAY_MS * 2, 14);
        let two = m.iter().find(|m| m.courtyard == id(2)).unwrap();
        assert!(two.flagged_this_week && two.state == WeekState::Overdue);
    }
}
