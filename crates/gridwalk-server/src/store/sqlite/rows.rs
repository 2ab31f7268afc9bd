//! The storage traits over a SQLite connection: every statement of the server is here.

use super::scope_sql::{by_place, by_place_or_whistle};
use super::Sql;
use crate::error::{Error, Result};
use crate::model::*;
use crate::store::{IssueQuery, NewEvent, NewNotice, Reader, Tx};
use gridwalk_domain::foresight::coverage::VisitTally;
use gridwalk_domain::foresight::geo::BoundingBox;
use gridwalk_domain::foresight::nearby::OpenIssue;
use gridwalk_domain::registry::GeoPoint;
use gridwalk_domain::Category;
use gridwalk_domain::{
    Assignee, CourtyardId, DeviceId, Entity, Event, EventId, IssueId, IssueStatus, Registry, Role, VisitState, WorkerId,
};
use gridwalk_proto::{PulledEvent, ScopeUnit, WorkerInfo};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row};
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

pub(crate) fn parse<T: FromStr>(what: &str, text: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| Error::Corrupt(format!("stored {what} {text:?}: {e}")))
}

pub(crate) fn place_of(c: &str, m: &str, s: &str) -> Result<Place> {
    Ok(Place { courtyard: parse("courtyard id", c)?, community: parse("community id", m)?, subdistrict: parse("subdistrict id", s)? })
}

pub(crate) const WORKER_COLUMNS: &str = "id, username, name, role, scope_json, password_hash, disabled_ms";

pub(crate) type RawWorker = ([String; 6], Option<i64>);

fn worker_row(r: &Row<'_>) -> rusqlite::Result<RawWorker> {
    Ok(([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?], r.get(6)?))
}

pub(crate) fn worker_record((raw, disabled_ms): RawWorker) -> Result<WorkerRecord> {
    let [id, username, name, role, scope_json, password_hash] = raw;
    let role = Role::from_code(&role).ok_or_else(|| Error::Corrupt(format!("role {role}")))?;
    let scope: Vec<ScopeUnit> = serde_json::from_str(&scope_json)?;
    Ok(WorkerRecord { info: WorkerInfo { id: parse("worker id", &id)?, username, name, role, scope }, password_hash, disabled_ms })
}

pub(crate) type RawDeviceToken = (String, String, Option<i64>, Option<i64>, String);

fn device_token_row(r: &Row<'_>) -> rusqlite::Result<RawDeviceToken> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

pub(crate) fn device_token((d, w, revoked_ms, expires_ms, kind): RawDeviceToken) -> Result<DeviceToken> {
    let console = kind == CONSOLE_DEVICE;
    Ok(DeviceToken { device: parse("device id", &d)?, worker: parse("worker id", &w)?, revoked_ms, expires_ms, console })
}

pub(crate) fn entity_of(kind: &str, id: &str) -> Result<Entity> {
    match kind {
        "issue" => Ok(Entity::Issue(parse("issue id", id)?)),
        "visit" => Ok(Entity::Visit(parse("visit id", id)?)),
        other => Err(Error::Corrupt(format!("entity kind {other:?}"))),
    }
}

pub(crate) const NOTICE_COLUMNS: &str =
    "id, event_id, issue_id, kind, phone, text, state, attempts, next_attempt_ms, last_error, created_ms, sent_ms";

pub(crate) type RawNotice = (i64, String, String, String, String, String, String, i64, i64, Option<String>, i64, Option<i64>);

fn notice_row(r: &Row<'_>) -> rusqlite::Result<RawNotice> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
    ))
}

pub(crate) fn notice_record(raw: RawNotice) -> Result<NoticeRow> {
    let (seq, event_id, issue_id, kind, phone, text, state, attempts, next_attempt_ms, last_error, created_ms, sent_ms) = raw;
    Ok(NoticeRow {
        seq,
        event_id: parse("event id", &event_id)?,
        issue_id: parse("issue id", &issue_id)?,
        kind: NoticeKind::from_code(&kind).ok_or_else(|| Error::Corrupt(format!("notice kind {kind:?}")))?,
        phone,
        text,
        state: NoticeState::from_code(&state).ok_or_else(|| Error::Corrupt(format!("notice state {state:?}")))?,
        attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
        next_attempt_ms,
        last_error,
        created_ms,
        sent_ms,
    })
}

impl Sql<'_> {
    fn notices_where(&self, sql: &str, args: &[Value]) -> Result<Vec<NoticeRow>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let rows = stmt.query_map(params_from_iter(args), notice_row)?;
        let mut out = Vec::new();
        for raw in rows {
            out.push(notice_record(raw?)?);
        }
        Ok(out)
    }

    fn issue_views_where(&self, sql: &str, args: Vec<Value>) -> Result<Vec<IssueView>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(serde_json::from_str(&json?)?);
        }
        Ok(out)
    }

    fn registry_table<T: serde::de::DeserializeOwned>(&self, table: &str) -> Result<Vec<T>> {
        let mut stmt = self.0.prepare(&format!("SELECT json FROM {table} ORDER BY code"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(serde_json::from_str(&json?)?);
        }
        Ok(out)
    }
}

