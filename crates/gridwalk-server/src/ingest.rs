//! Push: take a batch of one device's events, settle each one (accepted, duplicate, conflict,
//! gap or rejected with a reason) and fold the accepted ones into the issue and visit views.
//! Runs inside one writer job, so a push is all in one savepoint of a group commit.

use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::registry::{Place, RegistryIndex, Scope};
use gridwalk_domain::{fold_issue, fold_visit, validate, DeviceId, Entity, Event, EventBody, IssueId, VisitId};
use gridwalk_proto::{LoggedEvent, PushOutcome, PushRequest, PushResponse, PushResult};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// The content hash that tells a resend (same content) from a conflict (same slot, other
/// content). The event's serialized form is deterministic: fields in declaration order.
pub fn content_hash(e: &Event) -> Result<String> {
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(e)?)))
}

/// Highest contiguous sequence held for a device (accepted or refused, both settled).
pub fn held_seq(conn: &Connection, device: DeviceId) -> Result<u64> {
    let held: Option<i64> = conn.query_row("SELECT held_seq FROM devices WHERE id = ?1", [device.to_string()], |r| r.get(0)).optional()?;
    Ok(held.unwrap_or(0).max(0) as u64)
}

fn set_held_seq(conn: &Connection, device: DeviceId, held: u64) -> Result<()> {
    conn.execute("UPDATE devices SET held_seq = ?2 WHERE id = ?1", params![device.to_string(), held as i64])?;
    Ok(())
}

/// Why an event is settled without being stored as an event.
struct Refusal {
    conflict: bool,
    code: String,
    reason: String,
}

impl Refusal {
    fn rejected(code: &str, reason: impl Into<String>) -> Self {
        Refusal { conflict: false, code: code.to_owned(), reason: reason.into() }
    }
    fn outcome(&self) -> PushOutcome {
        if self.conflict {
            PushOutcome::Conflict { reason: self.reason.clone() }
        } else {
            PushOutcome::Rejected { code: self.code.clone(), reason: self.reason.clone() }
        }
    }
}

/// Settle one push. The caller has checked that the request's device is the caller's.
pub fn push(
    conn: &Connection,
    who: &Principal,
    scope: &Scope,
    registry: &RegistryIndex,
    req: PushRequest,
    recurrence_window_ms: i64,
    now_ms: i64,
) -> Result<PushResponse> {
    let device = req.device_id;
    let mut held = held_seq(conn, device)?;
    let mut events = req.events;
    events.sort_by_key(|e| e.seq);
    let mut results = Vec::with_capacity(events.len());
    let mut gap = false;
    for LoggedEvent { seq, event } in events {
        let hash = content_hash(&event)?;
        let outcome = if seq == 0 {
            PushOutcome::Rejected { code: "bad_seq".into(), reason: "sequence numbers start at 1".into() }
        } else if seq <= held {
            settled(conn, device, seq, &hash)?
        } else if gap || seq > held + 1 {
            gap = true;
            PushOutcome::Gap
        } else {
            held = seq;
            match admit(conn, who, scope, registry, &event)? {
                Ok(place) => {
                    store_event(conn, &event, seq, &hash, &place, registry, now_ms)?;
                    if let (Entity::Issue(id), EventBody::IssueReported(_)) = (&event.entity, &event.body) {
                        crate::workflow::flag_recurrence(conn, registry, *id, recurrence_window_ms, now_ms)?;
                    }
                    PushOutcome::Accepted
                }
                Err(refusal) => {
                    conn.execute(
                        "INSERT INTO refusals (device_id, seq, event_id, hash, outcome, code, reason, received_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![
                            device.to_string(),
                            seq as i64,
                            event.id.to_string(),
                            hash,
                            if refusal.conflict { "conflict" } else { "rejected" },
                            refusal.code,
                            refusal.reason,
                            now_ms
                        ],
                    )?;
                    tracing::info!(%device, seq, code = %refusal.code, "event refused");
                    refusal.outcome()
                }
            }
        };
        results.push(PushResult { seq, event_id: event.id, outcome });
    }
    set_held_seq(conn, device, held)?;
    Ok(PushResponse { results, acked_seq: held, server_time_ms: now_ms })
}

