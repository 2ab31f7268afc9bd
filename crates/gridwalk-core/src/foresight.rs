//! 未诉先办 on the tablet, offline and from its own store: "already reported nearby" on the
//! Report screen (before the worker saves) and "my courtyards this week". Both are the
//! domain's methods (`gridwalk_domain::foresight`), the ones the server runs, over what one or
//! two indexed reads find here.

use crate::error::Result;
use crate::query::{issue_row, IssueRow, ISSUE_COLUMNS};
use crate::tablet::Tablet;
use gridwalk_domain::foresight::coverage::{self, MyCourtyard};
use gridwalk_domain::foresight::geo::BoundingBox;
use gridwalk_domain::foresight::nearby::{self, OpenIssue};
use gridwalk_domain::foresight::{Rules, DAY_MS, WEEK_MS};
use gridwalk_domain::{Category, CourtyardId, GeoPoint, Location, Visit, VisitMode, WorkerId};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An open issue the Report screen shows before the worker saves, and why it is shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearbyIssue {
    pub issue: IssueRow,
    pub same_courtyard: bool,
    pub same_category: bool,
    /// From the intended report's point (its GPS fix, else its courtyard's).
    pub distance_m: f64,
}

/// One line of "my courtyards this week", with the courtyard's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeekCourtyard {
    #[serde(flatten)]
    pub week: MyCourtyard,
    pub name: String,
}

/// The statuses of an open issue (what a "me too" may join).
const OPEN: &str = "('reported', 'responded', 'in_progress')";

impl Tablet {
    /// The thresholds the tablet judges with: the domain's defaults (the district's
    /// `[foresight]` is not sent to tablets yet).
    pub fn foresight_rules(&self) -> Rules {
        Rules::default()
    }

    /// A courtyard's registry point.
    fn courtyard_point(&self, id: CourtyardId) -> Result<Option<GeoPoint>> {
        Ok(self
            .connection()
            .prepare_cached("SELECT lat, lon FROM courtyards WHERE id = ?1")?
            .query_row([id.to_string()], |r| Ok(GeoPoint { lat: r.get(0)?, lon: r.get(1)? }))
            .optional()?)
    }

    /// "Already reported nearby": the open issues at `courtyard` (any category) and those of
    /// `category` within the radius of `at` (else of the courtyard's point), as the domain
    /// ranks them: same courtyard first, then nearest.
    pub fn nearby(&self, courtyard: CourtyardId, category: Category, at: Option<GeoPoint>) -> Result<Vec<NearbyIssue>> {
        let radius = self.foresight_rules().nearby_radius_m;
        let Some(point) = at.or(self.courtyard_point(courtyard)?) else { return Ok(Vec::new()) };
        let b = BoundingBox::around(point, radius);
        let mut rows: HashMap<gridwalk_domain::IssueId, IssueRow> = HashMap::new();
        let mut candidates = Vec::new();
        let mut take = |r: &rusqlite::Row| -> rusqlite::Result<()> {
            let row = issue_row(r)?;
            let (lat, lon): (Option<f64>, Option<f64>) = (r.get(17)?, r.get(18)?);
            // An issue at a courtyard the registry no longer holds sits where the report is.
            let p = lat.zip(lon).map_or(point, |(lat, lon)| GeoPoint { lat, lon });
            if let std::collections::hash_map::Entry::Vacant(slot) = rows.entry(row.id) {
                candidates.push(OpenIssue {
                    id: row.id,
                    courtyard: row.courtyard_id,
                    category: row.category,
                    point: p,
                    received_at_ms: row.received_at_ms,
                });
                slot.insert(row);
            }
            Ok(())
        };
        let conn = self.connection();
        let mut here =
            conn.prepare_cached(&format!("SELECT {ISSUE_COLUMNS}, lat, lon FROM issues WHERE courtyard_id = ?1 AND status IN {OPEN}"))?;
        let mut q = here.query([courtyard.to_string()])?;
        while let Some(r) = q.next()? {
            take(r)?;
        }
        // The partial index issues_open_near (category, lat) holds only open issues.
        let mut near = conn.prepare_cached(&format!(
            "SELECT {ISSUE_COLUMNS}, lat, lon FROM issues
             WHERE category = ?1 AND lat BETWEEN ?2 AND ?3 AND status IN {OPEN} AND lon BETWEEN ?4 AND ?5"
        ))?;
        let mut q = near.query(params![category.code(), b.lat_min, b.lat_max, b.lon_min, b.lon_max])?;
        while let Some(r) = q.next()? {
            take(r)?;
        }
        Ok(nearby::nearby(&candidates, courtyard, category, point, radius)
            .into_iter()
            .filter_map(|m| {
                Some(NearbyIssue {
                    issue: rows.remove(&m.issue)?,
                    same_courtyard: m.same_courtyard,
                    same_category: m.same_category,
                    distance_m: m.distance_m,
                })
            })
            .collect())
    }

