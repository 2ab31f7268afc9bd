//! Reading the views: issue and visit lists with keyset paging, and one issue with its history.

use crate::error::{CoreError, Result};
use crate::registry::parse_text_id;
use crate::tablet::Tablet;
use crate::views;
use gridwalk_domain::sla::{response_sla, ResponseSla, DEFAULT_DUE_SOON_MS};
use gridwalk_domain::*;
use rusqlite::types::Value;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IssueFilter {
    pub courtyard: Option<CourtyardId>,
    pub status: Option<IssueStatus>,
    pub category: Option<Category>,
    /// Only issues not responded to and past their 1-hour deadline (on the corrected clock).
    #[serde(default)]
    pub overdue: bool,
    /// Only issues awaiting a response (due soon or overdue first when sorted by due).
    #[serde(default)]
    pub open_only: bool,
}

/// An opaque keyset cursor: the last row's (received_at_ms, id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor(pub String);

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssueRow {
    pub id: IssueId,
    pub courtyard_id: CourtyardId,
    pub category: Category,
    pub source: IssueSource,
    pub status: IssueStatus,
    pub description: String,
    /// Masked: 138****5678. The full number is only in the issue's detail.
    pub contact_masked: Option<String>,
    pub received_at_ms: i64,
    pub response_due_ms: Option<i64>,
    pub responded_at_ms: Option<i64>,
    pub conflicts: u32,
    pub sync_state: String,
    /// Whose issue it is now (the fold's owner), if a worker's.
    pub owner_id: Option<WorkerId>,
    /// The response clock still runs (reported, not answered, not taken out).
    pub clock_runs: bool,
    pub accepted_at_ms: Option<i64>,
    pub urged: u32,
    pub review_returns: u32,
}

/// 今日: my issues whose response clock runs, most urgent first; then mine that were urged or
/// sent back by a review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Today {
    pub clock: Vec<IssueRow>,
    pub follow_up: Vec<IssueRow>,
}

/// A new order for this tablet's worker, found among pulled events: assigned or transferred
/// to them, or urged on their issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    /// `assigned`, `transferred` or `urged`.
    pub kind: EventKind,
    pub issue: IssueRow,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisitRow {
    pub id: VisitId,
    pub courtyard_id: CourtyardId,
    pub mode: VisitMode,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub notes: String,
    pub residents_met: u32,
    pub linked_issues: Vec<IssueId>,
    pub sync_state: String,
}

/// Where one of this tablet's own events stands with the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventSync {
    pub event_id: EventId,
    pub seq: u64,
    pub state: String,
    pub reject_code: Option<String>,
    pub reject_reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IssueDetail {
    pub state: IssueState,
    pub sla: Option<ResponseSla>,
    /// Sync state of this tablet's own events on the issue (others' events came from the server).
    pub own_events: Vec<EventSync>,
    /// What this tablet's worker may do on the issue now: the domain's rules table and fold,
    /// so the screen keeps no copy of the rules.
    pub offers: Vec<gridwalk_domain::rules::Offer>,
}

const PAGE_MAX: u32 = 200;

fn encode_cursor(ms: i64, id: &str) -> Cursor {
    Cursor(format!("{ms}~{id}"))
}

fn decode_cursor(c: &Cursor) -> Result<(i64, String)> {
    let bad = || CoreError::NotFound { what: "page cursor" };
    let (ms, id) = c.0.split_once('~').ok_or_else(bad)?;
    Ok((ms.parse().map_err(|_| bad())?, id.to_owned()))
}

fn enum_col<T>(r: &rusqlite::Row, i: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    parse(&s).ok_or_else(|| rusqlite::Error::InvalidColumnType(i, s, rusqlite::types::Type::Text))
}

