//! The supervisors' dashboard: alerts and the three rates.

use super::extract::{Auth, QueryOf};
use crate::app::AppState;
use crate::error::Error;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    pub limit: Option<u32>,
}

pub async fn alerts(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<AlertsQuery>) -> Result<Response, Error> {
    Ok(Json(s.alerts(&who, q.limit.unwrap_or(100)).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatesQuery {
    pub by: String,
    pub period: String,
    pub from: i64,
    pub to: i64,
}

pub async fn rates(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<RatesQuery>) -> Result<Response, Error> {
    Ok(Json(s.rates(&who, &q.by, &q.period, q.from, q.to).await?).into_response())
}
