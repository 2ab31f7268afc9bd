//! Extractors that turn every malformed request into a `{code, message}` error, and the
//! error's HTTP form.

use crate::app::auth::ClientAddr;
use crate::app::console::{csrf_matches, CSRF_HEADER, SESSION_COOKIE};
use crate::app::{AppState, Principal};
use crate::error::Error;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gridwalk_proto::ErrorBody;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, code = self.code(), "request failed");
        } else {
            tracing::debug!(error = %self, code = self.code(), "request refused");
        }
        let retry_after_s = self.retry_after_s().map(|s| s.max(1));
        // The body says it only for a refused login, whose wait the tablet shows the worker.
        let login_wait = retry_after_s.filter(|_| matches!(self, Error::LoginLocked { .. } | Error::LoginThrottled { .. }));
        let body = ErrorBody { code: self.code().to_owned(), message: self.public_message(), retry_after_s: login_wait };
        let mut resp = match &self {
            // An import is refused with every bad line, so the page can list them all.
            Error::RegistryImport(lines) => {
                let lines = lines
                    .iter()
                    .map(|l| gridwalk_proto::console::BadLine { line: l.line, code: l.code().to_owned(), message: l.message.clone() })
                    .collect();
                (status, Json(gridwalk_proto::console::ImportRefused { code: body.code, message: body.message, lines })).into_response()
            }
            _ => (status, Json(body)).into_response(),
        };
        // "Not now" (a refused login, a busy server) says when to come back, in the header
        // proxies and clients know too.
        if let Some(v) = retry_after_s.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            resp.headers_mut().insert(RETRY_AFTER, v);
        }
        resp
    }
}

/// The caller, from `Authorization: Bearer <token>` (a tablet, a script) or else from the
/// console's session cookie, rate-limited per token. A cookie-borne call that changes state
/// must carry the session's CSRF token in `X-CSRF-Token`: the cookie goes with every request
/// the browser makes, the header only with the page's own.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(header) = parts.headers.get(AUTHORIZATION) {
            let value = header.to_str().map_err(|_| Error::InvalidToken)?;
            let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or(Error::MissingToken)?;
            return Ok(Auth(state.authenticate(token.trim()).await?));
        }
        let token = session_cookie(&parts.headers).ok_or(Error::MissingToken)?;
        if !parts.method.is_safe() {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).ok_or(Error::CsrfMissing)?;
            if !csrf_matches(&token, sent.trim()) {
                return Err(Error::CsrfMismatch);
            }
        }
        let (who, _) = state.console_session(&token).await?;
        Ok(Auth(who))
    }
}

/// The console session token from the `Cookie` header, if one is there.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_owned())
}

/// The console's session cookie as sent: for `GET /api/v1/console/session`, which answers
/// the session (with its CSRF token) of the cookie itself.
pub struct SessionCookie(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SessionCookie {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        session_cookie(&parts.headers).map(SessionCookie).ok_or(Error::MissingToken)
    }
}

/// Whether the request came over TLS, as far as the server can tell: a trusted proxy said so
/// (`X-Forwarded-Proto: https`), or the configuration says the server is only reached so.
/// The session cookie is `Secure` then.
pub struct OverTls(pub bool);

impl FromRequestParts<AppState> for OverTls {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_canonical());
        let proxied_tls = peer.is_some_and(|p| state.config().trusted_proxies.contains(&p))
            && parts.headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"));
        Ok(OverTls(state.config().console_secure_cookie || proxied_tls))
    }
}

/// The client's address, for the login throttle and lockout: the TCP peer, or, when the peer
/// is one of `Config::trusted_proxies`, the right-most address of its `X-Forwarded-For` (the
/// one that proxy saw; addresses left of it are whatever the client claimed). Unknown when
/// the router runs without connection info (in-process tests).
pub struct Client(pub ClientAddr);

impl FromRequestParts<AppState> for Client {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let forwarded = || {
            let header = parts.headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
            header.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
        };
        let ip = match peer {
            Some(p) if state.config().trusted_proxies.contains(&p.to_canonical()) => forwarded().or(Some(p)),
            other => other,
        };
        Ok(Client(ClientAddr::of(ip)))
    }
}

/// The bearer token as sent, unresolved: for the notify-only route, which resolves it as a
/// notify token (and so refuses a session token).
pub struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(Error::MissingToken)?;
        let value = header.to_str().map_err(|_| Error::InvalidToken)?;
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or(Error::MissingToken)?;
        Ok(Bearer(token.trim().to_owned()))
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Read a body of at most `limit` bytes; `too_large` is the error to give past that.
pub async fn read_body(body: Body, headers: &HeaderMap, limit: usize, too_large: impl Fn() -> Error) -> Result<Bytes, Error> {
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
