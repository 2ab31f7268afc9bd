//! The console's reads: the ticket list (keyset over an index, so the first page costs the
//! same at a million issues as at a thousand), today's figures and the rate facts from the
//! view's columns, map counts, devices with their reports, and the audit reader.

use super::foresight::COUNTED;
use super::rows::parse;
use super::scope_sql::by_place;
use super::Sql;
use crate::error::Result;
use crate::model::*;
use gridwalk_domain::rates::RateFacts;
use gridwalk_domain::{IssueStatus, RESPONSE_WINDOW_MS};
use gridwalk_proto::console::{DeviceReport, TodayFigures};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension};

/// Statuses that owe nothing more (and so are never overdue).
pub(crate) const FINAL: &str = "('closed', 'duplicate', 'cancelled')";

/// The `WHERE` of a ticket query, without its cursor, and its parameters.
fn ticket_where(scope: &Scope, q: &TicketQuery) -> (String, Vec<Value>) {
    // The department inbox is what was whistled, not what lies in the scope's places (the
    // district's inbox: everything whistled anywhere).
    let (place, ids) = match (q.whistled_only, scope.district) {
        (true, true) => (String::from("1"), Vec::new()),
        (true, false) => (String::from("0"), Vec::new()),
        (false, _) => by_place(scope, ""),
    };
    let mut args: Vec<Value> = ids.into_iter().map(Value::Text).collect();
    let mut sql = if scope.district || scope.departments.is_empty() {
        format!("received_at_ms IS NOT NULL AND {place}")
    } else {
        let marks = vec!["?"; scope.departments.len()].join(",");
        args.extend(scope.departments.iter().cloned().map(Value::Text));
        format!("received_at_ms IS NOT NULL AND ({place} OR id IN (SELECT issue_id FROM issue_whistles WHERE target IN ({marks})))")
    };
    if q.whistled_only && scope.district {
        sql.push_str(" AND id IN (SELECT issue_id FROM issue_whistles)");
    }
    let mut eq = |column: &str, v: Option<String>| {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {column} = ?"));
            args.push(Value::Text(v));
        }
    };
    eq("status", q.status.clone());
    eq("category", q.category.clone());
    eq("source", q.source.clone());
    eq("subdistrict_id", q.subdistrict.map(|i| i.to_string()));
    eq("community_id", q.community.map(|i| i.to_string()));
    eq("courtyard_id", q.courtyard.map(|i| i.to_string()));
    eq("assignee", q.assignee.clone());
    if let Some(now) = q.overdue_at {
        sql.push_str(&format!(" AND responded_at_ms IS NULL AND response_due_ms < ? AND status NOT IN {FINAL}"));
        args.push(Value::Integer(now));
    }
    if let Some(from) = q.from_ms {
        sql.push_str(" AND received_at_ms >= ?");
        args.push(Value::Integer(from));
    }
    if let Some(to) = q.to_ms {
        sql.push_str(" AND received_at_ms < ?");
        args.push(Value::Integer(to));
    }
    (sql, args)
}

