//! Photo blobs: resumable upload by content hash.

use super::extract::{read_body, Auth, QueryOf, Segment};
use crate::app::AppState;
use crate::error::Error;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

pub async fn blob_status(State(s): State<AppState>, Auth(who): Auth, Segment(sha): Segment) -> Result<Response, Error> {
    Ok(Json(s.blob_status(&who, sha).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobPut {
    pub offset: u64,
    #[serde(default, rename = "final")]
    pub last: bool,
}

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
