//! 未诉先办's routes: coverage, hotspots, trends, the early-warning list and proactive tasks.
//! One-line adapters over `app::foresight`.

use super::extract::{Auth, JsonBody, QueryOf};
use super::openapi::ErrorResponse;
use crate::app::foresight::*;
use crate::app::AppState;
use crate::error::Error;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[utoipa::path(
    get,
    path = "/api/v1/foresight/coverage",
    summary = "走访覆盖: per worker, community or subdistrict and ISO week (Beijing), the share of the courtyards they answer for \
               that a counting visit reached, by mode; every courtyard's last visit and whether it is overdue. A visit farther \
               than far_visit_m from its courtyard counts only as flagged.",
    security(("session" = []), ("bearer" = [])),
    params(CoverageAsk),
    responses((status = 200, description = "CoverageAnswer", body = CoverageAnswer), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn coverage(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<CoverageAsk>) -> Result<Response, Error> {
    Ok(Json(s.foresight_coverage(&who, q).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/foresight/hotspots",
    summary = "热点: courtyard × category (or community × category) cells whose count in the window rose against their trailing \
               8 windows (Poisson z ≥ hotspot_z and count ≥ hotspot_min_count), hottest first.",
    security(("session" = []), ("bearer" = [])),
    params(HotspotAsk),
    responses((status = 200, description = "HotspotAnswer", body = HotspotAnswer), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn hotspots(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<HotspotAsk>) -> Result<Response, Error> {
    Ok(Json(s.foresight_hotspots(&who, q).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/foresight/trends",
    summary = "趋势: weekly counts per unit and category with the same ISO week last year; a rising week is seasonal when the \
               same week last year rose too, else a surge.",
    security(("session" = []), ("bearer" = [])),
    params(TrendAsk),
    responses((status = 200, description = "TrendAnswer", body = TrendAnswer), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn trends(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<TrendAsk>) -> Result<Response, Error> {
    Ok(Json(s.foresight_trends(&who, q).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/foresight/warnings",
    summary = "预警: one ranked list for the caller's scope (rising hotspots, repeated recurrences, falling rates, courtyards \
               nobody visited where issues come in), each with its reason in Chinese and English.",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "WarningAnswer", body = WarningAnswer), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn warnings(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.foresight_warnings(&who).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/foresight/tasks",
    summary = "Make a warning into a task (supervisor, admin): an issue with source proactive reported by the caller and \
               assigned to the courtyard's responsible worker. request_id makes a resend answer the same task.",
    security(("session" = []), ("bearer" = [])),
    request_body = NewTask,
    responses((status = 200, description = "TaskMade", body = TaskMade), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 404, response = ErrorResponse), (status = 415, response = ErrorResponse), (status = 422, response = ErrorResponse)),
)]
pub async fn task(State(s): State<AppState>, Auth(who): Auth, JsonBody(req): JsonBody<NewTask>) -> Result<Response, Error> {
    Ok(Json(s.foresight_task(&who, req).await?).into_response())
}
