//! Writing events and keeping the current-state tables folded from them. Everything here runs
//! inside the caller's transaction, so an event and the views it changes commit together.

use crate::error::Result;
use gridwalk_domain::{fold_issue, fold_visit, Entity, Event, IssueId, VisitId};
use rusqlite::{params, OptionalExtension, Transaction};

/// Store one event; returns whether it was new (pulls are applied idempotently) and its
/// stored size in bytes.
pub(crate) fn insert_event(tx: &Transaction, e: &Event, server_seq: Option<u64>) -> Result<(bool, usize)> {
    let body = serde_json::to_string(e)?;
    let mut st = tx.prepare_cached(
        "INSERT OR IGNORE INTO events (event_id, device_id, entity_kind, entity_id, hlc, kind, body, server_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let n = st.execute(params![
        e.id.to_string(),
        e.device.to_string(),
        e.entity.kind(),
        e.entity.uuid().to_string(),
        e.hlc.to_key(),
        e.body.kind(),
        body,
        server_seq.map(|s| s as i64)
    ])?;
    Ok((n == 1, body.len()))
}

/// The events that count for an entity: all of them except this tablet's withdrawn ones, in
/// stored order (the server's sequence, then this tablet's own), which decides the first report.
pub(crate) fn entity_events(tx: &Transaction, entity_id: &str) -> Result<Vec<Event>> {
    let mut stmt = tx.prepare_cached(
        "SELECT e.body FROM events e LEFT JOIN device_log d ON d.event_id = e.event_id
         WHERE e.entity_id = ?1 AND (d.sync_state IS NULL OR d.sync_state != 'withdrawn')
         ORDER BY e.server_seq IS NULL, e.server_seq, d.seq",
    )?;
    let rows = stmt.query_map([entity_id], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for body in rows {
        out.push(serde_json::from_str(&body?)?);
    }
    Ok(out)
}

/// Re-fold one entity from all its events and rewrite its row.
pub(crate) fn refold(tx: &Transaction, entity: Entity) -> Result<()> {
    let id = entity.uuid().to_string();
    let events = entity_events(tx, &id)?;
    match entity {
        Entity::Issue(issue) => write_issue(tx, issue, events)?,
        Entity::Visit(visit) => write_visit(tx, visit, events)?,
    }
    refresh_sync_state(tx, entity)
}

fn write_issue(tx: &Transaction, id: IssueId, events: Vec<Event>) -> Result<()> {
    let s = fold_issue(id, events);
    let Some(r) = &s.report else {
        // Only orphan events (or a withdrawn report): nothing to show yet.
        tx.prepare_cached("DELETE FROM issues WHERE id = ?1")?.execute([id.to_string()])?;
        return Ok(());
    };
    let targets: Vec<&str> = s.whistles.iter().map(|w| w.target.as_str()).collect();
    tx.prepare_cached(
        "INSERT INTO issues (id, courtyard_id, category, source, status, description, contact_masked,
             received_at_ms, response_due_ms, responded_at_ms, resolved_at_ms, conflicts, updated_hlc,
             owner_id, clock_runs, accepted_at_ms, urged, review_returns, whistle_targets, lat, lon)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                 COALESCE(?20, (SELECT lat FROM courtyards WHERE id = ?2)), COALESCE(?21, (SELECT lon FROM courtyards WHERE id = ?2)))
         ON CONFLICT(id) DO UPDATE SET courtyard_id = excluded.courtyard_id, category = excluded.category,
             source = excluded.source, status = excluded.status, description = excluded.description,
             contact_masked = excluded.contact_masked, received_at_ms = excluded.received_at_ms,
             response_due_ms = excluded.response_due_ms, responded_at_ms = excluded.responded_at_ms,
             resolved_at_ms = excluded.resolved_at_ms, conflicts = excluded.conflicts, updated_hlc = excluded.updated_hlc,
             owner_id = excluded.owner_id, clock_runs = excluded.clock_runs, accepted_at_ms = excluded.accepted_at_ms,
             urged = excluded.urged, review_returns = excluded.review_returns, whistle_targets = excluded.whistle_targets,
             lat = excluded.lat, lon = excluded.lon",
    )?
    .execute(params![
        id.to_string(),
        r.courtyard.to_string(),
        r.category.code(),
        r.source.code(),
        s.status.code(),
        r.description,
        r.contact.as_ref().map(|c| c.masked_phone()),
        s.received_at_ms.unwrap_or_default(),
        s.response_due_ms,
        s.responded_at_ms,
        s.resolved_at_ms,
        s.conflicts().count() as i64,
        s.last_hlc.to_key(),
        s.owner().map(|w| w.to_string()),
        s.clock_runs(),
        s.accepted_at_ms,
        s.urged,
        s.review_returns,
        serde_json::to_string(&targets)?,
        r.location.map(|l| l.lat),
        r.location.map(|l| l.lon),
    ])?;
    Ok(())
}

