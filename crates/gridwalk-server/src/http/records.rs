//! Issues, visits, hotline intake and pledges.

use super::extract::{Auth, JsonBody, QueryOf, Segment};
use super::openapi::ErrorResponse;
use crate::app::hotline::IntakeOutcome;
use crate::app::query::{IssueFilter, VisitFilter};
use crate::app::AppState;
use crate::error::Error;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gridwalk_domain::{IssueId, IssueState, WorkerId};
use gridwalk_proto::{
    DispatchQueue, HotlineCallback, HotlineCallbackResponse, HotlineIntake, HotlineIntakeResponse, HotlineQueued, IssueList, NoticeList,
    PlaceOrder, PledgeList, VisitList,
};
use serde::Deserialize;
use utoipa::IntoParams;

#[utoipa::path(
    get,
    path = "/api/v1/issues",
    summary = "Issues in scope (folded views); resident phones masked.",
    security(("bearer" = [])),
    params(IssueFilter),
    responses(
        (status = 200, description = "IssueList", body = IssueList),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 422, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn issues(State(s): State<AppState>, Auth(who): Auth, QueryOf(f): QueryOf<IssueFilter>) -> Result<Response, Error> {
    Ok(Json(s.list_issues(&who, f).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/issues/{id}",
    summary = "One issue with its full history.",
    security(("bearer" = [])),
    params(("id" = IssueId, Path, description = "issue id (UUID)")),
    responses(
        (status = 200, description = "IssueState", body = IssueState),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn issue(State(s): State<AppState>, Auth(who): Auth, Segment(id): Segment) -> Result<Response, Error> {
    let id: IssueId = id.parse().map_err(|_| Error::InvalidId(format!("{id:?} is not an issue id")))?;
    Ok(Json(s.get_issue(&who, id).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/issues/{id}/notices",
    summary = "The messages sent to the issue's resident (responded, public progress, resolved) and their delivery state; \
               phones masked (supervisor or admin).",
    security(("bearer" = [])),
    params(("id" = IssueId, Path, description = "issue id (UUID)")),
    responses(
        (status = 200, description = "NoticeList", body = NoticeList),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn issue_notices(State(s): State<AppState>, Auth(who): Auth, Segment(id): Segment) -> Result<Response, Error> {
    let id: IssueId = id.parse().map_err(|_| Error::InvalidId(format!("{id:?} is not an issue id")))?;
    Ok(Json(s.issue_notices(&who, id).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/visits",
    summary = "Visits in scope (folded views).",
    security(("bearer" = [])),
    params(VisitFilter),
    responses(
        (status = 200, description = "VisitList", body = VisitList),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 422, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn visits(State(s): State<AppState>, Auth(who): Auth, QueryOf(f): QueryOf<VisitFilter>) -> Result<Response, Error> {
    Ok(Json(s.list_visits(&who, f).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/hotline/intake",
    summary = "Take in a 12345 work order (supervisor or admin): creates an issue in the courtyard's scope; the 1-hour \
               clock starts at received_at_ms. Idempotent on order_no: a resend repeats the order exactly; the same \
               order_no with anything else is 409 order_no_taken.",
    security(("bearer" = [])),
    request_body = HotlineIntake,
    responses(
        (status = 201, description = "HotlineIntakeResponse (created)", body = HotlineIntakeResponse),
        (status = 200, description = "HotlineIntakeResponse (already taken in)", body = HotlineIntakeResponse),
        (status = 202, description = "HotlineQueued (the address could not be placed: queued for the dispatcher)", body = HotlineQueued),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 409, response = ErrorResponse),
        (status = 413, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 422, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn hotline(State(s): State<AppState>, Auth(who): Auth, JsonBody(order): JsonBody<HotlineIntake>) -> Result<Response, Error> {
    Ok(match s.hotline_intake(&who, order).await? {
        IntakeOutcome::Filed(resp) => (if resp.created { StatusCode::CREATED } else { StatusCode::OK }, Json(resp)).into_response(),
        IntakeOutcome::Queued(q) => (StatusCode::ACCEPTED, Json(q)).into_response(),
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/hotline/callback",
    summary = "The hotline centre's callback to the resident on a resolved order (supervisor or admin): recorded by the \
               server's hotline identity, never the resolver; satisfied closes, dissatisfied reopens.",
    security(("bearer" = [])),
    request_body = HotlineCallback,
    responses(
        (status = 200, description = "HotlineCallbackResponse", body = HotlineCallbackResponse),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 409, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn hotline_callback(
    State(s): State<AppState>,
    Auth(who): Auth,
    JsonBody(cb): JsonBody<HotlineCallback>,
) -> Result<Response, Error> {
    Ok(Json(s.hotline_callback(&who, cb).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/dispatch/queue",
    summary = "The dispatcher's desk (supervisor or admin, in scope): orders whose address could not be placed, issues \
               returned to the dispatcher, issues waiting in a community's supervisor queue. Phones masked.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "DispatchQueue", body = DispatchQueue),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn dispatch_queue(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.dispatch_queue(&who).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/dispatch/orders/{order_no}/place",
    summary = "Place a queued order at a courtyard (supervisor or admin, in scope): files its issue with the receipt time it \
               came with, dispatched like any order.",
    security(("bearer" = [])),
    params(("order_no" = String, Path, description = "the queued order's number")),
    request_body = PlaceOrder,
    responses(
        (status = 201, description = "HotlineIntakeResponse", body = HotlineIntakeResponse),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 409, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 422, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn place_order(
    State(s): State<AppState>,
    Auth(who): Auth,
    Segment(order_no): Segment,
    JsonBody(body): JsonBody<PlaceOrder>,
) -> Result<Response, Error> {
    Ok((StatusCode::CREATED, Json(s.place_queued_order(&who, &order_no, body.courtyard_id).await?)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PledgesQuery {
    /// only this cadre's pledges
    pub worker_id: Option<WorkerId>,
}

#[utoipa::path(
    get,
    path = "/api/v1/pledges",
    summary = "Pledged issues in scope with their progress: status, whistles and report-ins, resolved/closed times, \
               satisfaction.",
    security(("bearer" = [])),
    params(PledgesQuery),
    responses(
        (status = 200, description = "PledgeList", body = PledgeList),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn pledges(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<PledgesQuery>) -> Result<Response, Error> {
    Ok(Json(s.pledges(&who, q.worker_id).await?).into_response())
}