fn count(conn: &Sql<'_>, sql: &str, args: Vec<Value>) -> Result<u64> {
    let n: i64 = conn.0.prepare_cached(sql)?.query_row(params_from_iter(args), |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

impl Sql<'_> {
    pub(super) fn device_kind_of(&self, device: gridwalk_domain::DeviceId) -> Result<Option<String>> {
        Ok(self.0.prepare_cached("SELECT kind FROM devices WHERE id = ?1")?.query_row([device.to_string()], |r| r.get(0)).optional()?)
    }

    pub(super) fn each_ticket_in(&self, scope: &Scope, q: &TicketQuery, each: &mut dyn FnMut(IssueView) -> Result<bool>) -> Result<()> {
        let (mut sql, mut args) = ticket_where(scope, q);
        if let Some((at, id)) = q.before {
            sql.push_str(" AND (received_at_ms, id) < (?, ?)");
            args.push(Value::Integer(at));
            args.push(Value::Text(id.to_string()));
        }
        let sql = format!("SELECT view_json FROM issues WHERE {sql} ORDER BY received_at_ms DESC, id DESC LIMIT ?");
        args.push(Value::Integer(i64::from(q.limit)));
        let mut stmt = self.0.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        while let Some(row) = rows.next()? {
            let json: String = row.get(0)?;
            if !each(serde_json::from_str(&json)?)? {
                break;
            }
        }
        Ok(())
    }

    pub(super) fn ticket_count_in(&self, scope: &Scope, q: &TicketQuery) -> Result<u64> {
        let (sql, args) = ticket_where(scope, q);
        count(self, &format!("SELECT count(*) FROM issues WHERE {sql}"), args)
    }

    /// Three indexed counts (received today, unanswered past due, resolved today) rather
    /// than one scan of every issue.
    pub(super) fn today_figures_in(&self, scope: &Scope, day_start_ms: i64, now_ms: i64) -> Result<TodayFigures> {
        let (place, ids) = by_place(scope, "");
        let with = |extra: Vec<Value>| ids.iter().cloned().map(Value::Text).chain(extra).collect::<Vec<_>>();
        let counted = "status NOT IN ('duplicate', 'cancelled')";
        let (received, in_time): (i64, i64) = self
            .0
            .prepare_cached(&format!(
            "SELECT count(*), COALESCE(SUM(responded_at_ms IS NOT NULL AND responded_at_ms <= received_at_ms + {RESPONSE_WINDOW_MS}), 0)
             FROM issues WHERE {place} AND {counted} AND received_at_ms >= ? AND received_at_ms < ?"
        ))?
            .query_row(params_from_iter(with(vec![Value::Integer(day_start_ms), Value::Integer(now_ms.saturating_add(1))])), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let overdue = count(
            self,
            &format!(
                "SELECT count(*) FROM issues WHERE {place} AND responded_at_ms IS NULL AND response_due_ms < ? AND status NOT IN {FINAL}"
            ),
            with(vec![Value::Integer(now_ms)]),
        )?;
        let resolved = count(
            self,
            &format!("SELECT count(*) FROM issues WHERE {place} AND {counted} AND resolved_at_ms >= ? AND resolved_at_ms <= ?"),
            with(vec![Value::Integer(day_start_ms), Value::Integer(now_ms)]),
        )?;
        Ok(TodayFigures { received: received.max(0) as u64, responded_in_time: in_time.max(0) as u64, overdue, resolved })
    }

    pub(super) fn rate_facts_in(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(Place, RateFacts)>> {
        let (place, ids) = by_place(scope, "");
        let sql = format!(
            "SELECT courtyard_id, community_id, subdistrict_id, received_at_ms, responded_at_ms, status, satisfaction FROM issues
             WHERE {place} AND received_at_ms >= ? AND received_at_ms < ? AND {COUNTED}"
        );
        let args: Vec<Value> = ids.into_iter().map(Value::Text).chain([Value::Integer(from_ms), Value::Integer(to_ms)]).collect();
        let mut stmt = self.0.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (c, m, s): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let status: String = r.get(5)?;
            let satisfaction: Option<String> = r.get(6)?;
            let facts = RateFacts {
                received_at_ms: r.get(3)?,
                responded_at_ms: r.get(4)?,
                status: IssueStatus::from_code(&status).ok_or_else(|| crate::error::Error::Corrupt(format!("status {status}")))?,
                satisfaction: satisfaction.as_deref().and_then(gridwalk_domain::Satisfaction::from_code),
            };
            out.push((super::rows::place_of(&c, &m, &s)?, facts));
        }
        Ok(out)
    }

    pub(super) fn courtyard_counts_in(&self, scope: &Scope, now_ms: i64) -> Result<Vec<CourtyardCounts>> {
        let (place, ids) = by_place(scope, "");
        let sql = format!(
            "SELECT courtyard_id,
                    SUM(status NOT IN {FINAL}),
                    SUM(status NOT IN {FINAL} AND responded_at_ms IS NULL AND response_due_ms < ?)
             FROM issues WHERE {place} AND received_at_ms IS NOT NULL GROUP BY courtyard_id"
        );
        let mut args = vec![Value::Integer(now_ms)];
        args.extend(ids.into_iter().map(Value::Text));
        let mut stmt = self.0.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (yard, open, overdue) = row?;
            out.push(CourtyardCounts {
                courtyard: parse("courtyard id", &yard)?,
                open: open.max(0) as u64,
                overdue: overdue.max(0) as u64,
            });
        }
        Ok(out)
    }

    pub(super) fn device_report_of(&self, device: gridwalk_domain::DeviceId) -> Result<Option<(i64, DeviceReport)>> {
        let row = self
            .0
            .prepare_cached(
                "SELECT reported_ms, queue_depth, oldest_unsent_ms, rejected_count, clock_offset_ms, app_version FROM device_reports WHERE device_id = ?1",
            )?
            .query_row([device.to_string()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    DeviceReport {
                        queue_depth: r.get::<_, i64>(1)?.max(0) as u64,
                        oldest_unsent_ms: r.get(2)?,
                        rejected_count: r.get::<_, i64>(3)?.max(0) as u64,
                        clock_offset_ms: r.get(4)?,
                        app_version: r.get(5)?,
                    },
                ))
            })
            .optional()?;
        Ok(row)
    }

    pub(super) fn device_details_all(&self) -> Result<Vec<DeviceDetail>> {
        let mut stmt = self.0.prepare(
            "SELECT d.id, d.name, d.worker_id, w.username, w.name, d.kind, d.created_ms, d.revoked_ms,
                    r.reported_ms, r.queue_depth, r.oldest_unsent_ms, r.rejected_count, r.clock_offset_ms, r.app_version
             FROM devices d JOIN workers w ON w.id = d.worker_id LEFT JOIN device_reports r ON r.device_id = d.id
             ORDER BY d.created_ms DESC, d.id",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (id, worker): (String, String) = (r.get(0)?, r.get(2)?);
            let reported: Option<i64> = r.get(8)?;
            let report = match reported {
                Some(at) => Some((
                    at,
                    DeviceReport {
                        queue_depth: r.get::<_, i64>(9)?.max(0) as u64,
                        oldest_unsent_ms: r.get(10)?,
                        rejected_count: r.get::<_, i64>(11)?.max(0) as u64,
                        clock_offset_ms: r.get(12)?,
                        app_version: r.get(13)?,
                    },
                )),
                None => None,
            };
            out.push(DeviceDetail {
                id: parse("device id", &id)?,
                name: r.get(1)?,
                worker: parse("worker id", &worker)?,
                username: r.get(3)?,
                worker_name: r.get(4)?,
                kind: r.get(5)?,
                created_ms: r.get(6)?,
                revoked_ms: r.get(7)?,
                report,
            });
        }
        Ok(out)
    }

    pub(super) fn audit_page_of(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut sql = String::from("SELECT id, at_ms, actor, action, detail FROM audit WHERE 1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(a) = &q.actor {
            sql.push_str(" AND actor = ?");
            args.push(Value::Text(a.clone()));
        }
        if let Some(a) = &q.action {
            sql.push_str(" AND action = ?");
            args.push(Value::Text(a.clone()));
        }
        for (cond, v) in [(" AND at_ms >= ?", q.from_ms), (" AND at_ms < ?", q.to_ms), (" AND id < ?", q.before)] {
            if let Some(v) = v {
                sql.push_str(cond);
                args.push(Value::Integer(v));
            }
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push(Value::Integer(i64::from(q.limit)));
        let mut stmt = self.0.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok(AuditEntry { id: r.get(0)?, at_ms: r.get(1)?, actor: r.get(2)?, action: r.get(3)?, detail: r.get(4)? })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub(super) fn set_kind(&self, device: gridwalk_domain::DeviceId, kind: &str) -> Result<()> {
        self.0.prepare_cached("UPDATE devices SET kind = ?2 WHERE id = ?1")?.execute(params![device.to_string(), kind])?;
        Ok(())
    }

    pub(super) fn put_report(&self, device: gridwalk_domain::DeviceId, r: &DeviceReport, now_ms: i64) -> Result<()> {
        let clamp = |n: u64| n.min(i64::MAX as u64) as i64;
        self.0
            .prepare_cached(
                "INSERT INTO device_reports (device_id, reported_ms, queue_depth, oldest_unsent_ms, rejected_count, clock_offset_ms, app_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(device_id) DO UPDATE SET reported_ms = excluded.reported_ms, queue_depth = excluded.queue_depth,
                     oldest_unsent_ms = excluded.oldest_unsent_ms, rejected_count = excluded.rejected_count,
                     clock_offset_ms = excluded.clock_offset_ms, app_version = excluded.app_version",
            )?
            .execute(params![
                device.to_string(),
                now_ms,
                clamp(r.queue_depth),
                r.oldest_unsent_ms,
                clamp(r.rejected_count),
                r.clock_offset_ms,
                r.app_version
            ])?;
        Ok(())
    }
}
