//! The read half of the storage traits over a PostgreSQL connection: `sqlite::rows`'s
//! `Reader`, method for method, in PostgreSQL's words. What a row means (and which stored text
//! is corrupt) is decided by the SQLite engine's own helpers, so the two engines cannot drift.
//!
//! Every read of the change feed by global sequence stops at [`Pg::safe_seq`]: sequences are
//! handed out before commit, so an event above it may still have a lower one in flight beneath
//! it, and a cursor moved past that one would never see it.

use super::scope_sql::{by_place, by_place_or_whistle};
use super::{Args, Pg};
use crate::error::Result;
use crate::model::*;
use crate::store::sqlite::rows::{
    assignee_key, device_token, entity_of, notice_record, parse, place_of, worker_record, RawDeviceToken, RawNotice, RawWorker,
    NOTICE_COLUMNS, WORKER_COLUMNS,
};
use crate::store::{ClosedAsk, IssueQuery, PushContext, Reader};
use gridwalk_domain::foresight::coverage::VisitTally;
use gridwalk_domain::foresight::geo::BoundingBox;
use gridwalk_domain::foresight::nearby::OpenIssue;
use gridwalk_domain::Category;
use gridwalk_domain::{Assignee, CourtyardId, DeviceId, Entity, Event, EventId, IssueId, IssueStatus, Registry, VisitState, WorkerId};
use gridwalk_proto::{PulledEvent, WorkerInfo};
use serde::de::DeserializeOwned;
use std::collections::{BTreeSet, HashMap, HashSet};
use tokio_postgres::types::{FromSqlOwned, ToSql};
use tokio_postgres::Row;

/// Parameters of a statement fixed at compile time.
type Params<'a> = [&'a (dyn ToSql + Sync)];

/// A sequence, count or limit of the traits as a BIGINT parameter: past `i64::MAX` is no bound.
pub(super) fn bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A BIGINT count, size or sequence as the traits' `u64` (the schema never stores one below 0).
pub(super) fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The first column of the one row `sql` returns.
pub(super) fn scalar<T: FromSqlOwned>(pg: &Pg<'_>, sql: &str, args: &Params<'_>) -> Result<T> {
    Ok(pg.query_one(sql, args)?.try_get(0)?)
}

/// The first column of the row `sql` returns, if it returns one.
pub(super) fn scalar_opt<T: FromSqlOwned>(pg: &Pg<'_>, sql: &str, args: &Params<'_>) -> Result<Option<T>> {
    Ok(pg.query_opt(sql, args)?.map(|r| r.try_get(0)).transpose()?)
}

/// The first column of every row, parsed from JSON (views, visit states, events, registry rows).
pub(super) fn json_rows<T: DeserializeOwned>(pg: &Pg<'_>, sql: &str, args: &Params<'_>) -> Result<Vec<T>> {
    pg.query(sql, args)?.iter().map(|r| Ok(serde_json::from_str(&r.try_get::<_, String>(0)?)?)).collect()
}

fn worker_row(r: &Row) -> Result<RawWorker> {
    Ok(([r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?], r.try_get(6)?))
}

fn device_token_row(r: &Row) -> Result<RawDeviceToken> {
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?))
}

fn notice_row(r: &Row) -> Result<RawNotice> {
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
        r.try_get(9)?,
        r.try_get(10)?,
        r.try_get(11)?,
    ))
}

/// `(courtyard_id, community_id, subdistrict_id)` at columns `first..first + 3`.
fn place_at(r: &Row, first: usize) -> Result<Place> {
    let (c, m, s): (String, String, String) = (r.try_get(first)?, r.try_get(first + 1)?, r.try_get(first + 2)?);
    place_of(&c, &m, &s)
}

/// Rows of `(server_seq, json)`.
fn pulled_events(pg: &Pg<'_>, sql: &str, args: &Params<'_>) -> Result<Vec<PulledEvent>> {
    let mut events = Vec::new();
    for r in pg.query(sql, args)? {
        let (seq, json): (i64, String) = (r.try_get(0)?, r.try_get(1)?);
        events.push(PulledEvent { server_seq: unsigned(seq), event: serde_json::from_str(&json)? });
    }
    Ok(events)
}

