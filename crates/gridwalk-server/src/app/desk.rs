//! The dispatcher's desk (派单台): orders that could not be placed at a courtyard, issues
//! returned (退单) to the dispatcher, and issues waiting in a community's supervisor queue; and
//! placing a queued order, which files its issue with the clock still running from receipt.

use super::authored;
use super::hotline::{self, IntakeOutcome, Prepared};
use super::query::summary;
use super::{workflow, Action, AppState, Grant, Principal};
use crate::error::{Error, Result};
use crate::model::{IssueView, UnplacedRow};
use gridwalk_domain::{mask_phone, validate, Assignee, CourtyardId, EventBody, IssueStatus, Satisfaction, RESPONSE_WINDOW_MS};
use gridwalk_proto::{DispatchQueue, HotlineCallback, HotlineCallbackResponse, HotlineIntakeResponse, IntakePlace, UnplacedOrder};

/// The most entries each part of the desk lists.
pub const DESK_LIMIT: u32 = 500;

fn unplaced_order(row: &UnplacedRow) -> UnplacedOrder {
    let answer = hotline::queued_answer(row, false);
    let o = &row.order;
    UnplacedOrder {
        order_no: o.order_no.clone(),
        address: match &o.place {
            IntakePlace::Address { address, .. } => address.clone(),
            IntakePlace::Courtyard { courtyard_id } => courtyard_id.to_string(),
            IntakePlace::CourtyardCode { code } => code.clone(),
        },
        category: o.category.clone(),
        description: o.description.clone(),
        contact_phone_masked: o.contact.as_ref().map(|c| mask_phone(&c.phone)),
        received_at_ms: o.received_at_ms,
        response_due_ms: o.received_at_ms.saturating_add(RESPONSE_WINDOW_MS),
        reason: answer.reason,
        reason_zh: answer.reason_zh,
        subdistrict_id: row.subdistrict,
        community_id: row.community,
        queued_ms: row.queued_ms,
    }
}

impl AppState {
    /// The hotline centre records its callback to the resident (supervisor or admin): a
    /// server-authored `callback_recorded` by the hotline identity, which never resolved
    /// anything, so it may close the issue. Only on a resolved issue.
    pub async fn hotline_callback(&self, who: &Principal, cb: HotlineCallback) -> Result<HotlineCallbackResponse> {
        let Grant { registry, scope } = self.authorize(who, Action::HotlineIntake).await?;
        let satisfaction = Satisfaction::from_code(&cb.satisfaction).ok_or_else(|| {
            Error::InvalidQuery(format!("unknown satisfaction {:?}: satisfied, basically_satisfied or dissatisfied", cb.satisfaction))
        })?;
        let body = EventBody::CallbackRecorded { satisfaction, note: cb.note.clone() };
        validate::body(&body)?;
        let (clock, templates, actor) = (self.inner.clock.clone(), self.config().notice_templates.clone(), who.worker.username.clone());
        self.write_events(move |tx| {
            let (issue, _) = tx.hotline_order(&cb.order_no)?.ok_or_else(|| Error::NotFound(format!("order {}", cb.order_no)))?;
            let place = tx.issue_place(issue)?.ok_or_else(|| Error::Corrupt(format!("order {} has no issue", cb.order_no)))?;
            if !scope.contains(&place) {
                return Err(Error::OutOfScope(format!("issue {issue}")));
            }
            let status = tx.issue_view(issue)?.map(|v| v.state.status);
            if status != Some(IssueStatus::Resolved) {
                return Err(Error::NotResolved(issue.to_string()));
            }
            authored::append(tx, &registry, clock.as_ref(), &templates, issue, &place, body)?;
            tx.audit(
                clock.now_ms(),
                &actor,
                "hotline_callback",
                &format!("order {} -> issue {issue}: {}", cb.order_no, satisfaction.code()),
            )?;
            let status = tx.issue_view(issue)?.map(|v| v.state.status.code()).unwrap_or_default();
            Ok(HotlineCallbackResponse { issue_id: issue, status: status.to_owned() })
        })
        .await
    }

    /// The desk, within the caller's scope. An unplaced order has no courtyard: it shows to a
    /// district-wide dispatcher, and to one whose scope holds the community or subdistrict the
    /// address did name.
    pub async fn dispatch_queue(&self, who: &Principal) -> Result<DispatchQueue> {
        let Grant { registry, scope } = self.authorize(who, Action::Dispatch).await?;
        let (rows, returned, community) = self
            .storage()
            .read(|r| {
                Ok((
                    r.unplaced_orders(DESK_LIMIT)?,
                    r.assigned_views(&Assignee::Dispatcher, DESK_LIMIT)?,
                    r.community_queue_views(DESK_LIMIT)?,
                ))
            })
            .await?;
        let unplaced = rows
            .iter()
            .filter(|row| {
                scope.district
                    || row.community.is_some_and(|c| scope.communities.contains(&c))
                    || row.subdistrict.is_some_and(|s| scope.subdistricts.contains(&s))
            })
            .map(unplaced_order)
            .collect();
        let in_scope =
            |v: &&IssueView| v.state.report.as_ref().and_then(|r| registry.place(r.courtyard)).is_some_and(|p| scope.contains(&p));
        Ok(DispatchQueue {
            unplaced,
            returned: returned.iter().filter(in_scope).filter_map(summary).collect(),
            community: community.iter().filter(in_scope).filter_map(summary).collect(),
        })
    }

    /// Place a queued order at a courtyard: its issue is filed (and dispatched) as if the
    /// address had named it, with the receipt time it came with.
    pub async fn place_queued_order(&self, who: &Principal, order_no: &str, courtyard: CourtyardId) -> Result<HotlineIntakeResponse> {
        let Grant { registry, scope } = self.authorize(who, Action::Dispatch).await?;
        let no = order_no.to_owned();
        let row = self
            .storage()
            .read(move |r| r.unplaced_order(&no))
            .await?
            .ok_or_else(|| Error::NotFound(format!("queued order {order_no}")))?;
        if row.placed_issue.is_some() {
            return Err(Error::AlreadyPlaced(order_no.to_owned()));
        }
        let mut order = row.order;
        order.place = IntakePlace::Courtyard { courtyard_id: courtyard };
        let Prepared::Filed(report, place) = hotline::prepare(&registry, &scope, &order, self.now_ms())? else {
            return Err(Error::Internal("an order named by its courtyard was not placed".into()));
        };
        let (clock, window) = (self.inner.clock.clone(), self.recurrence_window_ms());
        let templates = self.config().notice_templates.clone();
        let foresight = self.config().district.foresight;
        let actor = who.worker.username.clone();
        let outcome = self
            .write_events(move |tx| {
                let resp = hotline::intake(
                    tx,
                    &registry,
                    clock.as_ref(),
                    hotline::IntakeRules { templates: &templates, foresight: &foresight },
                    &actor,
                    report,
                    place,
                )?;
                tx.mark_order_placed(&order.order_no, resp.issue_id, clock.now_ms())?;
                if resp.created {
                    workflow::flag_recurrence(tx, &registry, clock.as_ref(), &templates, resp.issue_id, window)?;
                }
                Ok(IntakeOutcome::Filed(resp))
            })
            .await?;
        match outcome {
            IntakeOutcome::Filed(resp) => Ok(resp),
            IntakeOutcome::Queued(_) => Err(Error::Internal("a placed order was queued again".into())),
        }
    }
}
