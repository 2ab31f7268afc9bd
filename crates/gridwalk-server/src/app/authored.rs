//! Events the server authors itself: hotline and Open311 reports, automatic whistles and
//! recurrence links. They are written here and nowhere else: by the server's own worker and
//! device (the hotline identity), stamped with the server's persisted HLC, ticked past the
//! newest stamp of the issue they are about so they fold after what they answer. They get a
//! global sequence like any event, so tablets in scope pull them.

use super::ingest::content_hash;
use super::notices::{queue_notices, NoticeTemplates};
use super::registry::RegistryIndex;
use super::views::refold;
use crate::error::{Error, Result};
use crate::model::Place;
use crate::store::{NewEvent, Tx};
use gridwalk_clock::Clock;
use gridwalk_domain::{DeviceId, Entity, Event, EventBody, EventId, Hlc, IssueId, WorkerId};
use gridwalk_proto::ScopeUnit;

/// The hotline's username, worker and device ids: fixed, so every server and every test agrees.
pub const HOTLINE_USERNAME: &str = "hotline";
pub fn hotline_worker() -> WorkerId {
    WorkerId::from_parts(0, *b"hotline-wk")
}
pub fn hotline_device() -> DeviceId {
    DeviceId::from_parts(0, *b"hotline-dv")
}

/// Who appears as the actor of the server's own actions in the audit log.
pub const SYSTEM_ACTOR: &str = "system";

/// Create the hotline worker and device if missing. Its password hash is not a hash, so
/// nobody can log in as the hotline.
pub fn ensure_hotline_identity(tx: &dyn Tx, now_ms: i64) -> Result<()> {
    if tx.worker_by_id(hotline_worker())?.is_none() {
        let info = gridwalk_proto::WorkerInfo {
            id: hotline_worker(),
            username: HOTLINE_USERNAME.into(),
            name: "12345 热线".into(),
            role: gridwalk_domain::Role::Admin,
            scope: vec![ScopeUnit::District],
        };
        tx.insert_worker(&info, "!", now_ms)?;
    }
    if !tx.device_exists(hotline_device())? {
        tx.insert_device(hotline_device(), hotline_worker(), "hotline intake", None, now_ms)?;
    }
    Ok(())
}

/// The most the server's own HLC may run ahead of its wall clock.
pub const SERVER_HLC_LEAD_MS: i64 = 5 * 60_000;

/// The server's next HLC stamp, after its last one and after `floor`, but never more than
/// [`SERVER_HLC_LEAD_MS`] ahead of its wall clock: a stamp from a fast tablet (bounded by
/// `validate::times`), or one stored before those bounds existed, cannot drag the server's
/// clock, and with it every tablet that merges it, into the future. Past the ceiling the
/// server's event may sort before that tablet's stamp on the same issue; that is the price.
pub(crate) fn next_server_hlc(tx: &dyn Tx, now_ms: i64, floor: Hlc) -> Result<Hlc> {
    let ceiling = now_ms.saturating_add(SERVER_HLC_LEAD_MS);
    // The server's clock is one row that every server process on the database ticks: hold
    // the server identity's lock so two never read the same last tick.
    tx.lock_device(hotline_device())?;
    let last = tx
        .meta("hlc")?
        .and_then(|s| s.split_once(':').and_then(|(m, c)| Some(Hlc::new(m.parse().ok()?, c.parse().ok()?))))
        .unwrap_or(Hlc::ZERO)
        .max(floor);
    let last = if last.ms > ceiling { Hlc::new(ceiling, 0) } else { last };
    let next = last.tick(now_ms);
    tx.set_meta("hlc", &format!("{}:{}", next.ms, next.counter))?;
    Ok(next)
}

/// Append a server-authored event about issue `issue` at `place`, fold the issue, and queue the
/// message to the resident the event tells of, if any (with `templates`).
pub fn append(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    clock: &dyn Clock,
    templates: &NoticeTemplates,
    issue: IssueId,
    place: &Place,
    body: EventBody,
) -> Result<Event> {
    let id = EventId::from_parts(clock.now_ms().max(0) as u64, clock.random());
    append_by(tx, registry, clock, templates, Authored { id, author: hotline_worker(), issue }, place, body)
}

/// Who an authored event is by, and what it is about: the hotline's own events, or a
/// person's act the server records on its own device (a proactive task: the supervisor is its
/// author, while their tablet's device log, whose sequence only the tablet may advance, is
/// left alone).
#[derive(Clone, Copy, Debug)]
pub struct Authored {
    pub id: EventId,
    pub author: WorkerId,
    pub issue: IssueId,
}

/// [`append`] with the event's id and author given.
pub fn append_by(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    clock: &dyn Clock,
    templates: &NoticeTemplates,
    who: Authored,
    place: &Place,
    body: EventBody,
) -> Result<Event> {
    let Authored { id, author, issue } = who;
    let now_ms = clock.now_ms();
    let floor = tx.issue_view(issue)?.map(|v| v.state.last_hlc).unwrap_or(Hlc::ZERO);
    let event = Event {
        id,
        author,
        device: hotline_device(),
        hlc: next_server_hlc(tx, now_ms, floor)?,
        wall_ms: now_ms,
        clock_offset_ms: 0,
        entity: Entity::Issue(issue),
        body,
    };
    // Held since next_server_hlc: no other process takes this sequence number.
    let seq = tx.held_seq(hotline_device())? + 1;
    let json = serde_json::to_string(&event)?;
    let hash = content_hash(json.as_bytes());
    tx.insert_event(&NewEvent { event: &event, seq, hash: &hash, json: &json, place, received_ms: now_ms })?;
    tx.set_held_seq(hotline_device(), seq)?;
    if let Some(state) = refold(tx, registry, event.entity, place)? {
        queue_notices(tx, registry, templates, &state, &[event.id], now_ms)?;
    }
    Ok(event)
}

/// [`append`] about an issue the server already holds.
pub fn append_to_known(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    clock: &dyn Clock,
    templates: &NoticeTemplates,
    issue: IssueId,
    body: EventBody,
) -> Result<Event> {
    let place = tx.issue_place(issue)?.ok_or_else(|| Error::Corrupt(format!("server event about unknown issue {issue}")))?;
    append(tx, registry, clock, templates, issue, &place, body)
}