/// The answer for a (device, seq) the server already holds.
fn settled(conn: &Connection, device: DeviceId, seq: u64, hash: &str) -> Result<PushOutcome> {
    let key = params![device.to_string(), seq as i64];
    if let Some(stored) =
        conn.query_row("SELECT hash FROM events WHERE device_id = ?1 AND seq = ?2", key, |r| r.get::<_, String>(0)).optional()?
    {
        return Ok(if stored == hash {
            PushOutcome::Duplicate
        } else {
            PushOutcome::Conflict { reason: format!("sequence {seq} is already held with other content; it is never overwritten") }
        });
    }
    let refused = conn
        .query_row("SELECT hash, outcome, code, reason FROM refusals WHERE device_id = ?1 AND seq = ?2", key, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })
        .optional()?;
    match refused {
        Some((stored, outcome, code, reason)) if stored == hash => Ok(Refusal { conflict: outcome == "conflict", code, reason }.outcome()),
        Some(_) => Ok(PushOutcome::Conflict { reason: format!("sequence {seq} was already settled with other content") }),
        None => Err(Error::Corrupt(format!("device {device} holds sequence {seq} but neither an event nor a refusal for it"))),
    }
}

/// Decide whether a new event may be stored, and where it belongs.
fn admit(conn: &Connection, who: &Principal, scope: &Scope, registry: &RegistryIndex, e: &Event) -> Result<Result<Place, Refusal>> {
    if e.device != who.device {
        return Ok(Err(Refusal::rejected("wrong_device", "the event names another device than the one pushing it")));
    }
    if e.author != who.worker.id {
        return Ok(Err(Refusal::rejected("wrong_author", "the event names another author than the logged-in worker")));
    }
    if let Err(v) = validate::event(e) {
        return Ok(Err(Refusal::rejected(v.code(), v.to_string())));
    }
    let owner: Option<(String, i64)> = conn
        .prepare_cached("SELECT device_id, seq FROM events WHERE event_id = ?1")?
        .query_row([e.id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((device, seq)) = owner {
        return Ok(Err(Refusal {
            conflict: true,
            code: "event_id_taken".into(),
            reason: format!("event id {} is already held as sequence {seq} of device {device}", e.id),
        }));
    }
    let place = match (&e.entity, &e.body) {
        (Entity::Issue(_), EventBody::IssueReported(r)) => registry.place(r.courtyard).ok_or(r.courtyard.to_string()),
        (Entity::Visit(_), EventBody::VisitRecorded(v)) => registry.place(v.courtyard).ok_or(v.courtyard.to_string()),
        (Entity::Issue(_), EventBody::VisitRecorded(_)) | (Entity::Visit(_), _) => {
            return Ok(Err(Refusal::rejected("wrong_entity", format!("a {} event cannot be about a {}", e.body.kind(), e.entity.kind()))));
        }
        (Entity::Issue(id), _) => match issue_place(conn, *id)? {
            Some(p) => Ok(p),
            None => return Ok(Err(Refusal::rejected("unknown_issue", format!("the server has no report of issue {id}")))),
        },
    };
    let place = match place {
        Ok(p) => p,
        Err(yard) => return Ok(Err(Refusal::rejected("unknown_courtyard", format!("courtyard {yard} is not in the registry")))),
    };
    if !scope.contains(&place) && !department_may(conn, scope, e)? {
        return Ok(Err(Refusal::rejected(
            "out_of_scope",
            format!("courtyard {} is outside the scope of {}", place.courtyard, who.worker.username),
        )));
    }
    Ok(Ok(place))
}

/// The department rule: staff of a department may report in (to their own department) and add
/// progress, notes and photos on an issue whistled to one of their departments, and nothing else.
fn department_may(conn: &Connection, scope: &Scope, e: &Event) -> Result<bool> {
    let Entity::Issue(id) = e.entity else { return Ok(false) };
    let kind_ok = match &e.body {
        EventBody::ReportedIn { target, .. } => scope.departments.contains(target),
        EventBody::ProgressAdded { .. } | EventBody::NoteAdded { .. } | EventBody::PhotoAttached { .. } => true,
        _ => false,
    };
    Ok(kind_ok && scope.whistled_to_us(conn, id)?)
}

fn parse_place(c: String, m: String, s: String) -> Result<Place> {
    let bad = |e: uuid::Error| Error::Corrupt(format!("stored place id: {e}"));
    Ok(Place { courtyard: c.parse().map_err(bad)?, community: m.parse().map_err(bad)?, subdistrict: s.parse().map_err(bad)? })
}

pub fn issue_place(conn: &Connection, id: IssueId) -> Result<Option<Place>> {
    let row = conn
        .prepare_cached("SELECT courtyard_id, community_id, subdistrict_id FROM issues WHERE id = ?1")?
        .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(c, m, s)| parse_place(c, m, s)).transpose()
}

/// Store an admitted event under the next global sequence and re-fold its entity.
pub fn store_event(
    conn: &Connection,
    e: &Event,
    seq: u64,
    hash: &str,
    place: &Place,
    registry: &RegistryIndex,
    now_ms: i64,
) -> Result<u64> {
    // Cached statements: a push stores up to a thousand events, and preparing each insert anew
    // cost more than running it.
    conn.prepare_cached(
        "INSERT INTO events (event_id, device_id, seq, hash, entity_kind, entity_id, courtyard_id, community_id,
                             subdistrict_id, received_ms, json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        e.id.to_string(),
        e.device.to_string(),
        seq as i64,
        hash,
        e.entity.kind(),
        e.entity.uuid().to_string(),
        place.courtyard.to_string(),
        place.community.to_string(),
        place.subdistrict.to_string(),
        now_ms,
        serde_json::to_string(e)?
    ])?;
    let server_seq = conn.last_insert_rowid() as u64;
    match e.entity {
        Entity::Issue(id) => refold_issue(conn, id, place, registry)?,
        Entity::Visit(id) => refold_visit(conn, id, place, registry)?,
    }
    Ok(server_seq)
}