pub(crate) fn issue_row(r: &rusqlite::Row) -> rusqlite::Result<IssueRow> {
    Ok(IssueRow {
        id: parse_text_id(r.get(0)?)?,
        courtyard_id: parse_text_id(r.get(1)?)?,
        category: enum_col(r, 2, Category::from_code)?,
        source: enum_col(r, 3, IssueSource::from_code)?,
        status: enum_col(r, 4, IssueStatus::from_code)?,
        description: r.get(5)?,
        contact_masked: r.get(6)?,
        received_at_ms: r.get(7)?,
        response_due_ms: r.get(8)?,
        responded_at_ms: r.get(9)?,
        conflicts: r.get(10)?,
        sync_state: r.get(11)?,
        owner_id: r.get::<_, Option<String>>(12)?.map(parse_text_id).transpose()?,
        clock_runs: r.get(13)?,
        accepted_at_ms: r.get(14)?,
        urged: r.get(15)?,
        review_returns: r.get(16)?,
    })
}

/// The columns [`issue_row`] reads, in its order.
pub(crate) const ISSUE_COLUMNS: &str = "id, courtyard_id, category, source, status, description, contact_masked, received_at_ms,
    response_due_ms, responded_at_ms, conflicts, sync_state, owner_id, clock_runs, accepted_at_ms, urged, review_returns";

/// Rows of a query over `issues` that selects [`ISSUE_COLUMNS`].
fn issue_rows(conn: &rusqlite::Connection, sql: &str, args: Vec<Value>) -> Result<Vec<IssueRow>> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args), issue_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

impl Tablet {
    /// Issues, newest received first, `limit` per page (keyset paging: stable under inserts).
    pub fn list_issues(&self, filter: &IssueFilter, after: Option<&Cursor>, limit: u32) -> Result<Page<IssueRow>> {
        let limit = limit.clamp(1, PAGE_MAX);
        let mut sql = format!("SELECT {ISSUE_COLUMNS} FROM issues WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(c) = filter.courtyard {
            sql.push_str(" AND courtyard_id = ?");
            args.push(c.to_string().into());
        }
        if let Some(s) = filter.status {
            sql.push_str(" AND status = ?");
            args.push(s.code().to_owned().into());
        }
        if let Some(c) = filter.category {
            sql.push_str(" AND category = ?");
            args.push(c.code().to_owned().into());
        }
        if filter.overdue {
            sql.push_str(" AND responded_at_ms IS NULL AND response_due_ms < ?");
            args.push(self.corrected_now_ms().into());
        }
        if filter.open_only {
            sql.push_str(" AND status != 'closed'");
        }
        if let Some(c) = after {
            let (ms, id) = decode_cursor(c)?;
            sql.push_str(" AND (received_at_ms, id) < (?, ?)");
            args.push(ms.into());
            args.push(id.into());
        }
        sql.push_str(&format!(" ORDER BY received_at_ms DESC, id DESC LIMIT {}", limit + 1));
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut items: Vec<IssueRow> = st.query_map(rusqlite::params_from_iter(args), issue_row)?.collect::<Result<_, _>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|r| encode_cursor(r.received_at_ms, &r.id.to_string()))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// 今日 (Today): every issue of mine whose response clock still runs, whatever its status,
    /// by deadline; then those of mine a supervisor urged or a review sent back, still open.
    /// "Mine" is the fold's owner: the assigned worker, or an undispatched report's reporter.
    pub fn today(&self) -> Result<Today> {
        let Some(me) = self.identity.map(|i| i.worker.to_string()) else {
            return Ok(Today { clock: Vec::new(), follow_up: Vec::new() });
        };
        let clock = issue_rows(
            &self.conn,
            &format!(
                "SELECT {ISSUE_COLUMNS} FROM issues WHERE owner_id = ?1 AND clock_runs = 1
                 ORDER BY response_due_ms, received_at_ms, id LIMIT {PAGE_MAX}"
            ),
            vec![me.clone().into()],
        )?;
        // A resolution sent back counts until it is resolved again (then the reviewer has it).
        let follow_up = issue_rows(
            &self.conn,
            &format!(
                "SELECT {ISSUE_COLUMNS} FROM issues WHERE owner_id = ?1 AND clock_runs = 0
                   AND status NOT IN ('closed', 'duplicate', 'cancelled')
                   AND (urged > 0 OR (review_returns > 0 AND status != 'resolved'))
                 ORDER BY urged DESC, received_at_ms, id LIMIT {PAGE_MAX}"
            ),
            vec![me.into()],
        )?;
        Ok(Today { clock, follow_up })
    }

