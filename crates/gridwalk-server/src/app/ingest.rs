//! Push: take a batch of one device's events, settle each one (accepted, duplicate, conflict,
//! gap or rejected with a reason), then fold every entity the batch touched once. Runs inside
//! one writer job, so a push is all in one savepoint of a group commit.

use super::auth::Principal;
use super::notices::{queue_notices, NoticeTemplates};
use super::registry::RegistryIndex;
use super::views::{refold, refold_from};
use super::workflow::flag_recurrences;
use crate::error::{Error, Result};
use crate::model::{Place, Refusal, Scope};
use crate::store::{NewEvent, PushContext, Tx};
use gridwalk_clock::Clock;
use gridwalk_domain::rules::{self, Actor, Relation};
use gridwalk_domain::validate::ClockBounds;
use gridwalk_domain::{fold, fold_issue, validate, Assignee, DeviceId, Entity, Event, EventBody, EventId, IssueId, IssueState};
use gridwalk_proto::{LoggedEvent, PushOutcome, PushRequest, PushResponse, PushResult};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The content hash that tells a resend (same content) from a conflict (same slot, other
/// content): the sha256 of the event's serialized form, which is deterministic (fields in
/// declaration order).
pub fn content_hash(json: &[u8]) -> String {
    hex::encode(Sha256::digest(json))
}

fn rejected(code: &str, reason: impl Into<String>) -> Refusal {
    Refusal { conflict: false, code: code.to_owned(), reason: reason.into() }
}

fn outcome(r: &Refusal) -> PushOutcome {
    if r.conflict {
        PushOutcome::Conflict { reason: r.reason.clone() }
    } else {
        PushOutcome::Rejected { code: r.code.clone(), reason: r.reason.clone() }
    }
}

/// What the push is doing to the entities it touches: where each sits (for follow-ups of a
/// report stored earlier in the same push), and which issues it reported.
struct Touched {
    places: HashMap<Entity, Place>,
    order: Vec<Entity>,
    reported: Vec<IssueId>,
    /// (duplicate, original) pairs this push closed: the original gets the link back.
    duplicates: Vec<(IssueId, IssueId)>,
    /// Each issue's state as this push leaves it so far (the stored view, stepped through the
    /// push's own admitted events), for the rules' "whose issue".
    states: HashMap<IssueId, IssueState>,
    /// The events this push stored, by entity, in order (what may tell the resident
    /// something, and what an entity new with this push is folded from).
    accepted: HashMap<Entity, Vec<Event>>,
    /// Where each event this push stored sits: a second event with the same id is refused.
    slots: HashMap<EventId, (DeviceId, u64)>,
}

impl Touched {
    /// Room for a push of `n` events, most of them reports of new entities: growing these maps
    /// event by event was a tenth of a push's time in the profile.
    fn with_capacity(n: usize) -> Self {
        Touched {
            places: HashMap::with_capacity(n),
            order: Vec::with_capacity(n),
            reported: Vec::with_capacity(n),
            duplicates: Vec::new(),
            states: HashMap::with_capacity(n),
            accepted: HashMap::with_capacity(n),
            slots: HashMap::with_capacity(n),
        }
    }

    fn touch(&mut self, entity: Entity, place: Place) {
        if self.places.insert(entity, place).is_none() {
            self.order.push(entity);
        }
    }
}

/// What a push is settled by, from the server's config.
pub struct PushRules {
    pub recurrence_window_ms: i64,
    pub clock: ClockBounds,
    pub templates: NoticeTemplates,
}

/// Settle one push. The caller has checked that the request's device is the caller's.
pub fn push(
    tx: &dyn Tx,
    clock: &dyn Clock,
    who: &Principal,
    scope: &Scope,
    registry: &RegistryIndex,
    req: PushRequest,
    rules: &PushRules,
) -> Result<PushResponse> {
    let templates = &rules.templates;
    let now_ms = clock.now_ms();
    let device = req.device_id;
    // Before anything is read: a retry of this push on another server process waits here,
    // then reads what this one stored, so each event is settled once.
    tx.lock_device(device)?;
    let mut events = req.events;
    events.sort_by_key(|e| e.seq);
    let ids: Vec<EventId> = events.iter().map(|e| e.event.id).collect();
    let mut entities: Vec<Entity> = events.iter().map(|e| e.event.entity).collect();
    entities.sort_by_key(|e| (e.kind(), e.uuid()));
    entities.dedup();
    // What the store held before this push, asked once for all its events (one round trip on
    // an engine a network away, rather than two per event).
    let known = tx.push_context(device, &ids, &entities)?;
    let mut held = known.held_seq;
    let mut results = Vec::with_capacity(events.len());
    let mut gap = false;
    let mut touched = Touched::with_capacity(events.len());
    let actor = Actor { worker: who.worker.id, role: who.worker.role, departments: scope.departments.iter().cloned().collect() };
    for LoggedEvent { seq, event } in events {
        let json = serde_json::to_string(&event)?;
        let hash = content_hash(json.as_bytes());
        let outcome = if seq == 0 {
            PushOutcome::Rejected { code: "bad_seq".into(), reason: "sequence numbers start at 1".into() }
        } else if seq <= held {
            settled(tx, device, seq, &hash)?
        } else if gap || seq > held + 1 {
            gap = true;
            PushOutcome::Gap
        } else {
            held = seq;
            match admit(tx, who, &actor, scope, registry, &known, &mut touched, &event, now_ms, &rules.clock)? {
                Ok(place) => {
                    if let Entity::Issue(id) = event.entity {
                        if matches!(event.body, EventBody::IssueReported(_)) {
                            touched.states.entry(id).or_insert_with(|| fold_issue(id, [event.clone()]));
                        } else if let Some(state) = touched.states.get_mut(&id) {
                            // A conflict is stored like any event; the fold will flag it.
                            let _ = fold::step(state, &event);
                        }
                    }
                    tx.insert_event(&NewEvent { event: &event, seq, hash: &hash, json: &json, place: &place, received_ms: now_ms })?;
                    // The photos this device may upload are the ones its stored events name.
                    match &event.body {
                        EventBody::PhotoAttached { sha256, bytes, .. } => tx.insert_photo_ref(sha256, device, Some(*bytes))?,
                        EventBody::IssueResolved { photo_sha256: Some(sha256), .. } => tx.insert_photo_ref(sha256, device, None)?,
                        _ => {}
                    }
                    let existing = touched.places.get(&event.entity).copied();
                    touched.touch(event.entity, existing.unwrap_or(place));
                    touched.slots.insert(event.id, (device, seq));
                    touched.accepted.entry(event.entity).or_default().push(event.clone());
                    if let (Entity::Issue(id), EventBody::IssueReported(_)) = (&event.entity, &event.body) {
                        touched.reported.push(*id);
                    }
                    if let (Entity::Issue(id), EventBody::ClosedAsDuplicate { of, .. }) = (&event.entity, &event.body) {
                        touched.duplicates.push((*id, *of));
                    }
                    PushOutcome::Accepted
                }
                Err(refusal) => {
                    tx.insert_refusal(device, seq, event.id, &hash, &refusal, now_ms)?;
                    tracing::info!(%device, seq, code = %refusal.code, "event refused");
                    outcome(&refusal)
                }
            }
        };
        results.push(PushResult { seq, event_id: event.id, outcome });
    }
    tx.set_held_seq(device, held)?;
    // Each entity is folded once for the whole push, however many of its events came. One
    // the store held nothing of before this push is folded from the push's own events (they
    // are all it has), without reading them back.
    let mut folded: HashMap<IssueId, IssueState> = HashMap::with_capacity(touched.reported.len());
    for entity in &touched.order {
        let accepted = touched.accepted.remove(entity).unwrap_or_default();
        let place = &touched.places[entity];
        let ids: Vec<EventId> = accepted.iter().map(|e| e.id).collect();
        let state = if known.stored.contains(entity) {
            refold(tx, registry, *entity, place)?
        } else {
            refold_from(tx, registry, *entity, accepted, place)?
        };
        if let Some(state) = state {
            // 告知: the messages to the resident that this push's events tell of.
            queue_notices(tx, registry, templates, &state, &ids, now_ms)?;
            if let Entity::Issue(id) = entity {
                folded.insert(*id, state);
            }
        }
    }
    let reported: Vec<&IssueState> = touched.reported.iter().filter_map(|id| folded.get(id)).collect();
    flag_recurrences(tx, registry, clock, templates, &reported, rules.recurrence_window_ms)?;
    // Linked both ways: the issue a report was closed into learns of the duplicate.
    for (duplicate, original) in touched.duplicates {
        crate::app::authored::append_to_known(tx, registry, clock, templates, original, EventBody::DuplicateLinked { duplicate })?;
    }
    // The epoch is the state's to add (`AppState::push`).
    Ok(PushResponse { results, acked_seq: held, server_time_ms: now_ms, epoch: None })
}

/// The answer for a (device, seq) the server already holds.
fn settled(tx: &dyn Tx, device: DeviceId, seq: u64, hash: &str) -> Result<PushOutcome> {
    if let Some(stored) = tx.event_hash_at(device, seq)? {
        return Ok(if stored == hash {
            PushOutcome::Duplicate
        } else {
            PushOutcome::Conflict { reason: format!("sequence {seq} is already held with other content; it is never overwritten") }
        });
    }
    match tx.refusal_at(device, seq)? {
        Some(stored) if stored.hash == hash => Ok(outcome(&stored.refusal)),
        Some(_) => Ok(PushOutcome::Conflict { reason: format!("sequence {seq} was already settled with other content") }),
        None => Err(Error::Corrupt(format!("device {device} holds sequence {seq} but neither an event nor a refusal for it"))),
    }
}

/// Decide whether a new event may be stored, and where it belongs: it must be the caller's
/// own, valid, new, about a known place, and allowed by the rules table for the caller's role
/// and how they stand to the issue. Every time it carries is within the bounds of the
/// server's clock at receipt, `now_ms`.
#[allow(clippy::too_many_arguments)]
fn admit(
    tx: &dyn Tx,
    who: &Principal,
    actor: &Actor,
    scope: &Scope,
    registry: &RegistryIndex,
    known: &PushContext,
    touched: &mut Touched,
    e: &Event,
    now_ms: i64,
    bounds: &ClockBounds,
) -> Result<Result<Place, Refusal>> {
    if e.device != who.device {
        return Ok(Err(rejected("wrong_device", "the event names another device than the one pushing it")));
    }
    if e.author != who.worker.id {
        return Ok(Err(rejected("wrong_author", "the event names another author than the logged-in worker")));
    }
    if let Err(v) = validate::event(e).and_then(|()| validate::times(e, now_ms, bounds)) {
        return Ok(Err(rejected(v.code(), v.to_string())));
    }
    if let Some(&(device, seq)) = touched.slots.get(&e.id).or_else(|| known.slots.get(&e.id)) {
        return Ok(Err(Refusal {
            conflict: true,
            code: "event_id_taken".into(),
            reason: format!("event id {} is already held as sequence {seq} of device {device}", e.id),
        }));
    }
    // An id belongs to the first report stored: a second report of it, whatever courtyard or
    // HLC it claims, is a conflict and moves nothing (ids are public, so this is what stops a
    // worker from re-reporting someone else's issue into their own scope).
    if matches!(e.body, EventBody::IssueReported(_) | EventBody::VisitRecorded(_))
        && (touched.places.contains_key(&e.entity) || known.stored.contains(&e.entity))
    {
        return Ok(Err(Refusal {
            conflict: true,
            code: "already_reported".into(),
            reason: format!("{} {} is already reported; a second report of it changes nothing", e.entity.kind(), e.entity.uuid()),
        }));
    }
    let place = match (&e.entity, &e.body) {
        (Entity::Issue(_), EventBody::IssueReported(r)) => registry.place(r.courtyard).ok_or(r.courtyard.to_string()),
        (Entity::Visit(_), EventBody::VisitRecorded(v)) => registry.place(v.courtyard).ok_or(v.courtyard.to_string()),
        (Entity::Issue(_), EventBody::VisitRecorded(_)) | (Entity::Visit(_), _) => {
            return Ok(Err(rejected("wrong_entity", format!("a {} event cannot be about a {}", e.body.kind(), e.entity.kind()))));
        }
        (Entity::Issue(id), _) => match touched.places.get(&e.entity).copied().map_or_else(|| tx.issue_place(*id), |p| Ok(Some(p)))? {
            Some(p) => Ok(p),
            None => return Ok(Err(rejected("unknown_issue", format!("the server has no report of issue {id}")))),
        },
    };
    let place = match place {
        Ok(p) => p,
        Err(yard) => return Ok(Err(rejected("unknown_courtyard", format!("courtyard {yard} is not in the registry")))),
    };
    let in_scope = scope.contains(&place);
    let relation = match (&e.entity, &e.body) {
        (Entity::Issue(id), body) if !matches!(body, EventBody::IssueReported(_)) => {
            let state = match touched.states.get(id) {
                Some(s) => s,
                None => {
                    let state = tx.issue_view(*id)?.map(|v| v.state).ok_or_else(|| Error::Corrupt(format!("issue {id} has no view")))?;
                    touched.states.entry(*id).or_insert(state)
                }
            };
            rules::relation(state, actor, in_scope)
        }
        _ => in_scope.then_some(Relation::Area),
    };
    let Some(relation) = relation else {
        return Ok(Err(rejected("out_of_scope", format!("courtyard {} is outside the scope of {}", place.courtyard, who.worker.username))));
    };
    let kind = e.body.event_kind();
    if !rules::may(who.worker.role, kind, relation) {
        return Ok(Err(rejected(
            "not_permitted",
            format!(
                "a {} may not record {} on an issue {}",
                who.worker.role.code(),
                kind.code(),
                match relation {
                    Relation::Mine => "assigned to them",
                    Relation::Area => "in their area that is someone else's",
                    Relation::Department => "whistled to their department",
                }
            ),
        )));
    }
    if let EventBody::ReportedIn { target, .. } = &e.body {
        if who.worker.role == gridwalk_domain::Role::DepartmentStaff && !actor.departments.contains(target) {
            return Ok(Err(rejected("not_permitted", format!("department staff report in only for their own department, not {target}"))));
        }
    }
    if let EventBody::ClosedAsDuplicate { of, .. } = &e.body {
        let known = touched.places.contains_key(&Entity::Issue(*of)) || tx.issue_place(*of)?.is_some();
        if !known || Entity::Issue(*of) == e.entity {
            return Ok(Err(rejected("unknown_issue", format!("a report is closed as a duplicate of another known issue, not {of}"))));
        }
    }
    if let EventBody::Transferred { to, .. } = &e.body {
        if let Err(refusal) = check_assignee(tx, registry, to, &place)? {
            return Ok(Err(refusal));
        }
    }
    Ok(Ok(place))
}

/// A transfer must name someone who can take the issue: a known worker whose scope holds its
/// place, or a known community.
fn check_assignee(tx: &dyn Tx, registry: &RegistryIndex, to: &Assignee, place: &Place) -> Result<Result<(), Refusal>> {
    Ok(match to {
        Assignee::Worker(w) => match tx.worker_by_id(*w)? {
            None => Err(rejected("unknown_worker", format!("there is no worker {w}"))),
            Some(rec) if !registry.resolve_lenient(&rec.info.scope).contains(place) => Err(rejected(
                "assignee_out_of_scope",
                format!("courtyard {} is outside the scope of {}", place.courtyard, rec.info.username),
            )),
            Some(_) => Ok(()),
        },
        Assignee::Community(c) if registry.registry.communities.iter().all(|x| x.id != *c) => {
            Err(rejected("unknown_community", format!("there is no community {c}")))
        }
        Assignee::Community(_) | Assignee::Dispatcher => Ok(()),
    })
}
