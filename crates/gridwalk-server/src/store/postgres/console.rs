//! The console's reads over a PostgreSQL connection, as `sqlite::console` has them: the ticket
//! list (keyset over an index, so the first page costs the same at a million issues as at a
//! thousand), today's figures and the rate facts from the view's columns, map counts, devices
//! with their reports, and the audit reader.

use super::read::{audit_entry, scalar, scalar_opt, unsigned};
use super::scope_sql::by_place;
use super::{Args, Pg};
use crate::error::{Error, Result};
use crate::model::*;
use crate::store::sqlite::console::FINAL;
use crate::store::sqlite::foresight::COUNTED;
use crate::store::sqlite::rows::{parse, place_of};
use gridwalk_domain::rates::RateFacts;
use gridwalk_domain::{DeviceId, IssueStatus, RESPONSE_WINDOW_MS};
use gridwalk_proto::console::{DeviceReport, TodayFigures};
use tokio_postgres::Row;

/// The `WHERE` of a ticket query, without its cursor; its parameters are added to `args`.
fn ticket_where(scope: &Scope, q: &TicketQuery, args: &mut Args) -> String {
    // The department inbox is what was whistled, not what lies in the scope's places (the
    // district's inbox: everything whistled anywhere).
    let place = match (q.whistled_only, scope.district) {
        (true, true) => String::from("TRUE"),
        (true, false) => String::from("FALSE"),
        (false, _) => by_place(scope, "", args),
    };
    let mut sql = if scope.district || scope.departments.is_empty() {
        format!("received_at_ms IS NOT NULL AND {place}")
    } else {
        let departments = args.add(scope.departments.iter().cloned().collect::<Vec<String>>());
        format!("received_at_ms IS NOT NULL AND ({place} OR id IN (SELECT issue_id FROM issue_whistles WHERE target = ANY({departments})))")
    };
    if q.whistled_only && scope.district {
        sql.push_str(" AND id IN (SELECT issue_id FROM issue_whistles)");
    }
    let mut eq = |column: &str, v: Option<String>| {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {column} = {}", args.add(v)));
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
        sql.push_str(&format!(" AND responded_at_ms IS NULL AND response_due_ms < {} AND status NOT IN {FINAL}", args.add(now)));
    }
    if let Some(from) = q.from_ms {
        sql.push_str(&format!(" AND received_at_ms >= {}", args.add(from)));
    }
    if let Some(to) = q.to_ms {
        sql.push_str(&format!(" AND received_at_ms < {}", args.add(to)));
    }
    sql
}

/// A statement's condition on the scope's places and the parameters it starts with (the
/// condition comes first in the statements that use this, so its placeholders are `$1`...).
fn in_scope(scope: &Scope) -> (String, Args) {
    let mut args = Args::default();
    let place = by_place(scope, "", &mut args);
    (place, args)
}

fn count(pg: &Pg<'_>, sql: &str, args: &Args) -> Result<u64> {
    Ok(unsigned(scalar(pg, sql, &args.refs())?))
}

/// A device report at columns `first..first + 5` (queue depth, oldest unsent, rejected, clock
/// offset, app version).
fn report_at(r: &Row, first: usize) -> Result<DeviceReport> {
    Ok(DeviceReport {
        queue_depth: unsigned(r.try_get(first)?),
        oldest_unsent_ms: r.try_get(first + 1)?,
        rejected_count: unsigned(r.try_get(first + 2)?),
        clock_offset_ms: r.try_get(first + 3)?,
        app_version: r.try_get(first + 4)?,
    })
}

