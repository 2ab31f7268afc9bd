//! Photo blobs: resumable upload by content hash.

use super::extract::{read_body, Auth, QueryOf, Segment};
use super::openapi::ErrorResponse;
use crate::app::AppState;
use crate::error::Error;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gridwalk_proto::BlobStatus;
use serde::Deserialize;
use utoipa::IntoParams;

#[utoipa::path(
    get,
    path = "/api/v1/blobs/{sha256}",
    summary = "How much of a photo blob is held (resume point).",
    security(("bearer" = [])),
    params(("sha256" = String, Path, description = "64 lowercase hex")),
    responses(
        (status = 200, description = "BlobStatus", body = BlobStatus),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn blob_status(State(s): State<AppState>, Auth(who): Auth, Segment(sha): Segment) -> Result<Response, Error> {
    Ok(Json(s.blob_status(&who, sha).await?).into_response())
}

/// A chunk of the photo, from `offset` on: raw bytes (the body of `PUT /api/v1/blobs/{sha256}`).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Chunk(pub Vec<u8>);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BlobPut {
    /// where this chunk starts
    pub offset: u64,
    /// verify and complete
    #[serde(default, rename = "final")]
    pub last: bool,
}

#[utoipa::path(
    put,
    path = "/api/v1/blobs/{sha256}",
    summary = "Append a chunk at offset (must equal held bytes); final=true verifies the sha256. JPEG/PNG/WebP/HEIC only.",
    security(("bearer" = [])),
    params(("sha256" = String, Path, description = "64 lowercase hex"), BlobPut),
    request_body(content = inline(Chunk), content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "BlobStatus", body = BlobStatus),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 409, response = ErrorResponse),
        (status = 413, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 422, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn blob_put(
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
