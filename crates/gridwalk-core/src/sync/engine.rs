//! The sync engine: enrol, then push the outbox, pull what is new, upload photos. IO goes
//! through [`Transport`]; what to do next comes from the pure [`plan`](super::plan).

use super::outbox::note_sync_result;
use super::plan::{self, BatchOutcome, PlanInput, Step};
use super::transport::{Transport, TransportError};
use crate::error::{CoreError, Result};
use crate::tablet::{meta_get, meta_set, Identity, Tablet};
use gridwalk_clock::Clock;
use gridwalk_proto::{LoginRequest, LoginResponse};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the engine reaches the store: one step at a time, never across a network call. The app
/// shell holds its tablet behind a mutex; with this it lets go of it while a request is out, so
/// a worker recording a visit is never kept waiting by a slow server. A store that closed in
/// the meantime (the app locked) ends the sync with that step's error; every step it took had
/// committed on its own.
pub trait StoreAccess {
    fn with<T>(&self, f: impl FnOnce(&mut Tablet) -> Result<T>) -> Result<T>;
}

/// A tablet the caller owns outright (tests, the tablet simulator, the CLI).
struct Owned<'a>(RefCell<&'a mut Tablet>);

impl StoreAccess for Owned<'_> {
    fn with<T>(&self, f: impl FnOnce(&mut Tablet) -> Result<T>) -> Result<T> {
        f(&mut self.0.borrow_mut())
    }
}

/// The store's memory of whether the server reads zstd push bodies ("1" or "0").
const COMPRESSION_KEY: &str = "server_reads_zstd";

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
    /// Upper bound for the adaptive photo chunk.
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
            photo_chunk: plan::MAX_CHUNK,
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
        .login(&LoginRequest { username: username.into(), password: password.into(), device_name: device_name.into(), device_id: None })
        .map_err(transport_error)?;
    let offset = offset_ms(sent, tablet.now_ms(), resp.server_time_ms);
    let tx = tablet.conn.transaction()?;
    meta_set(&tx, "token", &resp.token)?;
    meta_set(&tx, "server_url", server_url)?;
    meta_set(&tx, "worker", &serde_json::to_string(&resp.worker)?)?;
    meta_set(&tx, "clock_offset_ms", &offset.to_string())?;
    tx.execute("DELETE FROM meta WHERE key IN ('revoked', 'session_expired')", [])?;
    tx.commit()?;
    tablet.clock_offset_ms = offset;
    tablet.set_identity(Identity { worker: resp.worker.id, device: resp.device_id })?;
    Ok(resp)
}

/// Log in again as this same device after its session expired (`session_expired`): the
/// worker's password, the device id the store holds. The new token replaces the old one in
/// the store; the device keeps its id, its log and its queue, and its notify-only token.
pub fn renew_session(tablet: &mut Tablet, transport: &dyn Transport, password: &str) -> Result<LoginResponse> {
    let identity = tablet.identity.ok_or(CoreError::NotEnrolled)?;
    let worker: gridwalk_proto::WorkerInfo = serde_json::from_str(&meta_get(&tablet.conn, "worker")?.ok_or(CoreError::NotEnrolled)?)?;
    let sent = tablet.now_ms();
    let req = LoginRequest {
        username: worker.username.clone(),
        password: password.into(),
        device_name: "Gridwalk tablet".into(),
        device_id: Some(identity.device),
    };
    let resp = transport.login(&req).map_err(transport_error)?;
    if resp.device_id != identity.device {
        return Err(CoreError::Server {
            code: "wrong_device".into(),
            message: "the server answered for another device".into(),
            status: 200,
        });
    }
    let offset = offset_ms(sent, tablet.now_ms(), resp.server_time_ms);
    let tx = tablet.conn.transaction()?;
    meta_set(&tx, "token", &resp.token)?;
    meta_set(&tx, "worker", &serde_json::to_string(&resp.worker)?)?;
    meta_set(&tx, "clock_offset_ms", &offset.to_string())?;
    tx.execute("DELETE FROM meta WHERE key IN ('session_expired', 'last_sync_error')", [])?;
    tx.commit()?;
    tablet.clock_offset_ms = offset;
    Ok(resp)
}

/// server clock − device clock, taking the server's stamp as the midpoint of the round trip.
fn offset_ms(sent_ms: i64, received_ms: i64, server_ms: i64) -> i64 {
    server_ms - (sent_ms + received_ms) / 2
}

/// A clock offset measured by one answer, and the round trip it was measured over.
struct Measured {
    offset_ms: i64,
    round_trip_ms: i64,
}

