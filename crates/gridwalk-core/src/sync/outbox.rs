//! The store's side of sync: the outbox, applying push results and pulled events, per-record
//! and per-device sync state. Each apply is one transaction with the cursor it advances.

use super::plan::{self, Realign, ServerSays, Standing};
use crate::error::Result;
use crate::tablet::{meta_get, meta_i64, meta_set, Tablet};
use crate::views;
use gridwalk_domain::{Entity, Event, Hlc, Registry};
use gridwalk_proto::{LoggedEvent, PullResponse, PushOutcome, PushResponse};
use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};

/// Where this tablet stands with the server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceSyncState {
    pub enrolled: bool,
    pub revoked: bool,
    /// The token expired: the worker logs in again (`renew_session`) and nothing is lost.
    #[serde(default)]
    pub session_expired: bool,
    /// Records not yet acknowledged by the server.
    pub queue_depth: u64,
    /// When the oldest of them was recorded (device clock).
    pub oldest_unsent_ms: Option<i64>,
    pub rejected: u64,
    pub photos_pending: u64,
    pub acked_seq: u64,
    pub pull_cursor: u64,
    pub last_success_ms: Option<i64>,
    pub last_error: Option<String>,
    pub clock_offset_ms: i64,
    pub server_url: Option<String>,
}

/// The server, the device token and the pull cursor, for one long-poll.
#[derive(Clone)]
pub struct WaitTicket {
    pub server_url: String,
    pub token: String,
    pub after: u64,
}

impl std::fmt::Debug for WaitTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitTicket").field("server_url", &self.server_url).field("after", &self.after).finish_non_exhaustive()
    }
}

/// One of this tablet's records the server refused, with the reason, for the worker to fix
/// or withdraw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedRecord {
    pub seq: u64,
    pub event: Event,
    pub code: String,
    pub reason: String,
}

/// What applying one server answer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Push: how far the acknowledged position moved up. Pull: events new to this tablet.
    pub count: u64,
    /// The answer moved the tablet back (a restored server, see [`plan::realign`]): more to
    /// push, or to pull from 0.
    pub rewound: bool,
}

/// The `meta` key of the server epoch this tablet last heard.
const EPOCH_KEY: &str = "server_epoch";

/// Apply a [`Realign`] inside the transaction that applies the answer it came from.
fn apply_realign(tx: &Transaction, before: &Standing<'_>, re: &Realign) -> Result<()> {
    if re.acked_seq < before.acked_seq {
        // Records the server no longer holds are queued again, and say so.
        tx.execute("UPDATE device_log SET sync_state = 'queued' WHERE seq > ?1 AND sync_state = 'synced'", [re.acked_seq as i64])?;
        meta_set(tx, "acked_seq", &re.acked_seq.to_string())?;
        views::refresh_sync_states_for_seqs(tx, re.acked_seq + 1, before.acked_seq)?;
    }
    if re.pull_cursor < before.pull_cursor {
        meta_set(tx, "pull_cursor", &re.pull_cursor.to_string())?;
    }
    if let Some(epoch) = &re.new_epoch {
        meta_set(tx, EPOCH_KEY, epoch)?;
    }
    if re.recheck_photos {
        // Asked again, the server says which it holds (`GET /blobs/{sha}`): the rest go again.
        tx.execute("UPDATE photos SET uploaded = 0 WHERE uploaded = 1", [])?;
    }
    Ok(())
}

impl Tablet {
    /// The server epoch this tablet last heard, if any.
    pub fn server_epoch(&self) -> Result<Option<String>> {
        meta_get(&self.conn, EPOCH_KEY)
    }

    pub fn acked_seq(&self) -> Result<u64> {
        Ok(meta_i64(&self.conn, "acked_seq")? as u64)
    }

