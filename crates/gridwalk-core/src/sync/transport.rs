//! The engine's only window on the network: a small trait, and its reqwest implementation.
//! Tests put a fault-injecting proxy in front of the real server instead of mocking this.

use gridwalk_proto::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No answer, a reset, a timeout, a truncated or garbled body, or a 5xx: try again later.
    Transient(String),
    /// The token is unknown or revoked (401): stop.
    Unauthorized { code: String, message: String },
    /// The server refused the request for good (4xx other than 401).
    Refused { status: u16, code: String, message: String },
}

/// A push request already serialized: the outbox's stored event JSON is spliced in as is, so
/// a sync never parses and re-serializes what the tablet wrote (see `Tablet::push_body`).
#[derive(Clone, Debug)]
pub struct PushBody {
    /// A `gridwalk_proto::PushRequest` in JSON.
    pub json: String,
    pub events: u64,
}

impl PushBody {
    pub fn from_request(req: &PushRequest) -> PushBody {
        PushBody { json: serde_json::to_string(req).expect("wire types serialize"), events: req.events.len() as u64 }
    }
}

/// The answer to `GET /sync/wait`: whether the server holds something new for this device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WaitAnswer {
    /// Pull now.
    pub news: bool,
    pub latest_seq: u64,
}

/// Extra time on top of a long-poll's own timeout before the client gives up on the answer.
const LONG_POLL_SLACK: Duration = Duration::from_secs(10);

pub trait Transport {
    fn login(&self, req: &LoginRequest) -> Result<LoginResponse, TransportError>;
    fn push(&self, token: &str, body: &PushBody) -> Result<PushResponse, TransportError>;
    fn pull(&self, token: &str, after: u64, limit: u32, registry_version: u64) -> Result<PullResponse, TransportError>;
    /// [`Transport::pull`] telling the server the device's own account of its sync (queue,
    /// oldest unsent, refusals, clock offset, version), which the console's device page
    /// shows. A transport that cannot carry it pulls without it.
    fn pull_reporting(
        &self,
        token: &str,
        after: u64,
        limit: u32,
        registry_version: u64,
        report: &gridwalk_proto::console::DeviceReport,
    ) -> Result<PullResponse, TransportError> {
        let _ = report;
        self.pull(token, after, limit, registry_version)
    }
    fn blob_status(&self, token: &str, sha256: &str) -> Result<BlobStatus, TransportError>;
    /// Whether push bodies now go compressed, as far as the transport has learned; `None` for a
    /// transport that never compresses. The engine keeps the answer in the store, so that the
    /// next sync's first push goes compressed too.
    fn compresses_pushes(&self) -> Option<bool> {
        None
    }
    /// Start from what the store remembers of the server (see [`Transport::compresses_pushes`]).
    fn assume_compression(&self, yes: bool) {
        let _ = yes;
    }
    fn blob_put(&self, token: &str, sha256: &str, offset: u64, chunk: &[u8], last: bool) -> Result<BlobStatus, TransportError>;
}

/// HTTP(S) to the district server, with rustls.
///
/// Bodies travel compressed where both ends can: answers by `Accept-Encoding` (reqwest asks for
/// zstd and gzip, and decompresses); push bodies in zstd once the server has said, in an
/// `Accept-Encoding` header on any answer, that it reads zstd (RFC 7694). Until then, and
/// against an older server that never says so, pushes go plain.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base: String,
    client: reqwest::blocking::Client,
    /// The server reads zstd request bodies: learned from its answers.
    server_reads_zstd: Arc<AtomicBool>,
}

/// zstd's level for push bodies: level 3 packs a batch of reports about tenfold at several
/// hundred MB/s, so even a tablet's CPU spends far less than the weakest link saves.
const PUSH_ZSTD_LEVEL: i32 = 3;

impl HttpTransport {
    /// `GET /sync/pull` at a cursor, with the token: what both pulls send.
    fn pull_request(&self, token: &str, after: u64, limit: u32, registry_version: u64) -> reqwest::blocking::RequestBuilder {
        let url = self.url(&format!("/sync/pull?after={after}&limit={limit}&registry_version={registry_version}"));
        self.client.get(url).bearer_auth(token)
    }

