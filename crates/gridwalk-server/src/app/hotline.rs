//! Hotline intake: a 12345 work order becomes an `IssueReported` event authored by the server's
//! own hotline worker and device, so it travels to tablets by the same pull as everything else.

use super::authored;
use super::notices::NoticeTemplates;
use super::registry::RegistryIndex;
use crate::district::{ForesightConfig, OnDuplicate};
use crate::error::{Error, Result};
use crate::model::{Place, Scope, UnplacedRow};
use crate::store::Tx;
use gridwalk_clock::Clock;
use gridwalk_domain::address::{Placement, Unplaced};
use gridwalk_domain::foresight::{self, geo::BoundingBox, nearby::NearbyMatch};
use gridwalk_domain::Entity;
use gridwalk_domain::{
    validate, Assignee, CommunityId, CourtyardId, EventBody, GeoPoint, IssueId, IssueReport, IssueSource, Location, SubdistrictId,
    RESPONSE_WINDOW_MS,
};
use gridwalk_proto::{HotlineIntake, HotlineIntakeResponse, HotlineQueued, IntakePlace};

/// Where an order goes: a courtyard (with the point it gave, if any), or the dispatcher's queue.
#[derive(Clone, Debug, PartialEq)]
pub enum Placed {
    Courtyard(CourtyardId, Option<Location>),
    Unplaced { reason: Unplaced, subdistrict: Option<SubdistrictId>, community: Option<CommunityId> },
}

/// Place an order. A courtyard named by id or code must exist (a caller's mistake is
/// refused); a free address is matched against the registry's names and cross-checked with the
/// point, and what cannot be placed goes to the dispatcher, never to a far courtyard.
pub fn place_order(registry: &RegistryIndex, place: &IntakePlace) -> Result<Placed> {
    match place {
        IntakePlace::Courtyard { courtyard_id } => registry
            .courtyard(*courtyard_id)
            .map(|c| Placed::Courtyard(c.id, None))
            .ok_or_else(|| Error::UnknownCourtyard(courtyard_id.to_string())),
        IntakePlace::CourtyardCode { code } => {
            registry.courtyard_by_code(code).map(|c| Placed::Courtyard(c.id, None)).ok_or_else(|| Error::UnknownCourtyard(code.clone()))
        }
        IntakePlace::Address { address, lat, lon } => {
            let point = match (lat, lon) {
                (Some(lat), Some(lon)) => {
                    validate::point(*lat, *lon)?;
                    Some(GeoPoint { lat: *lat, lon: *lon })
                }
                (None, None) => None,
                _ => return Err(Error::InvalidQuery("give both lat and lon, or neither".into())),
            };
            if address.trim().is_empty() && point.is_none() {
                return Err(gridwalk_domain::ValidationError::EmptyText { field: "address" }.into());
            }
            if !address.trim().is_empty() {
                validate::text_field("address", address, validate::MAX_DESCRIPTION_CHARS)?;
            }
            Ok(match registry.address_index().locate(address, point) {
                Placement::Courtyard { courtyard, .. } => {
                    Placed::Courtyard(courtyard, point.map(|p| Location { lat: p.lat, lon: p.lon, accuracy_m: 0.0 }))
                }
                Placement::Unplaced { reason, subdistrict, community } => Placed::Unplaced { reason, subdistrict, community },
            })
        }
    }
}

/// What became of an order: filed as an issue, or queued for the dispatcher.
#[derive(Clone, Debug, PartialEq)]
pub enum IntakeOutcome {
    Filed(HotlineIntakeResponse),
    Queued(HotlineQueued),
}

/// What an order says, for telling a resend of it from another order under the same number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderFacts<'a> {
    pub category: gridwalk_domain::Category,
    pub description: &'a str,
    pub contact: Option<&'a gridwalk_domain::ResidentContact>,
    pub received_ms: Option<i64>,
}