fn notices_where(pg: &Pg<'_>, sql: &str, args: &Params<'_>) -> Result<Vec<NoticeRow>> {
    pg.query(sql, args)?.iter().map(|r| notice_record(notice_row(r)?)).collect()
}

fn unplaced_where(pg: &Pg<'_>, tail: &str, args: &Params<'_>) -> Result<Vec<UnplacedRow>> {
    let sql = format!("SELECT intake_json, reason, subdistrict_id, community_id, queued_ms, placed_issue FROM unplaced_orders {tail}");
    let mut out = Vec::new();
    for r in pg.query(&sql, args)? {
        let (json, reason, sd, cm, queued_ms, placed): (String, String, Option<String>, Option<String>, i64, Option<String>) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?);
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

fn registry_table<T: DeserializeOwned>(pg: &Pg<'_>, table: &str) -> Result<Vec<T>> {
    json_rows(pg, &format!("SELECT json FROM {table} ORDER BY code"), &[])
}

/// A row of `id, at_ms, actor, action, detail` from `audit`.
pub(super) fn audit_entry(r: &Row) -> Result<AuditEntry> {
    Ok(AuditEntry { id: r.try_get(0)?, at_ms: r.try_get(1)?, actor: r.try_get(2)?, action: r.try_get(3)?, detail: r.try_get(4)? })
}

/// Where stored event ids are. One index probe per id, whatever the plan cache decides:
/// LATERAL … LIMIT 1 cannot become a scan of the whole table (which `= ANY($1)` and an
/// `EXISTS` semi join did under the cached plans of prepared statements, planned while the
/// table was small: a scan of every event per push, and a stall as the table grew).
const EVENT_SLOTS: &str = "SELECT e.event_id, e.device_id, e.seq FROM unnest($1::text[]) AS a(id)
     CROSS JOIN LATERAL (SELECT event_id, device_id, seq FROM events WHERE event_id = a.id LIMIT 1) e";

/// Which entities have a stored event: one index probe each, as in [`EVENT_SLOTS`].
const ENTITIES_STORED: &str = "SELECT a.kind, a.id FROM unnest($1::text[], $2::text[]) AS a(kind, id)
     CROSS JOIN LATERAL (SELECT 1 FROM events e WHERE e.entity_kind = a.kind AND e.entity_id = a.id LIMIT 1) e";

fn entity_keys(entities: &[Entity]) -> (Vec<&'static str>, Vec<String>) {
    (entities.iter().map(|e| e.kind()).collect(), entities.iter().map(|e| e.uuid().to_string()).collect())
}

fn slots_of(rows: &[Row]) -> Result<HashMap<EventId, (DeviceId, u64)>> {
    rows.iter()
        .map(|r| {
            let (id, d, s): (String, String, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            Ok((parse("event id", &id)?, (parse("device id", &d)?, unsigned(s))))
        })
        .collect()
}

fn stored_of(rows: &[Row]) -> Result<HashSet<Entity>> {
    rows.iter()
        .map(|r| {
            let (kind, id): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            entity_of(&kind, &id)
        })
        .collect()
}

impl Reader for Pg<'_> {
    fn meta(&self, key: &str) -> Result<Option<String>> {
        scalar_opt(self, "SELECT value FROM meta WHERE key = $1", &[&key])
    }

    fn registry_version(&self) -> Result<u64> {
        Ok(self.meta("registry_version")?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn registry(&self) -> Result<Registry> {
        Ok(Registry {
            subdistricts: registry_table(self, "subdistricts")?,
            communities: registry_table(self, "communities")?,
            management_grids: registry_table(self, "management_grids")?,
            technical_grids: registry_table(self, "technical_grids")?,
            courtyards: registry_table(self, "courtyards")?,
        })
    }

    fn worker_by_username(&self, username: &str) -> Result<Option<WorkerRecord>> {
        let sql = format!("SELECT {WORKER_COLUMNS} FROM workers WHERE username = $1");
        self.query_opt(&sql, &[&username])?.map(|r| worker_record(worker_row(&r)?)).transpose()
    }

    fn worker_by_id(&self, id: WorkerId) -> Result<Option<WorkerRecord>> {
        let sql = format!("SELECT {WORKER_COLUMNS} FROM workers WHERE id = $1");
        self.query_opt(&sql, &[&id.to_string()])?.map(|r| worker_record(worker_row(&r)?)).transpose()
    }

    fn workers(&self) -> Result<Vec<WorkerInfo>> {
        let rows = self.query(&format!("SELECT {WORKER_COLUMNS} FROM workers ORDER BY username"), &[])?;
        rows.iter().map(|r| Ok(worker_record(worker_row(r)?)?.info)).collect()
    }

    fn login_locked_until(&self, username: &str) -> Result<Option<i64>> {
        Ok(scalar_opt::<Option<i64>>(self, "SELECT locked_until_ms FROM login_failures WHERE username = $1", &[&username])?.flatten())
    }

    fn login_locked_until_from(&self, username: &str, address: &str) -> Result<Option<i64>> {
        let sql = "SELECT locked_until_ms FROM login_failures_by_address WHERE username = $1 AND address = $2";
        Ok(scalar_opt::<Option<i64>>(self, sql, &[&username, &address])?.flatten())
    }

    fn device_by_token_hash(&self, token_hash: &str) -> Result<Option<DeviceToken>> {
        let sql = "SELECT id, worker_id, revoked_ms, expires_ms, kind FROM devices WHERE token_hash = $1";
        self.query_opt(sql, &[&token_hash])?.map(|r| device_token(device_token_row(&r)?)).transpose()
    }

    fn device_by_notify_hash(&self, token_hash: &str) -> Result<Option<DeviceToken>> {
        let sql = "SELECT d.id, d.worker_id, d.revoked_ms, d.expires_ms, d.kind FROM notify_tokens n JOIN devices d ON d.id = n.device_id
                   WHERE n.token_hash = $1";
        self.query_opt(sql, &[&token_hash])?.map(|r| device_token(device_token_row(&r)?)).transpose()
    }

    fn news_for_worker(&self, worker: WorkerId, after: u64) -> Result<u64> {
        // Only the events after the cursor are scanned (server_seq is the key), so a device
        // that keeps its cursor fresh asks for a few rows at most. Up to the safe sequence
        // only: news the pull of the same cursor could not yet hand out is not news yet.
        let safe = self.safe_seq()?;
        let n: i64 = scalar(
            self,
            "SELECT count(*) FROM events e WHERE e.server_seq > $1 AND e.server_seq <= $2 AND e.entity_kind = 'issue' AND (
                 ((e.json::jsonb #>> '{body,kind}') IN ('assigned', 'transferred')
                    AND (e.json::jsonb #>> '{body,payload,to,to}') = 'worker'
                    AND (e.json::jsonb #>> '{body,payload,to,id}') = $3)
              OR ((e.json::jsonb #>> '{body,kind}') = 'urged'
                    AND e.entity_id IN (SELECT id FROM issues WHERE assignee = $4)))",
            &[&bigint(after), &safe, &worker.to_string(), &format!("worker:{worker}")],
        )?;
        Ok(unsigned(n))
    }

    fn devices(&self) -> Result<Vec<DeviceRow>> {
        let rows = self.query(
            "SELECT d.id, w.username, d.name, d.created_ms, d.revoked_ms, d.held_seq FROM devices d JOIN workers w ON w.id = d.worker_id
             ORDER BY d.created_ms, d.id",
            &[],
        )?;
        let mut out = Vec::new();
        for r in rows {
            let id: String = r.try_get(0)?;
            out.push(DeviceRow {
                id: parse("device id", &id)?,
                username: r.try_get(1)?,
                name: r.try_get(2)?,
                created_ms: r.try_get(3)?,
                revoked_ms: r.try_get(4)?,
                held_seq: unsigned(r.try_get(5)?),
            });
        }
        Ok(out)
    }

    fn device_exists(&self, id: DeviceId) -> Result<bool> {
        scalar(self, "SELECT EXISTS(SELECT 1 FROM devices WHERE id = $1)", &[&id.to_string()])
    }

    fn held_seq(&self, device: DeviceId) -> Result<u64> {
        let held: Option<i64> = scalar_opt(self, "SELECT held_seq FROM devices WHERE id = $1", &[&device.to_string()])?;
        Ok(unsigned(held.unwrap_or(0)))
    }

    fn event_hash_at(&self, device: DeviceId, seq: u64) -> Result<Option<String>> {
        scalar_opt(self, "SELECT hash FROM events WHERE device_id = $1 AND seq = $2", &[&device.to_string(), &bigint(seq)])
    }

    fn refusal_at(&self, device: DeviceId, seq: u64) -> Result<Option<StoredRefusal>> {
        let sql = "SELECT hash, outcome, code, reason FROM refusals WHERE device_id = $1 AND seq = $2";
        let Some(r) = self.query_opt(sql, &[&device.to_string(), &bigint(seq)])? else { return Ok(None) };
        let outcome: String = r.try_get(1)?;
        Ok(Some(StoredRefusal {
            hash: r.try_get(0)?,
            refusal: Refusal { conflict: outcome == "conflict", code: r.try_get(2)?, reason: r.try_get(3)? },
        }))
    }

    fn event_slot(&self, id: EventId) -> Result<Option<(DeviceId, u64)>> {
        let Some(r) = self.query_opt("SELECT device_id, seq FROM events WHERE event_id = $1", &[&id.to_string()])? else {
            return Ok(None);
        };
        let (d, s): (String, i64) = (r.try_get(0)?, r.try_get(1)?);
        Ok(Some((parse("device id", &d)?, unsigned(s))))
    }

    fn event_slots(&self, ids: &[EventId]) -> Result<HashMap<EventId, (DeviceId, u64)>> {
        let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
        slots_of(&self.query(EVENT_SLOTS, &[&keys])?)
    }

    fn entities_stored(&self, entities: &[Entity]) -> Result<HashSet<Entity>> {
        let (kinds, ids) = entity_keys(entities);
        stored_of(&self.query(ENTITIES_STORED, &[&kinds, &ids])?)
    }

    fn push_context(&self, device: DeviceId, ids: &[EventId], entities: &[Entity]) -> Result<PushContext> {
        let device = device.to_string();
        let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let (kinds, entity_ids) = entity_keys(entities);
        let rows = self.query_all(&[
            ("SELECT held_seq FROM devices WHERE id = $1", &[&device]),
            (EVENT_SLOTS, &[&keys]),
            (ENTITIES_STORED, &[&kinds, &entity_ids]),
        ])?;
        let held: Option<i64> = match rows[0].first() {
            Some(r) => r.try_get(0)?,
            None => None,
        };
        Ok(PushContext { held_seq: unsigned(held.unwrap_or(0)), slots: slots_of(&rows[1])?, stored: stored_of(&rows[2])? })
    }

    fn entity_events(&self, entity: Entity) -> Result<Vec<Event>> {
        let sql = "SELECT json FROM events WHERE entity_kind = $1 AND entity_id = $2 ORDER BY server_seq";
        json_rows(self, sql, &[&entity.kind(), &entity.uuid().to_string()])
    }

    fn photo_ref(&self, device: DeviceId, sha256: &str) -> Result<Option<Option<u64>>> {
        let sql = "SELECT bytes FROM photo_refs WHERE sha256 = $1 AND device_id = $2";
        let row: Option<Option<i64>> = scalar_opt(self, sql, &[&sha256, &device.to_string()])?;
        Ok(row.map(|b| b.map(unsigned)))
    }

    fn uploaded_bytes_since(&self, device: DeviceId, since_ms: i64) -> Result<u64> {
        // SUM of BIGINT is NUMERIC in PostgreSQL: back to BIGINT for the driver.
        let sql = "SELECT COALESCE(SUM(bytes), 0)::bigint FROM blob_uploads WHERE device_id = $1 AND updated_ms >= $2";
        Ok(unsigned(scalar(self, sql, &[&device.to_string(), &since_ms])?))
    }

    fn entity_stored(&self, entity: Entity) -> Result<bool> {
        let sql = "SELECT 1 FROM events WHERE entity_kind = $1 AND entity_id = $2 LIMIT 1";
        Ok(self.query_opt(sql, &[&entity.kind(), &entity.uuid().to_string()])?.is_some())
    }

    fn entities(&self) -> Result<Vec<Entity>> {
        let rows = self.query("SELECT DISTINCT entity_kind, entity_id FROM events ORDER BY entity_kind, entity_id", &[])?;
        rows.iter()
            .map(|r| {
                let (kind, id): (String, String) = (r.try_get(0)?, r.try_get(1)?);
                entity_of(&kind, &id)
            })
            .collect()
    }

    fn pull_page(&self, scope: &Scope, own_device: DeviceId, after: u64, limit: u64) -> Result<Vec<PulledEvent>> {
        let mut args = Args::default();
        let after = args.add(bigint(after));
        // Up to the safe sequence only: the page's last sequence becomes the tablet's cursor.
        let safe = args.add(self.safe_seq()?);
        let own = args.add(own_device.to_string());
        let filter = by_place_or_whistle(scope, "entity_id", &mut args);
        let limit = args.add(bigint(limit));
        let sql = format!(
            "SELECT server_seq, json FROM events WHERE server_seq > {after} AND server_seq <= {safe} AND device_id <> {own} AND {filter}
             ORDER BY server_seq LIMIT {limit}"
        );
        pulled_events(self, &sql, &args.refs())
    }

    fn issue_place(&self, id: IssueId) -> Result<Option<Place>> {
        let sql = "SELECT courtyard_id, community_id, subdistrict_id FROM issues WHERE id = $1";
        self.query_opt(sql, &[&id.to_string()])?.map(|r| place_at(&r, 0)).transpose()
    }

    fn issue_view(&self, id: IssueId) -> Result<Option<IssueView>> {
        Ok(json_rows(self, "SELECT view_json FROM issues WHERE id = $1", &[&id.to_string()])?.pop())
    }

    fn whistled_to(&self, issue: IssueId, departments: &BTreeSet<String>) -> Result<bool> {
        // One statement over the departments as an array (the SQLite engine asks once each).
        let departments: Vec<&str> = departments.iter().map(String::as_str).collect();
        let sql = "SELECT EXISTS(SELECT 1 FROM issue_whistles WHERE issue_id = $1 AND target = ANY($2))";
        scalar(self, sql, &[&issue.to_string(), &departments])
    }

    fn issue_views(&self, scope: &Scope, q: &IssueQuery) -> Result<Vec<IssueView>> {
        let mut args = Args::default();
        let filter = by_place_or_whistle(scope, "id", &mut args);
        let mut sql = format!("SELECT view_json FROM issues WHERE {filter}");
        if let Some(yard) = q.courtyard {
            sql.push_str(&format!(" AND courtyard_id = {}", args.add(yard.to_string())));
        }
        if let Some(status) = q.status {
            sql.push_str(&format!(" AND status = {}", args.add(status)));
        }
        if let Some(after) = q.after {
            sql.push_str(&format!(" AND id > {}", args.add(after.to_string())));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", args.add(i64::from(q.limit))));
        json_rows(self, &sql, &args.refs())
    }

    fn open_issue_views(&self) -> Result<Vec<IssueView>> {
        json_rows(
            self,
            "SELECT view_json FROM issues WHERE status <> 'closed' AND status NOT IN ('duplicate', 'cancelled') ORDER BY id",
            &[],
        )
    }

    fn closed_issues_between(&self, asks: &[ClosedAsk<'_>]) -> Result<Vec<Option<IssueId>>> {
        // One statement for all: each question is a row of the arrays, answered by the same
        // indexed lookup `closed_issue_between` makes.
        let n: Vec<i64> = (0..asks.len() as i64).collect();
        let categories: Vec<&str> = asks.iter().map(|a| a.category).collect();
        let courtyards: Vec<String> = asks.iter().map(|a| a.courtyard.to_string()).collect();
        let from: Vec<i64> = asks.iter().map(|a| a.from_ms).collect();
        let to: Vec<i64> = asks.iter().map(|a| a.to_ms).collect();
        let except: Vec<String> = asks.iter().map(|a| a.except.to_string()).collect();
        let rows = self.query(
            "SELECT a.n, (SELECT id FROM issues WHERE category = a.category AND courtyard_id = a.courtyard AND status = 'closed'
                            AND closed_at_ms >= a.from_ms AND closed_at_ms <= a.to_ms AND id <> a.skip
                          ORDER BY closed_at_ms DESC, id LIMIT 1)
             FROM unnest($1::int8[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[])
                  AS a(n, category, courtyard, from_ms, to_ms, skip)
             ORDER BY a.n",
            &[&n, &categories, &courtyards, &from, &to, &except],
        )?;
        let mut answers = vec![None; asks.len()];
        for r in &rows {
            let (i, id): (i64, Option<String>) = (r.try_get(0)?, r.try_get(1)?);
            if let (Some(slot), Some(id)) = (usize::try_from(i).ok().and_then(|i| answers.get_mut(i)), id) {
                *slot = Some(parse("issue id", &id)?);
            }
        }
        Ok(answers)
    }

    fn closed_issue_between(
        &self,
        category: &str,
        courtyard: CourtyardId,
        from_ms: i64,
        to_ms: i64,
        except: IssueId,
    ) -> Result<Option<IssueId>> {
        let id: Option<String> = scalar_opt(
            self,
            "SELECT id FROM issues WHERE category = $1 AND courtyard_id = $2 AND status = 'closed'
               AND closed_at_ms >= $3 AND closed_at_ms <= $4 AND id <> $5
             ORDER BY closed_at_ms DESC, id LIMIT 1",
            &[&category, &courtyard.to_string(), &from_ms, &to_ms, &except.to_string()],
        )?;
        id.map(|i| parse("issue id", &i)).transpose()
    }

    fn issues_received(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<(IssueView, Place)>> {
        let mut args = Args::default();
        let filter = by_place(scope, "", &mut args);
        let (from, to) = (args.add(from_ms), args.add(to_ms));
        let sql = format!(
            "SELECT view_json, courtyard_id, community_id, subdistrict_id FROM issues
             WHERE {filter} AND received_at_ms >= {from} AND received_at_ms < {to}"
        );
        let mut out = Vec::new();
        for r in self.query(&sql, &args.refs())? {
            let json: String = r.try_get(0)?;
            out.push((serde_json::from_str(&json)?, place_at(&r, 1)?));
        }
        Ok(out)
    }

    fn public_page(&self, page: &PublicPage) -> Result<Vec<IssueView>> {
        // PostgreSQL takes no index hint (SQLite's version names `issues_public_page`): the
        // ORDER BY matches that index backwards, so the planner reads the page off it and
        // stops at LIMIT.
        let mut args = Args::default();
        let (from, to) = (args.add(page.from_ms), args.add(page.to_ms));
        let mut sql = format!("SELECT view_json FROM issues WHERE received_at_ms BETWEEN {from} AND {to} AND public_id IS NOT NULL");
        if let Some(cs) = &page.categories {
            sql.push_str(&format!(" AND category = ANY({})", args.add(cs.clone())));
        }
        if let Some(final_only) = page.final_only {
            let finals: Vec<String> = IssueStatus::ALL.iter().filter(|s| s.is_final()).map(|s| s.code().to_owned()).collect();
            let finals = args.add(finals);
            // `<> ALL` is NOT IN over an array (status is never NULL).
            let test = if final_only { format!("status = ANY({finals})") } else { format!("status <> ALL({finals})") };
            sql.push_str(&format!(" AND {test}"));
        }
        if let Some((received, id)) = &page.after {
            let (received, id) = (args.add(*received), args.add(id.clone()));
            sql.push_str(&format!(" AND (received_at_ms < {received} OR (received_at_ms = {received} AND public_id < {id}))"));
        }
        sql.push_str(&format!(" ORDER BY received_at_ms DESC, public_id DESC LIMIT {}", args.add(i64::from(page.limit))));
        json_rows(self, &sql, &args.refs())
    }

    fn issue_by_public_id(&self, public_id: &str) -> Result<Option<IssueView>> {
        Ok(json_rows(self, "SELECT view_json FROM issues WHERE public_id = $1", &[&public_id])?.pop())
    }

    fn pledged_issue_views(&self, scope: &Scope) -> Result<Vec<IssueView>> {
        let mut args = Args::default();
        let filter = by_place_or_whistle(scope, "id", &mut args);
        json_rows(self, &format!("SELECT view_json FROM issues WHERE {filter} AND pledged_by IS NOT NULL"), &args.refs())
    }

    fn visit_views(&self, scope: &Scope, courtyard: Option<CourtyardId>, limit: u32) -> Result<Vec<VisitState>> {
        let mut args = Args::default();
        let filter = by_place(scope, "", &mut args);
        let mut sql = format!("SELECT state_json FROM visits WHERE {filter}");
        if let Some(yard) = courtyard {
            sql.push_str(&format!(" AND courtyard_id = {}", args.add(yard.to_string())));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", args.add(i64::from(limit))));
        json_rows(self, &sql, &args.refs())
    }

    fn alerts(&self, scope: &Scope, limit: u32) -> Result<Vec<(EscalationRow, IssueView)>> {
        let mut args = Args::default();
        let filter = by_place(scope, "i", &mut args);
        // `e.id` is the order escalations were recorded in (SQLite's rowid).
        let sql = format!(
            "SELECT e.issue_id, e.kind, e.level, e.at_ms, e.detail, i.view_json FROM escalations e JOIN issues i ON i.id = e.issue_id
             WHERE {filter} ORDER BY e.at_ms DESC, e.id DESC LIMIT {}",
            args.add(i64::from(limit))
        );
        let mut out = Vec::new();
        for r in self.query(&sql, &args.refs())? {
            let (id, json): (String, String) = (r.try_get(0)?, r.try_get(5)?);
            let row = EscalationRow {
                issue_id: parse("issue id", &id)?,
                kind: r.try_get(1)?,
                level: r.try_get(2)?,
                at_ms: r.try_get(3)?,
                detail: r.try_get(4)?,
            };
            out.push((row, serde_json::from_str(&json)?));
        }
        Ok(out)
    }

    fn hotline_order(&self, order_no: &str) -> Result<Option<(IssueId, i64)>> {
        let sql = "SELECT issue_id, received_at_ms FROM hotline_orders WHERE order_no = $1";
        let Some(r) = self.query_opt(sql, &[&order_no])? else { return Ok(None) };
        let (i, at): (String, i64) = (r.try_get(0)?, r.try_get(1)?);
        Ok(Some((parse("issue id", &i)?, at)))
    }

    fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<String>> {
        scalar_opt(self, "SELECT id FROM api_keys WHERE key_hash = $1 AND revoked_ms IS NULL", &[&key_hash])
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyInfo>> {
        let rows = self.query("SELECT id, name, created_ms, revoked_ms FROM api_keys ORDER BY created_ms, id", &[])?;
        rows.iter()
            .map(|r| Ok(ApiKeyInfo { id: r.try_get(0)?, name: r.try_get(1)?, created_ms: r.try_get(2)?, revoked_ms: r.try_get(3)? }))
            .collect()
    }

    fn api_key_exists(&self, id: &str) -> Result<bool> {
        scalar(self, "SELECT EXISTS(SELECT 1 FROM api_keys WHERE id = $1)", &[&id])
    }

    fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = self.query("SELECT id, at_ms, actor, action, detail FROM audit ORDER BY id DESC LIMIT $1", &[&i64::from(limit)])?;
        rows.iter().map(audit_entry).collect()
    }

    fn max_server_seq(&self) -> Result<u64> {
        // The highest sequence a cursor may move to, not the highest stored: one above the
        // safe sequence may still have a lower one in flight beneath it.
        Ok(unsigned(self.safe_seq()?))
    }

    fn changes_after(&self, after: u64, limit: u64) -> Result<Vec<Change>> {
        // Up to the safe sequence only: the feed moves its cursor to the last change read.
        let safe = self.safe_seq()?;
        let rows = self.query(
            "SELECT e.server_seq, e.device_id, e.courtyard_id, e.community_id, e.subdistrict_id,
                    (SELECT string_agg(w.target, chr(31)) FROM issue_whistles w WHERE e.entity_kind = 'issue' AND w.issue_id = e.entity_id)
             FROM events e WHERE e.server_seq > $1 AND e.server_seq <= $2 ORDER BY e.server_seq LIMIT $3",
            &[&bigint(after), &safe, &bigint(limit)],
        )?;
        let mut out = Vec::new();
        for r in rows {
            let (seq, device, targets): (i64, String, Option<String>) = (r.try_get(0)?, r.try_get(1)?, r.try_get(5)?);
            out.push(Change {
                seq: unsigned(seq),
                device: parse("device id", &device)?,
                place: place_at(&r, 2)?,
                targets: targets.map(|t| t.split('\u{1f}').map(str::to_owned).collect()).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    fn entity_events_before(&self, entity: Entity, before: u64) -> Result<Vec<PulledEvent>> {
        // No watermark of its own: `before` is an event of a pull page, which stopped at the safe
        // sequence, so everything below it is settled. (A second gw_safe_seq per whistled issue
        // of a pull would be a lock-table scan each.)
        pulled_events(
            self,
            "SELECT server_seq, json FROM events WHERE entity_kind = $1 AND entity_id = $2 AND server_seq < $3 ORDER BY server_seq",
            &[&entity.kind(), &entity.uuid().to_string(), &bigint(before)],
        )
    }

    fn unplaced_order(&self, order_no: &str) -> Result<Option<UnplacedRow>> {
        Ok(unplaced_where(self, "WHERE order_no = $1", &[&order_no])?.pop())
    }

    fn unplaced_orders(&self, limit: u32) -> Result<Vec<UnplacedRow>> {
        unplaced_where(self, "WHERE placed_issue IS NULL ORDER BY queued_ms, order_no LIMIT $1", &[&i64::from(limit)])
    }

    fn responsible_worker(&self, courtyard: CourtyardId) -> Result<Option<WorkerId>> {
        let w: Option<String> =
            scalar_opt(self, "SELECT worker_id FROM courtyard_workers WHERE courtyard_id = $1", &[&courtyard.to_string()])?;
        w.map(|w| parse("worker id", &w)).transpose()
    }

    fn responsible_workers(&self) -> Result<Vec<(CourtyardId, WorkerId)>> {
        let rows = self.query("SELECT courtyard_id, worker_id FROM courtyard_workers ORDER BY courtyard_id", &[])?;
        rows.iter()
            .map(|r| {
                let (c, w): (String, String) = (r.try_get(0)?, r.try_get(1)?);
                Ok((parse("courtyard id", &c)?, parse("worker id", &w)?))
            })
            .collect()
    }

    fn community_queue_views(&self, limit: u32) -> Result<Vec<IssueView>> {
        json_rows(
            self,
            "SELECT view_json FROM issues WHERE assignee LIKE 'community:%' AND status NOT IN ('closed', 'duplicate', 'cancelled')
             ORDER BY received_at_ms, id LIMIT $1",
            &[&i64::from(limit)],
        )
    }

    fn assigned_views(&self, assignee: &Assignee, limit: u32) -> Result<Vec<IssueView>> {
        json_rows(
            self,
            "SELECT view_json FROM issues WHERE assignee = $1 AND status NOT IN ('closed', 'duplicate', 'cancelled')
             ORDER BY received_at_ms, id LIMIT $2",
            &[&assignee_key(assignee), &i64::from(limit)],
        )
    }

    fn due_notices(&self, now_ms: i64, limit: u32) -> Result<Vec<NoticeRow>> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM notices n
             WHERE n.state = 'queued' AND n.next_attempt_ms <= $1
               AND NOT EXISTS (SELECT 1 FROM notices p WHERE p.issue_id = n.issue_id AND p.state = 'queued' AND p.id < n.id)
             ORDER BY n.id LIMIT $2"
        );
        notices_where(self, &sql, &[&now_ms, &i64::from(limit)])
    }

    fn issue_notices(&self, issue: IssueId) -> Result<Vec<NoticeRow>> {
        let sql = format!("SELECT {NOTICE_COLUMNS} FROM notices WHERE issue_id = $1 ORDER BY id");
        notices_where(self, &sql, &[&issue.to_string()])
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
