//! 未诉先办's reads over a PostgreSQL connection, as `sqlite::foresight` has them: each one
//! GROUP BY (or one indexed range) over the views' columns.

use super::read::unsigned;
use super::scope_sql::by_place;
use super::{Args, Pg};
use crate::error::Result;
use crate::model::*;
use crate::store::sqlite::foresight::{category, mode, COUNTED, OPEN};
use crate::store::sqlite::rows::parse;
use gridwalk_domain::foresight::coverage::VisitTally;
use gridwalk_domain::foresight::geo::BoundingBox;
use gridwalk_domain::foresight::nearby::OpenIssue;
use gridwalk_domain::foresight::{WEEK_MS, WEEK_ORIGIN_MS};
use gridwalk_domain::registry::GeoPoint;
use gridwalk_domain::{Category, CourtyardId};

impl Pg<'_> {
    pub(super) fn visit_tallies_in(&self, scope: &Scope, from_ms: i64, to_ms: i64, far_visit_m: f64) -> Result<Vec<VisitTally>> {
        let mut args = Args::default();
        let (origin, week, far) = (args.add(WEEK_ORIGIN_MS), args.add(WEEK_MS), args.add(far_visit_m));
        let (from, to) = (args.add(from_ms.max(WEEK_ORIGIN_MS)), args.add(to_ms));
        let place = by_place(scope, "", &mut args);
        // As in SQLite: `from_ms` is at or after the origin, so integer division buckets weeks.
        let sql = format!(
            "SELECT courtyard_id, worker_id, mode, (started_at_ms - {origin}) / {week}, COALESCE(distance_m > {far}, FALSE),
                    count(*), max(started_at_ms)
             FROM visits WHERE started_at_ms >= {from} AND started_at_ms < {to} AND worker_id IS NOT NULL AND {place}
             GROUP BY 1, 2, 3, 4, 5"
        );
        let mut out = Vec::new();
        for r in self.query(&sql, &args.refs())? {
            let (yard, worker, m): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let w: i64 = r.try_get(3)?;
            out.push(VisitTally {
                courtyard: parse("courtyard id", &yard)?,
                worker: parse("worker id", &worker)?,
                mode: mode(&m)?,
                week_start_ms: WEEK_ORIGIN_MS + w * WEEK_MS,
                far: r.try_get(4)?,
                visits: unsigned(r.try_get(5)?),
                last_ms: r.try_get(6)?,
            });
        }
        Ok(out)
    }

    pub(super) fn issue_buckets_in(&self, scope: &Scope, from_ms: i64, to_ms: i64, bucket_ms: i64) -> Result<Vec<IssueBucket>> {
        let mut args = Args::default();
        let (from, bucket, to) = (args.add(from_ms), args.add(bucket_ms.max(1)), args.add(to_ms));
        let place = by_place(scope, "", &mut args);
        let sql = format!(
            "SELECT courtyard_id, category, (received_at_ms - {from}) / {bucket}, count(*) FROM issues
             WHERE received_at_ms >= {from} AND received_at_ms < {to} AND category IS NOT NULL AND {COUNTED} AND {place}
             GROUP BY 1, 2, 3"
        );
        let mut out = Vec::new();
        for r in self.query(&sql, &args.refs())? {
            let (yard, cat): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            out.push(IssueBucket {
                courtyard: parse("courtyard id", &yard)?,
                category: category(&cat)?,
                bucket: r.try_get(2)?,
                count: unsigned(r.try_get(3)?),
            });
        }
        Ok(out)
    }

    pub(super) fn recurrence_counts_in(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(CourtyardId, u64)>> {
        let mut args = Args::default();
        let (from, to) = (args.add(from_ms), args.add(to_ms));
        let place = by_place(scope, "", &mut args);
        let sql = format!(
            "SELECT courtyard_id, count(*) FROM issues
             WHERE received_at_ms >= {from} AND received_at_ms < {to} AND recurrence_of IS NOT NULL AND {COUNTED} AND {place}
             GROUP BY 1"
        );
        let mut out = Vec::new();
        for r in self.query(&sql, &args.refs())? {
            let yard: String = r.try_get(0)?;
            out.push((parse("courtyard id", &yard)?, unsigned(r.try_get(1)?)));
        }
        Ok(out)
    }

    pub(super) fn open_issues_near_in(&self, category: Category, bbox: &BoundingBox, from_ms: i64, to_ms: i64) -> Result<Vec<OpenIssue>> {
        let sql = format!(
            "SELECT id, courtyard_id, lat, lon, received_at_ms FROM issues
             WHERE category = $1 AND lat BETWEEN $2 AND $3 AND status IN {OPEN}
               AND lon BETWEEN $4 AND $5 AND received_at_ms BETWEEN $6 AND $7"
        );
        let code = category.code();
        let mut out = Vec::new();
        for r in self.query(&sql, &[&code, &bbox.lat_min, &bbox.lat_max, &bbox.lon_min, &bbox.lon_max, &from_ms, &to_ms])? {
            let (id, yard): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            out.push(OpenIssue {
                id: parse("issue id", &id)?,
                courtyard: parse("courtyard id", &yard)?,
                category,
                point: GeoPoint { lat: r.try_get(2)?, lon: r.try_get(3)? },
                received_at_ms: r.try_get(4)?,
            });
        }
        Ok(out)
    }
}