impl<'a> OrderFacts<'a> {
    pub fn of_report(r: &'a IssueReport) -> OrderFacts<'a> {
        OrderFacts { category: r.category, description: &r.description, contact: r.contact.as_ref(), received_ms: r.received_at_ms }
    }

    /// An order as received (its category was checked by [`prepare`]).
    pub fn of_order(o: &'a HotlineIntake) -> Option<OrderFacts<'a>> {
        Some(OrderFacts {
            category: validate::parse_category(&o.category).ok()?,
            description: &o.description,
            contact: o.contact.as_ref(),
            received_ms: Some(o.received_at_ms),
        })
    }
}

/// Refuse an order number that is already taken by another order (`order_no_taken`). A resend
/// (the hotline retrying after a lost answer) repeats the order exactly: same category, text,
/// contact and receipt time, and, when both were placed at a courtyard directly, the same
/// courtyard. Anything else is another order under a reused number, and answering it with the
/// first order's issue would hand the caller another place's issue.
pub fn check_resend(tx: &dyn Tx, order_no: &str, issue: IssueId, incoming: OrderFacts<'_>, courtyard: Option<CourtyardId>) -> Result<()> {
    let queued = tx.unplaced_order(order_no)?;
    let same = match (&queued, tx.issue_view(issue)?.and_then(|v| v.state.report)) {
        // Placed by a dispatcher: the order as it first came is in the queue's row.
        (Some(row), _) => OrderFacts::of_order(&row.order) == Some(incoming),
        // Attached to another issue as a "me too": that event holds the order's text.
        (None, Some(stored)) if stored.external_ref.as_deref() != Some(order_no) => {
            stored.category == incoming.category && attached_note(tx, issue, order_no)?.as_deref() == Some(incoming.description)
        }
        (None, Some(stored)) => OrderFacts::of_report(&stored) == incoming && courtyard.is_none_or(|c| c == stored.courtyard),
        (None, None) => false,
    };
    if same {
        Ok(())
    } else {
        Err(Error::OrderNoTaken(order_no.to_owned()))
    }
}

/// The text of the "me too" that attached order `order_no` to `issue`, if it was attached.
fn attached_note(tx: &dyn Tx, issue: IssueId, order_no: &str) -> Result<Option<String>> {
    Ok(tx.entity_events(Entity::Issue(issue))?.into_iter().find_map(|e| match e.body {
        EventBody::MeToo { note, order_no: Some(n) } if n == order_no => Some(note),
        _ => None,
    }))
}

/// The answer for an order number already filed as `issue_id` (or attached to it).
pub fn filed_answer(tx: &dyn Tx, order_no: &str, issue_id: IssueId, received: i64) -> Result<HotlineIntakeResponse> {
    let view = tx.issue_view(issue_id)?.ok_or_else(|| Error::Corrupt(format!("order {order_no} has no issue")))?;
    let place = tx.issue_place(issue_id)?.ok_or_else(|| Error::Corrupt(format!("order {order_no} has no issue")))?;
    let attached = view.state.report.as_ref().is_some_and(|r| r.external_ref.as_deref() != Some(order_no));
    let mut a = answer(issue_id, &place, received, false);
    a.attached = attached;
    a.probable_duplicate_of = if attached { Some(issue_id) } else { view.state.probable_duplicate_of };
    Ok(a)
}

fn answer(issue_id: IssueId, place: &Place, received: i64, created: bool) -> HotlineIntakeResponse {
    HotlineIntakeResponse {
        issue_id,
        courtyard_id: place.courtyard,
        subdistrict_id: place.subdistrict,
        community_id: place.community,
        response_due_ms: received.saturating_add(RESPONSE_WINDOW_MS),
        created,
        probable_duplicate_of: None,
        attached: false,
    }
}

/// The open issue an order probably repeats (`foresight::nearby::probable_duplicate` over the
/// candidates one indexed range finds), if any.
pub fn probable_duplicate(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    rules: &foresight::Rules,
    report: &IssueReport,
    received_ms: i64,
) -> Result<Option<NearbyMatch>> {
    let point = match report.location {
        Some(l) => GeoPoint { lat: l.lat, lon: l.lon },
        None => match registry.courtyard(report.courtyard) {
            Some(y) => y.point,
            None => return Ok(None),
        },
    };
    let bbox = BoundingBox::around(point, rules.nearby_radius_m);
    let since = received_ms.saturating_sub(rules.duplicate_days.saturating_mul(foresight::DAY_MS));
    let candidates = tx.open_issues_near(report.category, &bbox, since, received_ms)?;
    Ok(foresight::nearby::probable_duplicate(&candidates, report.category, point, received_ms, rules.nearby_radius_m, rules.duplicate_days))
}

/// An order checked and ready: filed at a place, or queued for the dispatcher.
#[derive(Clone, Debug)]
pub enum Prepared {
    Filed(IssueReport, Place),
    Queued(UnplacedRow),
}

/// Check an order before it takes any server time: everything refused here is the caller's
/// fault. Where it goes is decided here too.
pub fn prepare(registry: &RegistryIndex, scope: &Scope, order: &HotlineIntake, now_ms: i64) -> Result<Prepared> {
    let category = validate::parse_category(&order.category)?;
    if !(1..=validate::MAX_TIME_MS).contains(&order.received_at_ms) {
        return Err(Error::InvalidTime("received_at_ms must be milliseconds since the Unix epoch, before 2100".into()));
    }
    validate::text_field("order_no", &order.order_no, validate::MAX_NAME_CHARS)?;
    let report = |courtyard, location| IssueReport {
        courtyard,
        category,
        source: IssueSource::Hotline,
        description: order.description.clone(),
        contact: order.contact.clone(),
        location,
        received_at_ms: Some(order.received_at_ms),
        external_ref: Some(order.order_no.clone()),
    };
    match place_order(registry, &order.place)? {
        Placed::Courtyard(courtyard, location) => {
            let place = registry.place(courtyard).ok_or_else(|| Error::UnknownCourtyard(courtyard.to_string()))?;
            if !scope.contains(&place) {
                return Err(Error::OutOfScope(format!("courtyard {courtyard}")));
            }
            let report = report(courtyard, location);
            validate::issue_report(&report)?;
            Ok(Prepared::Filed(report, place))
        }
        Placed::Unplaced { reason, subdistrict, community } => {
            // Validated like a report (a stand-in courtyard: only the text fields are checked).
            validate::issue_report(&report(CourtyardId(uuid::Uuid::nil()), None))?;
            Ok(Prepared::Queued(UnplacedRow {
                order: order.clone(),
                reason: reason.code().to_owned(),
                subdistrict,
                community,
                queued_ms: now_ms,
                placed_issue: None,
            }))
        }
    }
}

/// Queue an unplaceable order (inside a writer job). Idempotent on the order number; an order
/// number already filed as an issue answers as filed.
pub fn queue(tx: &dyn Tx, actor: &str, row: UnplacedRow) -> Result<HotlineQueued> {
    let order_no = row.order.order_no.clone();
    let created = tx.insert_unplaced_order(&row)?;
    let stored = tx.unplaced_order(&order_no)?.ok_or_else(|| Error::Corrupt(format!("order {order_no} was not queued")))?;
    if !created && stored.order != row.order {
        return Err(Error::OrderNoTaken(order_no));
    }
    if created {
        tx.audit(row.queued_ms, actor, "hotline_queued", &format!("order {order_no}: {} (dispatcher's queue)", row.reason))?;
    }
    Ok(queued_answer(&stored, created))
}

pub fn queued_answer(row: &UnplacedRow, created: bool) -> HotlineQueued {
    let reason = Unplaced::from_code(&row.reason);
    HotlineQueued {
        order_no: row.order.order_no.clone(),
        reason: row.reason.clone(),
        reason_zh: reason.map_or("", |r| r.label_zh()).to_owned(),
        reason_en: reason.map_or("", |r| r.label_en()).to_owned(),
        subdistrict_id: row.subdistrict,
        community_id: row.community,
        response_due_ms: row.order.received_at_ms.saturating_add(RESPONSE_WINDOW_MS),
        created,
    }
}

/// Whom a new order goes to: the courtyard's responsible grid worker, or with none, the
/// community's supervisor queue, never nobody.
pub fn dispatch_to(tx: &dyn Tx, place: &Place) -> Result<(Assignee, &'static str)> {
    Ok(match tx.responsible_worker(place.courtyard)? {
        Some(w) => (Assignee::Worker(w), "派至责任网格员"),
        None => (Assignee::Community(place.community), "楼院未设责任网格员，派至社区督办队列"),
    })
}

/// What the district decided for every order: the messages to residents, and what a probable
/// duplicate does (`[foresight]`).
#[derive(Clone, Copy)]
pub struct IntakeRules<'a> {
    pub templates: &'a NoticeTemplates,
    pub foresight: &'a ForesightConfig,
}

/// Take in a prepared order (inside a writer job). Idempotent on the order number.
pub fn intake(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    clock: &dyn Clock,
    rules: IntakeRules<'_>,
    actor: &str,
    report: IssueReport,
    place: Place,
) -> Result<HotlineIntakeResponse> {
    let IntakeRules { templates, foresight } = rules;
    let now_ms = clock.now_ms();
    let order_no = report.external_ref.clone().unwrap_or_default();
    if let Some((issue_id, received)) = tx.hotline_order(&order_no)? {
        check_resend(tx, &order_no, issue_id, OrderFacts::of_report(&report), Some(report.courtyard))?;
        return filed_answer(tx, &order_no, issue_id, received);
    }
    let received = report.received_at_ms.unwrap_or(now_ms);
    let duplicate = probable_duplicate(tx, registry, &foresight.rules, &report, received)?;
    if let (Some(of), OnDuplicate::Attach) = (duplicate, foresight.on_duplicate) {
        // 一事一单: no second ticket. The order number now answers with the open issue.
        let note = report.description.clone();
        authored::append_to_known(tx, registry, clock, templates, of.issue, EventBody::MeToo { note, order_no: Some(order_no.clone()) })?;
        let at = tx.issue_place(of.issue)?.ok_or_else(|| Error::Corrupt(format!("issue {} has no place", of.issue)))?;
        tx.insert_hotline_order(&order_no, of.issue, at.courtyard, received, now_ms)?;
        tx.audit(now_ms, actor, "hotline_attached", &format!("order {order_no} -> me too on issue {} ({:.0} m)", of.issue, of.distance_m))?;
        let mut a = answer(of.issue, &at, received, false);
        (a.attached, a.probable_duplicate_of) = (true, Some(of.issue));
        return Ok(a);
    }
    let issue_id = IssueId::from_parts(now_ms.max(0) as u64, clock.random());
    authored::append(tx, registry, clock, templates, issue_id, &place, EventBody::IssueReported(report))?;
    let (to, reason) = dispatch_to(tx, &place)?;
    authored::append(tx, registry, clock, templates, issue_id, &place, EventBody::Assigned { to, reason: reason.to_owned() })?;
    if let Some(of) = duplicate {
        let distance_m = of.distance_m.round().clamp(0.0, f64::from(u32::MAX)) as u32;
        authored::append(tx, registry, clock, templates, issue_id, &place, EventBody::DuplicateSuspected { of: of.issue, distance_m })?;
    }
    tx.insert_hotline_order(&order_no, issue_id, place.courtyard, received, now_ms)?;
    tx.audit(now_ms, actor, "hotline_intake", &format!("order {order_no} -> issue {issue_id} at courtyard {}", place.courtyard))?;
    let mut a = answer(issue_id, &place, received, true);
    a.probable_duplicate_of = duplicate.map(|d| d.issue);
    Ok(a)
}