impl Reader for Sql<'_> {
    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.0.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
    }

    fn registry_version(&self) -> Result<u64> {
        Ok(self.meta("registry_version")?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn registry(&self) -> Result<Registry> {
        Ok(Registry {
            subdistricts: self.registry_table("subdistricts")?,
            communities: self.registry_table("communities")?,
            management_grids: self.registry_table("management_grids")?,
            technical_grids: self.registry_table("technical_grids")?,
            courtyards: self.registry_table("courtyards")?,
        })
    }

    fn worker_by_username(&self, username: &str) -> Result<Option<WorkerRecord>> {
        let sql = format!("SELECT {WORKER_COLUMNS} FROM workers WHERE username = ?1");
        self.0.prepare_cached(&sql)?.query_row([username], worker_row).optional()?.map(worker_record).transpose()
    }

    fn worker_by_id(&self, id: WorkerId) -> Result<Option<WorkerRecord>> {
        let sql = format!("SELECT {WORKER_COLUMNS} FROM workers WHERE id = ?1");
        self.0.prepare_cached(&sql)?.query_row([id.to_string()], worker_row).optional()?.map(worker_record).transpose()
    }

    fn workers(&self) -> Result<Vec<WorkerInfo>> {
        let mut stmt = self.0.prepare(&format!("SELECT {WORKER_COLUMNS} FROM workers ORDER BY username"))?;
        let rows = stmt.query_map([], worker_row)?;
        let mut out = Vec::new();
        for raw in rows {
            out.push(worker_record(raw?)?.info);
        }
        Ok(out)
    }

    fn login_locked_until(&self, username: &str) -> Result<Option<i64>> {
        Ok(self
            .0
            .prepare_cached("SELECT locked_until_ms FROM login_failures WHERE username = ?1")?
            .query_row([username], |r| r.get::<_, Option<i64>>(0))
            .optional()?
            .flatten())
    }

    fn login_locked_until_from(&self, username: &str, address: &str) -> Result<Option<i64>> {
        Ok(self
            .0
            .prepare_cached("SELECT locked_until_ms FROM login_failures_by_address WHERE username = ?1 AND address = ?2")?
            .query_row([username, address], |r| r.get::<_, Option<i64>>(0))
            .optional()?
            .flatten())
    }

    fn device_by_token_hash(&self, token_hash: &str) -> Result<Option<DeviceToken>> {
        let row = self
            .0
            .prepare_cached("SELECT id, worker_id, revoked_ms, expires_ms, kind FROM devices WHERE token_hash = ?1")?
            .query_row([token_hash], device_token_row)
            .optional()?;
        row.map(device_token).transpose()
    }

    fn device_by_notify_hash(&self, token_hash: &str) -> Result<Option<DeviceToken>> {
        let row = self
            .0
            .prepare_cached(
                "SELECT d.id, d.worker_id, d.revoked_ms, d.expires_ms, d.kind FROM notify_tokens n JOIN devices d ON d.id = n.device_id
                 WHERE n.token_hash = ?1",
            )?
            .query_row([token_hash], device_token_row)
            .optional()?;
        row.map(device_token).transpose()
    }

    fn news_for_worker(&self, worker: WorkerId, after: u64) -> Result<u64> {
        // Only the events after the cursor are scanned (server_seq is the key), so a device
        // that keeps its cursor fresh asks for a few rows at most.
        let n: i64 = self
            .0
            .prepare_cached(
                "SELECT count(*) FROM events e WHERE e.server_seq > ?1 AND e.entity_kind = 'issue' AND (
                     (json_extract(e.json, '$.body.kind') IN ('assigned', 'transferred')
                        AND json_extract(e.json, '$.body.payload.to.to') = 'worker'
                        AND json_extract(e.json, '$.body.payload.to.id') = ?2)
                  OR (json_extract(e.json, '$.body.kind') = 'urged'
                        AND e.entity_id IN (SELECT id FROM issues WHERE assignee = ?3)))",
            )?
            .query_row(params![after.min(i64::MAX as u64) as i64, worker.to_string(), format!("worker:{worker}")], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn devices(&self) -> Result<Vec<DeviceRow>> {
        let mut stmt = self.0.prepare(
            "SELECT d.id, w.username, d.name, d.created_ms, d.revoked_ms, d.held_seq FROM devices d JOIN workers w ON w.id = d.worker_id
             ORDER BY d.created_ms, d.id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, i64>(5)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, username, name, created_ms, revoked_ms, held) = row?;
            out.push(DeviceRow { id: parse("device id", &id)?, username, name, created_ms, revoked_ms, held_seq: held.max(0) as u64 });
        }
        Ok(out)
    }

    fn device_exists(&self, id: DeviceId) -> Result<bool> {
        Ok(self.0.prepare_cached("SELECT EXISTS(SELECT 1 FROM devices WHERE id = ?1)")?.query_row([id.to_string()], |r| r.get(0))?)
    }

    fn held_seq(&self, device: DeviceId) -> Result<u64> {
        let held: Option<i64> = self
            .0
            .prepare_cached("SELECT held_seq FROM devices WHERE id = ?1")?
            .query_row([device.to_string()], |r| r.get(0))
            .optional()?;
        Ok(held.unwrap_or(0).max(0) as u64)
    }

    fn event_hash_at(&self, device: DeviceId, seq: u64) -> Result<Option<String>> {
        Ok(self
            .0
            .prepare_cached("SELECT hash FROM events WHERE device_id = ?1 AND seq = ?2")?
            .query_row(params![device.to_string(), seq as i64], |r| r.get(0))
            .optional()?)
    }

    fn refusal_at(&self, device: DeviceId, seq: u64) -> Result<Option<StoredRefusal>> {
        let row = self
            .0
            .prepare_cached("SELECT hash, outcome, code, reason FROM refusals WHERE device_id = ?1 AND seq = ?2")?
            .query_row(params![device.to_string(), seq as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })
            .optional()?;
        Ok(row.map(|(hash, outcome, code, reason)| StoredRefusal {
            hash,
            refusal: Refusal { conflict: outcome == "conflict", code, reason },
        }))
    }

    fn event_slot(&self, id: EventId) -> Result<Option<(DeviceId, u64)>> {
        let row: Option<(String, i64)> = self
            .0
            .prepare_cached("SELECT device_id, seq FROM events WHERE event_id = ?1")?
            .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(d, s)| Ok((parse("device id", &d)?, s.max(0) as u64))).transpose()
    }

    fn entity_events(&self, entity: Entity) -> Result<Vec<Event>> {
        let mut stmt = self.0.prepare_cached("SELECT json FROM events WHERE entity_kind = ?1 AND entity_id = ?2 ORDER BY server_seq")?;
        let rows = stmt.query_map(params![entity.kind(), entity.uuid().to_string()], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(serde_json::from_str(&json?)?);
        }
        Ok(out)
    }

    fn photo_ref(&self, device: DeviceId, sha256: &str) -> Result<Option<Option<u64>>> {
        let row: Option<Option<i64>> = self
            .0
            .prepare_cached("SELECT bytes FROM photo_refs WHERE sha256 = ?1 AND device_id = ?2")?
            .query_row(params![sha256, device.to_string()], |r| r.get(0))
            .optional()?;
        Ok(row.map(|b| b.map(|b| b.max(0) as u64)))
    }

    fn uploaded_bytes_since(&self, device: DeviceId, since_ms: i64) -> Result<u64> {
        let n: i64 = self
            .0
            .prepare_cached("SELECT COALESCE(SUM(bytes), 0) FROM blob_uploads WHERE device_id = ?1 AND updated_ms >= ?2")?
            .query_row(params![device.to_string(), since_ms], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn entity_stored(&self, entity: Entity) -> Result<bool> {
        let mut stmt = self.0.prepare_cached("SELECT 1 FROM events WHERE entity_kind = ?1 AND entity_id = ?2 LIMIT 1")?;
        Ok(stmt.exists(params![entity.kind(), entity.uuid().to_string()])?)
    }

    fn entities(&self) -> Result<Vec<Entity>> {
        let mut stmt = self.0.prepare("SELECT DISTINCT entity_kind, entity_id FROM events ORDER BY entity_kind, entity_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, id) = row?;
            out.push(entity_of(&kind, &id)?);
        }
        Ok(out)
    }

    fn pull_page(&self, scope: &Scope, own_device: DeviceId, after: u64, limit: u64) -> Result<Vec<PulledEvent>> {
        let (filter, ids) = by_place_or_whistle(scope, "entity_id");
        let sql =
            format!("SELECT server_seq, json FROM events WHERE server_seq > ? AND device_id <> ? AND {filter} ORDER BY server_seq LIMIT ?");
        let mut args: Vec<Value> = vec![Value::Integer(after.min(i64::MAX as u64) as i64), Value::Text(own_device.to_string())];
        args.extend(ids.into_iter().map(Value::Text));
        args.push(Value::Integer(limit.min(i64::MAX as u64) as i64));
        let mut stmt = self.0.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut events = Vec::new();
        for row in rows {
            let (seq, json) = row?;
            events.push(PulledEvent { server_seq: seq as u64, event: serde_json::from_str(&json)? });
        }
        Ok(events)
    }

    fn issue_place(&self, id: IssueId) -> Result<Option<Place>> {
        let row: Option<(String, String, String)> = self
            .0
            .prepare_cached("SELECT courtyard_id, community_id, subdistrict_id FROM issues WHERE id = ?1")?
            .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        row.map(|(c, m, s)| place_of(&c, &m, &s)).transpose()
    }

    fn issue_view(&self, id: IssueId) -> Result<Option<IssueView>> {
        Ok(self.issue_views_where("SELECT view_json FROM issues WHERE id = ?1", vec![Value::Text(id.to_string())])?.pop())
    }

    fn whistled_to(&self, issue: IssueId, departments: &BTreeSet<String>) -> Result<bool> {
        let mut stmt = self.0.prepare_cached("SELECT 1 FROM issue_whistles WHERE issue_id = ?1 AND target = ?2 LIMIT 1")?;
        for d in departments {
            if stmt.exists(params![issue.to_string(), d])? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn issue_views(&self, scope: &Scope, q: &IssueQuery) -> Result<Vec<IssueView>> {
        let (filter, ids) = by_place_or_whistle(scope, "id");
        let mut sql = format!("SELECT view_json FROM issues WHERE {filter}");
        let mut args: Vec<Value> = ids.into_iter().map(Value::Text).collect();
        if let Some(yard) = q.courtyard {
            sql.push_str(" AND courtyard_id = ?");
            args.push(Value::Text(yard.to_string()));
        }
        if let Some(status) = q.status {
            sql.push_str(" AND status = ?");
            args.push(Value::Text(status.into()));
        }
        if let Some(after) = q.after {
            sql.push_str(" AND id > ?");
            args.push(Value::Text(after.to_string()));
        }
        sql.push_str(" ORDER BY id LIMIT ?");
        args.push(Value::Integer(i64::from(q.limit)));
        self.issue_views_where(&sql, args)
    }

    fn open_issue_views(&self) -> Result<Vec<IssueView>> {
        self.issue_views_where(
            "SELECT view_json FROM issues WHERE status <> 'closed' AND status NOT IN ('duplicate', 'cancelled') ORDER BY id",
            Vec::new(),
        )
    }

    fn closed_issue_between(
        &self,
        category: &str,
        courtyard: CourtyardId,
        from_ms: i64,
        to_ms: i64,
        except: IssueId,
    ) -> Result<Option<IssueId>> {
        let id: Option<String> = self
            .0
            .prepare_cached(
                "SELECT id FROM issues WHERE category = ?1 AND courtyard_id = ?2 AND status = 'closed'
                   AND closed_at_ms >= ?3 AND closed_at_ms <= ?4 AND id <> ?5
                 ORDER BY closed_at_ms DESC, id LIMIT 1",
            )?
            .query_row(params![category, courtyard.to_string(), from_ms, to_ms, except.to_string()], |r| r.get(0))
            .optional()?;
        id.map(|i| parse("issue id", &i)).transpose()
    }

    fn issues_received(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(IssueView, Place)>> {
        let (filter, ids) = by_place(scope, "");
        let sql = format!(
            "SELECT view_json, courtyard_id, community_id, subdistrict_id FROM issues
             WHERE {filter} AND received_at_ms >= ? AND received_at_ms < ?"
        );
        let mut args: Vec<Value> = ids.into_iter().map(Value::Text).collect();
        args.push(Value::Integer(from_ms));
        args.push(Value::Integer(to_ms));
        let mut stmt = self.0.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (json, c, m, s): (String, String, String, String) = row?;
            out.push((serde_json::from_str(&json)?, place_of(&c, &m, &s)?));
        }
        Ok(out)
    }

    fn public_page(&self, page: &PublicPage) -> Result<Vec<IssueView>> {
        // INDEXED BY: the rows come in the page's order straight off the index and the query
        // stops at LIMIT; left to itself, the planner may pick the category index and sort
        // every issue of that category.
        let mut sql = String::from(
            "SELECT view_json FROM issues INDEXED BY issues_public_page
             WHERE received_at_ms BETWEEN ? AND ? AND public_id IS NOT NULL",
        );
        let mut args = vec![Value::Integer(page.from_ms), Value::Integer(page.to_ms)];
        if let Some(cs) = &page.categories {
            sql.push_str(&format!(" AND category IN ({})", vec!["?"; cs.len()].join(", ")));
            args.extend(cs.iter().cloned().map(Value::Text));
        }
        if let Some(final_only) = page.final_only {
            let finals: Vec<&str> = IssueStatus::ALL.iter().filter(|s| s.is_final()).map(|s| s.code()).collect();
            let not = if final_only { "" } else { "NOT " };
            sql.push_str(&format!(" AND status {not}IN ({})", vec!["?"; finals.len()].join(", ")));
            args.extend(finals.into_iter().map(|c| Value::Text(c.to_owned())));
        }
        if let Some((received, id)) = &page.after {
            sql.push_str(" AND (received_at_ms < ? OR (received_at_ms = ? AND public_id < ?))");
            args.extend([Value::Integer(*received), Value::Integer(*received), Value::Text(id.clone())]);
        }
        sql.push_str(" ORDER BY received_at_ms DESC, public_id DESC LIMIT ?");
        args.push(Value::Integer(i64::from(page.limit)));
        self.issue_views_where(&sql, args)
    }

    fn issue_by_public_id(&self, public_id: &str) -> Result<Option<IssueView>> {
        Ok(self.issue_views_where("SELECT view_json FROM issues WHERE public_id = ?1", vec![Value::Text(public_id.to_owned())])?.pop())
    }

    fn pledged_issue_views(&self, scope: &Scope) -> Result<Vec<IssueView>> {
        let (filter, ids) = by_place_or_whistle(scope, "id");
        let sql = format!("SELECT view_json FROM issues WHERE {filter} AND pledged_by IS NOT NULL");
        self.issue_views_where(&sql, ids.into_iter().map(Value::Text).collect())
    }

    fn visit_views(&self, scope: &Scope, courtyard: Option<CourtyardId>, limit: u32) -> Result<Vec<VisitState>> {
        let (filter, ids) = by_place(scope, "");
        let mut sql = format!("SELECT state_json FROM visits WHERE {filter}");
        let mut args: Vec<Value> = ids.into_iter().map(Value::Text).collect();
        if let Some(yard) = courtyard {
            sql.push_str(" AND courtyard_id = ?");
            args.push(Value::Text(yard.to_string()));
        }
        sql.push_str(" ORDER BY id LIMIT ?");
        args.push(Value::Integer(i64::from(limit)));
        let mut stmt = self.0.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(0))?;
        let mut visits = Vec::new();
        for json in rows {
            visits.push(serde_json::from_str(&json?)?);
        }
        Ok(visits)
    }

    fn alerts(&self, scope: &Scope, limit: u32) -> Result<Vec<(EscalationRow, IssueView)>> {
        let (filter, ids) = by_place(scope, "i");
        let sql = format!(
            "SELECT e.issue_id, e.kind, e.level, e.at_ms, e.detail, i.view_json FROM escalations e JOIN issues i ON i.id = e.issue_id
             WHERE {filter} ORDER BY e.at_ms DESC, e.rowid DESC LIMIT ?"
        );
        let mut args: Vec<Value> = ids.into_iter().map(Value::Text).collect();
        args.push(Value::Integer(i64::from(limit)));
        let mut stmt = self.0.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, String>(5)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, level, at_ms, detail, json) = row?;
            out.push((EscalationRow { issue_id: parse("issue id", &id)?, kind, level, at_ms, detail }, serde_json::from_str(&json)?));
        }
        Ok(out)
    }

    fn hotline_order(&self, order_no: &str) -> Result<Option<(IssueId, i64)>> {
        let row: Option<(String, i64)> = self
            .0
            .prepare_cached("SELECT issue_id, received_at_ms FROM hotline_orders WHERE order_no = ?1")?
            .query_row([order_no], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(i, at)| Ok((parse("issue id", &i)?, at))).transpose()
    }

    fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<String>> {
        Ok(self
            .0
            .prepare_cached("SELECT id FROM api_keys WHERE key_hash = ?1 AND revoked_ms IS NULL")?
            .query_row([key_hash], |r| r.get(0))
            .optional()?)
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyInfo>> {
        let mut stmt = self.0.prepare("SELECT id, name, created_ms, revoked_ms FROM api_keys ORDER BY created_ms, id")?;
        let rows =
            stmt.query_map([], |r| Ok(ApiKeyInfo { id: r.get(0)?, name: r.get(1)?, created_ms: r.get(2)?, revoked_ms: r.get(3)? }))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn api_key_exists(&self, id: &str) -> Result<bool> {
        Ok(self.0.query_row("SELECT EXISTS(SELECT 1 FROM api_keys WHERE id = ?1)", [id], |r| r.get(0))?)
    }

    fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.0.prepare("SELECT id, at_ms, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AuditEntry { id: r.get(0)?, at_ms: r.get(1)?, actor: r.get(2)?, action: r.get(3)?, detail: r.get(4)? })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn max_server_seq(&self) -> Result<u64> {
        let n: i64 = self.0.query_row("SELECT COALESCE(MAX(server_seq), 0) FROM events", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn changes_after(&self, after: u64, limit: u64) -> Result<Vec<Change>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT e.server_seq, e.device_id, e.courtyard_id, e.community_id, e.subdistrict_id,
                    (SELECT group_concat(w.target, char(31)) FROM issue_whistles w WHERE e.entity_kind = 'issue' AND w.issue_id = e.entity_id)
             FROM events e WHERE e.server_seq > ?1 ORDER BY e.server_seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after.min(i64::MAX as u64) as i64, limit.min(i64::MAX as u64) as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, device, c, m, s, targets) = row?;
            out.push(Change {
                seq: seq as u64,
                device: parse("device id", &device)?,
                place: place_of(&c, &m, &s)?,
                targets: targets.map(|t| t.split('\u{1f}').map(str::to_owned).collect()).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    fn entity_events_before(&self, entity: Entity, before: u64) -> Result<Vec<PulledEvent>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT server_seq, json FROM events WHERE entity_kind = ?1 AND entity_id = ?2 AND server_seq < ?3 ORDER BY server_seq",
        )?;
        let rows = stmt.query_map(params![entity.kind(), entity.uuid().to_string(), before.min(i64::MAX as u64) as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut events = Vec::new();
        for row in rows {
            let (seq, json) = row?;
            events.push(PulledEvent { server_seq: seq as u64, event: serde_json::from_str(&json)? });
        }
        Ok(events)
    }

    fn unplaced_order(&self, order_no: &str) -> Result<Option<UnplacedRow>> {
        Ok(self.unplaced_where("WHERE order_no = ?1", vec![Value::Text(order_no.to_owned())])?.pop())
    }

    fn unplaced_orders(&self, limit: u32) -> Result<Vec<UnplacedRow>> {
        self.unplaced_where("WHERE placed_issue IS NULL ORDER BY queued_ms, order_no LIMIT ?1", vec![Value::Integer(i64::from(limit))])
    }

    fn responsible_worker(&self, courtyard: CourtyardId) -> Result<Option<WorkerId>> {
        let w: Option<String> = self
            .0
            .prepare_cached("SELECT worker_id FROM courtyard_workers WHERE courtyard_id = ?1")?
            .query_row([courtyard.to_string()], |r| r.get(0))
            .optional()?;
        w.map(|w| parse("worker id", &w)).transpose()
    }

    fn responsible_workers(&self) -> Result<Vec<(CourtyardId, WorkerId)>> {
        let mut stmt = self.0.prepare("SELECT courtyard_id, worker_id FROM courtyard_workers ORDER BY courtyard_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (c, w) = row?;
            out.push((parse("courtyard id", &c)?, parse("worker id", &w)?));
        }
        Ok(out)
    }

    fn community_queue_views(&self, limit: u32) -> Result<Vec<IssueView>> {
        self.issue_views_where(
            "SELECT view_json FROM issues WHERE assignee LIKE 'community:%' AND status NOT IN ('closed', 'duplicate', 'cancelled')
             ORDER BY received_at_ms, id LIMIT ?1",
            vec![Value::Integer(limit as i64)],
        )
    }

    fn assigned_views(&self, assignee: &Assignee, limit: u32) -> Result<Vec<IssueView>> {
        self.issue_views_where(
            "SELECT view_json FROM issues WHERE assignee = ?1 AND status NOT IN ('closed', 'duplicate', 'cancelled')
             ORDER BY received_at_ms, id LIMIT ?2",
            vec![Value::Text(assignee_key(assignee)), Value::Integer(limit as i64)],
        )
    }

    fn due_notices(&self, now_ms: i64, limit: u32) -> Result<Vec<NoticeRow>> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM notices n
             WHERE n.state = 'queued' AND n.next_attempt_ms <= ?1
               AND NOT EXISTS (SELECT 1 FROM notices p WHERE p.issue_id = n.issue_id AND p.state = 'queued' AND p.id < n.id)
             ORDER BY n.id LIMIT ?2"
        );
        self.notices_where(&sql, &[Value::Integer(now_ms), Value::Integer(i64::from(limit))])
    }

    fn issue_notices(&self, issue: IssueId) -> Result<Vec<NoticeRow>> {
        let sql = format!("SELECT {NOTICE_COLUMNS} FROM notices WHERE issue_id = ?1 ORDER BY id");
        self.notices_where(&sql, &[Value::Text(issue.to_string())])
    }

    fn device_kind(&self, device: DeviceId) -> Result<Option<String>> {
        self.device_kind_of(device)
    }

    fn each_ticket(&self, scope: &Scope, q: &TicketQuery, each: &mut dyn FnMut(IssueView) -> Result<bool>) -> Result<()> {
        self.each_ticket_in(scope, q, each)
    }

    fn ticket_count(&self, scope: &Scope, q: &TicketQuery) -> Result<u64> {
        self.ticket_count_in(scope, q)
    }

    fn today_figures(&self, scope: &Scope, day_start_ms: i64, now_ms: i64) -> Result<gridwalk_proto::console::TodayFigures> {
        self.today_figures_in(scope, day_start_ms, now_ms)
    }

    fn rate_facts(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(Place, gridwalk_domain::rates::RateFacts)>> {
        self.rate_facts_in(scope, from_ms, to_ms)
    }

    fn courtyard_counts(&self, scope: &Scope, now_ms: i64) -> Result<Vec<CourtyardCounts>> {
        self.courtyard_counts_in(scope, now_ms)
    }

    fn visit_tallies(&self, scope: &Scope, from_ms: i64, to_ms: i64, far_visit_m: f64) -> Result<Vec<VisitTally>> {
        self.visit_tallies_in(scope, from_ms, to_ms, far_visit_m)
    }

    fn issue_buckets(&self, scope: &Scope, from_ms: i64, to_ms: i64, bucket_ms: i64) -> Result<Vec<IssueBucket>> {
        self.issue_buckets_in(scope, from_ms, to_ms, bucket_ms)
    }

    fn recurrence_counts(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(CourtyardId, u64)>> {
        self.recurrence_counts_in(scope, from_ms, to_ms)
    }

    fn open_issues_near(&self, category: Category, bbox: &BoundingBox, from_ms: i64, to_ms: i64) -> Result<Vec<OpenIssue>> {
        self.open_issues_near_in(category, bbox, from_ms, to_ms)
    }

    fn device_report(&self, device: DeviceId) -> Result<Option<(i64, gridwalk_proto::console::DeviceReport)>> {
        self.device_report_of(device)
    }

    fn device_details(&self) -> Result<Vec<DeviceDetail>> {
        self.device_details_all()
    }

    fn audit_page(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        self.audit_page_of(q)
    }
}

impl Tx for Sql<'_> {
    fn insert_photo_ref(&self, sha256: &str, device: DeviceId, bytes: Option<u64>) -> Result<()> {
        self.0.prepare_cached("INSERT OR IGNORE INTO photo_refs (sha256, device_id, bytes) VALUES (?1, ?2, ?3)")?.execute(params![
            sha256,
            device.to_string(),
            bytes.map(|b| b.min(i64::MAX as u64) as i64)
        ])?;
        Ok(())
    }

    fn add_uploaded_bytes(&self, sha256: &str, device: DeviceId, bytes: u64, now_ms: i64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO blob_uploads (sha256, device_id, bytes, updated_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(sha256, device_id) DO UPDATE SET bytes = bytes + excluded.bytes, updated_ms = excluded.updated_ms",
            )?
            .execute(params![sha256, device.to_string(), bytes.min(i64::MAX as u64) as i64, now_ms])?;
        Ok(())
    }

    fn apart(&self, part: &mut dyn FnMut(&dyn Tx) -> Result<()>) -> Result<()> {
        self.0.execute_batch("SAVEPOINT apart")?;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| part(self)))
            .unwrap_or_else(|_| Err(Error::Internal("a part of a write job panicked".into())));
        match outcome {
            Ok(()) => self.0.execute_batch("RELEASE apart")?,
            Err(_) => self.0.execute_batch("ROLLBACK TO apart; RELEASE apart")?,
        }
        outcome
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.0
            .prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
            .execute([key, value])?;
        Ok(())
    }

    fn replace_registry(&self, registry: &Registry) -> Result<u64> {
        let c = self.0;
        c.execute_batch(
            "DELETE FROM subdistricts; DELETE FROM communities; DELETE FROM management_grids;
             DELETE FROM technical_grids; DELETE FROM courtyards;",
        )?;
        let parent: HashMap<_, _> = registry.communities.iter().map(|c| (c.id, c.subdistrict)).collect();
        for s in &registry.subdistricts {
            c.execute(
                "INSERT INTO subdistricts (id, code, json) VALUES (?1, ?2, ?3)",
                params![s.id.to_string(), s.code, serde_json::to_string(s)?],
            )?;
        }
        for m in &registry.communities {
            c.execute(
                "INSERT INTO communities (id, code, subdistrict_id, json) VALUES (?1, ?2, ?3, ?4)",
                params![m.id.to_string(), m.code, m.subdistrict.to_string(), serde_json::to_string(m)?],
            )?;
        }
        for g in &registry.management_grids {
            c.execute(
                "INSERT INTO management_grids (id, code, json) VALUES (?1, ?2, ?3)",
                params![g.id.to_string(), g.code, serde_json::to_string(g)?],
            )?;
        }
        for t in &registry.technical_grids {
            c.execute(
                "INSERT INTO technical_grids (id, code, json) VALUES (?1, ?2, ?3)",
                params![t.id.to_string(), t.code, serde_json::to_string(t)?],
            )?;
        }
        for y in &registry.courtyards {
            let sub = parent.get(&y.community).ok_or_else(|| Error::UnknownCourtyard(format!("{} names an unknown community", y.code)))?;
            c.execute(
                "INSERT INTO courtyards (id, code, community_id, subdistrict_id, json) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![y.id.to_string(), y.code, y.community.to_string(), sub.to_string(), serde_json::to_string(y)?],
            )?;
        }
        let version = self.registry_version()? + 1;
        self.set_meta("registry_version", &version.to_string())?;
        Ok(version)
    }

    fn insert_worker(&self, w: &WorkerInfo, password_hash: &str, now_ms: i64) -> Result<()> {
        let taken: bool = self.0.query_row(
            "SELECT EXISTS(SELECT 1 FROM workers WHERE username = ?1 OR id = ?2)",
            params![w.username, w.id.to_string()],
            |r| r.get(0),
        )?;
        if taken {
            return Err(Error::UsernameTaken(w.username.clone()));
        }
        self.0.execute(
            "INSERT INTO workers (id, username, name, role, scope_json, password_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![w.id.to_string(), w.username, w.name, w.role.code(), serde_json::to_string(&w.scope)?, password_hash, now_ms],
        )?;
        Ok(())
    }

    fn note_login_failure(&self, username: &str) -> Result<i64> {
        Ok(self.0.query_row(
            "INSERT INTO login_failures (username, consecutive, locked_until_ms) VALUES (?1, 1, NULL)
             ON CONFLICT(username) DO UPDATE SET consecutive = consecutive + 1
             RETURNING consecutive",
            [username],
            |r| r.get(0),
        )?)
    }

    fn lock_login(&self, username: &str, until_ms: i64) -> Result<()> {
        self.0
            .execute("UPDATE login_failures SET consecutive = 0, locked_until_ms = ?2 WHERE username = ?1", params![username, until_ms])?;
        Ok(())
    }

    fn clear_login_failures(&self, username: &str) -> Result<()> {
        self.0.execute("DELETE FROM login_failures WHERE username = ?1", [username])?;
        Ok(())
    }

    fn note_login_failure_from(&self, username: &str, address: &str) -> Result<i64> {
        Ok(self.0.query_row(
            "INSERT INTO login_failures_by_address (username, address, consecutive, locked_until_ms) VALUES (?1, ?2, 1, NULL)
             ON CONFLICT(username, address) DO UPDATE SET consecutive = consecutive + 1
             RETURNING consecutive",
            [username, address],
            |r| r.get(0),
        )?)
    }

    fn lock_login_from(&self, username: &str, address: &str, until_ms: i64) -> Result<()> {
        self.0.execute(
            "UPDATE login_failures_by_address SET consecutive = 0, locked_until_ms = ?3 WHERE username = ?1 AND address = ?2",
            params![username, address, until_ms],
        )?;
        Ok(())
    }

    fn clear_login_failures_from(&self, username: &str, address: &str) -> Result<()> {
        self.0.execute("DELETE FROM login_failures_by_address WHERE username = ?1 AND address = ?2", [username, address])?;
        Ok(())
    }

    fn set_worker_disabled(&self, worker: WorkerId, disabled_ms: Option<i64>) -> Result<bool> {
        let n = self.0.execute("UPDATE workers SET disabled_ms = ?2 WHERE id = ?1", params![worker.to_string(), disabled_ms])?;
        Ok(n == 1)
    }

    fn set_password_hash(&self, worker: WorkerId, password_hash: &str) -> Result<()> {
        self.0.execute("UPDATE workers SET password_hash = ?2 WHERE id = ?1", params![worker.to_string(), password_hash])?;
        Ok(())
    }

    fn set_role_and_scope(&self, worker: WorkerId, role: Role, scope: &[ScopeUnit]) -> Result<()> {
        self.0.execute(
            "UPDATE workers SET role = ?2, scope_json = ?3 WHERE id = ?1",
            params![worker.to_string(), role.code(), serde_json::to_string(scope)?],
        )?;
        Ok(())
    }

    fn revoke_worker_devices(&self, worker: WorkerId, except: Option<DeviceId>, now_ms: i64) -> Result<usize> {
        let except = except.map(|d| d.to_string()).unwrap_or_default();
        Ok(self.0.execute(
            "UPDATE devices SET revoked_ms = ?3 WHERE worker_id = ?1 AND id <> ?2 AND revoked_ms IS NULL",
            params![worker.to_string(), except, now_ms],
        )?)
    }

    fn set_device_expiry(&self, device: DeviceId, expires_ms: i64) -> Result<()> {
        self.0.prepare_cached("UPDATE devices SET expires_ms = ?2 WHERE id = ?1")?.execute(params![device.to_string(), expires_ms])?;
        Ok(())
    }

    fn insert_device(&self, id: DeviceId, worker: WorkerId, name: &str, token_hash: Option<&str>, now_ms: i64) -> Result<()> {
        self.0
            .prepare_cached("INSERT INTO devices (id, worker_id, name, token_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![id.to_string(), worker.to_string(), name, token_hash, now_ms])?;
        Ok(())
    }

    fn revoke_device(&self, id: DeviceId, now_ms: i64) -> Result<bool> {
        self.0.execute("UPDATE devices SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL", params![id.to_string(), now_ms])?;
        self.device_exists(id)
    }

    fn set_held_seq(&self, device: DeviceId, seq: u64) -> Result<()> {
        self.0.prepare_cached("UPDATE devices SET held_seq = ?2 WHERE id = ?1")?.execute(params![device.to_string(), seq as i64])?;
        Ok(())
    }

    fn insert_event(&self, n: &NewEvent<'_>) -> Result<()> {
        let e = n.event;
        // Cached statements: a push stores up to a thousand events, and preparing each insert
        // anew cost more than running it.
        self.0
            .prepare_cached(
                "INSERT INTO events (event_id, device_id, seq, hash, entity_kind, entity_id, courtyard_id, community_id,
                                     subdistrict_id, received_ms, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                e.id.to_string(),
                e.device.to_string(),
                n.seq as i64,
                n.hash,
                e.entity.kind(),
                e.entity.uuid().to_string(),
                n.place.courtyard.to_string(),
                n.place.community.to_string(),
                n.place.subdistrict.to_string(),
                n.received_ms,
                n.json
            ])?;
        Ok(())
    }

    fn insert_refusal(&self, device: DeviceId, seq: u64, event: EventId, hash: &str, r: &Refusal, now_ms: i64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO refusals (device_id, seq, event_id, hash, outcome, code, reason, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                device.to_string(),
                seq as i64,
                event.to_string(),
                hash,
                if r.conflict { "conflict" } else { "rejected" },
                r.code,
                r.reason,
                now_ms
            ])?;
        Ok(())
    }

    fn put_issue_view(&self, view: &IssueView, place: &Place, point: Option<GeoPoint>) -> Result<()> {
        let s = &view.state;
        let id = s.id.to_string();
        self.0
            .prepare_cached(
                "INSERT INTO issues (id, courtyard_id, community_id, subdistrict_id, status, received_at_ms, response_due_ms,
                                     category, closed_at_ms, view_json, pledged_by, assignee, public_id,
                                     source, responded_at_ms, resolved_at_ms, satisfaction, lat, lon, recurrence_of)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
                 ON CONFLICT(id) DO UPDATE SET courtyard_id = excluded.courtyard_id, community_id = excluded.community_id,
                     subdistrict_id = excluded.subdistrict_id, status = excluded.status, received_at_ms = excluded.received_at_ms,
                     response_due_ms = excluded.response_due_ms, category = excluded.category,
                     closed_at_ms = excluded.closed_at_ms, view_json = excluded.view_json, pledged_by = excluded.pledged_by,
                     assignee = excluded.assignee, public_id = excluded.public_id, source = excluded.source,
                     responded_at_ms = excluded.responded_at_ms, resolved_at_ms = excluded.resolved_at_ms,
                     satisfaction = excluded.satisfaction, lat = excluded.lat, lon = excluded.lon,
                     recurrence_of = excluded.recurrence_of",
            )?
            .execute(params![
                id,
                place.courtyard.to_string(),
                place.community.to_string(),
                place.subdistrict.to_string(),
                s.status.code(),
                s.received_at_ms,
                s.response_due_ms,
                s.report.as_ref().map(|r| r.category.code()),
                s.closed_at_ms,
                serde_json::to_string(view)?,
                s.pledge.as_ref().map(|p| p.by.to_string()),
                s.assignee.as_ref().map(assignee_key),
                public_id(s.id),
                s.report.as_ref().map(|r| r.source.code()),
                s.responded_at_ms,
                s.resolved_at_ms,
                s.satisfaction.map(|x| x.code()),
                point.map(|p| p.lat),
                point.map(|p| p.lon),
                s.recurrence_of.map(|i| i.to_string()),
            ])?;
        // The whistle index follows the fold exactly: department staff see what it says.
        self.0.prepare_cached("DELETE FROM issue_whistles WHERE issue_id = ?1")?.execute([&id])?;
        let mut insert = self.0.prepare_cached(
            "INSERT OR IGNORE INTO issue_whistles (issue_id, target, level, whistled_at_ms, reported_in_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for w in &s.whistles {
            insert.execute(params![id, w.target, w.level.code(), w.whistled_at_ms, w.reported_in_at_ms])?;
        }
        Ok(())
    }

    fn put_visit_view(&self, state: &VisitState, place: &Place, distance_m: Option<f64>) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO visits (id, courtyard_id, community_id, subdistrict_id, state_json, worker_id, started_at_ms, mode, distance_m)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(id) DO UPDATE SET courtyard_id = excluded.courtyard_id, community_id = excluded.community_id,
                     subdistrict_id = excluded.subdistrict_id, state_json = excluded.state_json, worker_id = excluded.worker_id,
                     started_at_ms = excluded.started_at_ms, mode = excluded.mode, distance_m = excluded.distance_m",
            )?
            .execute(params![
                state.id.to_string(),
                place.courtyard.to_string(),
                place.community.to_string(),
                place.subdistrict.to_string(),
                serde_json::to_string(state)?,
                state.worker.map(|w| w.to_string()),
                state.visit.as_ref().map(|v| v.started_at_ms),
                state.visit.as_ref().map(|v| v.mode.code()),
                distance_m,
            ])?;
        Ok(())
    }

    fn insert_escalation(&self, e: &EscalationRow) -> Result<bool> {
        let n = self.0.execute(
            "INSERT OR IGNORE INTO escalations (issue_id, kind, level, at_ms, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.issue_id.to_string(), e.kind, e.level, e.at_ms, e.detail],
        )?;
        Ok(n > 0)
    }

    fn insert_hotline_order(&self, order_no: &str, issue: IssueId, courtyard: CourtyardId, received_ms: i64, now_ms: i64) -> Result<()> {
        self.0.execute(
            "INSERT INTO hotline_orders (order_no, issue_id, courtyard_id, received_at_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![order_no, issue.to_string(), courtyard.to_string(), received_ms, now_ms],
        )?;
        Ok(())
    }

    fn insert_api_key(&self, id: &str, name: &str, key_hash: &str, now_ms: i64) -> Result<()> {
        self.0.execute(
            "INSERT INTO api_keys (id, name, key_hash, created_ms, revoked_ms) VALUES (?1, ?2, ?3, ?4, NULL)",
            params![id, name, key_hash, now_ms],
        )?;
        Ok(())
    }

    fn revoke_api_key(&self, id: &str, now_ms: i64) -> Result<()> {
        self.0.execute("UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL", params![id, now_ms])?;
        Ok(())
    }

    fn audit(&self, at_ms: i64, actor: &str, action: &str, detail: &str) -> Result<()> {
        self.0
            .prepare_cached("INSERT INTO audit (at_ms, actor, action, detail) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![at_ms, actor, action, detail])?;
        tracing::info!(actor, action, detail, "audit");
        Ok(())
    }

    fn insert_unplaced_order(&self, row: &UnplacedRow) -> Result<bool> {
        let n = self
            .0
            .prepare_cached(
                "INSERT OR IGNORE INTO unplaced_orders (order_no, intake_json, reason, subdistrict_id, community_id, received_at_ms, queued_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                row.order.order_no,
                serde_json::to_string(&row.order)?,
                row.reason,
                row.subdistrict.map(|s| s.to_string()),
                row.community.map(|c| c.to_string()),
                row.order.received_at_ms,
                row.queued_ms,
            ])?;
        Ok(n > 0)
    }

    fn mark_order_placed(&self, order_no: &str, issue: IssueId, now_ms: i64) -> Result<()> {
        self.0
            .prepare_cached("UPDATE unplaced_orders SET placed_issue = ?2, placed_ms = ?3 WHERE order_no = ?1 AND placed_issue IS NULL")?
            .execute(params![order_no, issue.to_string(), now_ms])?;
        Ok(())
    }

    fn reissue_device_token(&self, device: DeviceId, worker: WorkerId, token_hash: &str) -> Result<bool> {
        let n = self
            .0
            .prepare_cached("UPDATE devices SET token_hash = ?1 WHERE id = ?2 AND worker_id = ?3 AND revoked_ms IS NULL")?
            .execute(params![token_hash, device.to_string(), worker.to_string()])?;
        Ok(n == 1)
    }

    fn insert_notify_token(&self, device: DeviceId, token_hash: &str, now_ms: i64) -> Result<()> {
        self.0.prepare_cached("INSERT INTO notify_tokens (token_hash, device_id, created_ms) VALUES (?1, ?2, ?3)")?.execute(params![
            token_hash,
            device.to_string(),
            now_ms
        ])?;
        Ok(())
    }

    fn set_responsible_worker(&self, courtyard: CourtyardId, worker: WorkerId, now_ms: i64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO courtyard_workers (courtyard_id, worker_id, set_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(courtyard_id) DO UPDATE SET worker_id = excluded.worker_id, set_ms = excluded.set_ms",
            )?
            .execute(params![courtyard.to_string(), worker.to_string(), now_ms])?;
        // Tablets hold the responsible workers with the registry: a new version makes them pull it.
        let version = self.registry_version()? + 1;
        self.set_meta("registry_version", &version.to_string())
    }

    fn insert_notice(&self, n: &NewNotice<'_>) -> Result<bool> {
        // OR IGNORE: a second notice for the same event, or on the same topic of the same issue,
        // is not queued (both are UNIQUE).
        let inserted = self
            .0
            .prepare_cached(
                "INSERT OR IGNORE INTO notices (event_id, issue_id, kind, topic, phone, text, state, attempts, next_attempt_ms, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?7)",
            )?
            .execute(params![n.event_id.to_string(), n.issue_id.to_string(), n.kind.code(), n.topic, n.phone, n.text, n.now_ms])?;
        Ok(inserted > 0)
    }

    fn mark_notice_sent(&self, seq: i64, now_ms: i64) -> Result<bool> {
        let n = self
            .0
            .prepare_cached(
                "UPDATE notices SET state = 'sent', attempts = attempts + 1, sent_ms = ?2
                 WHERE id = ?1 AND state = 'queued'",
            )?
            .execute(params![seq, now_ms])?;
        Ok(n > 0)
    }

    fn mark_notice_retry(&self, seq: i64, next_attempt_ms: i64, error: &str) -> Result<()> {
        self.0
            .prepare_cached(
                "UPDATE notices SET attempts = attempts + 1, next_attempt_ms = ?2, last_error = ?3 WHERE id = ?1 AND state = 'queued'",
            )?
            .execute(params![seq, next_attempt_ms, error])?;
        Ok(())
    }

    fn mark_notice_failed(&self, seq: i64, error: &str) -> Result<()> {
        self.0
            .prepare_cached(
                "UPDATE notices SET state = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1 AND state = 'queued'",
            )?
            .execute(params![seq, error])?;
        Ok(())
    }

    fn lock_device(&self, _device: DeviceId) -> Result<()> {
        // One writer thread per database, and one server per data directory (`server.lock`):
        // no other ingest can run beside this transaction.
        Ok(())
    }

    fn take_lease(&self, _name: &str, _holder: &str, _now_ms: i64, _ttl_ms: i64) -> Result<bool> {
        // The only server on this database holds every lease.
        Ok(true)
    }

    fn set_device_kind(&self, device: DeviceId, kind: &str) -> Result<()> {
        self.set_kind(device, kind)
    }

    fn put_device_report(&self, device: DeviceId, report: &gridwalk_proto::console::DeviceReport, now_ms: i64) -> Result<()> {
        self.put_report(device, report, now_ms)
    }
}

impl Sql<'_> {
    fn unplaced_where(&self, tail: &str, args: Vec<Value>) -> Result<Vec<UnplacedRow>> {
        let sql = format!("SELECT intake_json, reason, subdistrict_id, community_id, queued_ms, placed_issue FROM unplaced_orders {tail}");
        let mut stmt = self.0.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (json, reason, sd, cm, queued_ms, placed) = row?;
            out.push(UnplacedRow {
                order: serde_json::from_str(&json)?,
                reason,
                subdistrict: sd.map(|s| parse("subdistrict id", &s)).transpose()?,
                community: cm.map(|c| parse("community id", &c)).transpose()?,
                queued_ms,
                placed_issue: placed.map(|i| parse("issue id", &i)).transpose()?,
            });
        }
        Ok(out)
    }
}

/// How the `issues.assignee` column names an assignee.
pub(crate) fn assignee_key(a: &Assignee) -> String {
    match a {
        Assignee::Worker(w) => format!("worker:{w}"),
        Assignee::Community(c) => format!("community:{c}"),
        Assignee::Dispatcher => "dispatcher".to_owned(),
    }
}
