//! Extractors that turn every malformed request into a `{code, message}` error, and the
//! error's HTTP form.

use crate::app::{AppState, Principal};
use crate::error::Error;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gridwalk_proto::ErrorBody;
use serde::de::DeserializeOwned;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, code = self.code(), "request failed");
        } else {
            tracing::debug!(error = %self, code = self.code(), "request refused");
        }
        let retry_after = self.retry_after_s();
        let mut resp = (status, Json(ErrorBody { code: self.code().to_owned(), message: self.public_message() })).into_response();
        if let Some(s) = retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, s.into());
        }
        resp
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