impl Pg<'_> {
    pub(super) fn device_kind_of(&self, device: DeviceId) -> Result<Option<String>> {
        scalar_opt(self, "SELECT kind FROM devices WHERE id = $1", &[&device.to_string()])
    }

    pub(super) fn each_ticket_in(&self, scope: &Scope, q: &TicketQuery, each: &mut dyn FnMut(IssueView) -> Result<bool>) -> Result<()> {
        let mut args = Args::default();
        let mut sql = ticket_where(scope, q, &mut args);
        if let Some((at, id)) = q.before {
            let (at, id) = (args.add(at), args.add(id.to_string()));
            sql.push_str(&format!(" AND (received_at_ms, id) < ({at}, {id})"));
        }
        let limit = args.add(i64::from(q.limit));
        let sql = format!("SELECT view_json FROM issues WHERE {sql} ORDER BY received_at_ms DESC, id DESC LIMIT {limit}");
        // Streamed: an export hands on every issue in scope without holding them.
        self.each_row(&sql, &args.refs(), &mut |row| {
            let json: String = row.try_get(0)?;
            each(serde_json::from_str(&json)?)
        })
    }

    pub(super) fn ticket_count_in(&self, scope: &Scope, q: &TicketQuery) -> Result<u64> {
        let mut args = Args::default();
        let sql = ticket_where(scope, q, &mut args);
        count(self, &format!("SELECT count(*) FROM issues WHERE {sql}"), &args)
    }

    /// Three indexed counts (received today, unanswered past due, resolved today) rather
    /// than one scan of every issue.
    pub(super) fn today_figures_in(&self, scope: &Scope, day_start_ms: i64, now_ms: i64) -> Result<TodayFigures> {
        let counted = "status NOT IN ('duplicate', 'cancelled')";
        let (place, mut args) = in_scope(scope);
        let (from, to) = (args.add(day_start_ms), args.add(now_ms.saturating_add(1)));
        let r = self.query_one(
            &format!(
                "SELECT count(*),
                        count(*) FILTER (WHERE responded_at_ms IS NOT NULL AND responded_at_ms <= received_at_ms + {RESPONSE_WINDOW_MS})
                 FROM issues WHERE {place} AND {counted} AND received_at_ms >= {from} AND received_at_ms < {to}"
            ),
            &args.refs(),
        )?;
        let (received, in_time): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
        let (place, mut args) = in_scope(scope);
        let now = args.add(now_ms);
        let overdue = count(
            self,
            &format!(
                "SELECT count(*) FROM issues WHERE {place} AND responded_at_ms IS NULL AND response_due_ms < {now} AND status NOT IN {FINAL}"
            ),
            &args,
        )?;
        let (place, mut args) = in_scope(scope);
        let (from, to) = (args.add(day_start_ms), args.add(now_ms));
        let resolved = count(
            self,
            &format!("SELECT count(*) FROM issues WHERE {place} AND {counted} AND resolved_at_ms >= {from} AND resolved_at_ms <= {to}"),
            &args,
        )?;
        Ok(TodayFigures { received: unsigned(received), responded_in_time: unsigned(in_time), overdue, resolved })
    }

    pub(super) fn rate_facts_in(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(Place, RateFacts)>> {
        let (place, mut args) = in_scope(scope);
        let (from, to) = (args.add(from_ms), args.add(to_ms));
        let sql = format!(
            "SELECT courtyard_id, community_id, subdistrict_id, received_at_ms, responded_at_ms, status, satisfaction FROM issues
             WHERE {place} AND received_at_ms >= {from} AND received_at_ms < {to} AND {COUNTED}"
        );
        let mut out = Vec::new();
        for r in self.query(&sql, &args.refs())? {
            let (c, m, s): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let status: String = r.try_get(5)?;
            let satisfaction: Option<String> = r.try_get(6)?;
            let facts = RateFacts {
                received_at_ms: r.try_get(3)?,
                responded_at_ms: r.try_get(4)?,
                status: IssueStatus::from_code(&status).ok_or_else(|| Error::Corrupt(format!("status {status}")))?,
                satisfaction: satisfaction.as_deref().and_then(gridwalk_domain::Satisfaction::from_code),
            };
            out.push((place_of(&c, &m, &s)?, facts));
        }
        Ok(out)
    }

    pub(super) fn courtyard_counts_in(&self, scope: &Scope, now_ms: i64) -> Result<Vec<CourtyardCounts>> {
        // The counts' parameters come before the scope's: they come first in the text.
        let mut args = Args::default();
        let now = args.add(now_ms);
        let place = by_place(scope, "", &mut args);
        // count(*) FILTER is SQLite's SUM of a condition, but 0 (not NULL) where the condition
        // is never true.
        let sql = format!(
            "SELECT courtyard_id,
                    count(*) FILTER (WHERE status NOT IN {FINAL}),
                    count(*) FILTER (WHERE status NOT IN {FINAL} AND responded_at_ms IS NULL AND response_due_ms < {now})
             FROM issues WHERE {place} AND received_at_ms IS NOT NULL GROUP BY courtyard_id"
        );
        let mut out = Vec::new();
        for r in self.query(&sql, &args.refs())? {
            let yard: String = r.try_get(0)?;
            out.push(CourtyardCounts {
                courtyard: parse("courtyard id", &yard)?,
                open: unsigned(r.try_get(1)?),
                overdue: unsigned(r.try_get(2)?),
            });
        }
        Ok(out)
    }

    pub(super) fn device_report_of(&self, device: DeviceId) -> Result<Option<(i64, DeviceReport)>> {
        let sql = "SELECT reported_ms, queue_depth, oldest_unsent_ms, rejected_count, clock_offset_ms, app_version FROM device_reports
                   WHERE device_id = $1";
        self.query_opt(sql, &[&device.to_string()])?.map(|r| Ok((r.try_get(0)?, report_at(&r, 1)?))).transpose()
    }

    pub(super) fn device_details_all(&self) -> Result<Vec<DeviceDetail>> {
        let rows = self.query(
            "SELECT d.id, d.name, d.worker_id, w.username, w.name, d.kind, d.created_ms, d.revoked_ms,
                    r.reported_ms, r.queue_depth, r.oldest_unsent_ms, r.rejected_count, r.clock_offset_ms, r.app_version
             FROM devices d JOIN workers w ON w.id = d.worker_id LEFT JOIN device_reports r ON r.device_id = d.id
             ORDER BY d.created_ms DESC, d.id",
            &[],
        )?;
        let mut out = Vec::new();
        for r in rows {
            let (id, worker): (String, String) = (r.try_get(0)?, r.try_get(2)?);
            let reported: Option<i64> = r.try_get(8)?;
            let report = match reported {
                Some(at) => Some((at, report_at(&r, 9)?)),
                None => None,
            };
            out.push(DeviceDetail {
                id: parse("device id", &id)?,
                name: r.try_get(1)?,
                worker: parse("worker id", &worker)?,
                username: r.try_get(3)?,
                worker_name: r.try_get(4)?,
                kind: r.try_get(5)?,
                created_ms: r.try_get(6)?,
                revoked_ms: r.try_get(7)?,
                report,
            });
        }
        Ok(out)
    }

    pub(super) fn audit_page_of(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut args = Args::default();
        let mut sql = String::from("SELECT id, at_ms, actor, action, detail FROM audit WHERE TRUE");
        for (column, v) in [("actor", &q.actor), ("action", &q.action)] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {column} = {}", args.add(v.clone())));
            }
        }
        for (test, v) in [("at_ms >=", q.from_ms), ("at_ms <", q.to_ms), ("id <", q.before)] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {test} {}", args.add(v)));
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", args.add(i64::from(q.limit))));
        self.query(&sql, &args.refs())?.iter().map(audit_entry).collect()
    }
}
