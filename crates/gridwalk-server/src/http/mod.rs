//! The HTTP adapter, and the only module that knows axum: the router and its layers here,
//! extractors in [`extract`], handlers by resource ([`sync`], [`records`], [`dashboard`],
//! [`blobs`]) and Open311's wire format ([`open311`]). Every handler is a one-line call into
//! [`crate::app`]. The OpenAPI document is generated from the handlers' annotations ([`openapi`]).

pub mod access;
pub mod blobs;
pub mod console;
pub mod dashboard;
pub mod encoding;
pub mod extract;
pub mod foresight;
pub mod open311;
pub mod openapi;
pub mod records;
pub mod sync;

use crate::app::AppState;
use crate::error::Error;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gridwalk_proto::{ErrorBody, Health, API_VERSION, SERVER_TIME_HEADER};
use std::future::Future;

pub use openapi::{openapi, openapi_json, routes};

#[utoipa::path(
    get,
    path = "/healthz",
    summary = "Liveness (no auth).",
    responses((status = 200, description = "Health", body = Health)),
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into(), api_version: API_VERSION })
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    summary = "This document.",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)),
)]
async fn openapi_document() -> Response {
    ([(CONTENT_TYPE, "application/json")], openapi::openapi_json()).into_response()
}

/// Outside the API, a GET is the console (its pages, or the app for its own routes); inside
/// it, an unknown path is `not_found` as `{code, message}`.
async fn not_found(req: Request) -> Response {
    let path = req.uri().path();
    if req.method() == axum::http::Method::GET && !path.starts_with("/api/") && path != "/healthz" {
        return console::page(req).await;
    }
    Error::NotFound(format!("no route for {path}")).into_response()
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

/// Every response carries the server's clock, so tablets can measure their offset.
async fn server_time(State(s): State<AppState>, mut resp: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&s.now_ms().to_string()) {
        resp.headers_mut().insert(SERVER_TIME_HEADER, v);
    }
    resp
}

/// A last net under everything: an error response that is not already `{code, message}` (from
/// a layer or a framework rejection) is rewritten into that shape.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let code = match status.as_u16() {
        400 => "bad_request",
        401 => "invalid_token",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        413 => "body_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_json",
        429 => "rate_limited",
        s if s >= 500 => "internal",
        _ => "error",
    };
    let text = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).chars().take(200).collect::<String>();
    let message = if message.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { message };
    (status, Json(ErrorBody { code: code.into(), message, retry_after_s: None })).into_response()
}

/// The request trace, with `api_key` values redacted from the URI it records: Open311 clients
/// may send their key in the query string, and a log is no place for it.
pub(crate) fn trace_layer() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    fn(&Request) -> tracing::Span,
> {
    fn span(req: &Request) -> tracing::Span {
        let uri = match req.uri().query() {
            Some(q) => format!("{}?{}", req.uri().path(), crate::app::open311::keys::redact_api_key(q)),
            None => req.uri().path().to_owned(),
        };
        tracing::debug_span!("request", method = %req.method(), uri = %uri, version = ?req.version())
    }
    tower_http::trace::TraceLayer::new_for_http().make_span_with(span as fn(&Request) -> tracing::Span)
}