fn entity_events(conn: &Connection, kind: &str, id: uuid::Uuid) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached("SELECT json FROM events WHERE entity_kind = ?1 AND entity_id = ?2")?;
    let rows = stmt.query_map(params![kind, id.to_string()], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}

/// Re-fold an issue from all its stored events with the domain's fold (the tablet's code), so
/// the view is whatever the events mean, whatever order they arrived in.
fn refold_issue(conn: &Connection, id: IssueId, fallback: &Place, registry: &RegistryIndex) -> Result<()> {
    let state = fold_issue(id, entity_events(conn, "issue", id.0)?);
    let place = state.report.as_ref().and_then(|r| registry.place(r.courtyard)).unwrap_or(*fallback);
    conn.execute(
        "INSERT INTO issues (id, courtyard_id, community_id, subdistrict_id, status, received_at_ms, response_due_ms, state_json,
                             category, closed_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(id) DO UPDATE SET courtyard_id = excluded.courtyard_id, community_id = excluded.community_id,
             subdistrict_id = excluded.subdistrict_id, status = excluded.status, received_at_ms = excluded.received_at_ms,
             response_due_ms = excluded.response_due_ms, state_json = excluded.state_json, category = excluded.category,
             closed_at_ms = excluded.closed_at_ms",
        params![
            id.to_string(),
            place.courtyard.to_string(),
            place.community.to_string(),
            place.subdistrict.to_string(),
            state.status.code(),
            state.received_at_ms,
            state.response_due_ms,
            serde_json::to_string(&state)?,
            state.report.as_ref().map(|r| r.category.code()),
            state.closed_at_ms
        ],
    )?;
    // The whistle view follows the fold exactly: department staff see what it says.
    conn.execute("DELETE FROM issue_whistles WHERE issue_id = ?1", [id.to_string()])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO issue_whistles (issue_id, target, level, whistled_at_ms, reported_in_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for w in &state.whistles {
        insert.execute(params![id.to_string(), w.target, w.level.code(), w.whistled_at_ms, w.reported_in_at_ms])?;
    }
    Ok(())
}

fn refold_visit(conn: &Connection, id: VisitId, fallback: &Place, registry: &RegistryIndex) -> Result<()> {
    let state = fold_visit(id, entity_events(conn, "visit", id.0)?);
    let place = state.visit.as_ref().and_then(|v| registry.place(v.courtyard)).unwrap_or(*fallback);
    conn.execute(
        "INSERT INTO visits (id, courtyard_id, community_id, subdistrict_id, state_json) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(id) DO UPDATE SET courtyard_id = excluded.courtyard_id, community_id = excluded.community_id,
             subdistrict_id = excluded.subdistrict_id, state_json = excluded.state_json",
        params![
            id.to_string(),
            place.courtyard.to_string(),
            place.community.to_string(),
            place.subdistrict.to_string(),
            serde_json::to_string(&state)?
        ],
    )?;
    Ok(())
}