    /// The department inbox: issues whistled to one of my departments (from the login's scope),
    /// still open first, newest first. Empty for a worker without departments.
    pub fn department_inbox(&self) -> Result<Vec<IssueRow>> {
        let departments = self.actor()?.map(|a| a.departments).unwrap_or_default();
        if departments.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; departments.len()].join(", ");
        issue_rows(
            &self.conn,
            &format!(
                "SELECT {ISSUE_COLUMNS} FROM issues i
                 WHERE EXISTS (SELECT 1 FROM json_each(i.whistle_targets) t WHERE t.value IN ({marks}))
                 ORDER BY status IN ('closed', 'duplicate', 'cancelled'), received_at_ms DESC, id DESC LIMIT {PAGE_MAX}"
            ),
            departments.into_iter().map(Value::from).collect(),
        )
    }

    /// New orders for me among the events pulled after server sequence `after`: an order
    /// assigned or transferred to me (and still mine), or an urge on an issue of mine, each
    /// issue once (its latest such event), for a still open issue. The shell asks this after
    /// every sync with the cursor it had before, to raise a notification and the banner.
    pub fn orders_for_me(&self, after: u64) -> Result<Vec<NewOrder>> {
        let Some(me) = self.identity.map(|i| i.worker) else { return Ok(Vec::new()) };
        let mut st = self.conn.prepare_cached(
            "SELECT body FROM events WHERE server_seq > ?1 AND kind IN ('assigned', 'transferred', 'urged') ORDER BY server_seq",
        )?;
        let bodies: Vec<String> = st.query_map([after as i64], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let mut found: Vec<(IssueId, EventKind)> = Vec::new();
        for body in bodies {
            let e: Event = serde_json::from_str(&body)?;
            let Entity::Issue(id) = e.entity else { continue };
            let kind = match e.body {
                EventBody::Assigned { to: Assignee::Worker(w), .. } | EventBody::Transferred { to: Assignee::Worker(w), .. } if w == me => {
                    e.body.event_kind()
                }
                EventBody::Urged { .. } if e.author != me => EventKind::Urged,
                _ => continue,
            };
            found.retain(|(i, _)| *i != id);
            found.push((id, kind));
        }
        let mut out = Vec::new();
        for (id, kind) in found {
            let rows = issue_rows(
                &self.conn,
                &format!(
                    "SELECT {ISSUE_COLUMNS} FROM issues WHERE id = ?1 AND owner_id = ?2
                       AND status NOT IN ('closed', 'duplicate', 'cancelled')"
                ),
                vec![id.to_string().into(), me.to_string().into()],
            )?;
            out.extend(rows.into_iter().map(|issue| NewOrder { kind, issue }));
        }
        Ok(out)
    }

    /// Visits, newest first, optionally of one courtyard.
    pub fn list_visits(&self, courtyard: Option<CourtyardId>, after: Option<&Cursor>, limit: u32) -> Result<Page<VisitRow>> {
        let limit = limit.clamp(1, PAGE_MAX);
        let mut sql = String::from(
            "SELECT id, courtyard_id, mode, started_at_ms, ended_at_ms, notes, residents_met, linked_issues, sync_state FROM visits WHERE 1 = 1",
        );
        let mut args: Vec<Value> = Vec::new();
        if let Some(c) = courtyard {
            sql.push_str(" AND courtyard_id = ?");
            args.push(c.to_string().into());
        }
        if let Some(c) = after {
            let (ms, id) = decode_cursor(c)?;
            sql.push_str(" AND (started_at_ms, id) < (?, ?)");
            args.push(ms.into());
            args.push(id.into());
        }
        sql.push_str(&format!(" ORDER BY started_at_ms DESC, id DESC LIMIT {}", limit + 1));
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut items: Vec<VisitRow> = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                let linked: String = r.get(7)?;
                Ok(VisitRow {
                    id: parse_text_id(r.get(0)?)?,
                    courtyard_id: parse_text_id(r.get(1)?)?,
                    mode: enum_col(r, 2, VisitMode::from_code)?,
                    started_at_ms: r.get(3)?,
                    ended_at_ms: r.get(4)?,
                    notes: r.get(5)?,
                    residents_met: r.get(6)?,
                    linked_issues: serde_json::from_str(&linked).unwrap_or_default(),
                    sync_state: r.get(8)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|r| encode_cursor(r.started_at_ms, &r.id.to_string()))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// One issue with its full event history (conflicts flagged) and the sync state of this
    /// tablet's own events on it.
    pub fn issue(&self, id: IssueId) -> Result<IssueDetail> {
        let tx = self.conn.unchecked_transaction()?;
        let events = views::entity_events(&tx, &id.to_string())?;
        drop(tx);
        if events.is_empty() {
            return Err(CoreError::NotFound { what: "issue" });
        }
        let state = fold_issue(id, events);
        let sla = response_sla(&state, self.corrected_now_ms(), DEFAULT_DUE_SOON_MS);
        let mut st = self.conn.prepare_cached(
            "SELECT d.event_id, d.seq, d.sync_state, d.reject_code, d.reject_reason
             FROM device_log d JOIN events e ON e.event_id = d.event_id WHERE e.entity_id = ?1 ORDER BY d.seq",
        )?;
        let own_events = st
            .query_map([id.to_string()], |r| {
                Ok(EventSync {
                    event_id: parse_text_id(r.get(0)?)?,
                    seq: r.get::<_, i64>(1)? as u64,
                    state: r.get(2)?,
                    reject_code: r.get(3)?,
                    reject_reason: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let offers = match self.actor_and_places()? {
            Some((actor, has_places)) => {
                // The tablet holds the registry of its worker's scope: a courtyard it knows is in
                // scope. A department's scope holds no place, whatever registry it was sent.
                let in_scope = match &state.report {
                    Some(r) if has_places => {
                        self.conn.prepare_cached("SELECT 1 FROM courtyards WHERE id = ?1")?.exists([r.courtyard.to_string()])?
                    }
                    _ => false,
                };
                gridwalk_domain::rules::offered(&state, &actor, in_scope)
            }
            None => Vec::new(),
        };
        Ok(IssueDetail { state, sla, own_events, offers })
    }

    /// The enrolled worker as the rules see them (role and departments from the login).
    pub fn actor(&self) -> Result<Option<gridwalk_domain::rules::Actor>> {
        Ok(self.actor_and_places()?.map(|(a, _)| a))
    }

    /// Who logged in on this tablet (role and scope, as the login answered).
    pub fn worker(&self) -> Result<Option<gridwalk_proto::WorkerInfo>> {
        let Some(json) = crate::tablet::meta_get(&self.conn, "worker")? else { return Ok(None) };
        Ok(Some(serde_json::from_str(&json)?))
    }

    /// The actor, and whether their scope holds places at all (not only departments).
    fn actor_and_places(&self) -> Result<Option<(gridwalk_domain::rules::Actor, bool)>> {
        let Some(info) = self.worker()? else { return Ok(None) };
        let has_places = info.scope.iter().any(|u| !matches!(u, gridwalk_proto::ScopeUnit::Department(_)));
        let departments = info
            .scope
            .iter()
            .filter_map(|u| match u {
                gridwalk_proto::ScopeUnit::Department(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        Ok(Some((gridwalk_domain::rules::Actor { worker: info.id, role: info.role, departments }, has_places)))
    }
}
