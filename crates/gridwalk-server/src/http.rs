//! The HTTP adapter: routes, extractors that turn every malformed request into a
//! `{code, message}` error, and the layers every response passes through.

use crate::auth::Principal;
use crate::db::now_ms;
use crate::error::Error;
use crate::query::{IssueFilter, VisitFilter};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gridwalk_domain::{IssueId, WorkerId};
use gridwalk_proto::{ErrorBody, Health, HotlineIntake, LoginRequest, PushRequest, API_VERSION, SERVER_TIME_HEADER};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// The OpenAPI document, checked in beside the crate and tested against [`crate::ROUTES`].
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, code = self.code(), "request failed");
        } else {
            tracing::debug!(error = %self, code = self.code(), "request refused");
        }
        (status, Json(ErrorBody { code: self.code().to_owned(), message: self.public_message() })).into_response()
    }
}

/// The caller, from `Authorization: Bearer <token>`, rate-limited per token.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(Error::MissingToken)?;
        let value = header.to_str().map_err(|_| Error::InvalidToken)?;
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or(Error::MissingToken)?;
        Ok(Auth(state.authenticate(token.trim()).await?))
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Read a body of at most `limit` bytes; `too_large` is the error to give past that.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize, too_large: impl Fn() -> Error) -> Result<Bytes, Error> {
    if content_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            too_large()
        } else {
            Error::InvalidJson(format!("could not read the body: {inner}"))
        }
    })
}

/// A JSON body with the server's own rejections: 415 without a JSON content type, 413 past the
/// limit, 400 `invalid_utf8`, `unknown_field` or `invalid_json`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let is_json = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
        if !is_json {
            return Err(Error::UnsupportedMediaType { expected: "application/json" });
        }
        let limit = state.config().json_body_limit;
        let bytes = read_body(body, &parts.headers, limit, || Error::BodyTooLarge { limit }).await?;
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::InvalidUtf8)?;
        serde_json::from_str(text).map(JsonBody).map_err(|e| {
            let msg = e.to_string();
            if msg.starts_with("unknown field") || msg.contains("unknown variant") && msg.contains("field") {
                Error::UnknownField(msg)
            } else {
                Error::InvalidJson(msg)
            }
        })
    }
}

/// A query string parsed with the server's own rejection (400 `invalid_query`).
pub struct QueryOf<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryOf<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri).map(|q| QueryOf(q.0)).map_err(|e| Error::InvalidQuery(e.body_text()))
    }
}

/// One path segment as text; parsing it is the handler's business.
pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state).await.map(|p| Segment(p.0)).map_err(|e| Error::InvalidId(e.body_text()))
    }
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into(), api_version: API_VERSION })
}

async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

async fn login(State(s): State<AppState>, JsonBody(req): JsonBody<LoginRequest>) -> Result<Response, Error> {
    Ok(Json(s.login(req).await?).into_response())
}

async fn push(State(s): State<AppState>, Auth(who): Auth, JsonBody(req): JsonBody<PushRequest>) -> Result<Response, Error> {
    Ok(Json(s.push(&who, req).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PullQuery {
    #[serde(default)]
    after: u64,
    limit: Option<u64>,
    #[serde(default)]
    registry_version: u64,
}

async fn pull(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<PullQuery>) -> Result<Response, Error> {
    let limit = q.limit.unwrap_or(s.config().max_pull_limit);
    Ok(Json(s.pull(&who, q.after, limit, q.registry_version).await?).into_response())
}

async fn registry(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.registry_snapshot(&who).await?).into_response())
}

async fn issues(State(s): State<AppState>, Auth(who): Auth, QueryOf(f): QueryOf<IssueFilter>) -> Result<Response, Error> {
    Ok(Json(s.list_issues(&who, f).await?).into_response())
}

async fn issue(State(s): State<AppState>, Auth(who): Auth, Segment(id): Segment) -> Result<Response, Error> {
    let id: IssueId = id.parse().map_err(|_| Error::InvalidId(format!("{id:?} is not an issue id")))?;
    Ok(Json(s.get_issue(&who, id).await?).into_response())
}

async fn visits(State(s): State<AppState>, Auth(who): Auth, QueryOf(f): QueryOf<VisitFilter>) -> Result<Response, Error> {
    Ok(Json(s.list_visits(&who, f).await?).into_response())
}

async fn hotline(State(s): State<AppState>, Auth(who): Auth, JsonBody(order): JsonBody<HotlineIntake>) -> Result<Response, Error> {
    let resp = s.hotline_intake(&who, order).await?;
    let status = if resp.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(resp)).into_response())
}

async fn blob_status(State(s): State<AppState>, Auth(who): Auth, Segment(sha): Segment) -> Result<Response, Error> {
    Ok(Json(s.blob_status(&who, sha).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlobPut {
    offset: u64,
    #[serde(default, rename = "final")]
    last: bool,
}

async fn blob_put(
    State(s): State<AppState>,
    Auth(who): Auth,
    Segment(sha): Segment,
    QueryOf(q): QueryOf<BlobPut>,
    req: Request,
) -> Result<Response, Error> {
    let (parts, body) = req.into_parts();
    let ok_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream") || v.starts_with("image/"));
    if !ok_type {
        return Err(Error::UnsupportedMediaType { expected: "application/octet-stream" });
    }
    let max = s.config().photo_max_bytes;
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let chunk = read_body(body, &parts.headers, limit, || Error::PhotoTooLarge { max }).await?;
    Ok(Json(s.blob_put(&who, sha, q.offset, chunk.to_vec(), q.last).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    limit: Option<u32>,
}

async fn alerts(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<AlertsQuery>) -> Result<Response, Error> {
    Ok(Json(s.alerts(&who, q.limit.unwrap_or(100)).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatesQuery {
    by: String,
    period: String,
    from: i64,
    to: i64,
}

async fn rates(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<RatesQuery>) -> Result<Response, Error> {
    Ok(Json(s.rates(&who, &q.by, &q.period, q.from, q.to).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PledgesQuery {
    worker_id: Option<WorkerId>,
}

async fn pledges(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<PledgesQuery>) -> Result<Response, Error> {
    Ok(Json(s.pledges(&who, q.worker_id).await?).into_response())
}

async fn not_found(req: Request) -> Error {
    Error::NotFound(format!("no route for {}", req.uri().path()))
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

/// Every response carries the server's clock, so tablets can measure their offset.
async fn server_time(mut resp: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&now_ms().to_string()) {
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
    (status, Json(ErrorBody { code: code.into(), message })).into_response()
}

/// The router with every route and layer.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/sync/push", post(push))
        .route("/api/v1/sync/pull", get(pull))
        .route("/api/v1/registry", get(registry))
        .route("/api/v1/issues", get(issues))
        .route("/api/v1/issues/{id}", get(issue))
        .route("/api/v1/visits", get(visits))
        .route("/api/v1/hotline/intake", post(hotline))
        .route("/api/v1/blobs/{sha256}", get(blob_status).put(blob_put))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/rates", get(rates))
        .route("/api/v1/pledges", get(pledges))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::map_response(server_time))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // After the JSON-error layers: Open311 answers its own errors, in XML too.
        .merge(crate::open311::router())
        .with_state(state)
}
