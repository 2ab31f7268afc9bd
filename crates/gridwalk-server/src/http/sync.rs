//! Enrolment and sync: login, push, pull, the registry.

use super::extract::{Auth, JsonBody, QueryOf};
use crate::app::AppState;
use crate::error::Error;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gridwalk_proto::{LoginRequest, PushRequest};
use serde::Deserialize;

pub async fn login(State(s): State<AppState>, JsonBody(req): JsonBody<LoginRequest>) -> Result<Response, Error> {
    Ok(Json(s.login(req).await?).into_response())
}

pub async fn push(State(s): State<AppState>, Auth(who): Auth, JsonBody(req): JsonBody<PushRequest>) -> Result<Response, Error> {
    Ok(Json(s.push(&who, req).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    #[serde(default)]
    pub after: u64,
    pub limit: Option<u64>,
    #[serde(default)]
    pub registry_version: u64,
}

pub async fn pull(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<PullQuery>) -> Result<Response, Error> {
    let limit = q.limit.unwrap_or(s.config().max_pull_limit);
    Ok(Json(s.pull(&who, q.after, limit, q.registry_version).await?).into_response())
}

pub async fn registry(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.registry_snapshot(&who).await?).into_response())
}
