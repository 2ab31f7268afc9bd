//! Hotline intake: a 12345 work order becomes an `IssueReported` event authored by the server's
//! own hotline worker and device, so it travels to tablets by the same pull as everything else.

use crate::audit;
use crate::dispatch::nearest_courtyard;
use crate::error::{Error, Result};
use crate::ingest::{content_hash, held_seq, store_event};
use crate::registry::{Place, RegistryIndex, Scope};
use gridwalk_domain::{
    validate, CourtyardId, DeviceId, Entity, Event, EventBody, EventId, Hlc, IssueId, IssueReport, IssueSource, Location, WorkerId,
    RESPONSE_WINDOW_MS,
};
use gridwalk_proto::{HotlineIntake, HotlineIntakeResponse, IntakePlace};
use rusqlite::{params, Connection, OptionalExtension};

/// The hotline's worker and device ids: fixed, so every server and every test agrees on them.
pub const HOTLINE_USERNAME: &str = "hotline";
pub fn hotline_worker() -> WorkerId {
    WorkerId::from_parts(0, *b"hotline-wk")
}
pub fn hotline_device() -> DeviceId {
    DeviceId::from_parts(0, *b"hotline-dv")
}

/// Create the hotline worker and device if missing. Its password hash is not a hash, so
/// nobody can log in as the hotline.
pub fn ensure_hotline_identity(conn: &Connection, now_ms: i64) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO workers (id, username, name, role, scope_json, password_hash, created_ms)
         VALUES (?1, ?2, '12345 热线', 'admin', '[{\"level\":\"district\"}]', '!', ?3)",
        params![hotline_worker().to_string(), HOTLINE_USERNAME, now_ms],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO devices (id, worker_id, name, token_hash, created_ms) VALUES (?1, ?2, 'hotline intake', NULL, ?3)",
        params![hotline_device().to_string(), hotline_worker().to_string(), now_ms],
    )?;
    Ok(())
}

/// Where the order goes: the courtyard and, for an address, the position it gave.
pub fn place_order(registry: &RegistryIndex, place: &IntakePlace) -> Result<(CourtyardId, Option<Location>)> {
    match place {
        IntakePlace::Courtyard { courtyard_id } => {
            registry.courtyard(*courtyard_id).map(|c| (c.id, None)).ok_or_else(|| Error::UnknownCourtyard(courtyard_id.to_string()))
        }
        IntakePlace::CourtyardCode { code } => {
            registry.courtyard_by_code(code).map(|c| (c.id, None)).ok_or_else(|| Error::UnknownCourtyard(code.clone()))
        }
        IntakePlace::Address { address, lat, lon } => {
            validate::point(*lat, *lon)?;
            if address.trim().is_empty() {
                return Err(gridwalk_domain::ValidationError::EmptyText { field: "address" }.into());
            }
            let (c, _) = nearest_courtyard(&registry.registry.courtyards, *lat, *lon)
                .ok_or_else(|| Error::UnknownCourtyard("no courtyard in the registry".into()))?;
            Ok((c.id, Some(Location { lat: *lat, lon: *lon, accuracy_m: 0.0 })))
        }
    }
}

/// Check an order before it takes any server time: everything here is the caller's fault.
pub fn prepare(registry: &RegistryIndex, scope: &Scope, order: &HotlineIntake) -> Result<(IssueReport, Place)> {
    let category = validate::parse_category(&order.category)?;
    if order.received_at_ms <= 0 {
        return Err(Error::InvalidTime("received_at_ms must be milliseconds since the Unix epoch".into()));
    }
    let (courtyard, location) = place_order(registry, &order.place)?;
    let place = registry.place(courtyard).ok_or_else(|| Error::UnknownCourtyard(courtyard.to_string()))?;
    if !scope.contains(&place) {
        return Err(Error::OutOfScope(format!("courtyard {courtyard}")));
    }
    let report = IssueReport {
        courtyard,
        category,
        source: IssueSource::Hotline,
        description: order.description.clone(),
        contact: order.contact.clone(),
        location,
        received_at_ms: Some(order.received_at_ms),
        external_ref: Some(order.order_no.clone()),
    };
    validate::issue_report(&report)?;
    Ok((report, place))
}

