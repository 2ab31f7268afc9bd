//! The 接诉即办 workflow on the server: events the server authors itself (automatic whistles,
//! recurrence links), the escalation run, and the dashboard reads (alerts, the three rates,
//! pledges). Every function here runs on a connection the caller holds; writes run inside the
//! caller's writer job, so what they append commits together with what caused it.
//!
//! Server-authored events are written by the server's own worker and device (the hotline
//! identity, [`crate::hotline::hotline_worker`] / [`crate::hotline::hotline_device`]) with the
//! server's persisted HLC, ticked past the issue's newest stamp so they fold after what they
//! answer. They get a global sequence like any event, so tablets in scope pull them.

use crate::audit;
use crate::error::{Error, Result};
use crate::hotline::{hotline_device, hotline_worker, next_server_hlc};
use crate::ingest::{content_hash, held_seq, issue_place, store_event};
use crate::query::summary;
use crate::registry::{RegistryIndex, Scope};
use gridwalk_domain::rates::{self, Period, RateFacts};
use gridwalk_domain::sla::{self, Escalation, EscalationRules};
use gridwalk_domain::{Entity, Event, EventBody, EventId, IssueId, IssueState, WhistleLevel, WorkerId};
use gridwalk_proto::{Alert, PledgeList, PledgeProgress, RatesReport};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use std::collections::{BTreeMap, HashMap};

/// Who appears as the actor of the server's own actions in the audit log.
pub const SYSTEM_ACTOR: &str = "system";

pub fn load_issue(conn: &Connection, id: IssueId) -> Result<Option<IssueState>> {
    let json: Option<String> = conn.query_row("SELECT state_json FROM issues WHERE id = ?1", [id.to_string()], |r| r.get(0)).optional()?;
    json.map(|j| serde_json::from_str(&j).map_err(Error::from)).transpose()
}

/// Append an event the server authors about a known issue, and re-fold that issue.
pub fn append_server_event(conn: &Connection, registry: &RegistryIndex, issue: IssueId, body: EventBody, now_ms: i64) -> Result<Event> {
    let place = issue_place(conn, issue)?.ok_or_else(|| Error::Corrupt(format!("server event about unknown issue {issue}")))?;
    let floor = load_issue(conn, issue)?.map(|s| s.last_hlc).unwrap_or_default();
    let event = Event {
        id: EventId::from_parts(now_ms.max(0) as u64, crate::auth::random_bits()),
        author: hotline_worker(),
        device: hotline_device(),
        hlc: next_server_hlc(conn, now_ms, floor)?,
        wall_ms: now_ms,
        clock_offset_ms: 0,
        entity: Entity::Issue(issue),
        body,
    };
    let seq = held_seq(conn, hotline_device())? + 1;
    store_event(conn, &event, seq, &content_hash(&event)?, &place, registry, now_ms)?;
    conn.execute("UPDATE devices SET held_seq = ?2 WHERE id = ?1", params![hotline_device().to_string(), seq as i64])?;
    Ok(event)
}

