//! The write half of the storage traits over a PostgreSQL connection: the `impl Tx` of
//! `sqlite::rows`, statement for statement. Every method runs inside the writer's open
//! transaction (and the job's savepoint): none begins or commits.

use super::Pg;
use crate::error::{Error, Result};
use crate::model::*;
use crate::store::sqlite::rows::assignee_key;
use crate::store::{NewEvent, NewNotice, Reader, Tx};
use gridwalk_domain::registry::GeoPoint;
use gridwalk_domain::{CourtyardId, DeviceId, EventId, IssueId, Registry, Role, VisitState, WorkerId};
use gridwalk_proto::{ScopeUnit, WorkerInfo};
use std::collections::HashMap;

/// Owned parameters for [`Pg::defer`].
macro_rules! owned {
    ($($v:expr),* $(,)?) => { vec![$(Box::new($v) as super::Arg),*] };
}

/// A count as a BIGINT: past `i64::MAX` it is held at `i64::MAX` (as the SQLite engine does).
fn bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Tx for Pg<'_> {
    fn insert_photo_ref(&self, sha256: &str, device: DeviceId, bytes: Option<u64>) -> Result<()> {
        self.defer(
            "INSERT INTO photo_refs (sha256, device_id, bytes) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            owned![sha256.to_owned(), device.to_string(), bytes.map(bigint)],
        )
    }

    fn add_uploaded_bytes(&self, sha256: &str, device: DeviceId, bytes: u64, now_ms: i64) -> Result<()> {
        // `blob_uploads.bytes`, not `bytes`: in PostgreSQL's DO UPDATE both the stored row and
        // `excluded` are in scope, and a bare column name is ambiguous.
        self.execute(
            "INSERT INTO blob_uploads (sha256, device_id, bytes, updated_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sha256, device_id) DO UPDATE SET bytes = blob_uploads.bytes + excluded.bytes,
                 updated_ms = excluded.updated_ms",
            &[&sha256, &device.to_string(), &bigint(bytes), &now_ms],
        )?;
        Ok(())
    }

    fn apart(&self, part: &mut dyn FnMut(&dyn Tx) -> Result<()>) -> Result<()> {
        self.batch("SAVEPOINT apart")?;
        // The part's queued writes go out before it is judged: one that fails fails the part.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| part(self)))
            .unwrap_or_else(|_| Err(Error::Internal("a part of a write job panicked".into())))
            .and_then(|()| self.flush());
        // A failed statement aborts PostgreSQL's (sub)transaction: rolling back to the savepoint
        // is what lets the rest of the job go on.
        match outcome {
            Ok(()) => self.batch("RELEASE apart")?,
            Err(_) => self.batch("ROLLBACK TO apart; RELEASE apart")?,
        }
        outcome
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )?;
        Ok(())
    }

    fn replace_registry(&self, registry: &Registry) -> Result<u64> {
        self.batch(
            "DELETE FROM subdistricts; DELETE FROM communities; DELETE FROM management_grids;
             DELETE FROM technical_grids; DELETE FROM courtyards;",
        )?;
        let parent: HashMap<_, _> = registry.communities.iter().map(|c| (c.id, c.subdistrict)).collect();
        // One statement per table, its columns as arrays: 5,710 courtyards are one round trip,
        // not 5,710.
        let subdistricts = &registry.subdistricts;
        self.execute(
            "INSERT INTO subdistricts (id, code, json) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
            &[
                &subdistricts.iter().map(|s| s.id.to_string()).collect::<Vec<_>>(),
                &subdistricts.iter().map(|s| s.code.clone()).collect::<Vec<_>>(),
                &subdistricts.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?,
            ],
        )?;
        let communities = &registry.communities;
        self.execute(
            "INSERT INTO communities (id, code, subdistrict_id, json) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
            &[
                &communities.iter().map(|m| m.id.to_string()).collect::<Vec<_>>(),
                &communities.iter().map(|m| m.code.clone()).collect::<Vec<_>>(),
                &communities.iter().map(|m| m.subdistrict.to_string()).collect::<Vec<_>>(),
                &communities.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?,
            ],
        )?;
        let grids = &registry.management_grids;
        self.execute(
            "INSERT INTO management_grids (id, code, json) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
            &[
                &grids.iter().map(|g| g.id.to_string()).collect::<Vec<_>>(),
                &grids.iter().map(|g| g.code.clone()).collect::<Vec<_>>(),
                &grids.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?,
            ],
        )?;
        let technical = &registry.technical_grids;
        self.execute(
            "INSERT INTO technical_grids (id, code, json) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
            &[
                &technical.iter().map(|t| t.id.to_string()).collect::<Vec<_>>(),
                &technical.iter().map(|t| t.code.clone()).collect::<Vec<_>>(),
                &technical.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?,
            ],
        )?;
        let yards = &registry.courtyards;
        let mut subs = Vec::with_capacity(yards.len());
        for y in yards {
            let sub = parent.get(&y.community).ok_or_else(|| Error::UnknownCourtyard(format!("{} names an unknown community", y.code)))?;
            subs.push(sub.to_string());
        }
        self.execute(
            "INSERT INTO courtyards (id, code, community_id, subdistrict_id, json)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])",
            &[
                &yards.iter().map(|y| y.id.to_string()).collect::<Vec<_>>(),
                &yards.iter().map(|y| y.code.clone()).collect::<Vec<_>>(),
                &yards.iter().map(|y| y.community.to_string()).collect::<Vec<_>>(),
                &subs,
                &yards.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?,
            ],
        )?;
        let version = self.registry_version()? + 1;
        self.set_meta("registry_version", &version.to_string())?;
        Ok(version)
    }

    fn insert_worker(&self, w: &WorkerInfo, password_hash: &str, now_ms: i64) -> Result<()> {
        let taken: bool = self
            .query_one("SELECT EXISTS(SELECT 1 FROM workers WHERE username = $1 OR id = $2)", &[&w.username, &w.id.to_string()])?
            .try_get(0)?;
        if taken {
            return Err(Error::UsernameTaken(w.username.clone()));
        }
        self.execute(
            "INSERT INTO workers (id, username, name, role, scope_json, password_hash, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&w.id.to_string(), &w.username, &w.name, &w.role.code(), &serde_json::to_string(&w.scope)?, &password_hash, &now_ms],
        )?;
        Ok(())
    }

    fn note_login_failure(&self, username: &str) -> Result<i64> {
        // `login_failures.consecutive`: a bare name is ambiguous beside `excluded` in DO UPDATE.
        Ok(self
            .query_one(
                "INSERT INTO login_failures (username, consecutive, locked_until_ms) VALUES ($1, 1, NULL)
                 ON CONFLICT (username) DO UPDATE SET consecutive = login_failures.consecutive + 1
                 RETURNING consecutive",
                &[&username],
            )?
            .try_get(0)?)
    }

    fn lock_login(&self, username: &str, until_ms: i64) -> Result<()> {
        self.execute("UPDATE login_failures SET consecutive = 0, locked_until_ms = $2 WHERE username = $1", &[&username, &until_ms])?;
        Ok(())
    }

    fn clear_login_failures(&self, username: &str) -> Result<()> {
        self.execute("DELETE FROM login_failures WHERE username = $1", &[&username])?;
        Ok(())
    }

    fn note_login_failure_from(&self, username: &str, address: &str) -> Result<i64> {
        Ok(self
            .query_one(
                "INSERT INTO login_failures_by_address (username, address, consecutive, locked_until_ms) VALUES ($1, $2, 1, NULL)
                 ON CONFLICT (username, address) DO UPDATE SET consecutive = login_failures_by_address.consecutive + 1
                 RETURNING consecutive",
                &[&username, &address],
            )?
            .try_get(0)?)
    }

    fn lock_login_from(&self, username: &str, address: &str, until_ms: i64) -> Result<()> {
        self.execute(
            "UPDATE login_failures_by_address SET consecutive = 0, locked_until_ms = $3 WHERE username = $1 AND address = $2",
            &[&username, &address, &until_ms],
        )?;
        Ok(())
    }

    fn clear_login_failures_from(&self, username: &str, address: &str) -> Result<()> {
        self.execute("DELETE FROM login_failures_by_address WHERE username = $1 AND address = $2", &[&username, &address])?;
        Ok(())
    }

    fn set_worker_disabled(&self, worker: WorkerId, disabled_ms: Option<i64>) -> Result<bool> {
        let n = self.execute("UPDATE workers SET disabled_ms = $2 WHERE id = $1", &[&worker.to_string(), &disabled_ms])?;
        Ok(n == 1)
    }

    fn set_password_hash(&self, worker: WorkerId, password_hash: &str) -> Result<()> {
        self.execute("UPDATE workers SET password_hash = $2 WHERE id = $1", &[&worker.to_string(), &password_hash])?;
        Ok(())
    }

    fn set_role_and_scope(&self, worker: WorkerId, role: Role, scope: &[ScopeUnit]) -> Result<()> {
        self.execute(
            "UPDATE workers SET role = $2, scope_json = $3 WHERE id = $1",
            &[&worker.to_string(), &role.code(), &serde_json::to_string(scope)?],
        )?;
        Ok(())
    }

    fn revoke_worker_devices(&self, worker: WorkerId, except: Option<DeviceId>, now_ms: i64) -> Result<usize> {
        let except = except.map(|d| d.to_string()).unwrap_or_default();
        let n = self.execute(
            "UPDATE devices SET revoked_ms = $3 WHERE worker_id = $1 AND id <> $2 AND revoked_ms IS NULL",
            &[&worker.to_string(), &except, &now_ms],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn set_device_expiry(&self, device: DeviceId, expires_ms: i64) -> Result<()> {
        self.defer("UPDATE devices SET expires_ms = $2 WHERE id = $1", owned![device.to_string(), expires_ms])
    }

    fn insert_device(&self, id: DeviceId, worker: WorkerId, name: &str, token_hash: Option<&str>, now_ms: i64) -> Result<()> {
        self.execute(
            "INSERT INTO devices (id, worker_id, name, token_hash, created_ms) VALUES ($1, $2, $3, $4, $5)",
            &[&id.to_string(), &worker.to_string(), &name, &token_hash, &now_ms],
        )?;
        Ok(())
    }

    fn revoke_device(&self, id: DeviceId, now_ms: i64) -> Result<bool> {
        self.execute("UPDATE devices SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL", &[&id.to_string(), &now_ms])?;
        self.device_exists(id)
    }

    fn set_held_seq(&self, device: DeviceId, seq: u64) -> Result<()> {
        self.defer("UPDATE devices SET held_seq = $2 WHERE id = $1", owned![device.to_string(), bigint(seq)])
    }

    fn insert_event(&self, n: &NewEvent<'_>) -> Result<()> {
        let e = n.event;
        // Queued (see `Pg::defer`): a push's inserts go out together. The global sequence
        // comes from `event_server_seq`, after the claim this transaction took at BEGIN
        // (`gw_claim_seq`), so no reader's cursor passes it before it commits.
        self.defer(
            "INSERT INTO events (server_seq, event_id, device_id, seq, hash, entity_kind, entity_id, courtyard_id, community_id,
                                 subdistrict_id, received_ms, json)
             VALUES (nextval('event_server_seq'), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            owned![
                e.id.to_string(),
                e.device.to_string(),
                bigint(n.seq),
                n.hash.to_owned(),
                e.entity.kind().to_owned(),
                e.entity.uuid().to_string(),
                n.place.courtyard.to_string(),
                n.place.community.to_string(),
                n.place.subdistrict.to_string(),
                n.received_ms,
                n.json.to_owned(),
            ],
        )?;
        // The commit then tells the other processes' waiting tablets.
        self.stored_event();
        Ok(())
    }

    fn insert_refusal(&self, device: DeviceId, seq: u64, event: EventId, hash: &str, r: &Refusal, now_ms: i64) -> Result<()> {
        self.defer(
            "INSERT INTO refusals (device_id, seq, event_id, hash, outcome, code, reason, received_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            owned![
                device.to_string(),
                bigint(seq),
                event.to_string(),
                hash.to_owned(),
                if r.conflict { "conflict" } else { "rejected" },
                r.code.clone(),
                r.reason.clone(),
                now_ms,
            ],
        )
    }

    fn put_issue_view(&self, view: &IssueView, place: &Place, point: Option<GeoPoint>) -> Result<()> {
        let s = &view.state;
        let id = s.id.to_string();
        self.defer(
            "INSERT INTO issues (id, courtyard_id, community_id, subdistrict_id, status, received_at_ms, response_due_ms,
                                 category, closed_at_ms, view_json, pledged_by, assignee, public_id,
                                 source, responded_at_ms, resolved_at_ms, satisfaction, lat, lon, recurrence_of)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
             ON CONFLICT (id) DO UPDATE SET courtyard_id = excluded.courtyard_id, community_id = excluded.community_id,
                 subdistrict_id = excluded.subdistrict_id, status = excluded.status, received_at_ms = excluded.received_at_ms,
                 response_due_ms = excluded.response_due_ms, category = excluded.category,
                 closed_at_ms = excluded.closed_at_ms, view_json = excluded.view_json, pledged_by = excluded.pledged_by,
                 assignee = excluded.assignee, public_id = excluded.public_id, source = excluded.source,
                 responded_at_ms = excluded.responded_at_ms, resolved_at_ms = excluded.resolved_at_ms,
                 satisfaction = excluded.satisfaction, lat = excluded.lat, lon = excluded.lon,
                 recurrence_of = excluded.recurrence_of",
            owned![
                id.clone(),
                place.courtyard.to_string(),
                place.community.to_string(),
                place.subdistrict.to_string(),
                s.status.code().to_owned(),
                s.received_at_ms,
                s.response_due_ms,
                s.report.as_ref().map(|r| r.category.code().to_owned()),
                s.closed_at_ms,
                serde_json::to_string(view)?,
                s.pledge.as_ref().map(|p| p.by.to_string()),
                s.assignee.as_ref().map(assignee_key),
                public_id(s.id),
                s.report.as_ref().map(|r| r.source.code().to_owned()),
                s.responded_at_ms,
                s.resolved_at_ms,
                s.satisfaction.map(|x| x.code().to_owned()),
                point.map(|p| p.lat),
                point.map(|p| p.lon),
                s.recurrence_of.map(|i| i.to_string()),
            ],
        )?;
        // The whistle index follows the fold exactly: department staff see what it says.
        self.defer("DELETE FROM issue_whistles WHERE issue_id = $1", owned![id.clone()])?;
        for w in &s.whistles {
            self.defer(
                "INSERT INTO issue_whistles (issue_id, target, level, whistled_at_ms, reported_in_at_ms) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
                owned![id.clone(), w.target.clone(), w.level.code().to_owned(), w.whistled_at_ms, w.reported_in_at_ms],
            )?;
        }
        Ok(())
    }

    fn put_visit_view(&self, state: &VisitState, place: &Place, distance_m: Option<f64>) -> Result<()> {
        self.defer(
            "INSERT INTO visits (id, courtyard_id, community_id, subdistrict_id, state_json, worker_id, started_at_ms, mode, distance_m)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET courtyard_id = excluded.courtyard_id, community_id = excluded.community_id,
                 subdistrict_id = excluded.subdistrict_id, state_json = excluded.state_json, worker_id = excluded.worker_id,
                 started_at_ms = excluded.started_at_ms, mode = excluded.mode, distance_m = excluded.distance_m",
            owned![
                state.id.to_string(),
                place.courtyard.to_string(),
                place.community.to_string(),
                place.subdistrict.to_string(),
                serde_json::to_string(state)?,
                state.worker.map(|w| w.to_string()),
                state.visit.as_ref().map(|v| v.started_at_ms),
                state.visit.as_ref().map(|v| v.mode.code().to_owned()),
                distance_m,
            ],
        )
    }

    fn insert_escalation(&self, e: &EscalationRow) -> Result<bool> {
        let n = self.execute(
            "INSERT INTO escalations (issue_id, kind, level, at_ms, detail) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&e.issue_id.to_string(), &e.kind, &e.level, &e.at_ms, &e.detail],
        )?;
        Ok(n > 0)
    }

    fn insert_hotline_order(&self, order_no: &str, issue: IssueId, courtyard: CourtyardId, received_ms: i64, now_ms: i64) -> Result<()> {
        self.execute(
            "INSERT INTO hotline_orders (order_no, issue_id, courtyard_id, received_at_ms, created_ms) VALUES ($1, $2, $3, $4, $5)",
            &[&order_no, &issue.to_string(), &courtyard.to_string(), &received_ms, &now_ms],
        )?;
        Ok(())
    }

    fn insert_api_key(&self, id: &str, name: &str, key_hash: &str, now_ms: i64) -> Result<()> {
        self.execute(
            "INSERT INTO api_keys (id, name, key_hash, created_ms, revoked_ms) VALUES ($1, $2, $3, $4, NULL)",
            &[&id, &name, &key_hash, &now_ms],
        )?;
        Ok(())
    }

    fn revoke_api_key(&self, id: &str, now_ms: i64) -> Result<()> {
        self.execute("UPDATE api_keys SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL", &[&id, &now_ms])?;
        Ok(())
    }

    fn audit(&self, at_ms: i64, actor: &str, action: &str, detail: &str) -> Result<()> {
        let args = owned![at_ms, actor.to_owned(), action.to_owned(), detail.to_owned()];
        self.defer("INSERT INTO audit (at_ms, actor, action, detail) VALUES ($1, $2, $3, $4)", args)?;
        tracing::info!(actor, action, detail, "audit");
        Ok(())
    }

    fn insert_unplaced_order(&self, row: &UnplacedRow) -> Result<bool> {
        let n = self.execute(
            "INSERT INTO unplaced_orders (order_no, intake_json, reason, subdistrict_id, community_id, received_at_ms, queued_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING",
            &[
                &row.order.order_no,
                &serde_json::to_string(&row.order)?,
                &row.reason,
                &row.subdistrict.map(|s| s.to_string()),
                &row.community.map(|c| c.to_string()),
                &row.order.received_at_ms,
                &row.queued_ms,
            ],
        )?;
        Ok(n > 0)
    }

    fn mark_order_placed(&self, order_no: &str, issue: IssueId, now_ms: i64) -> Result<()> {
        self.execute(
            "UPDATE unplaced_orders SET placed_issue = $2, placed_ms = $3 WHERE order_no = $1 AND placed_issue IS NULL",
            &[&order_no, &issue.to_string(), &now_ms],
        )?;
        Ok(())
    }

    fn reissue_device_token(&self, device: DeviceId, worker: WorkerId, token_hash: &str) -> Result<bool> {
        let n = self.execute(
            "UPDATE devices SET token_hash = $1 WHERE id = $2 AND worker_id = $3 AND revoked_ms IS NULL",
            &[&token_hash, &device.to_string(), &worker.to_string()],
        )?;
        Ok(n == 1)
    }

    fn insert_notify_token(&self, device: DeviceId, token_hash: &str, now_ms: i64) -> Result<()> {
        self.execute(
            "INSERT INTO notify_tokens (token_hash, device_id, created_ms) VALUES ($1, $2, $3)",
            &[&token_hash, &device.to_string(), &now_ms],
        )?;
        Ok(())
    }

    fn set_responsible_worker(&self, courtyard: CourtyardId, worker: WorkerId, now_ms: i64) -> Result<()> {
        self.execute(
            "INSERT INTO courtyard_workers (courtyard_id, worker_id, set_ms) VALUES ($1, $2, $3)
             ON CONFLICT (courtyard_id) DO UPDATE SET worker_id = excluded.worker_id, set_ms = excluded.set_ms",
            &[&courtyard.to_string(), &worker.to_string(), &now_ms],
        )?;
        // Tablets hold the responsible workers with the registry: a new version makes them pull it.
        let version = self.registry_version()? + 1;
        self.set_meta("registry_version", &version.to_string())
    }

    fn insert_notice(&self, n: &NewNotice<'_>) -> Result<bool> {
        // DO NOTHING: a second notice for the same event, or on the same topic of the same
        // issue, is not queued (both are UNIQUE).
        let inserted = self.execute(
            "INSERT INTO notices (event_id, issue_id, kind, topic, phone, text, state, attempts, next_attempt_ms, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $7)
             ON CONFLICT DO NOTHING",
            &[&n.event_id.to_string(), &n.issue_id.to_string(), &n.kind.code(), &n.topic, &n.phone, &n.text, &n.now_ms],
        )?;
        Ok(inserted > 0)
    }

    fn mark_notice_sent(&self, seq: i64, now_ms: i64) -> Result<bool> {
        let n = self.execute(
            "UPDATE notices SET state = 'sent', attempts = attempts + 1, sent_ms = $2
             WHERE id = $1 AND state = 'queued'",
            &[&seq, &now_ms],
        )?;
        Ok(n > 0)
    }

    fn mark_notice_retry(&self, seq: i64, next_attempt_ms: i64, error: &str) -> Result<()> {
        self.execute(
            "UPDATE notices SET attempts = attempts + 1, next_attempt_ms = $2, last_error = $3 WHERE id = $1 AND state = 'queued'",
            &[&seq, &next_attempt_ms, &error],
        )?;
        Ok(())
    }

    fn mark_notice_failed(&self, seq: i64, error: &str) -> Result<()> {
        self.execute(
            "UPDATE notices SET state = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1 AND state = 'queued'",
            &[&seq, &error],
        )?;
        Ok(())
    }

    fn lock_device(&self, device: DeviceId) -> Result<()> {
        // Several processes may ingest the same device (a tablet that retried on another one
        // while its first push still ran): the advisory lock lasts until this transaction ends.
        Pg::lock_device(self, &device.to_string())
    }

    fn take_lease(&self, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool> {
        // One statement: the row lock ON CONFLICT takes makes two processes that race for an
        // expired lease take turns, and only the first finds it expired. No row back: another
        // holder's lease still runs.
        let until_ms = now_ms.saturating_add(ttl_ms);
        let row = self.query_opt(
            "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE leases.holder = excluded.holder OR leases.until_ms < $4
             RETURNING holder",
            &[&name, &holder, &until_ms, &now_ms],
        )?;
        Ok(row.is_some())
    }

    fn set_device_kind(&self, device: DeviceId, kind: &str) -> Result<()> {
        self.execute("UPDATE devices SET kind = $2 WHERE id = $1", &[&device.to_string(), &kind])?;
        Ok(())
    }

    fn put_device_report(&self, device: DeviceId, report: &gridwalk_proto::console::DeviceReport, now_ms: i64) -> Result<()> {
        self.execute(
            "INSERT INTO device_reports (device_id, reported_ms, queue_depth, oldest_unsent_ms, rejected_count, clock_offset_ms, app_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (device_id) DO UPDATE SET reported_ms = excluded.reported_ms, queue_depth = excluded.queue_depth,
                 oldest_unsent_ms = excluded.oldest_unsent_ms, rejected_count = excluded.rejected_count,
                 clock_offset_ms = excluded.clock_offset_ms, app_version = excluded.app_version",
            &[
                &device.to_string(),
                &now_ms,
                &bigint(report.queue_depth),
                &report.oldest_unsent_ms,
                &bigint(report.rejected_count),
                &report.clock_offset_ms,
                &report.app_version,
            ],
        )?;
        Ok(())
    }
}