    /// "My courtyards this week": every courtyard naming this tablet's worker as responsible,
    /// visited (a counting visit this ISO week), due or overdue, from this store's own visits.
    pub fn my_week(&self) -> Result<Vec<WeekCourtyard>> {
        let Some(me) = self.identity().map(|i| i.worker) else { return Ok(Vec::new()) };
        let rules = self.foresight_rules();
        let now = self.corrected_now_ms();
        let conn = self.connection();
        let mut points: HashMap<CourtyardId, GeoPoint> = HashMap::new();
        let mut names: HashMap<CourtyardId, String> = HashMap::new();
        let mut mine = Vec::new();
        let mut st = conn.prepare_cached("SELECT id, lat, lon, name FROM courtyards WHERE responsible_id = ?1 ORDER BY code")?;
        let mut q = st.query([me.to_string()])?;
        while let Some(r) = q.next()? {
            let id: CourtyardId = crate::registry::parse_text_id(r.get(0)?)?;
            points.insert(id, GeoPoint { lat: r.get(1)?, lon: r.get(2)? });
            names.insert(id, r.get(3)?);
            mine.push(id);
        }
        // Visits over the overdue threshold and this week, whichever reaches further back.
        let since = now.saturating_sub((rules.stale_days * DAY_MS).max(WEEK_MS));
        let mut st = conn.prepare_cached(
            "SELECT courtyard_id, mode, started_at_ms, ended_at_ms, lat, lon FROM visits WHERE worker_id = ?1 AND started_at_ms >= ?2",
        )?;
        let mut q = st.query(params![me.to_string(), since])?;
        let mut visits: Vec<Visit> = Vec::new();
        while let Some(r) = q.next()? {
            let (Some(yard), Some(mode)) = (
                r.get::<_, Option<String>>(0)?.and_then(|s| s.parse::<CourtyardId>().ok()),
                r.get::<_, Option<String>>(1)?.and_then(|m| VisitMode::from_code(&m)),
            ) else {
                continue;
            };
            let (lat, lon): (Option<f64>, Option<f64>) = (r.get(4)?, r.get(5)?);
            visits.push(Visit {
                courtyard: yard,
                mode,
                started_at_ms: r.get(2)?,
                ended_at_ms: r.get::<_, Option<i64>>(3)?.unwrap_or_default(),
                location: lat.zip(lon).map(|(lat, lon)| Location { lat, lon, accuracy_m: 0.0 }),
                notes: String::new(),
                residents_met: 0,
                linked_issues: Vec::new(),
            });
        }
        let worker: WorkerId = me;
        let tallies = coverage::tally(visits.iter().map(|v| (worker, v)), |y| points.get(&y).copied(), rules.far_visit_m);
        Ok(coverage::my_week(&mine, &tallies, now, rules.stale_days)
            .into_iter()
            .map(|week| WeekCourtyard { name: names.get(&week.courtyard).cloned().unwrap_or_default(), week })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use gridwalk_domain::foresight::coverage::WeekState;
    use gridwalk_domain::registry_gen::demo_registry;
    use gridwalk_domain::*;
    use std::sync::Arc;

    const T0: i64 = 1_764_000_000_000;

    fn tablet(dir: &tempfile::TempDir) -> (Tablet, Arc<ManualClock>, Registry) {
        let clock = Arc::new(ManualClock::new(T0));
        let mut t = Tablet::open(&dir.path().join("t.db"), &StoreKey([3; 32]), clock.clone()).unwrap();
        t.set_identity(Identity { worker: WorkerId::from_parts(1, [1; 10]), device: DeviceId::from_parts(1, [2; 10]) }).unwrap();
        let reg = demo_registry();
        t.replace_registry(&reg).unwrap();
        (t, clock, reg)
    }

    fn report(t: &mut Tablet, yard: CourtyardId, category: Category, at: Option<GeoPoint>) -> IssueId {
        t.report_issue(NewIssue {
            courtyard: yard,
            category,
            source: IssueSource::Visit,
            description: "楼道漏水".into(),
            contact: None,
            location: at.map(|p| Location { lat: p.lat, lon: p.lon, accuracy_m: 5.0 }),
            photos: vec![],
        })
        .unwrap()
    }

    #[test]
    fn nearby_lists_the_courtyards_open_issues_then_the_same_category_within_the_radius() {
        let dir = tempfile::tempdir().unwrap();
        let (mut t, _, reg) = tablet(&dir);
        let here = &reg.courtyards[0];
        let p = here.point;
        let other_yard = reg.courtyards[4000].id;
        let at = |dlat: f64| Some(GeoPoint { lat: p.lat + dlat, lon: p.lon });
        let own_noise = report(&mut t, here.id, Category::Noise, None);
        let leak_100m = report(&mut t, other_yard, Category::Leak, at(0.0009));
        let _leak_300m = report(&mut t, other_yard, Category::Leak, at(0.0027));
        let _noise_20m = report(&mut t, other_yard, Category::Noise, at(0.0002));
        let closed_leak = report(&mut t, other_yard, Category::Leak, at(0.0001));
        t.cancel(closed_leak, "居民撤回").unwrap();
        let m = t.nearby(here.id, Category::Leak, None).unwrap();
        let ids: Vec<IssueId> = m.iter().map(|n| n.issue.id).collect();
        assert_eq!(
            ids,
            vec![own_noise, leak_100m],
            "the courtyard's own open issue, then the open leak 100 m away; 300 m, other categories and cancelled ones are out"
        );
        assert!(m[0].same_courtyard && !m[0].same_category);
        assert!((m[1].distance_m - 100.1).abs() < 1.0, "0.0009° of latitude is 100 m: {}", m[1].distance_m);
        // One tap: "me too" on the existing issue instead of a new one.
        t.me_too(leak_100m, "楼上也在漏").unwrap();
        let d = t.issue(leak_100m).unwrap();
        assert_eq!(d.state.me_too, 1, "the issue counts one more resident");
    }

    #[test]
    fn my_week_is_visited_due_or_overdue_from_the_tablets_own_visits() {
        let dir = tempfile::tempdir().unwrap();
        let (mut t, clock, reg) = tablet(&dir);
        let me = t.identity().unwrap().worker;
        let yards: Vec<&Courtyard> = reg.courtyards.iter().take(3).collect();
        let resp: Vec<gridwalk_proto::ResponsibleWorker> =
            yards.iter().map(|y| gridwalk_proto::ResponsibleWorker { courtyard_id: y.id, worker_id: me, name: "我".into() }).collect();
        {
            let tx = t.conn_mut().transaction().unwrap();
            crate::registry::set_responsible(&tx, &resp).unwrap();
            tx.commit().unwrap();
        }
        let visit = |t: &mut Tablet, y: &Courtyard, dlat: f64| {
            t.record_visit(NewVisit {
                courtyard: y.id,
                mode: VisitMode::WalkThrough,
                started_at_ms: None,
                ended_at_ms: None,
                location: Some(Location { lat: y.point.lat + dlat, lon: y.point.lon, accuracy_m: 5.0 }),
                notes: "走访".into(),
                residents_met: 1,
                linked_issues: vec![],
            })
            .unwrap();
        };
        // Yard 1 visited 10 days ago (due now, not overdue); yard 0 visited this week; yard 2
        // only from 1.1 km away this week (flagged: still overdue).
        visit(&mut t, yards[1], 0.0);
        clock.advance(10 * 86_400_000);
        visit(&mut t, yards[0], 0.0005);
        visit(&mut t, yards[2], 0.01);
        let week = t.my_week().unwrap();
        let state = |y: &Courtyard| week.iter().find(|m| m.week.courtyard == y.id).unwrap().week.clone();
        assert_eq!(week.len(), 3, "every courtyard I answer for");
        assert_eq!(state(yards[0]).state, WeekState::Visited, "a visit 56 m away this week counts");
        assert_eq!(state(yards[1]).state, WeekState::Due, "visited 10 days ago: due, not yet overdue (14 days)");
        let far = state(yards[2]);
        assert_eq!((far.state, far.flagged_this_week), (WeekState::Overdue, true), "only a far visit: overdue, and flagged");
        assert_eq!((week[0].week.courtyard, week[0].name.as_str()), (yards[2].id, yards[2].name.as_str()), "overdue first, named");
    }
}
