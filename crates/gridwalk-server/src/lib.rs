//! The Gridwalk district server: enrolment and auth, scoped ingest and pull of events, hotline
//! intake, photo blobs, on embedded SQLite. `main.rs` is a thin CLI over this library.
//!
//! Layers: [`http`] adapts requests to the use cases in [`state::AppState`], which call plain
//! modules ([`ingest`], [`query`], [`auth`], [`hotline`], [`blobs`], [`registry`]) that run on
//! the database through [`db::Db`] (one group-committing writer, pooled readers).

pub mod admin;
pub mod audit;
pub mod auth;
pub mod blobs;
pub mod config;
pub mod db;
pub mod dispatch;
pub mod error;
pub mod hotline;
pub mod http;
pub mod ingest;
pub mod open311;
pub mod query;
pub mod registry;
pub mod state;
pub mod workflow;

pub use config::Config;
pub use error::{Error, Result};
pub use http::app;
pub use state::AppState;

use std::future::Future;

/// Every route as (method, path template): the OpenAPI test checks both against each other
/// and against the router.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/sync/push"),
    ("GET", "/api/v1/sync/pull"),
    ("GET", "/api/v1/registry"),
    ("GET", "/api/v1/issues"),
    ("GET", "/api/v1/issues/{id}"),
    ("GET", "/api/v1/visits"),
    ("POST", "/api/v1/hotline/intake"),
    ("GET", "/api/v1/blobs/{sha256}"),
    ("PUT", "/api/v1/blobs/{sha256}"),
    ("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/rates"),
    ("GET", "/api/v1/pledges"),
    ("GET", "/open311/v2/services.json"),
    ("GET", "/open311/v2/services.xml"),
    ("GET", "/open311/v2/services/{service_code}.json"),
    ("GET", "/open311/v2/services/{service_code}.xml"),
    ("GET", "/open311/v2/requests.json"),
    ("POST", "/open311/v2/requests.json"),
    ("GET", "/open311/v2/requests.xml"),
    ("POST", "/open311/v2/requests.xml"),
    ("GET", "/open311/v2/requests/{id}.json"),
    ("GET", "/open311/v2/requests/{id}.xml"),
];

/// Serve the API on a bound listener until `shutdown` resolves. Alongside, the escalation
/// task runs [`AppState::run_escalations`] every `Config::escalation_period` (first after one
/// period), and stops with the server.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let escalations = tokio::spawn(escalation_task(state.clone()));
    let served = axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await;
    escalations.abort();
    served
}

async fn escalation_task(state: AppState) {
    let period = state.config().escalation_period.max(std::time::Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match state.run_escalations(db::now_ms()).await {
            Ok(done) if !done.is_empty() => tracing::info!(escalations = done.len(), "escalation run"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "escalation run failed"),
        }
    }
}
