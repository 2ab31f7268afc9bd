//! The sync engine: enrol, then push the outbox, pull what is new, upload photos. IO goes
//! through [`Transport`]; what to do next comes from the pure [`plan`](super::plan).

use super::plan::{self, BatchOutcome, PlanInput, Step};
use super::transport::{Transport, TransportError};
use crate::error::{CoreError, Result};
use crate::tablet::{meta_get, meta_set, Identity, Tablet};
use gridwalk_proto::{LoginRequest, LoginResponse};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Push,
    Pull,
    Photos,
}

/// Progress, reported through the caller's callback (the Tauri shell turns it into events).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub phase: Phase,
    pub events_done: u64,
    pub events_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Set while waiting to retry after a failure.
    pub retrying: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SyncOptions {
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    pub pull_page: u32,
    pub photo_chunk: usize,
    /// Upper bound for the adaptive push batch (tests lower it to get many round trips).
    pub max_batch: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            max_attempts: 8,
            backoff_base_ms: 200,
            backoff_cap_ms: 30_000,
            pull_page: 500,
            photo_chunk: 256 * 1024,
            max_batch: plan::MAX_BATCH,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncReport {
    pub pushed: u64,
    pub rejected: u64,
    pub pulled: u64,
    pub photos_uploaded: u64,
    pub retries: u64,
}

/// Log in, keep the token and identity in the encrypted store, and measure the clock offset.
pub fn enrol(
    tablet: &mut Tablet,
    transport: &dyn Transport,
    server_url: &str,
    username: &str,
    password: &str,
    device_name: &str,
) -> Result<LoginResponse> {
    let sent = tablet.now_ms();
    let resp = transport
        .login(&LoginRequest { username: username.into(), password: password.into(), device_name: device_name.into() })
        .map_err(transport_error)?;
    let offset = offset_ms(sent, tablet.now_ms(), resp.server_time_ms);
    let tx = tablet.conn.transaction()?;
    meta_set(&tx, "token", &resp.token)?;
    meta_set(&tx, "server_url", server_url)?;
    meta_set(&tx, "worker", &serde_json::to_string(&resp.worker)?)?;
    meta_set(&tx, "clock_offset_ms", &offset.to_string())?;
    tx.execute("DELETE FROM meta WHERE key = 'revoked'", [])?;
    tx.commit()?;
    tablet.clock_offset_ms = offset;
    tablet.set_identity(Identity { worker: resp.worker.id, device: resp.device_id })?;
    Ok(resp)
}

/// server clock − device clock, taking the server's stamp as the midpoint of the round trip.
fn offset_ms(sent_ms: i64, received_ms: i64, server_ms: i64) -> i64 {
    server_ms - (sent_ms + received_ms) / 2
}

fn transport_error(e: TransportError) -> CoreError {
    match e {
        TransportError::Transient(m) => CoreError::Offline(m),
        TransportError::Unauthorized { .. } => CoreError::Revoked,
        TransportError::Refused { status, code, message } => CoreError::Server { code, message, status },
    }
}

/// Run one sync: push the outbox, pull, upload photos. Transient failures are retried with
/// backoff; a revoked token stops at once and keeps every unsynced record.
pub fn sync(
    tablet: &mut Tablet,
    transport: &dyn Transport,
    opts: &SyncOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SyncReport> {
    let result = run(tablet, transport, opts, cancel, progress);
    match &result {
        Ok(_) => tablet.note_sync_result(None)?,
        Err(CoreError::Revoked) => {
            meta_set(&tablet.conn, "revoked", "1")?;
            tablet.note_sync_result(Some(&CoreError::Revoked.to_string()))?;
        }
        Err(e) => tablet.note_sync_result(Some(&e.to_string()))?,
    }
    result
}

fn run(
    tablet: &mut Tablet,
    transport: &dyn Transport,
    opts: &SyncOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SyncReport> {
    let token = meta_get(&tablet.conn, "token")?.ok_or(CoreError::NotEnrolled)?;
    let mut report = SyncReport::default();
    let mut batch = plan::START_BATCH.min(opts.max_batch);
    let (events_total, bytes_total) = tablet.outbox_depth()?;
    let mut p = Progress { phase: Phase::Push, events_done: 0, events_total, bytes_done: 0, bytes_total, retrying: None };
    let mut input = PlanInput { revoked: meta_get(&tablet.conn, "revoked")?.is_some(), ..Default::default() };
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Err(CoreError::Cancelled);
        }
        input.outbox = tablet.outbox_depth()?.0;
        input.photos_pending = if input.pulled_to_end { tablet.pending_photos()?.len() as u64 } else { 0 };
        match plan::next_step(&input) {
            Step::StopRevoked => return Err(CoreError::Revoked),
            Step::Done => return Ok(report),
            Step::Push => {
                let body = tablet.push_body(batch)?;
                let sent_bytes = body.json.len() as u64;
                let started = Instant::now();
                let sent_at = tablet.now_ms();
                let resp = with_retries(opts, cancel, &mut report, &mut p, progress, || transport.push(&token, &body), &mut batch)?;
                batch =
                    plan::next_batch_size(batch, BatchOutcome::Ok { elapsed_ms: started.elapsed().as_millis() as u64 }).min(opts.max_batch);
                let offset = offset_ms(sent_at, tablet.now_ms(), resp.server_time_ms);
                let moved = tablet.apply_push_response(&resp, Some(offset))?;
                report.rejected += resp
                    .results
                    .iter()
                    .filter(|r| {
                        matches!(r.outcome, gridwalk_proto::PushOutcome::Rejected { .. } | gridwalk_proto::PushOutcome::Conflict { .. })
                    })
                    .count() as u64;
                report.pushed += moved;
                input.push_stalled = moved == 0;
                p.phase = Phase::Push;
                p.events_done += moved;
                p.events_total = p.events_total.max(p.events_done);
                p.bytes_done = (p.bytes_done + sent_bytes * moved / body.events.max(1)).min(p.bytes_total);
                progress(&p);
            }
            Step::Pull => {
                let after = tablet.pull_cursor()?;
                let version = tablet.registry_version()?;
                let sent_at = tablet.now_ms();
                let mut unused = batch;
                let resp = with_retries(
                    opts,
                    cancel,
                    &mut report,
                    &mut p,
                    progress,
                    || transport.pull(&token, after, opts.pull_page, version),
                    &mut unused,
                )?;
                let offset = offset_ms(sent_at, tablet.now_ms(), resp.server_time_ms);
                report.pulled += tablet.apply_pull(&resp, Some(offset))? as u64;
                input.pulled_to_end = !resp.has_more;
                p.phase = Phase::Pull;
                p.retrying = None;
                progress(&p);
            }
            Step::UploadPhoto => {
                let (sha, size) = tablet.pending_photos()?.remove(0);
                upload_photo(tablet, transport, &token, &sha, opts, cancel, &mut report, &mut p, progress)?;
                report.photos_uploaded += 1;
                p.phase = Phase::Photos;
                p.bytes_done += size;
                p.bytes_total = p.bytes_total.max(p.bytes_done);
                progress(&p);
            }
        }
    }
}

/// Resumable upload: ask the server how much it holds, send the rest in chunks.
#[allow(clippy::too_many_arguments)]
fn upload_photo(
    tablet: &Tablet,
    transport: &dyn Transport,
    token: &str,
    sha: &str,
    opts: &SyncOptions,
    cancel: &AtomicBool,
    report: &mut SyncReport,
    p: &mut Progress,
    progress: &mut dyn FnMut(&Progress),
) -> Result<()> {
    let (_, data) = tablet.photo(sha)?;
    let mut unused = 0;
    let mut status = with_retries(opts, cancel, report, p, progress, || transport.blob_status(token, sha), &mut unused)?;
    while !status.complete {
        let from = status.held_bytes.min(data.len() as u64) as usize;
        let to = (from + opts.photo_chunk).min(data.len());
        let last = to == data.len();
        let chunk = &data[from..to];
        let put = with_retries(opts, cancel, report, p, progress, || transport.blob_put(token, sha, from as u64, chunk, last), &mut unused);
        status = match put {
            Ok(s) => s,
            // Our idea of the offset was stale (an earlier attempt landed): ask and resume.
            Err(CoreError::Server { code, .. }) if code == "offset_mismatch" => {
                with_retries(opts, cancel, report, p, progress, || transport.blob_status(token, sha), &mut unused)?
            }
            Err(e) => return Err(e),
        };
    }
    tablet.mark_photo_uploaded(sha)
}

/// Call `f` until it succeeds, retrying transient failures with jittered exponential backoff
/// and halving the batch size after each failure.
fn with_retries<T>(
    opts: &SyncOptions,
    cancel: &AtomicBool,
    report: &mut SyncReport,
    p: &mut Progress,
    progress: &mut dyn FnMut(&Progress),
    mut f: impl FnMut() -> Result<T, TransportError>,
    batch: &mut u32,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        match f() {
            Ok(v) => {
                if p.retrying.take().is_some() {
                    progress(p);
                }
                return Ok(v);
            }
            Err(TransportError::Transient(msg)) if attempt + 1 < opts.max_attempts => {
                report.retries += 1;
                *batch = plan::next_batch_size(*batch, BatchOutcome::Failed);
                p.retrying = Some(msg);
                progress(p);
                let wait = plan::backoff_ms(attempt, opts.backoff_base_ms, opts.backoff_cap_ms, rand::random());
                attempt += 1;
                let until = Instant::now() + Duration::from_millis(wait);
                while Instant::now() < until {
                    if cancel.load(Ordering::SeqCst) {
                        return Err(CoreError::Cancelled);
                    }
                    std::thread::sleep(Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())));
                }
            }
            Err(e) => return Err(transport_error(e)),
        }
    }
}