impl Measured {
    fn of(sent_ms: i64, received_ms: i64, server_ms: i64) -> Measured {
        Measured { offset_ms: offset_ms(sent_ms, received_ms, server_ms), round_trip_ms: received_ms - sent_ms }
    }

    /// What the store should keep of it ([`plan::offset_to_keep`]): `None` writes nothing.
    fn to_keep(&self, t: &Tablet) -> Option<i64> {
        plan::offset_to_keep(t.clock_offset_ms, self.offset_ms, self.round_trip_ms)
    }
}

impl From<TransportError> for CoreError {
    fn from(e: TransportError) -> CoreError {
        transport_error(e)
    }
}

fn transport_error(e: TransportError) -> CoreError {
    match e {
        TransportError::Transient(m) => CoreError::Offline(m),
        // An expired token is not a revoked device: the tablet logs in again as itself.
        TransportError::Unauthorized { code, .. } if code == "token_expired" => CoreError::SessionExpired,
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
    sync_with(&Owned(RefCell::new(tablet)), transport, opts, cancel, progress)
}

/// [`sync`] on a store reached through `store`, which is held only for each step's reads and
/// writes and never while a request is out.
pub fn sync_with(
    store: &impl StoreAccess,
    transport: &dyn Transport,
    opts: &SyncOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SyncReport> {
    let result = run(store, transport, opts, cancel, progress);
    // The outcome is noted when the store is still open (a locked app notes nothing), with what
    // the answers said of compression (for the next sync's first push), in one transaction: a
    // sync with nothing new costs the store one commit, not four.
    let compression = transport.compresses_pushes();
    let _ = store.with(|t| {
        let error = result.as_ref().err();
        let tx = t.conn.transaction()?;
        if let Some(now) = compression {
            meta_set(&tx, COMPRESSION_KEY, if now { "1" } else { "0" })?;
        }
        // Two endings the tablet keeps until they are dealt with (a wipe, a login again).
        match error {
            Some(CoreError::Revoked) => meta_set(&tx, "revoked", "1")?,
            Some(CoreError::SessionExpired) => meta_set(&tx, "session_expired", "1")?,
            _ => {}
        }
        note_sync_result(&tx, t.clock.now_ms(), error.map(|e| e.to_string()).as_deref())?;
        tx.commit()?;
        Ok(())
    });
    result
}

fn run(
    store: &impl StoreAccess,
    transport: &dyn Transport,
    opts: &SyncOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SyncReport> {
    let (token, clock, revoked, (events_total, bytes_total), zstd) = store.with(|t| {
        let token = meta_get(&t.conn, "token")?.ok_or(CoreError::NotEnrolled)?;
        let zstd = meta_get(&t.conn, COMPRESSION_KEY)?;
        Ok((token, t.clock.clone(), meta_get(&t.conn, "revoked")?.is_some(), t.outbox_depth()?, zstd))
    })?;
    transport.assume_compression(zstd.as_deref() == Some("1"));
    let clock: Arc<dyn Clock> = clock;
    let mut report = SyncReport::default();
    let mut batch = plan::START_BATCH.min(opts.max_batch);
    let mut chunk = plan::START_CHUNK.min(opts.photo_chunk);
    let mut p = Progress { phase: Phase::Push, events_done: 0, events_total, bytes_done: 0, bytes_total, retrying: None };
    let mut input = PlanInput { revoked, ..Default::default() };
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Err(CoreError::Cancelled);
        }
        let pulled_to_end = input.pulled_to_end;
        (input.outbox, input.photos_pending) =
            store.with(|t| Ok((t.outbox_depth()?.0, if pulled_to_end { t.pending_photos()?.len() as u64 } else { 0 })))?;
        match plan::next_step(&input) {
            Step::StopRevoked => return Err(CoreError::Revoked),
            Step::Done => return Ok(report),
            Step::Push => {
                let body = store.with(|t| t.push_body(batch))?;
                let sent_bytes = body.json.len() as u64;
                let started = Instant::now();
                let sent_at = clock.now_ms();
                let resp = with_retries(opts, cancel, &mut report, &mut p, progress, || transport.push(&token, &body), &mut batch)?;
                batch =
                    plan::next_batch_size(batch, BatchOutcome::Ok { elapsed_ms: started.elapsed().as_millis() as u64 }).min(opts.max_batch);
                let measured = Measured::of(sent_at, clock.now_ms(), resp.server_time_ms);
                let applied = store.with(|t| {
                    let offset = measured.to_keep(t);
                    t.apply_push_response(&resp, offset)
                })?;
                let moved = applied.count;
                if applied.rewound {
                    // A restored server: re-send from what it holds, and pull again.
                    input.pulled_to_end = false;
                }
                report.rejected += resp
                    .results
                    .iter()
                    .filter(|r| {
                        matches!(r.outcome, gridwalk_proto::PushOutcome::Rejected { .. } | gridwalk_proto::PushOutcome::Conflict { .. })
                    })
                    .count() as u64;
                report.pushed += moved;
                input.push_stalled = moved == 0 && !applied.rewound;
                p.phase = Phase::Push;
                p.events_done += moved;
                p.events_total = p.events_total.max(p.events_done);
                p.bytes_done = (p.bytes_done + sent_bytes * moved / body.events.max(1)).min(p.bytes_total);
                progress(&p);
            }
            Step::Pull => {
                let (after, version, state) = store.with(|t| Ok((t.pull_cursor()?, t.registry_version()?, t.sync_state()?)))?;
                let device_report = gridwalk_proto::console::DeviceReport {
                    queue_depth: state.queue_depth,
                    oldest_unsent_ms: state.oldest_unsent_ms,
                    rejected_count: state.rejected,
                    clock_offset_ms: state.clock_offset_ms,
                    app_version: env!("CARGO_PKG_VERSION").to_owned(),
                };
                let sent_at = clock.now_ms();
                let mut unused = batch;
                let resp = with_retries(
                    opts,
                    cancel,
                    &mut report,
                    &mut p,
                    progress,
                    || transport.pull_reporting(&token, after, opts.pull_page, version, &device_report),
                    &mut unused,
                )?;
                let measured = Measured::of(sent_at, clock.now_ms(), resp.server_time_ms);
                let applied = store.with(|t| {
                    let offset = measured.to_keep(t);
                    t.apply_pull(&resp, offset)
                })?;
                report.pulled += applied.count;
                input.pulled_to_end = !resp.has_more && !applied.rewound;
                if applied.rewound {
                    // The acknowledged position may have dropped: the outbox has more to send.
                    input.push_stalled = false;
                }
                p.phase = Phase::Pull;
                p.retrying = None;
                progress(&p);
            }
            Step::UploadPhoto => {
                let (sha, size, data) = store.with(|t| {
                    let (sha, size) = t.pending_photos()?.remove(0);
                    let (_, data) = t.photo(&sha)?;
                    Ok((sha, size, data))
                })?;
                upload_photo(transport, &token, &sha, &data, opts, &mut chunk, cancel, &mut report, &mut p, progress)?;
                store.with(|t| t.mark_photo_uploaded(&sha))?;
                report.photos_uploaded += 1;
                p.phase = Phase::Photos;
                p.bytes_done += size;
                p.bytes_total = p.bytes_total.max(p.bytes_done);
                progress(&p);
            }
        }
    }
}

/// Resumable upload in chunks sized to the link ([`plan::next_chunk_size`]). Most photos are
/// new to the server, so the first chunk goes at once; the server is asked how much it holds
/// only when it says the offset is wrong, which after a cut is the one chunk that was in
/// flight, or a chunk the server stored before the cut took its answer.
#[allow(clippy::too_many_arguments)]
fn upload_photo(
    transport: &dyn Transport,
    token: &str,
    sha: &str,
    data: &[u8],
    opts: &SyncOptions,
    chunk: &mut usize,
    cancel: &AtomicBool,
    report: &mut SyncReport,
    p: &mut Progress,
    progress: &mut dyn FnMut(&Progress),
) -> Result<()> {
    let mut unused = 0;
    let mut from = 0usize;
    loop {
        let to = (from + *chunk).min(data.len());
        let last = to == data.len();
        let piece = &data[from..to];
        let (retries_before, started) = (report.retries, Instant::now());
        let put = with_retries(opts, cancel, report, p, progress, || transport.blob_put(token, sha, from as u64, piece, last), &mut unused);
        let outcome = if report.retries > retries_before {
            plan::ChunkOutcome::Failed
        } else {
            plan::ChunkOutcome::Sent { bytes: piece.len(), elapsed_ms: started.elapsed().as_millis() as u64 }
        };
        *chunk = plan::next_chunk_size(*chunk, outcome, opts.photo_chunk);
        let status = match put {
            Ok(s) => s,
            // Our idea of the offset was stale (an earlier attempt landed): ask and resume.
            Err(CoreError::Server { code, .. }) if code == "offset_mismatch" => {
                with_retries(opts, cancel, report, p, progress, || transport.blob_status(token, sha), &mut unused)?
            }
            Err(e) => return Err(e),
        };
        if status.complete {
            return Ok(());
        }
        from = status.held_bytes.min(data.len() as u64) as usize;
    }
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