    pub fn new(base_url: &str) -> Result<Self, TransportError> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| TransportError::Transient(e.to_string()))?;
        Ok(HttpTransport { base: base_url.trim_end_matches('/').to_owned(), client, server_reads_zstd: Arc::default() })
    }

    /// Whether pushes now go compressed (the server has said it reads zstd).
    pub fn compresses_pushes(&self) -> bool {
        self.server_reads_zstd.load(Ordering::Relaxed)
    }

    /// Hold a request open until the server has news for this device after `after` (its pull
    /// cursor), or `timeout_s` passes. Blocking: call it without holding the store.
    pub fn wait(&self, token: &str, after: u64, timeout_s: u64) -> Result<WaitAnswer, TransportError> {
        let url = self.url(&format!("/sync/wait?after={after}&timeout_s={timeout_s}"));
        self.send(self.client.get(url).bearer_auth(token).timeout(Duration::from_secs(timeout_s) + LONG_POLL_SLACK))
    }

    /// The locked tablet's question, with the notify-only token: how many new orders for me
    /// after `after`? Held open until there is one or `timeout_s` passes.
    pub fn notify_count(&self, notify_token: &str, after: u64, timeout_s: u64) -> Result<NotifyCount, TransportError> {
        let url = self.url(&format!("/notify/count?after={after}&timeout_s={timeout_s}"));
        self.send(self.client.get(url).bearer_auth(notify_token).timeout(Duration::from_secs(timeout_s) + LONG_POLL_SLACK))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    fn send<T: serde::de::DeserializeOwned>(&self, req: reqwest::blocking::RequestBuilder) -> Result<T, TransportError> {
        let resp = req.send().map_err(|e| TransportError::Transient(format!("{e}")))?;
        // Every answer says again what the server reads: an older server (or one behind a
        // proxy that strips the header) says nothing, and pushes go plain again.
        let zstd =
            resp.headers().get_all(reqwest::header::ACCEPT_ENCODING).iter().any(|v| {
                v.to_str().unwrap_or("").split(',').any(|c| c.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("zstd"))
            });
        self.server_reads_zstd.store(zstd, Ordering::Relaxed);
        let status = resp.status();
        let bytes = resp.bytes().map_err(|e| TransportError::Transient(format!("reading the answer: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| TransportError::Transient(format!("garbled answer: {e}")));
        }
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
            code: "http_error".into(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            retry_after_s: None,
        });
        match status.as_u16() {
            401 => Err(TransportError::Unauthorized { code: body.code, message: body.message }),
            // Rate limits and server faults pass; a proxy that mangles a body may also produce
            // a status the server never sent, so anything 5xx is worth retrying.
            429 | 500..=599 => Err(TransportError::Transient(format!("{} {}: {}", status.as_u16(), body.code, body.message))),
            s => Err(TransportError::Refused { status: s, code: body.code, message: body.message }),
        }
    }
}

impl Transport for HttpTransport {
    fn login(&self, req: &LoginRequest) -> Result<LoginResponse, TransportError> {
        self.send(self.client.post(self.url("/auth/login")).json(req))
    }
    fn push(&self, token: &str, body: &PushBody) -> Result<PushResponse, TransportError> {
        let req = || self.client.post(self.url("/sync/push")).bearer_auth(token).header("content-type", "application/json");
        if self.compresses_pushes() {
            let packed = zstd::bulk::compress(body.json.as_bytes(), PUSH_ZSTD_LEVEL)
                .map_err(|e| TransportError::Transient(format!("compressing the push: {e}")))?;
            match self.send(req().header("content-encoding", "zstd").body(packed)) {
                // Refused by a server that, its answer says, does not read zstd (an older one
                // than the tablet remembered, or a proxy on the way): the same body, plain.
                Err(TransportError::Refused { .. }) if !self.compresses_pushes() => {}
                other => return other,
            }
        }
        self.send(req().body(body.json.clone()))
    }
    fn pull(&self, token: &str, after: u64, limit: u32, registry_version: u64) -> Result<PullResponse, TransportError> {
        self.send(self.pull_request(token, after, limit, registry_version))
    }
    fn pull_reporting(
        &self,
        token: &str,
        after: u64,
        limit: u32,
        registry_version: u64,
        report: &gridwalk_proto::console::DeviceReport,
    ) -> Result<PullResponse, TransportError> {
        let mut query = vec![
            ("report_queue", report.queue_depth.to_string()),
            ("report_rejected", report.rejected_count.to_string()),
            ("report_offset_ms", report.clock_offset_ms.to_string()),
            ("report_version", report.app_version.clone()),
        ];
        if let Some(oldest) = report.oldest_unsent_ms {
            query.push(("report_oldest_ms", oldest.to_string()));
        }
        self.send(self.pull_request(token, after, limit, registry_version).query(&query))
    }
    fn blob_status(&self, token: &str, sha256: &str) -> Result<BlobStatus, TransportError> {
        self.send(self.client.get(self.url(&format!("/blobs/{sha256}"))).bearer_auth(token))
    }
    fn compresses_pushes(&self) -> Option<bool> {
        Some(HttpTransport::compresses_pushes(self))
    }
    fn assume_compression(&self, yes: bool) {
        self.server_reads_zstd.store(yes, Ordering::Relaxed);
    }
    fn blob_put(&self, token: &str, sha256: &str, offset: u64, chunk: &[u8], last: bool) -> Result<BlobStatus, TransportError> {
        let url = self.url(&format!("/blobs/{sha256}?offset={offset}&final={last}"));
        self.send(self.client.put(url).bearer_auth(token).header("content-type", "application/octet-stream").body(chunk.to_vec()))
    }
}
