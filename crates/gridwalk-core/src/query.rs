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

fn issue_row(r: &rusqlite::Row) -> rusqlite::Result<IssueRow> {
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
    })
}

impl Tablet {
    /// Issues, newest received first, `limit` per page (keyset paging: stable under inserts).
    pub fn list_issues(&self, filter: &IssueFilter, after: Option<&Cursor>, limit: u32) -> Result<Page<IssueRow>> {
        let limit = limit.clamp(1, PAGE_MAX);
        let mut sql = String::from(
            "SELECT id, courtyard_id, category, source, status, description, contact_masked, received_at_ms,
                    response_due_ms, responded_at_ms, conflicts, sync_state
             FROM issues WHERE 1 = 1",
        );
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
        let offers = match self.actor()? {
            Some(actor) => {
                // The tablet holds the registry of its worker's scope: a courtyard it knows is in scope.
                let in_scope = match &state.report {
                    Some(r) => self.conn.prepare_cached("SELECT 1 FROM courtyards WHERE id = ?1")?.exists([r.courtyard.to_string()])?,
                    None => false,
                };
                gridwalk_domain::rules::offered(&state, &actor, in_scope)
            }
            None => Vec::new(),
        };
        Ok(IssueDetail { state, sla, own_events, offers })
    }

    /// The enrolled worker as the rules see them (role and departments from the login).
    pub fn actor(&self) -> Result<Option<gridwalk_domain::rules::Actor>> {
        let Some(json) = crate::tablet::meta_get(&self.conn, "worker")? else { return Ok(None) };
        let info: gridwalk_proto::WorkerInfo = serde_json::from_str(&json)?;
        let departments = info
            .scope
            .iter()
            .filter_map(|u| match u {
                gridwalk_proto::ScopeUnit::Department(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        Ok(Some(gridwalk_domain::rules::Actor { worker: info.id, role: info.role, departments }))
    }
}