/// 愈后防复: if `new_issue` repeats an issue closed at the same courtyard in the same category
/// within `window_ms` before its receipt, link the two: `RecurrenceFlagged` on the new issue,
/// `Recurred` on the earlier one (which the fold reopens). Returns the earlier issue, if any.
pub fn flag_recurrence(
    conn: &Connection,
    registry: &RegistryIndex,
    new_issue: IssueId,
    window_ms: i64,
    now_ms: i64,
) -> Result<Option<IssueId>> {
    let Some(state) = load_issue(conn, new_issue)? else { return Ok(None) };
    let Some(report) = state.report.as_ref() else { return Ok(None) };
    if state.recurrence_of.is_some() || window_ms <= 0 {
        return Ok(None);
    }
    let at = state.received_at_ms.unwrap_or(now_ms);
    let earlier: Option<String> = conn
        .query_row(
            "SELECT id FROM issues WHERE category = ?1 AND courtyard_id = ?2 AND status = 'closed'
               AND closed_at_ms >= ?3 AND closed_at_ms <= ?4 AND id <> ?5
             ORDER BY closed_at_ms DESC, id LIMIT 1",
            params![report.category.code(), report.courtyard.to_string(), at - window_ms, at, new_issue.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(earlier) = earlier else { return Ok(None) };
    let earlier: IssueId = earlier.parse().map_err(|e| Error::Corrupt(format!("issue id: {e}")))?;
    append_server_event(conn, registry, new_issue, EventBody::RecurrenceFlagged { earlier_issue: earlier }, now_ms)?;
    append_server_event(conn, registry, earlier, EventBody::Recurred { new_issue }, now_ms)?;
    audit::record(conn, now_ms, SYSTEM_ACTOR, "recurrence_flagged", &format!("issue {new_issue} repeats closed issue {earlier}"))?;
    Ok(Some(earlier))
}

fn escalation_key(e: &Escalation) -> (&'static str, &'static str) {
    match e {
        Escalation::AlertSupervisor => ("alert_supervisor", ""),
        Escalation::WhistleNext { level } => ("whistle_next", level.code()),
    }
}

/// Run the escalation rules over every open issue at `now_ms` (the server's clock; issue times
/// are clock-corrected). Each escalation happens once: it is recorded in `escalations`, audited,
/// and a `WhistleNext` appends a server-authored `Whistled` event to the level's default target.
/// Returns what was done now.
pub fn run_escalations(
    conn: &Connection,
    registry: &RegistryIndex,
    rules: &EscalationRules,
    targets: &BTreeMap<WhistleLevel, String>,
    now_ms: i64,
) -> Result<Vec<Alert>> {
    let open: Vec<String> = {
        let mut stmt = conn.prepare("SELECT state_json FROM issues WHERE status <> 'closed' ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut done = Vec::new();
    for json in open {
        let state: IssueState = serde_json::from_str(&json)?;
        for esc in sla::escalations(&state, now_ms, rules) {
            let (kind, level) = escalation_key(&esc);
            let detail = match &esc {
                Escalation::AlertSupervisor => "no response within the hour of receipt".to_owned(),
                Escalation::WhistleNext { level } => {
                    let target = targets.get(level).cloned().unwrap_or_else(|| level.label_zh().to_owned());
                    format!("unresolved too long: whistle {} to {target}", level.code())
                }
            };
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO escalations (issue_id, kind, level, at_ms, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![state.id.to_string(), kind, level, now_ms, detail],
            )?;
            if inserted == 0 {
                continue;
            }
            audit::record(conn, now_ms, SYSTEM_ACTOR, kind, &format!("issue {}: {detail}", state.id))?;
            if let Escalation::WhistleNext { level } = esc {
                let target = targets.get(&level).cloned().unwrap_or_else(|| level.label_zh().to_owned());
                let note = format!("自动吹哨：超过 {} 小时未解决", rules.whistle_after_ms / 3_600_000);
                append_server_event(conn, registry, state.id, EventBody::Whistled { level, target, note }, now_ms)?;
            }
            done.push(Alert { issue_id: state.id, kind: kind.into(), level: level.into(), at_ms: now_ms, detail, issue: summary(&state) });
        }
    }
    Ok(done)
}

/// Escalations on issues in scope, newest first.
pub fn list_alerts(conn: &Connection, scope: &Scope, limit: u32) -> Result<Vec<Alert>> {
    let (filter, ids) = scope.sql_filter();
    let sql = format!(
        "SELECT e.issue_id, e.kind, e.level, e.at_ms, e.detail, i.state_json FROM escalations e JOIN issues i ON i.id = e.issue_id
         WHERE {filter} ORDER BY e.at_ms DESC, e.rowid DESC LIMIT ?"
    );
    let mut args: Vec<Value> = ids.into_iter().map(Value::Text).collect();
    args.push(Value::Integer(i64::from(limit)));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, level, at_ms, detail, json) = row?;
        let state: IssueState = serde_json::from_str(&json)?;
        let issue_id = id.parse().map_err(|e| Error::Corrupt(format!("issue id: {e}")))?;
        out.push(Alert { issue_id, kind, level, at_ms, detail, issue: summary(&state) });
    }
    Ok(out)
}

/// How `GET /api/v1/rates` groups issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    District,
    Subdistrict,
    Community,
    Category,
    Worker,
}

impl GroupBy {
    pub fn from_code(code: &str) -> Option<GroupBy> {
        Some(match code {
            "district" => GroupBy::District,
            "subdistrict" => GroupBy::Subdistrict,
            "community" => GroupBy::Community,
            "category" => GroupBy::Category,
            "worker" => GroupBy::Worker,
            _ => return None,
        })
    }
    pub fn code(self) -> &'static str {
        match self {
            GroupBy::District => "district",
            GroupBy::Subdistrict => "subdistrict",
            GroupBy::Community => "community",
            GroupBy::Category => "category",
            GroupBy::Worker => "worker",
        }
    }
}

