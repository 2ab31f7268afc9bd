//! The Gridwalk district server: enrolment and auth, scoped ingest and pull of events, hotline
//! and Open311 intake, escalations, the three rates, photo blobs. `main.rs` is a thin CLI over
//! this library.
//!
//! # Layers
//! ```text
//! http/   the only module that knows axum: router, extractors, handlers by resource, Open311's wire
//!   ↓
//! app/    use cases with typed inputs and outputs, one authorize(who, action); no axum, no driver
//!   ↓
//! store/  the storage traits (Reader, Tx, Store) in domain types; sqlite/ is the only module
//!         that knows rusqlite, and the only place where a scope becomes SQL
//! ```
//! Beside them, imported by every layer and importing none: [`model`] (plain shared data),
//! [`error`], [`config`]. Time and randomness come in through [`gridwalk_clock::Clock`].

pub mod app;
pub mod config;
pub mod error;
pub mod http;
pub mod model;
pub mod store;

pub use app::{admin, AppState};
pub use config::Config;
pub use error::{Error, Result};
pub use http::{app, routes};

use std::future::Future;

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
        match state.run_escalations().await {
            Ok(done) if !done.is_empty() => tracing::info!(escalations = done.len(), "escalation run"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "escalation run failed"),
        }
    }
}
