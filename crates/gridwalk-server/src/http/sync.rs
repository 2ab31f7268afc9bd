//! Enrolment and sync: login, push, pull, the registry.

use super::extract::{Auth, Bearer, Client, JsonBody, QueryOf};
use super::openapi::ErrorResponse;
use crate::app::AppState;
use crate::error::Error;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gridwalk_proto::{LoginRequest, LoginResponse, PullResponse, PushRequest, PushResponse, RegistrySnapshot};
use serde::Deserialize;
use utoipa::IntoParams;

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    summary = "Log in with username and password; enrols a new device and returns its bearer token (shown once; it \
               expires after [access] token_days without a sync). Each client address has a bucket of tries (429 \
               login_throttled); 5 failures in a row from one address lock the username for that address, 50 from \
               anywhere for every address (429 login_locked); both carry Retry-After and retry_after_s. A disabled \
               worker with the right password gets 403 worker_disabled.",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "LoginResponse", body = LoginResponse),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 413, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn login(State(s): State<AppState>, Client(addr): Client, JsonBody(req): JsonBody<LoginRequest>) -> Result<Response, Error> {
    Ok(Json(s.login(addr, req).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/sync/push",
    summary = "Push a batch of one device's events; per-event outcome (accepted, duplicate, conflict, gap, rejected) and \
               the highest contiguous sequence held.",
    security(("bearer" = [])),
    request_body = PushRequest,
    responses(
        (status = 200, description = "PushResponse", body = PushResponse),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 413, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
        // `busy`: another process holds the database's lock; nothing was stored (Retry-After).
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn push(State(s): State<AppState>, Auth(who): Auth, JsonBody(req): JsonBody<PushRequest>) -> Result<Response, Error> {
    Ok(Json(s.push(&who, req).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    /// cursor: last server_seq seen
    #[serde(default)]
    pub after: u64,
    /// page size, capped at 1000
    pub limit: Option<u64>,
    /// registry version the device holds
    #[serde(default)]
    pub registry_version: u64,
    /// the device's report (设备自报), all five or none: records not yet acknowledged
    pub report_queue: Option<u64>,
    /// when the oldest unacknowledged record was saved (ms)
    pub report_oldest_ms: Option<i64>,
    /// records the server refused, still on the device
    pub report_rejected: Option<u64>,
    /// the device's measured clock offset (ms)
    pub report_offset_ms: Option<i64>,
    /// the app's version
    pub report_version: Option<String>,
}

impl PullQuery {
    /// The device's report, when the pull carries one.
    fn report(&self) -> Option<gridwalk_proto::console::DeviceReport> {
        Some(gridwalk_proto::console::DeviceReport {
            queue_depth: self.report_queue?,
            oldest_unsent_ms: self.report_oldest_ms,
            rejected_count: self.report_rejected?,
            clock_offset_ms: self.report_offset_ms?,
            app_version: self.report_version.clone()?,
        })
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/sync/pull",
    summary = "Events in the caller's scope after a cursor (global server sequence), excluding the caller's own device; \
               the registry in scope when it changed.",
    security(("bearer" = [])),
    params(PullQuery),
    responses(
        (status = 200, description = "PullResponse", body = PullResponse),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn pull(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<PullQuery>) -> Result<Response, Error> {
    let limit = q.limit.unwrap_or(s.config().max_pull_limit);
    // The report is the device's telemetry: one the bounds refuse is dropped (and logged),
    // never a reason to refuse the pull that carries it.
    if let Some(report) = q.report() {
        if let Err(e) = s.keep_device_report(&who, report).await {
            tracing::warn!(device = %who.device, code = e.code(), error = %e, "device report not kept");
        }
    }
    Ok(Json(s.pull(&who, q.after, limit, q.registry_version).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/registry",
    summary = "The registry inside the caller's scope.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "RegistrySnapshot", body = RegistrySnapshot),
        (status = 401, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn registry(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.registry_snapshot(&who).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// the device's pull cursor: last server_seq seen
    #[serde(default)]
    pub after: u64,
    /// how long to hold the request open, in seconds (at most 60; default 25)
    pub timeout_s: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/sync/wait",
    summary = "Long-poll: answers as soon as something in the caller's scope is stored after the cursor (news = true: pull \
               now), or after timeout_s with news = false. Held as a parked task, not a thread.",
    security(("bearer" = [])),
    params(WaitQuery),
    responses(
        (status = 200, description = "WaitResponse", body = crate::app::notify::WaitResponse),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn wait(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<WaitQuery>) -> Result<Response, Error> {
    Ok(Json(s.wait_for_news(&who, q.after, q.timeout_s.unwrap_or(25)).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/notify/count",
    summary = "For a locked tablet, with its notify-only token (from the login answer; every other route refuses it, and \
               this one refuses a session token): how many orders were assigned or transferred to the device's worker, \
               and urges on their issues, after the cursor. Held like /sync/wait until the count is not 0.",
    security(("notify" = [])),
    params(WaitQuery),
    responses(
        (status = 200, description = "NotifyCount", body = gridwalk_proto::NotifyCount),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn notify_count(State(s): State<AppState>, Bearer(token): Bearer, QueryOf(q): QueryOf<WaitQuery>) -> Result<Response, Error> {
    Ok(Json(s.notify_count(&token, q.after, q.timeout_s.unwrap_or(25)).await?).into_response())
}