/// The three rates of issues in scope received in `[from_ms, to_ms)`, grouped and bucketed
/// (definitions: [`gridwalk_domain::rates`]).
#[allow(clippy::too_many_arguments)]
pub fn rates(
    conn: &Connection,
    registry: &RegistryIndex,
    scope: &Scope,
    by: GroupBy,
    period: Period,
    from_ms: i64,
    to_ms: i64,
    as_of_ms: i64,
) -> Result<RatesReport> {
    let (filter, ids) = scope.sql_filter();
    let sql = format!(
        "SELECT state_json, community_id, subdistrict_id FROM issues WHERE {filter} AND received_at_ms >= ? AND received_at_ms < ?"
    );
    let mut args: Vec<Value> = ids.into_iter().map(Value::Text).collect();
    args.push(Value::Integer(from_ms));
    args.push(Value::Integer(to_ms));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    let subdistricts: HashMap<String, (&str, &str)> =
        registry.registry.subdistricts.iter().map(|s| (s.id.to_string(), (s.code.as_str(), s.name.as_str()))).collect();
    let communities: HashMap<String, (&str, &str)> =
        registry.registry.communities.iter().map(|c| (c.id.to_string(), (c.code.as_str(), c.name.as_str()))).collect();
    let mut facts = Vec::new();
    let mut labels = BTreeMap::new();
    for row in rows {
        let (json, community, subdistrict) = row?;
        let state: IssueState = serde_json::from_str(&json)?;
        let Some(f) = RateFacts::of(&state) else { continue };
        let (key, label) = match by {
            GroupBy::District => ("district".to_owned(), "朝阳区".to_owned()),
            GroupBy::Subdistrict => {
                let (code, name) = subdistricts.get(&subdistrict).copied().unwrap_or((subdistrict.as_str(), ""));
                (code.to_owned(), name.to_owned())
            }
            GroupBy::Community => {
                let (code, name) = communities.get(&community).copied().unwrap_or((community.as_str(), ""));
                (code.to_owned(), name.to_owned())
            }
            GroupBy::Category => {
                let c = state.report.as_ref().map(|r| r.category);
                (c.map(|c| c.code()).unwrap_or("").to_owned(), c.map(|c| c.label_zh()).unwrap_or("").to_owned())
            }
            GroupBy::Worker => {
                let w = rates::issue_worker(&state).map(|w| w.to_string()).unwrap_or_default();
                let name = worker_name(conn, &w)?;
                (w, name)
            }
        };
        labels.insert(key.clone(), label);
        facts.push((key, f));
    }
    let rows = rates::compute(&facts, period, from_ms, to_ms, as_of_ms);
    Ok(RatesReport { by: by.code().into(), period, from_ms, to_ms, as_of_ms, rows, labels })
}

fn worker_name(conn: &Connection, id: &str) -> Result<String> {
    let mut stmt = conn.prepare_cached("SELECT name FROM workers WHERE id = ?1")?;
    Ok(stmt.query_row([id], |r| r.get(0)).optional()?.unwrap_or_default())
}

/// Pledged issues in scope (optionally one cadre's), with their progress, oldest pledge first.
pub fn pledges(conn: &Connection, scope: &Scope, cadre: Option<WorkerId>) -> Result<PledgeList> {
    let (filter, ids) = scope.issue_sql_filter("id");
    let sql = format!("SELECT state_json FROM issues WHERE {filter} AND json_extract(state_json, '$.pledge') IS NOT NULL");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(ids), |r| r.get::<_, String>(0))?;
    let mut pledges = Vec::new();
    for json in rows {
        let state: IssueState = serde_json::from_str(&json?)?;
        let (Some(pledge), Some(issue)) = (state.pledge.clone(), summary(&state)) else { continue };
        if cadre.is_some_and(|c| c != pledge.by) {
            continue;
        }
        pledges.push(PledgeProgress { issue, pledge, whistles: state.whistles.clone(), satisfaction: state.satisfaction });
    }
    pledges.sort_by_key(|p| (p.pledge.at_ms, p.issue.id));
    Ok(PledgeList { pledges })
}
