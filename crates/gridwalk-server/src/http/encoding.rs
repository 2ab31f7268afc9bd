//! Compressed bodies. A field tablet's link is 4G at best, often far less, and a push of a
//! thousand reports is 700 KB of JSON that compresses about tenfold. Both directions are
//! negotiated by headers, so an older tablet or an Open311 client that says nothing gets plain
//! bodies and sends them:
//! - **Answers** are compressed (zstd or gzip, the fastest level: the server's CPU serves 4,000
//!   tablets) when the request's `Accept-Encoding` asks for it. Photos, already-compressed
//!   spreadsheets and tiny bodies are sent as they are.
//! - **Request bodies** may come as `Content-Encoding: zstd` or `gzip`. Every answer says so
//!   with `Accept-Encoding: zstd, gzip` (RFC 7694), which is how a tablet learns it may
//!   compress. The body limits apply to the decompressed bytes, so a small bomb is refused
//!   with `body_too_large` like a large body. Any other encoding is refused with
//!   `unsupported_encoding`, and nothing is stored.

use crate::error::Error;
use axum::extract::Request;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::decompression::RequestDecompressionLayer;

/// The request encodings the server reads, as it advertises them.
pub const ACCEPTED: &str = "zstd, gzip";

/// Refuse a request body in an encoding the server does not read, before anything reads it;
/// advertise the ones it does on every answer.
pub async fn negotiate(req: Request, next: Next) -> Response {
    if let Some(value) = req.headers().get(CONTENT_ENCODING) {
        let coding = value.to_str().unwrap_or("?").trim().to_ascii_lowercase();
        if !matches!(coding.as_str(), "zstd" | "gzip" | "identity" | "") {
            return Error::UnsupportedEncoding(coding.chars().take(40).collect()).into_response();
        }
    }
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(ACCEPT_ENCODING, HeaderValue::from_static(ACCEPTED));
    resp
}

/// Answers compressed for clients that ask, except what is compressed already.
pub fn compress_answers() -> CompressionLayer<impl Predicate> {
    let predicate = DefaultPredicate::new()
        .and(NotForContentType::const_new("application/vnd.openxmlformats"))
        .and(NotForContentType::const_new("application/octet-stream"));
    CompressionLayer::new().no_br().no_deflate().quality(CompressionLevel::Fastest).compress_when(predicate)
}

/// Request bodies in zstd or gzip, decompressed as they are read.
pub fn decompress_requests() -> RequestDecompressionLayer {
    RequestDecompressionLayer::new().no_br().no_deflate()
}