/// The router with every route and layer.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/openapi.json", get(openapi_document))
        .route("/api/v1/auth/login", post(sync::login))
        .route("/api/v1/auth/password", post(access::own_password))
        .route("/api/v1/workers/{username}/disable", post(access::disable))
        .route("/api/v1/workers/{username}/enable", post(access::enable))
        .route("/api/v1/workers/{username}/password", post(access::reset_password))
        .route("/api/v1/workers/{username}/role", post(access::role))
        .route("/api/v1/sync/push", post(sync::push))
        .route("/api/v1/sync/pull", get(sync::pull))
        .route("/api/v1/sync/wait", get(sync::wait))
        .route("/api/v1/notify/count", get(sync::notify_count))
        .route("/api/v1/registry", get(sync::registry))
        .route("/api/v1/issues", get(records::issues))
        .route("/api/v1/issues/{id}", get(records::issue))
        .route("/api/v1/issues/{id}/notices", get(records::issue_notices))
        .route("/api/v1/visits", get(records::visits))
        .route("/api/v1/hotline/intake", post(records::hotline))
        .route("/api/v1/hotline/callback", post(records::hotline_callback))
        .route("/api/v1/dispatch/queue", get(records::dispatch_queue))
        .route("/api/v1/dispatch/orders/{order_no}/place", post(records::place_order))
        .route("/api/v1/blobs/{sha256}", get(blobs::blob_status).put(blobs::blob_put))
        .route("/api/v1/alerts", get(dashboard::alerts))
        .route("/api/v1/rates", get(dashboard::rates))
        .route("/api/v1/pledges", get(records::pledges))
        .route("/api/v1/console/login", post(console::login))
        .route("/api/v1/console/session", get(console::session))
        .route("/api/v1/console/logout", post(console::logout))
        .route("/api/v1/console/overview", get(console::overview))
        .route("/api/v1/console/tickets", get(console::tickets))
        .route("/api/v1/console/tickets/{id}", get(console::ticket))
        .route("/api/v1/console/tickets/{id}/actions", post(console::action))
        .route("/api/v1/console/tickets/{id}/reveal-phone", post(console::reveal_phone))
        .route("/api/v1/console/places", get(console::places))
        .route("/api/v1/console/nearest", get(console::nearest))
        .route("/api/v1/console/department", get(console::department))
        .route("/api/v1/console/map", get(console::map))
        .route("/api/v1/console/coverage", get(console::coverage))
        .route("/api/v1/console/devices", get(console::devices))
        .route("/api/v1/console/devices/{id}/revoke", post(console::revoke_device))
        .route("/api/v1/console/workers", get(console::workers).post(console::add_worker))
        .route("/api/v1/console/api-keys", get(console::api_keys).post(console::add_api_key))
        .route("/api/v1/console/api-keys/{id}/revoke", post(console::revoke_api_key))
        .route("/api/v1/console/registry/import", post(console::import_registry))
        .route("/api/v1/console/departments", get(console::departments))
        .route("/api/v1/console/audit", get(console::audit))
        .route("/api/v1/console/photos/{sha256}", get(console::photo))
        .route("/api/v1/console/export/{file}", get(console::export))
        .route("/api/v1/foresight/coverage", get(foresight::coverage))
        .route("/api/v1/foresight/hotspots", get(foresight::hotspots))
        .route("/api/v1/foresight/trends", get(foresight::trends))
        .route("/api/v1/foresight/warnings", get(foresight::warnings))
        .route("/api/v1/foresight/tasks", post(foresight::task))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::map_response_with_state(state.clone(), server_time))
        .layer(trace_layer())
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(state.config().body_idle_timeout))
        // After the JSON-error layers: Open311 answers its own errors, in XML too.
        .merge(open311::router())
        // Outermost, for every route: compressed bodies both ways (see `encoding`).
        .layer(encoding::decompress_requests())
        .layer(encoding::compress_answers())
        .layer(axum::middleware::from_fn(encoding::negotiate))
        .with_state(state)
}

/// Serve the API on a bound listener until `shutdown` resolves. Alongside, the escalation
/// task runs [`crate::app::AppState::run_escalations`] every `Config::escalation_period` (first after one
/// period), and the notice task runs [`crate::app::AppState::deliver_notices`] every
/// `Config::notice_period` (first at once); both stop with the server.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let escalations = tokio::spawn(escalation_task(state.clone()));
    let feed = tokio::spawn(state.feed().run(state.storage().clone()));
    let notices = tokio::spawn(notice_task(state.clone()));
    let upkeep = tokio::spawn(upkeep_task(state.clone()));
    // Waiting devices are answered at once on shutdown: a held long-poll must not hold it up.
    let closing = state.feed();
    let shutdown = async move {
        shutdown.await;
        closing.close();
    };
    let served = accept_loop(listener, state.clone(), shutdown).await;
    upkeep.abort();
    escalations.abort();
    feed.abort();
    // Stopping mid-send leaves that message queued: it is sent again, under the same id, by
    // the next server on this data directory.
    notices.abort();
    served
}

/// Accept connections until `shutdown`, each served by hyper with the config's header/idle
/// timeout, at most `Config::max_connections` at once; then let the open ones finish.
/// (`axum::serve` offers none of these knobs.) Each request carries its peer's address as
/// axum's `ConnectInfo`.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use std::sync::Arc;
    let config = state.config().clone();
    let router = app(state);
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors or a connection reset before accept: the listener is
                // fine; wait a moment rather than spin or stop serving.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            tower::ServiceExt::oneshot(router.clone(), req)
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(config.header_timeout);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Housekeeping that needs no hurry: partial photo uploads past their time are removed.
async fn upkeep_task(state: AppState) {
    // First after an hour: nothing here is worth a directory scan at start-up.
    let hour = std::time::Duration::from_secs(3600);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + hour, hour);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(e) = state.expire_partial_uploads().await {
            tracing::error!(error = %e, "expiring partial uploads failed");
        }
    }
}

async fn notice_task(state: AppState) {
    let period = state.config().notice_period.max(std::time::Duration::from_millis(10));
    let sender = state.notice_sender();
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match state.deliver_notices(sender.as_ref()).await {
            Ok(round) if !round.is_empty() => {
                tracing::info!(sent = round.sent, retried = round.retried, failed = round.failed, "notice round")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "notice round failed"),
        }
    }
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
