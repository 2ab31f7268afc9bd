//! 未诉先办's reads: each one GROUP BY (or one indexed range) over the views' columns, so no
//! view is parsed; the domain's `foresight` methods do the rest on both sides.

use super::rows::parse;
use super::scope_sql::by_place;
use super::Sql;
use crate::error::{Error, Result};
use crate::model::*;
use gridwalk_domain::foresight::coverage::VisitTally;
use gridwalk_domain::foresight::geo::BoundingBox;
use gridwalk_domain::foresight::nearby::OpenIssue;
use gridwalk_domain::foresight::{WEEK_MS, WEEK_ORIGIN_MS};
use gridwalk_domain::registry::GeoPoint;
use gridwalk_domain::{Category, CourtyardId, VisitMode};
use rusqlite::params_from_iter;
use rusqlite::types::Value;

/// The statuses of an open issue: what "already reported nearby" may point to.
pub(crate) const OPEN: &str = "('reported', 'responded', 'in_progress')";

/// What the hotspot, trend and rate counts leave out (see `Reader::issue_buckets` and
/// `Reader::rate_facts`): duplicates, cancelled reports and proactive tasks.
pub(crate) const COUNTED: &str = "status NOT IN ('duplicate', 'cancelled') AND (source IS NULL OR source <> 'proactive')";

pub(crate) fn category(code: &str) -> Result<Category> {
    Category::from_code(code).ok_or_else(|| Error::Corrupt(format!("category {code}")))
}

pub(crate) fn mode(code: &str) -> Result<VisitMode> {
    VisitMode::from_code(code).ok_or_else(|| Error::Corrupt(format!("visit mode {code}")))
}

impl Sql<'_> {
    pub(super) fn visit_tallies_in(&self, scope: &Scope, from_ms: i64, to_ms: i64, far_visit_m: f64) -> Result<Vec<VisitTally>> {
        let (place, ids) = by_place(scope, "");
        // Weeks are whole multiples of WEEK_MS from the origin (Beijing keeps no daylight
        // saving), and `from_ms` is at or after it, so integer division buckets them.
        let sql = format!(
            "SELECT courtyard_id, worker_id, mode, (started_at_ms - ?) / ?, COALESCE(distance_m > ?, 0), count(*), max(started_at_ms)
             FROM visits WHERE started_at_ms >= ? AND started_at_ms < ? AND worker_id IS NOT NULL AND {place}
             GROUP BY 1, 2, 3, 4, 5"
        );
        let mut args = vec![
            Value::Integer(WEEK_ORIGIN_MS),
            Value::Integer(WEEK_MS),
            Value::Real(far_visit_m),
            Value::Integer(from_ms.max(WEEK_ORIGIN_MS)),
            Value::Integer(to_ms),
        ];
        args.extend(ids.into_iter().map(Value::Text));
        let mut stmt = self.0.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (yard, worker, m): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let week: i64 = r.get(3)?;
            out.push(VisitTally {
                courtyard: parse("courtyard id", &yard)?,
                worker: parse("worker id", &worker)?,
                mode: mode(&m)?,
                week_start_ms: WEEK_ORIGIN_MS + week * WEEK_MS,
                far: r.get::<_, i64>(4)? != 0,
                visits: r.get::<_, i64>(5)?.max(0) as u64,
                last_ms: r.get(6)?,
            });
        }
        Ok(out)
    }

    pub(super) fn issue_buckets_in(&self, scope: &Scope, from_ms: i64, to_ms: i64, bucket_ms: i64) -> Result<Vec<IssueBucket>> {
        let (place, ids) = by_place(scope, "");
        let sql = format!(
            "SELECT courtyard_id, category, (received_at_ms - ?) / ?, count(*) FROM issues
             WHERE received_at_ms >= ? AND received_at_ms < ? AND category IS NOT NULL AND {COUNTED} AND {place}
             GROUP BY 1, 2, 3"
        );
        let mut args = vec![Value::Integer(from_ms), Value::Integer(bucket_ms.max(1)), Value::Integer(from_ms), Value::Integer(to_ms)];
        args.extend(ids.into_iter().map(Value::Text));
        let mut stmt = self.0.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (yard, cat): (String, String) = (r.get(0)?, r.get(1)?);
            out.push(IssueBucket {
                courtyard: parse("courtyard id", &yard)?,
                category: category(&cat)?,
                bucket: r.get(2)?,
                count: r.get::<_, i64>(3)?.max(0) as u64,
            });
        }
        Ok(out)
    }

    pub(super) fn recurrence_counts_in(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(CourtyardId, u64)>> {
        let (place, ids) = by_place(scope, "");
        let sql = format!(
            "SELECT courtyard_id, count(*) FROM issues
             WHERE received_at_ms >= ? AND received_at_ms < ? AND recurrence_of IS NOT NULL AND {COUNTED} AND {place}
             GROUP BY 1"
        );
        let mut args = vec![Value::Integer(from_ms), Value::Integer(to_ms)];
        args.extend(ids.into_iter().map(Value::Text));
        let mut stmt = self.0.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let yard: String = r.get(0)?;
            out.push((parse("courtyard id", &yard)?, r.get::<_, i64>(1)?.max(0) as u64));
        }
        Ok(out)
    }

    pub(super) fn open_issues_near_in(&self, category: Category, bbox: &BoundingBox, from_ms: i64, to_ms: i64) -> Result<Vec<OpenIssue>> {
        // The partial index `issues_open_near` (category, lat) holds only open issues.
        let sql = format!(
            "SELECT id, courtyard_id, lat, lon, received_at_ms FROM issues
             WHERE category = ?1 AND lat BETWEEN ?2 AND ?3 AND status IN {OPEN}
               AND lon BETWEEN ?4 AND ?5 AND received_at_ms BETWEEN ?6 AND ?7"
        );
        let mut stmt = self.0.prepare_cached(&sql)?;
        let mut rows =
            stmt.query(rusqlite::params![category.code(), bbox.lat_min, bbox.lat_max, bbox.lon_min, bbox.lon_max, from_ms, to_ms])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (id, yard): (String, String) = (r.get(0)?, r.get(1)?);
            out.push(OpenIssue {
                id: parse("issue id", &id)?,
                courtyard: parse("courtyard id", &yard)?,
                category,
                point: GeoPoint { lat: r.get(2)?, lon: r.get(3)? },
                received_at_ms: r.get(4)?,
            });
        }
        Ok(out)
    }
}
