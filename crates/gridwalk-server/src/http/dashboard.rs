//! The supervisors' dashboard: alerts and the three rates.

use super::extract::{Auth, QueryOf};
use super::openapi::ErrorResponse;
use crate::app::AppState;
use crate::error::Error;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gridwalk_proto::{AlertList, RatesReport};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// at most this many, up to 500 (default 100)
    pub limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    summary = "Escalations the server carried out on issues in scope (supervisor, admin), newest first: alert_supervisor \
               (no response within the hour) and whistle_next (unresolved too long; an automatic Whistled event was appended).",
    security(("bearer" = [])),
    params(AlertsQuery),
    responses(
        (status = 200, description = "AlertList", body = AlertList),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn alerts(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<AlertsQuery>) -> Result<Response, Error> {
    Ok(Json(s.alerts(&who, q.limit.unwrap_or(100)).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RatesQuery {
    /// district|subdistrict|community|category|worker|source (only by=source counts proactive tasks, apart)
    pub by: String,
    /// week|month
    pub period: String,
    /// ms since the epoch, inclusive (receipt time)
    pub from: i64,
    /// ms since the epoch, exclusive
    pub to: i64,
}

#[utoipa::path(
    get,
    path = "/api/v1/rates",
    summary = "The three rates (response, resolution, satisfaction) of issues in scope received in [from, to), per group \
               and ISO week or calendar month in Beijing time (supervisor, admin). Definitions: crates/gridwalk-server/README.md.",
    security(("bearer" = [])),
    params(RatesQuery),
    responses(
        (status = 200, description = "RatesReport", body = RatesReport),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn rates(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<RatesQuery>) -> Result<Response, Error> {
    Ok(Json(s.rates(&who, &q.by, &q.period, q.from, q.to).await?).into_response())
}