/// Re-fold every issue and visit once (after a migration added columns to their rows).
pub(crate) fn refold_all(tx: &Transaction) -> Result<usize> {
    let ids: Vec<String> = tx.prepare("SELECT id FROM issues")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for id in &ids {
        if let Ok(issue) = id.parse::<IssueId>() {
            refold(tx, Entity::Issue(issue))?;
        }
    }
    let visits: Vec<String> = tx.prepare("SELECT id FROM visits")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for id in &visits {
        if let Ok(visit) = id.parse::<VisitId>() {
            refold(tx, Entity::Visit(visit))?;
        }
    }
    Ok(ids.len() + visits.len())
}

fn write_visit(tx: &Transaction, id: VisitId, events: Vec<Event>) -> Result<()> {
    let s = fold_visit(id, events);
    let Some(v) = &s.visit else {
        tx.prepare_cached("DELETE FROM visits WHERE id = ?1")?.execute([id.to_string()])?;
        return Ok(());
    };
    tx.prepare_cached(
        "INSERT OR REPLACE INTO visits (id, courtyard_id, worker_id, mode, started_at_ms, ended_at_ms, notes, residents_met, linked_issues, lat, lon)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        id.to_string(),
        v.courtyard.to_string(),
        s.worker.map(|w| w.to_string()),
        v.mode.code(),
        v.started_at_ms,
        v.ended_at_ms,
        v.notes,
        v.residents_met,
        serde_json::to_string(&v.linked_issues)?,
        v.location.map(|l| l.lat),
        v.location.map(|l| l.lon),
    ])?;
    Ok(())
}

/// An entity is `queued` while any of this tablet's events on it awaits the server, `rejected`
/// while one was refused and not yet corrected or withdrawn, and `synced` otherwise.
pub(crate) fn refresh_sync_state(tx: &Transaction, entity: Entity) -> Result<()> {
    let id = entity.uuid().to_string();
    let worst: Option<i64> = tx
        .prepare_cached(
            "SELECT MIN(CASE d.sync_state WHEN 'rejected' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END)
             FROM events e JOIN device_log d ON d.event_id = e.event_id WHERE e.entity_id = ?1",
        )?
        .query_row([&id], |r| r.get(0))
        .optional()?
        .flatten();
    let state = match worst {
        Some(0) => "rejected",
        Some(1) => "queued",
        _ => "synced",
    };
    let table = match entity {
        Entity::Issue(_) => "issues",
        Entity::Visit(_) => "visits",
    };
    tx.prepare_cached(&format!("UPDATE {table} SET sync_state = ?1 WHERE id = ?2 AND sync_state != ?1"))?.execute(params![state, id])?;
    Ok(())
}

/// [`refresh_sync_state`] for every entity touched by this device's log entries `lo..=hi`, as
/// two set-based statements (a push answer covers up to a thousand entries).
pub(crate) fn refresh_sync_states_for_seqs(tx: &Transaction, lo: u64, hi: u64) -> Result<()> {
    for table in ["issues", "visits"] {
        tx.prepare_cached(&format!(
            "UPDATE {table} SET sync_state = CASE (
                 SELECT MIN(CASE d.sync_state WHEN 'rejected' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END)
                 FROM events e JOIN device_log d ON d.event_id = e.event_id WHERE e.entity_id = {table}.id)
               WHEN 0 THEN 'rejected' WHEN 1 THEN 'queued' ELSE 'synced' END
             WHERE id IN (SELECT e.entity_id FROM device_log d JOIN events e ON e.event_id = d.event_id WHERE d.seq BETWEEN ?1 AND ?2)"
        ))?
        .execute(params![lo as i64, hi as i64])?;
    }
    Ok(())
}
