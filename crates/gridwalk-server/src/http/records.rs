//! Issues, visits, hotline intake and pledges.

use super::extract::{Auth, JsonBody, QueryOf, Segment};
use crate::app::query::{IssueFilter, VisitFilter};
use crate::app::AppState;
use crate::error::Error;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gridwalk_domain::{IssueId, WorkerId};
use gridwalk_proto::HotlineIntake;
use serde::Deserialize;

pub async fn issues(State(s): State<AppState>, Auth(who): Auth, QueryOf(f): QueryOf<IssueFilter>) -> Result<Response, Error> {
    Ok(Json(s.list_issues(&who, f).await?).into_response())
}

pub async fn issue(State(s): State<AppState>, Auth(who): Auth, Segment(id): Segment) -> Result<Response, Error> {
    let id: IssueId = id.parse().map_err(|_| Error::InvalidId(format!("{id:?} is not an issue id")))?;
    Ok(Json(s.get_issue(&who, id).await?).into_response())
}

pub async fn visits(State(s): State<AppState>, Auth(who): Auth, QueryOf(f): QueryOf<VisitFilter>) -> Result<Response, Error> {
    Ok(Json(s.list_visits(&who, f).await?).into_response())
}

pub async fn hotline(State(s): State<AppState>, Auth(who): Auth, JsonBody(order): JsonBody<HotlineIntake>) -> Result<Response, Error> {
    let resp = s.hotline_intake(&who, order).await?;
    let status = if resp.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(resp)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PledgesQuery {
    pub worker_id: Option<WorkerId>,
}

pub async fn pledges(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<PledgesQuery>) -> Result<Response, Error> {
    Ok(Json(s.pledges(&who, q.worker_id).await?).into_response())
}