    /// The next `limit` events after the acknowledged position, in sequence order.
    pub fn outbox(&self, limit: u32) -> Result<Vec<LoggedEvent>> {
        let mut st = self.conn.prepare_cached(
            "SELECT d.seq, e.body FROM device_log d JOIN events e ON e.event_id = d.event_id
             WHERE d.seq > ?1 ORDER BY d.seq LIMIT ?2",
        )?;
        let rows = st.query_map(params![self.acked_seq()? as i64, limit], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body) = row?;
            out.push(LoggedEvent { seq: seq as u64, event: serde_json::from_str(&body)? });
        }
        Ok(out)
    }

    /// The next `limit` outbox events as a serialized push request. The stored event JSON is
    /// the wire form of the event, so it is spliced in without a parse and re-serialization.
    pub fn push_body(&self, limit: u32) -> Result<crate::sync::PushBody> {
        let device = self.identity.ok_or(crate::error::CoreError::NotEnrolled)?.device;
        let mut st = self.conn.prepare_cached(
            "SELECT d.seq, e.body FROM device_log d JOIN events e ON e.event_id = d.event_id
             WHERE d.seq > ?1 ORDER BY d.seq LIMIT ?2",
        )?;
        let mut rows = st.query(params![self.acked_seq()? as i64, limit])?;
        let mut json = format!("{{\"device_id\":\"{device}\",\"events\":[");
        let mut events = 0u64;
        while let Some(row) = rows.next()? {
            if events > 0 {
                json.push(',');
            }
            let seq: i64 = row.get(0)?;
            let body = row
                .get_ref(1)?
                .as_str()
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e)))?;
            json.push_str(&format!("{{\"seq\":{seq},\"event\":"));
            json.push_str(body);
            json.push('}');
            events += 1;
        }
        json.push_str("]}");
        Ok(crate::sync::PushBody { json, events })
    }

    pub fn outbox_depth(&self) -> Result<(u64, u64)> {
        let (n, bytes): (i64, i64) = self.conn.query_row(
            "SELECT count(*), COALESCE(sum(bytes), 0) FROM device_log WHERE seq > ?1",
            [self.acked_seq()? as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((n as u64, bytes as u64))
    }

    /// Record a push answer: per-record states, and the acknowledged position, in one
    /// transaction; a restored server moves the position back ([`plan::realign`]).
    pub fn apply_push_response(&mut self, resp: &PushResponse, server_offset_ms: Option<i64>) -> Result<Applied> {
        let before = self.acked_seq()?;
        let (epoch, cursor) = (self.server_epoch()?, self.pull_cursor()?);
        let standing = Standing { epoch: epoch.as_deref(), acked_seq: before, pull_cursor: cursor };
        let re = plan::realign(&standing, &ServerSays { epoch: resp.epoch.as_deref(), held_seq: Some(resp.acked_seq), max_seq: None });
        let tx = self.conn.transaction()?;
        {
            // A withdrawn record stays withdrawn whatever a late answer says.
            let mut set = tx.prepare_cached(
                "UPDATE device_log SET sync_state = ?2, reject_code = ?3, reject_reason = ?4 WHERE seq = ?1 AND sync_state != 'withdrawn' AND sync_state != ?2",
            )?;
            // Nearly every answer is a run of accepted records: one statement per run of
            // consecutive sequences, not one per record (the profile's largest tablet cost).
            let mut synced = tx.prepare_cached(
                "UPDATE device_log SET sync_state = 'synced', reject_code = NULL, reject_reason = NULL
                 WHERE seq BETWEEN ?1 AND ?2 AND sync_state != 'withdrawn' AND sync_state != 'synced'",
            )?;
            let mut run: Option<(u64, u64)> = None;
            for r in &resp.results {
                let (state, code, reason) = match &r.outcome {
                    PushOutcome::Accepted | PushOutcome::Duplicate => {
                        run = match run {
                            Some((lo, hi)) if r.seq == hi + 1 => Some((lo, r.seq)),
                            Some((lo, hi)) => {
                                synced.execute(params![lo as i64, hi as i64])?;
                                Some((r.seq, r.seq))
                            }
                            None => Some((r.seq, r.seq)),
                        };
                        continue;
                    }
                    PushOutcome::Rejected { code, reason } => ("rejected", Some(code.as_str()), Some(reason.as_str())),
                    PushOutcome::Conflict { reason } => ("rejected", Some("conflict"), Some(reason.as_str())),
                    PushOutcome::Gap => continue,
                };
                set.execute(params![r.seq as i64, state, code, reason])?;
            }
            if let Some((lo, hi)) = run {
                synced.execute(params![lo as i64, hi as i64])?;
            }
        }
        // The server settles sequences in order: everything up to its acked position is held.
        let rewound = re.rewound(&standing);
        let acked = if re.acked_seq < before { re.acked_seq } else { before.max(resp.acked_seq) };
        let (lo, hi) = resp.results.iter().fold((u64::MAX, 0), |(lo, hi), r| (lo.min(r.seq), hi.max(r.seq)));
        if lo <= hi {
            views::refresh_sync_states_for_seqs(&tx, lo, hi)?;
        }
        apply_realign(&tx, &standing, &re)?;
        meta_set(&tx, "acked_seq", &acked.to_string())?;
        if let Some(offset) = server_offset_ms {
            meta_set(&tx, "clock_offset_ms", &offset.to_string())?;
        }
        tx.commit()?;
        if let Some(offset) = server_offset_ms {
            self.clock_offset_ms = offset;
        }
        Ok(Applied { count: acked.saturating_sub(before), rewound })
    }

    /// Apply a pull page: store new events, re-fold what they touch, merge the HLC, replace the
    /// registry if it came along, and advance the cursor, all in one transaction.
    /// A restored server ([`plan::realign`]) sends the cursor back to 0 instead (the page's
    /// events are still applied: they are events the server holds) and may lower the
    /// acknowledged position, so the engine pushes and pulls again.
    pub fn apply_pull(&mut self, resp: &PullResponse, server_offset_ms: Option<i64>) -> Result<Applied> {
        let now = self.clock.now_ms();
        let (epoch, acked, cursor_before) = (self.server_epoch()?, self.acked_seq()?, self.pull_cursor()?);
        let standing = Standing { epoch: epoch.as_deref(), acked_seq: acked, pull_cursor: cursor_before };
        let re = plan::realign(&standing, &ServerSays { epoch: resp.epoch.as_deref(), held_seq: resp.held_seq, max_seq: resp.max_seq });
        let rewound = re.rewound(&standing);
        let tx = self.conn.transaction()?;
        let mut touched: Vec<Entity> = Vec::new();
        let mut max_remote = Hlc::ZERO;
        let mut new = 0;
        for p in &resp.events {
            if views::insert_event(&tx, &p.event, Some(p.server_seq))?.0 {
                new += 1;
                touched.push(p.event.entity);
                max_remote = max_remote.max(p.event.hlc);
            }
        }
        touched.sort_by_key(|e| e.uuid());
        touched.dedup();
        for entity in touched {
            views::refold(&tx, entity)?;
        }
        if let Some(reg) = &resp.registry {
            let registry = Registry {
                subdistricts: reg.subdistricts.clone(),
                communities: reg.communities.clone(),
                management_grids: reg.management_grids.clone(),
                technical_grids: reg.technical_grids.clone(),
                courtyards: reg.courtyards.clone(),
            };
            crate::registry::replace(&tx, &registry)?;
            crate::registry::set_responsible(&tx, &reg.responsible)?;
            meta_set(&tx, "registry_version", &reg.version.to_string())?;
        }
        let hlc = if max_remote > Hlc::ZERO { self.hlc.merge(max_remote, now) } else { self.hlc };
        if re.pull_cursor < cursor_before {
            apply_realign(&tx, &standing, &re)?;
        } else {
            let cursor = (meta_i64(&tx, "pull_cursor")? as u64).max(resp.next_cursor);
            meta_set(&tx, "pull_cursor", &cursor.to_string())?;
            apply_realign(&tx, &Standing { pull_cursor: cursor, ..standing }, &Realign { pull_cursor: cursor, ..re })?;
        }
        if let Some(offset) = server_offset_ms {
            meta_set(&tx, "clock_offset_ms", &offset.to_string())?;
        }
        tx.commit()?;
        self.hlc = hlc;
        if let Some(offset) = server_offset_ms {
            self.clock_offset_ms = offset;
        }
        Ok(Applied { count: new as u64, rewound })
    }

    pub fn pull_cursor(&self) -> Result<u64> {
        Ok(meta_i64(&self.conn, "pull_cursor")? as u64)
    }

    /// What a long-poll for news needs (the server, the token, the pull cursor), read under
    /// the store's lock and then used without it.
    pub fn wait_ticket(&self) -> Result<WaitTicket> {
        let token = meta_get(&self.conn, "token")?.ok_or(crate::error::CoreError::NotEnrolled)?;
        let server_url = meta_get(&self.conn, "server_url")?.ok_or(crate::error::CoreError::NotEnrolled)?;
        Ok(WaitTicket { server_url, token, after: self.pull_cursor()? })
    }

    pub fn registry_version(&self) -> Result<u64> {
        Ok(meta_i64(&self.conn, "registry_version")? as u64)
    }

    pub fn sync_state(&self) -> Result<DeviceSyncState> {
        let acked = self.acked_seq()?;
        let (depth, oldest): (i64, Option<i64>) =
            self.conn.query_row("SELECT count(*), min(recorded_ms) FROM device_log WHERE seq > ?1", [acked as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let rejected: i64 = self.conn.query_row("SELECT count(*) FROM device_log WHERE sync_state = 'rejected'", [], |r| r.get(0))?;
        Ok(DeviceSyncState {
            enrolled: meta_get(&self.conn, "token")?.is_some(),
            revoked: meta_get(&self.conn, "revoked")?.is_some(),
            session_expired: meta_get(&self.conn, "session_expired")?.is_some(),
            queue_depth: depth as u64,
            oldest_unsent_ms: oldest,
            rejected: rejected as u64,
            photos_pending: self.pending_photos()?.len() as u64,
            acked_seq: acked,
            pull_cursor: self.pull_cursor()?,
            last_success_ms: meta_get(&self.conn, "last_sync_ok_ms")?.and_then(|v| v.parse().ok()),
            last_error: meta_get(&self.conn, "last_sync_error")?,
            clock_offset_ms: self.clock_offset_ms,
            server_url: meta_get(&self.conn, "server_url")?,
        })
    }

    /// Records the server refused, still on the tablet, with their reasons.
    pub fn rejected_records(&self) -> Result<Vec<RejectedRecord>> {
        let mut st = self.conn.prepare(
            "SELECT d.seq, e.body, d.reject_code, d.reject_reason FROM device_log d JOIN events e ON e.event_id = d.event_id
             WHERE d.sync_state = 'rejected' ORDER BY d.seq",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, Option<String>>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body, code, reason) = row?;
            out.push(RejectedRecord {
                seq: seq as u64,
                event: serde_json::from_str(&body)?,
                code: code.unwrap_or_default(),
                reason: reason.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Withdraw a rejected record: it stays in the log (append-only) but no longer counts in
    /// the views.
    pub fn withdraw_rejected(&mut self, seq: u64) -> Result<()> {
        let tx = self.conn.transaction()?;
        let n = tx.execute("UPDATE device_log SET sync_state = 'withdrawn' WHERE seq = ?1 AND sync_state = 'rejected'", [seq as i64])?;
        if n == 0 {
            return Err(crate::error::CoreError::NotRejected { action: "withdrawn" });
        }
        let (kind, id): (String, String) = tx.query_row(
            "SELECT e.entity_kind, e.entity_id FROM device_log d JOIN events e ON e.event_id = d.event_id WHERE d.seq = ?1",
            [seq as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if let Some(entity) = parse_entity(&kind, &id) {
            views::refold(&tx, entity)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Correct a rejected record: record the corrected body as a new event on the same entity
    /// and withdraw the rejected one.
    pub fn correct_rejected(&mut self, seq: u64, body: gridwalk_domain::EventBody) -> Result<Event> {
        let rejected = self
            .rejected_records()?
            .into_iter()
            .find(|r| r.seq == seq)
            .ok_or(crate::error::CoreError::NotRejected { action: "corrected" })?;
        self.withdraw_rejected(seq)?;
        Ok(self.record(vec![(rejected.event.entity, body)])?.remove(0))
    }

    /// Photos whose reporting event the server has taken but whose bytes it may not hold yet.
    pub fn pending_photos(&self) -> Result<Vec<(String, u64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT p.sha256, p.bytes FROM photos p WHERE p.uploaded = 0 AND EXISTS (
                 SELECT 1 FROM device_log d JOIN events e ON e.event_id = d.event_id
                 WHERE d.sync_state = 'synced' AND e.kind IN ('photo_attached', 'issue_resolved')
                   AND instr(e.body, p.sha256) > 0)
             ORDER BY p.created_ms",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn mark_photo_uploaded(&self, sha256: &str) -> Result<()> {
        self.conn.execute("UPDATE photos SET uploaded = 1 WHERE sha256 = ?1", [sha256])?;
        Ok(())
    }
}

fn parse_entity(kind: &str, id: &str) -> Option<Entity> {
    match kind {
        "issue" => id.parse().ok().map(Entity::Issue),
        "visit" => id.parse().ok().map(Entity::Visit),
        _ => None,
    }
}

/// The end of a sync: when it last succeeded, or the error it ended with.
pub(crate) fn note_sync_result(conn: &rusqlite::Connection, now_ms: i64, error: Option<&str>) -> Result<()> {
    match error {
        None => {
            meta_set(conn, "last_sync_ok_ms", &now_ms.to_string())?;
            conn.prepare_cached("DELETE FROM meta WHERE key = 'last_sync_error'")?.execute([])?;
        }
        Some(e) => meta_set(conn, "last_sync_error", e)?,
    }
    Ok(())
}
