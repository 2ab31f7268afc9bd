//! Hotline intake: a 12345 work order becomes an `IssueReported` event authored by the server's
//! own hotline worker and device, so it travels to tablets by the same pull as everything else.

use super::authored;
use super::dispatch::nearest_courtyard;
use super::notices::NoticeTemplates;
use super::registry::RegistryIndex;
use crate::error::{Error, Result};
use crate::model::{Place, Scope};
use crate::store::Tx;
use gridwalk_clock::Clock;
use gridwalk_domain::{validate, Assignee, CourtyardId, EventBody, IssueId, IssueReport, IssueSource, Location, RESPONSE_WINDOW_MS};
use gridwalk_proto::{HotlineIntake, HotlineIntakeResponse, IntakePlace};

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

/// Whom a new order goes to: the courtyard's responsible grid worker, or with none, the
/// community's supervisor queue, never nobody.
pub fn dispatch_to(tx: &dyn Tx, place: &Place) -> Result<(Assignee, &'static str)> {
    Ok(match tx.responsible_worker(place.courtyard)? {
        Some(w) => (Assignee::Worker(w), "派至责任网格员"),
        None => (Assignee::Community(place.community), "楼院未设责任网格员，派至社区督办队列"),
    })
}

/// Take in a prepared order (inside a writer job). Idempotent on the order number.
pub fn intake(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    clock: &dyn Clock,
    templates: &NoticeTemplates,
    actor: &str,
    report: IssueReport,
    place: Place,
) -> Result<HotlineIntakeResponse> {
    let now_ms = clock.now_ms();
    let order_no = report.external_ref.clone().unwrap_or_default();
    if let Some((issue_id, received)) = tx.hotline_order(&order_no)? {
        let place = tx.issue_place(issue_id)?.ok_or_else(|| Error::Corrupt(format!("order {order_no} has no issue")))?;
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
    let issue_id = IssueId::from_parts(now_ms.max(0) as u64, clock.random());
    authored::append(tx, registry, clock, templates, issue_id, &place, EventBody::IssueReported(report))?;
    let (to, reason) = dispatch_to(tx, &place)?;
    authored::append(tx, registry, clock, templates, issue_id, &place, EventBody::Assigned { to, reason: reason.to_owned() })?;
    tx.insert_hotline_order(&order_no, issue_id, place.courtyard, received, now_ms)?;
    tx.audit(now_ms, actor, "hotline_intake", &format!("order {order_no} -> issue {issue_id} at courtyard {}", place.courtyard))?;
    Ok(HotlineIntakeResponse {
        issue_id,
        courtyard_id: place.courtyard,
        subdistrict_id: place.subdistrict,
        community_id: place.community,
        response_due_ms: received + RESPONSE_WINDOW_MS,
        created: true,
    })
}
