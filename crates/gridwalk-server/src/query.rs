//! Reads: pull, issue and visit queries. Everything is filtered by the caller's scope in SQL.

use crate::error::{Error, Result};
use crate::ingest::issue_place;
use crate::registry::{RegistryIndex, Scope};
use gridwalk_domain::{CourtyardId, DeviceId, IssueId, IssueState, IssueStatus, VisitState};
use gridwalk_proto::{IssueList, IssueSummary, PulledEvent, VisitList};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use serde::Deserialize;

/// The events of a pull page, plus whether more follow.
pub struct PullPage {
    pub events: Vec<PulledEvent>,
    pub next_cursor: u64,
    pub has_more: bool,
}

/// Events in `scope` after `after`, excluding the caller's own device (it has them). Department
/// staff get the events of the issues whistled to their departments.
pub fn pull(conn: &Connection, scope: &Scope, own_device: DeviceId, after: u64, limit: u64) -> Result<PullPage> {
    let (filter, ids) = scope.issue_sql_filter("entity_id");
    let sql =
        format!("SELECT server_seq, json FROM events WHERE server_seq > ? AND device_id <> ? AND {filter} ORDER BY server_seq LIMIT ?");
    let mut args: Vec<Value> = vec![Value::Integer(after.min(i64::MAX as u64) as i64), Value::Text(own_device.to_string())];
    args.extend(ids.into_iter().map(Value::Text));
    args.push(Value::Integer(limit as i64 + 1));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut events = Vec::new();
    for row in rows {
        let (seq, json) = row?;
        events.push(PulledEvent { server_seq: seq as u64, event: serde_json::from_str(&json)? });
    }
    let has_more = events.len() as u64 > limit;
    events.truncate(limit as usize);
    let next_cursor = events.last().map(|e| e.server_seq).unwrap_or(after);
    Ok(PullPage { events, next_cursor, has_more })
}

/// Filters of `GET /api/v1/issues`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueFilter {
    pub courtyard_id: Option<CourtyardId>,
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<IssueId>,
}

pub const MAX_ISSUE_PAGE: u32 = 500;

/// Check that a named courtyard exists and is in scope.
pub fn check_courtyard(registry: &RegistryIndex, scope: &Scope, id: CourtyardId) -> Result<()> {
    let place = registry.place(id).ok_or_else(|| Error::UnknownCourtyard(id.to_string()))?;
    if !scope.contains(&place) {
        return Err(Error::OutOfScope(format!("courtyard {id}")));
    }
    Ok(())
}

pub fn summary(s: &IssueState) -> Option<IssueSummary> {
    let r = s.report.as_ref()?;
    Some(IssueSummary {
        id: s.id,
        courtyard_id: r.courtyard,
        category: r.category,
        source: r.source,
        status: s.status,
        description: r.description.clone(),
        contact_name: r.contact.as_ref().and_then(|c| c.name.clone()),
        contact_phone_masked: r.contact.as_ref().map(|c| c.masked_phone()),
        external_ref: r.external_ref.clone(),
        received_at_ms: s.received_at_ms,
        response_due_ms: s.response_due_ms,
        responded_at_ms: s.responded_at_ms,
        resolved_at_ms: s.resolved_at_ms,
        closed_at_ms: s.closed_at_ms,
        reopen_count: s.reopen_count,
        conflicts: s.conflicts().count() as u32,
    })
}

pub fn list_issues(conn: &Connection, registry: &RegistryIndex, scope: &Scope, f: &IssueFilter) -> Result<IssueList> {
    let (filter, ids) = scope.issue_sql_filter("id");
    let mut sql = format!("SELECT state_json FROM issues WHERE {filter}");
    let mut args: Vec<Value> = ids.into_iter().map(Value::Text).collect();
    if let Some(yard) = f.courtyard_id {
        check_courtyard(registry, scope, yard)?;
        sql.push_str(" AND courtyard_id = ?");
        args.push(Value::Text(yard.to_string()));
    }
    if let Some(status) = &f.status {
        let s = IssueStatus::from_code(status).ok_or_else(|| Error::InvalidQuery(format!("unknown status {status:?}")))?;
        sql.push_str(" AND status = ?");
        args.push(Value::Text(s.code().into()));
    }
    if let Some(after) = f.after {
        sql.push_str(" AND id > ?");
        args.push(Value::Text(after.to_string()));
    }
    let limit = f.limit.unwrap_or(100).clamp(1, MAX_ISSUE_PAGE);
    sql.push_str(" ORDER BY id LIMIT ?");
    args.push(Value::Integer(i64::from(limit) + 1));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(0))?;
    let mut issues = Vec::new();
    for json in rows {
        let state: IssueState = serde_json::from_str(&json?)?;
        issues.extend(summary(&state));
    }
    let more = issues.len() > limit as usize;
    issues.truncate(limit as usize);
    let next_after = if more { issues.last().map(|i| i.id) } else { None };
    Ok(IssueList { issues, next_after })
}

/// One issue with its whole history; out of scope is refused, not hidden.
pub fn get_issue(conn: &Connection, scope: &Scope, id: IssueId) -> Result<IssueState> {
    let place = issue_place(conn, id)?.ok_or_else(|| Error::NotFound(format!("issue {id}")))?;
    if !scope.contains(&place) && !scope.whistled_to_us(conn, id)? {
        return Err(Error::OutOfScope(format!("issue {id}")));
    }
    let json: String = conn.query_row("SELECT state_json FROM issues WHERE id = ?1", [id.to_string()], |r| r.get(0))?;
    Ok(serde_json::from_str(&json)?)
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitFilter {
    pub courtyard_id: Option<CourtyardId>,
    pub limit: Option<u32>,
}

pub fn list_visits(conn: &Connection, registry: &RegistryIndex, scope: &Scope, f: &VisitFilter) -> Result<VisitList> {
    let (filter, ids) = scope.sql_filter();
    let mut sql = format!("SELECT state_json FROM visits WHERE {filter}");
    let mut args: Vec<Value> = ids.into_iter().map(Value::Text).collect();
    if let Some(yard) = f.courtyard_id {
        check_courtyard(registry, scope, yard)?;
        sql.push_str(" AND courtyard_id = ?");
        args.push(Value::Text(yard.to_string()));
    }
    sql.push_str(" ORDER BY id LIMIT ?");
    args.push(Value::Integer(i64::from(f.limit.unwrap_or(100).clamp(1, MAX_ISSUE_PAGE))));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(0))?;
    let mut visits: Vec<VisitState> = Vec::new();
    for json in rows {
        visits.push(serde_json::from_str(&json?)?);
    }
    Ok(VisitList { visits })
}