fn server_hlc(conn: &Connection, now_ms: i64) -> Result<Hlc> {
    next_server_hlc(conn, now_ms, Hlc::ZERO)
}

/// The server's next HLC stamp, after its last one and after `floor` (the newest stamp of the
/// issue a server-authored event is about, so that event folds after what it answers).
pub fn next_server_hlc(conn: &Connection, now_ms: i64, floor: Hlc) -> Result<Hlc> {
    let last = crate::db::meta_get(conn, "hlc")?
        .and_then(|s| s.split_once(':').and_then(|(m, c)| Some(Hlc::new(m.parse().ok()?, c.parse().ok()?))))
        .unwrap_or(Hlc::ZERO)
        .max(floor);
    let next = last.tick(now_ms);
    crate::db::meta_set(conn, "hlc", &format!("{}:{}", next.ms, next.counter))?;
    Ok(next)
}

/// Take in a prepared order (inside a writer job). Idempotent on the order number.
pub fn intake(
    conn: &Connection,
    registry: &RegistryIndex,
    actor: &str,
    report: IssueReport,
    place: Place,
    now_ms: i64,
) -> Result<HotlineIntakeResponse> {
    let order_no = report.external_ref.clone().unwrap_or_default();
    let existing: Option<(String, i64)> = conn
        .query_row("SELECT issue_id, received_at_ms FROM hotline_orders WHERE order_no = ?1", [&order_no], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((issue, received)) = existing {
        let issue_id: IssueId = issue.parse().map_err(|e| Error::Corrupt(format!("issue id: {e}")))?;
        let place = crate::ingest::issue_place(conn, issue_id)?.ok_or_else(|| Error::Corrupt(format!("order {order_no} has no issue")))?;
        return Ok(HotlineIntakeResponse {
            issue_id,
            courtyard_id: place.courtyard,
            subdistrict_id: place.subdistrict,
            community_id: place.community,
            response_due_ms: received + RESPONSE_WINDOW_MS,
            created: false,
        });
    }
    let received = report.received_at_ms.unwrap_or(now_ms);
    let issue_id = IssueId::from_parts(now_ms.max(0) as u64, crate::auth::random_bits());
    let event = Event {
        id: EventId::from_parts(now_ms.max(0) as u64, crate::auth::random_bits()),
        author: hotline_worker(),
        device: hotline_device(),
        hlc: server_hlc(conn, now_ms)?,
        wall_ms: now_ms,
        clock_offset_ms: 0,
        entity: Entity::Issue(issue_id),
        body: EventBody::IssueReported(report),
    };
    let seq = held_seq(conn, hotline_device())? + 1;
    store_event(conn, &event, seq, &content_hash(&event)?, &place, registry, now_ms)?;
    conn.execute("UPDATE devices SET held_seq = ?2 WHERE id = ?1", params![hotline_device().to_string(), seq as i64])?;
    conn.execute(
        "INSERT INTO hotline_orders (order_no, issue_id, courtyard_id, received_at_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![order_no, issue_id.to_string(), place.courtyard.to_string(), received, now_ms],
    )?;
    audit::record(
        conn,
        now_ms,
        actor,
        "hotline_intake",
        &format!("order {order_no} -> issue {issue_id} at courtyard {}", place.courtyard),
    )?;
    Ok(HotlineIntakeResponse {
        issue_id,
        courtyard_id: place.courtyard,
        subdistrict_id: place.subdistrict,
        community_id: place.community,
        response_due_ms: received + RESPONSE_WINDOW_MS,
        created: true,
    })
}
