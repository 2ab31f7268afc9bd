//! The use cases. Typed inputs and outputs, checked by one [`AppState::authorize`], running on
//! storage through the traits of [`crate::store`]. Nothing here imports axum or a database
//! driver: [`crate::http`] adapts requests to these calls, and the store keeps what they write.

pub mod access;
pub mod admin;
pub mod auth;
pub mod authored;
pub mod authorize;
pub mod console;
pub mod desk;
pub mod dispatch;
pub mod export;
pub mod foresight;
pub mod hotline;
pub mod ingest;
pub mod notices;
pub mod notify;
pub mod open311;
pub mod query;
pub mod registry;
pub mod thumbs;
pub mod views;
pub mod workflow;

pub use auth::Principal;
pub use authorize::{Action, Grant};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{Place, UnplacedRow};
use crate::store::engine::Database;
use crate::store::{blobs, files, Storage, EPOCH_META_KEY};
use access::{AccessChange, PasswordChange, PasswordReset, RoleChange};
use auth::{ClientAddr, LoginThrottle, RateLimiter};
use gridwalk_clock::{Clock, SystemClock};
use gridwalk_domain::rates::Period;
use gridwalk_domain::{IssueId, IssueReport, IssueState, WorkerId};
use gridwalk_proto::{
    Alert, AlertList, BlobStatus, HotlineIntake, IssueList, LoginRequest, LoginResponse, NoticeList, PledgeList, PullResponse, PushRequest,
    PushResponse, RatesReport, RegistrySnapshot, VisitList,
};
use hotline::{IntakeOutcome, Prepared};
use notices::{DeliveryRound, NoticeSender, RetryPolicy};
use query::{IssueFilter, VisitFilter};
use registry::RegistryIndex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use workflow::{GroupBy, RatesQuery};

/// How often a push re-checks whether the CLI replaced the registry underneath the server.
const REGISTRY_RECHECK_MS: i64 = 1000;

/// The server's state: storage, configuration, the injected clock and the registry cache.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Storage,
    config: Config,
    clock: Arc<dyn Clock>,
    data_dir: PathBuf,
    registry: RwLock<Arc<RegistryIndex>>,
    registry_checked_ms: AtomicI64,
    limiter: RateLimiter,
    /// Login attempts per client address.
    login_throttle: LoginThrottle,
    /// Serializes blob appends: two uploads of one photo must not interleave their chunks.
    blob_lock: tokio::sync::Mutex<()>,
    /// What was just stored, for devices waiting for news.
    feed: Arc<notify::Feed>,
    /// Where messages to residents go (`Config::notice_sender`).
    notice_sender: Arc<dyn NoticeSender>,
    /// One delivery round at a time: two would send the same due message twice.
    delivery_lock: tokio::sync::Mutex<()>,
    /// The database's epoch (`restore_epoch`), told to tablets with every push and pull.
    epoch: String,
    /// This process's random name, as the holder of leases (see [`ESCALATION_LEASE`]).
    instance: String,
}

/// The lease of the escalation sweep: one process sweeps at a time.
pub const ESCALATION_LEASE: &str = "escalation";
/// The lease of the delivery of messages to residents: one process sends at a time.
pub const NOTICE_LEASE: &str = "notices";

/// This process's lease holder name: random, made once per process, so a server state reopened
/// in the same process (a test, a reload) keeps the leases it held.
fn process_instance() -> String {
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INSTANCE.get_or_init(|| format!("{}-{}", std::process::id(), admin::new_epoch())).clone()
}

/// A lease lasts three periods of its job (at least 30 s): a holder that misses a round keeps
/// it, one that died hands it over within that time.
fn lease_ttl_ms(period: std::time::Duration) -> i64 {
    i64::try_from(period.saturating_mul(3).as_millis()).unwrap_or(i64::MAX).max(30_000)
}

impl AppState {
    /// Open (creating if needed) the data directory on the system clock.
    pub fn open(data_dir: &Path, config: Config) -> Result<AppState> {
        Self::open_with_clock(data_dir, config, Arc::new(SystemClock::default()))
    }

    /// Open the data directory: database and migrations, the hotline identity, views rebuilt
    /// if their shape changed, the writer and the registry index. Time and ids come from
    /// `clock`.
    pub fn open_with_clock(data_dir: &Path, config: Config, clock: Arc<dyn Clock>) -> Result<AppState> {
        files::private_dir(data_dir)?;
        let notice_sender = notices::sender_for(&config.notice_sender)?;
        let store = Database::of(data_dir)?.open(config.read_connections, config.busy_timeout)?;
        blobs::tighten(&data_dir.join(blobs::BLOB_DIR))?;
        let now = clock.now_ms();
        let fresh_epoch = admin::new_epoch();
        let (index, latest, epoch) = store.write_blocking(move |tx| {
            authored::ensure_hotline_identity(tx, now)?;
            // Every database has an epoch from its first open; a restore makes a new one (and
            // needs the server stopped, so the epoch read here holds for the server's life).
            let epoch = match tx.meta(EPOCH_META_KEY)? {
                Some(e) => e,
                None => {
                    tx.set_meta(EPOCH_META_KEY, &fresh_epoch)?;
                    fresh_epoch
                }
            };
            let index = RegistryIndex::load(tx)?;
            if views::stale(tx)? {
                let n = views::rebuild(tx, &index)?;
                tracing::info!(entities = n, version = views::VIEWS_VERSION, "views rebuilt from the events");
            }
            Ok((index, tx.max_server_seq()?, epoch))
        })?;
        let feed = Arc::new(notify::Feed::new(latest));
        // Other processes on the same database commit too: their notifications wake this feed.
        let woken = feed.clone();
        store.watch(Arc::new(move || woken.poke()))?;
        tracing::info!(data = %data_dir.display(), registry_version = index.version, courtyards = index.registry.courtyards.len(), "server state open");
        Ok(AppState {
            inner: Arc::new(Inner {
                store,
                limiter: RateLimiter::new(config.rate_per_sec, config.rate_burst),
                login_throttle: LoginThrottle::new(config.login_burst, config.login_per_minute),
                config,
                data_dir: data_dir.to_owned(),
                registry: RwLock::new(Arc::new(index)),
                registry_checked_ms: AtomicI64::new(now),
                clock,
                blob_lock: tokio::sync::Mutex::new(()),
                feed,
                notice_sender,
                delivery_lock: tokio::sync::Mutex::new(()),
                epoch,
                instance: process_instance(),
            }),
        })
    }

    /// A write that stores events: once durable, the change feed is told, so waiting devices
    /// hear of it at once.
    async fn write_events<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn crate::store::Tx) -> Result<T> + Send + 'static,
    {
        let out = self.inner.store.write(f).await;
        self.inner.feed.poke();
        out
    }

    pub fn feed(&self) -> Arc<notify::Feed> {
        self.inner.feed.clone()
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn storage(&self) -> &Storage {
        &self.inner.store
    }

    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// The server's clock now.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.inner.data_dir.join(blobs::BLOB_DIR)
    }

    /// The registry as last loaded.
    pub fn registry(&self) -> Arc<RegistryIndex> {
        self.inner.registry.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// The registry, reloaded first if the stored version moved (an import by the CLI).
    pub async fn fresh_registry(&self) -> Result<Arc<RegistryIndex>> {
        let cached = self.registry();
        self.inner.registry_checked_ms.store(self.now_ms(), Ordering::Relaxed);
        let stored = self.inner.store.read(|r| r.registry_version()).await?;
        if stored == cached.version {
            return Ok(cached);
        }
        let fresh = Arc::new(self.inner.store.read(|r| RegistryIndex::load(r)).await?);
        if let Ok(mut slot) = self.inner.registry.write() {
            *slot = fresh.clone();
        }
        tracing::info!(version = fresh.version, "registry reloaded");
        Ok(fresh)
    }

    async fn recent_registry(&self) -> Result<Arc<RegistryIndex>> {
        if self.now_ms() - self.inner.registry_checked_ms.load(Ordering::Relaxed) > REGISTRY_RECHECK_MS {
            return self.fresh_registry().await;
        }
        Ok(self.registry())
    }

    /// Log in from `addr` (the client address, for the throttle and the lockout).
    pub async fn login(&self, addr: ClientAddr, req: LoginRequest) -> Result<LoginResponse> {
        auth::login(&self.inner.store, &self.inner.config, self.inner.clock.clone(), &self.inner.login_throttle, addr, req).await
    }

    /// A used session token stays alive: the expiry moves to now + the token lifetime, written
    /// only when the last renewal is older than `Config::token_renew_every`, so a device syncing
    /// every minute costs one write an hour, not one a minute. The notify-only token renews
    /// nothing: a lost, locked tablet polling for news must not keep its session alive.
    async fn renew_token(&self, who: &Principal) -> Result<()> {
        let now = self.now_ms();
        let (ttl, every) = if who.console { self.inner.config.console_times_ms() } else { self.inner.config.token_times_ms() };
        if who.expires_ms.is_some_and(|e| e.saturating_sub(now) > ttl - every) {
            return Ok(());
        }
        let (device, until) = (who.device, now.saturating_add(ttl));
        self.inner.store.write(move |tx| tx.set_device_expiry(device, until)).await
    }

    /// Change one's own password, with the current one (any role). The other devices of the
    /// worker are revoked; the one that asked keeps working.
    pub async fn change_own_password(&self, who: &Principal, addr: ClientAddr, req: PasswordChange) -> Result<AccessChange> {
        self.authorize(who, Action::ChangeOwnPassword).await?;
        let username = who.worker.username.clone();
        access::check_new_password(&req.new_password, &username)?;
        let store = &self.inner.store;
        let throttle = &self.inner.login_throttle;
        auth::check_current_password(store, &self.inner.config, throttle, addr, username.clone(), req.old_password, self.now_ms()).await?;
        let hash = access::hash_off_runtime(req.new_password).await?;
        let (device, now) = (who.device, self.now_ms());
        store.write(move |tx| access::set_password(tx, &username, &username, &hash, Some(device), now)).await
    }

    /// Disable or enable a worker (admin).
    pub async fn set_worker_disabled(&self, who: &Principal, username: String, disabled: bool) -> Result<AccessChange> {
        self.authorize(who, Action::ManageWorkers).await?;
        let (actor, now) = (who.worker.username.clone(), self.now_ms());
        self.inner.store.write(move |tx| access::set_disabled(tx, &actor, &username, disabled, now)).await
    }

    /// Set a worker's password (admin): every device of theirs is revoked.
    pub async fn reset_password(&self, who: &Principal, username: String, req: PasswordReset) -> Result<AccessChange> {
        self.authorize(who, Action::ManageWorkers).await?;
        access::check_new_password(&req.password, &username)?;
        let hash = access::hash_off_runtime(req.password).await?;
        let (actor, now) = (who.worker.username.clone(), self.now_ms());
        self.inner.store.write(move |tx| access::set_password(tx, &actor, &username, &hash, None, now)).await
    }

    /// Change a worker's role, scope or both (admin).
    pub async fn change_role(&self, who: &Principal, username: String, req: RoleChange) -> Result<AccessChange> {
        self.authorize(who, Action::ManageWorkers).await?;
        let (role, scope) = access::parse_role_change(&req)?;
        let (actor, now) = (who.worker.username.clone(), self.now_ms());
        self.inner.store.write(move |tx| access::set_role_and_scope(tx, &actor, &username, role, scope, now)).await
    }

    /// Resolve a session token, take one request from its rate bucket, and keep the token
    /// alive: every use of it (a sync, or a supervisor's reads) slides its expiry.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let who = self.authenticate_as(token, auth::TokenKind::Session).await?;
        self.renew_token(&who).await?;
        Ok(who)
    }

    /// Resolve a bearer token of the given kind (a session token, or a notify-only one).
    pub async fn authenticate_as(&self, token: &str, kind: auth::TokenKind) -> Result<Principal> {
        let looks_right = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
        if !looks_right {
            return Err(Error::InvalidToken);
        }
        let who = auth::authenticate(&self.inner.store, token, self.now_ms(), kind).await?;
        if !self.inner.limiter.allow(who.device) {
            return Err(Error::RateLimited);
        }
        Ok(who)
    }

    pub async fn push(&self, who: &Principal, req: PushRequest) -> Result<PushResponse> {
        let Grant { registry, scope } = self.authorize(who, Action::Push).await?;
        if req.device_id != who.device {
            return Err(Error::WrongDevice { claimed: req.device_id.to_string() });
        }
        if req.events.len() > self.inner.config.max_push_events {
            return Err(Error::BatchTooLarge { max: self.inner.config.max_push_events });
        }
        let (who, clock) = (who.clone(), self.inner.clock.clone());
        let rules = ingest::PushRules {
            recurrence_window_ms: self.recurrence_window_ms(),
            clock: self.inner.config.clock,
            templates: self.inner.config.notice_templates.clone(),
        };
        let mut resp = self.write_events(move |tx| ingest::push(tx, clock.as_ref(), &who, &scope, &registry, req, &rules)).await?;
        resp.epoch = Some(self.inner.epoch.clone());
        Ok(resp)
    }

    pub async fn pull(&self, who: &Principal, after: u64, limit: u64, registry_version: u64) -> Result<PullResponse> {
        let Grant { registry, scope } = self.authorize(who, Action::Pull).await?;
        let limit = limit.clamp(1, self.inner.config.max_pull_limit);
        let device = who.device;
        let snapshot = (registry.version > registry_version).then(|| registry.snapshot(&scope));
        let (page, held) = self.inner.store.read(move |r| Ok((query::pull(r, &scope, device, after, limit)?, r.held_seq(device)?))).await?;
        Ok(PullResponse {
            events: page.events,
            next_cursor: page.next_cursor,
            has_more: page.has_more,
            registry: snapshot,
            server_time_ms: self.now_ms(),
            epoch: Some(self.inner.epoch.clone()),
            held_seq: Some(held),
            max_seq: Some(page.max_seq),
        })
    }

    pub async fn registry_snapshot(&self, who: &Principal) -> Result<RegistrySnapshot> {
        let Grant { registry, scope } = self.authorize(who, Action::ReadRegistry).await?;
        Ok(registry.snapshot(&scope))
    }

    pub async fn list_issues(&self, who: &Principal, filter: IssueFilter) -> Result<IssueList> {
        let Grant { registry, scope } = self.authorize(who, Action::ReadRecords).await?;
        self.inner.store.read(move |r| query::list_issues(r, &registry, &scope, &filter)).await
    }

    pub async fn get_issue(&self, who: &Principal, id: IssueId) -> Result<IssueState> {
        let Grant { scope, .. } = self.authorize(who, Action::ReadRecords).await?;
        self.inner.store.read(move |r| query::get_issue(r, &scope, id)).await
    }

    pub async fn list_visits(&self, who: &Principal, filter: VisitFilter) -> Result<VisitList> {
        let Grant { registry, scope } = self.authorize(who, Action::ReadRecords).await?;
        self.inner.store.read(move |r| query::list_visits(r, &registry, &scope, &filter)).await
    }

    /// Take in a 12345 order: filed as an issue at its courtyard, or, when its address cannot be
    /// placed, queued for the district dispatcher with the reason. Never refused for its place.
    pub async fn hotline_intake(&self, who: &Principal, order: HotlineIntake) -> Result<IntakeOutcome> {
        let Grant { registry, scope } = self.authorize(who, Action::HotlineIntake).await?;
        match hotline::prepare(&registry, &scope, &order, self.now_ms())? {
            Prepared::Filed(report, place) => self.take_in(registry, who.worker.username.clone(), report, place).await,
            Prepared::Queued(row) => self.queue_order(who.worker.username.clone(), row).await,
        }
    }

    /// Queue an order no courtyard could be found for (from the hotline desk or Open311).
    pub async fn queue_order(&self, actor: String, row: UnplacedRow) -> Result<IntakeOutcome> {
        self.write_events(move |tx| {
            // An order number already filed answers as filed: a resend never queues it twice.
            if let Some((issue_id, received)) = tx.hotline_order(&row.order.order_no)? {
                let facts = hotline::OrderFacts::of_order(&row.order).ok_or_else(|| Error::Internal("an unchecked order".into()))?;
                hotline::check_resend(tx, &row.order.order_no, issue_id, facts, None)?;
                return hotline::filed_answer(tx, &row.order.order_no, issue_id, received).map(IntakeOutcome::Filed);
            }
            hotline::queue(tx, &actor, row).map(IntakeOutcome::Queued)
        })
        .await
    }

    /// Store a prepared hotline report (from the hotline desk or Open311) and, in the same
    /// transaction, link it to the issue it repeats, if any. An order number still waiting in
    /// the dispatcher's queue stays there (the dispatcher places it).
    pub async fn take_in(&self, registry: Arc<RegistryIndex>, actor: String, report: IssueReport, place: Place) -> Result<IntakeOutcome> {
        let (clock, window) = (self.inner.clock.clone(), self.recurrence_window_ms());
        let templates = self.inner.config.notice_templates.clone();
        let foresight = self.inner.config.district.foresight;
        self.write_events(move |tx| {
            let order_no = report.external_ref.clone().unwrap_or_default();
            if let Some(row) = tx.unplaced_order(&order_no)?.filter(|r| r.placed_issue.is_none()) {
                if hotline::OrderFacts::of_order(&row.order) != Some(hotline::OrderFacts::of_report(&report)) {
                    return Err(Error::OrderNoTaken(order_no));
                }
                return Ok(IntakeOutcome::Queued(hotline::queued_answer(&row, false)));
            }
            let resp = hotline::intake(
                tx,
                &registry,
                clock.as_ref(),
                hotline::IntakeRules { templates: &templates, foresight: &foresight },
                &actor,
                report,
                place,
            )?;
            if resp.created {
                workflow::flag_recurrence(tx, &registry, clock.as_ref(), &templates, resp.issue_id, window)?;
            }
            Ok(IntakeOutcome::Filed(resp))
        })
        .await
    }

    fn recurrence_window_ms(&self) -> i64 {
        i64::try_from(self.inner.config.recurrence_window.as_millis()).unwrap_or(i64::MAX)
    }

    /// Run the escalation rules at the clock's now: what the background task does every
    /// `Config::escalation_period`; tests call it on a manual clock. Returns what was done now.
    pub async fn run_escalations(&self) -> Result<Vec<Alert>> {
        let registry = self.fresh_registry().await?;
        let rules = self.inner.config.escalation.clone();
        let targets = self.inner.config.whistle_targets.clone();
        let clock = self.inner.clock.clone();
        let templates = self.inner.config.notice_templates.clone();
        let district = self.inner.config.district.clone();
        let holder = self.inner.instance.clone();
        let ttl = lease_ttl_ms(self.inner.config.escalation_period);
        self.write_events(move |tx| {
            // Several servers on one database sweep once between them: the lease's holder
            // sweeps, the others wait for it to lapse. Taken in the sweep's own transaction, so
            // a sweep never runs on a lease that was not held when it committed.
            if !tx.take_lease(ESCALATION_LEASE, &holder, clock.now_ms(), ttl)? {
                return Ok(Vec::new());
            }
            let targets = workflow::WhistleTargets { fixed: &targets, district: &district };
            workflow::run_escalations(tx, &registry, clock.as_ref(), &templates, &rules, &targets)
        })
        .await
    }

    /// This process's name for the leases it holds.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// The sender `Config::notice_sender` names, built when the state was opened.
    pub fn notice_sender(&self) -> Arc<dyn NoticeSender> {
        self.inner.notice_sender.clone()
    }

    /// One delivery round of the messages to residents through `sender`, at the clock's now:
    /// what the background task does every `Config::notice_period` with [`AppState::notice_sender`];
    /// tests call it with their own. Rounds never overlap. See [`notices`] for why each
    /// message is delivered once.
    pub async fn deliver_notices(&self, sender: &dyn NoticeSender) -> Result<DeliveryRound> {
        let _one_round = self.inner.delivery_lock.lock().await;
        // One process sends between several on one database: two would send a due message
        // twice. The lease outlasts a round; its holder renews it each round.
        let (holder, now, ttl) = (self.inner.instance.clone(), self.now_ms(), lease_ttl_ms(self.inner.config.notice_period));
        if !self.inner.store.write(move |tx| tx.take_lease(NOTICE_LEASE, &holder, now, ttl)).await? {
            return Ok(DeliveryRound::default());
        }
        let policy = RetryPolicy::of(&self.inner.config.notice_sender);
        notices::deliver(&self.inner.store, self.inner.clock.as_ref(), sender, &policy).await
    }

    /// The messages to the resident of one issue, phones masked (supervisor, admin).
    pub async fn issue_notices(&self, who: &Principal, id: IssueId) -> Result<NoticeList> {
        let Grant { scope, .. } = self.authorize(who, Action::ReadNotices).await?;
        self.inner.store.read(move |r| notices::issue_notices(r, &scope, id)).await
    }

    pub async fn alerts(&self, who: &Principal, limit: u32) -> Result<AlertList> {
        let Grant { scope, .. } = self.authorize(who, Action::ReadDashboard).await?;
        let limit = limit.clamp(1, query::MAX_ISSUE_PAGE);
        Ok(AlertList { alerts: self.inner.store.read(move |r| workflow::list_alerts(r, &scope, limit)).await? })
    }

    /// The three rates (`by` and `period` as codes; `[from_ms, to_ms)` by receipt time).
    pub async fn rates(&self, who: &Principal, by: &str, period: &str, from_ms: i64, to_ms: i64) -> Result<RatesReport> {
        let Grant { registry, scope } = self.authorize(who, Action::ReadDashboard).await?;
        let by = GroupBy::from_code(by)
            .ok_or_else(|| Error::InvalidQuery(format!("by={by:?}: use district, subdistrict, community, category, worker or source")))?;
        let period = Period::from_code(period).ok_or_else(|| Error::InvalidQuery(format!("period={period:?}: use week or month")))?;
        if from_ms >= to_ms {
            return Err(Error::InvalidQuery(format!("from ({from_ms}) must be before to ({to_ms})")));
        }
        let q = RatesQuery { by, period, from_ms, to_ms, as_of_ms: self.now_ms() };
        self.inner.store.read(move |r| workflow::rates(r, &registry, &scope, q)).await
    }

    /// Pledged issues in scope with their progress, optionally of one cadre.
    pub async fn pledges(&self, who: &Principal, cadre: Option<WorkerId>) -> Result<PledgeList> {
        let Grant { scope, .. } = self.authorize(who, Action::ReadRecords).await?;
        self.inner.store.read(move |r| workflow::pledges(r, &scope, cadre)).await
    }

    /// The photo's size as one of `who`'s device's stored events declares it, and the bytes
    /// the device uploaded since `quota_since_ms` (when asked); an error when no event of
    /// theirs names it.
    /// Checked before a blob's state is read, so a probe for a photo outside one's own events
    /// learns nothing, not even whether the server holds it.
    async fn own_photo(&self, who: &Principal, sha256: &str, quota_since_ms: Option<i64>) -> Result<(Option<u64>, u64)> {
        blobs::check_name(sha256)?;
        let (device, sha) = (who.device, sha256.to_owned());
        let (named, used) = self
            .inner
            .store
            .read(move |r| Ok((r.photo_ref(device, &sha)?, quota_since_ms.map(|t| r.uploaded_bytes_since(device, t)).transpose()?)))
            .await?;
        Ok((named.ok_or_else(|| Error::PhotoNotReferenced(sha256.to_owned()))?, used.unwrap_or(0)))
    }

    pub async fn blob_status(&self, who: &Principal, sha256: String) -> Result<BlobStatus> {
        self.authorize(who, Action::UploadPhoto).await?;
        self.own_photo(who, &sha256, None).await?;
        let dir = self.blob_dir();
        tokio::task::spawn_blocking(move || blobs::status(&dir, &sha256)).await.map_err(|e| Error::Internal(e.to_string()))?
    }

    /// Append a chunk of a photo one of the device's events names, within the size that event
    /// declared and the device's daily quota.
    pub async fn blob_put(&self, who: &Principal, sha256: String, offset: u64, chunk: Vec<u8>, last: bool) -> Result<BlobStatus> {
        self.authorize(who, Action::UploadPhoto).await?;
        let config = &self.inner.config;
        let (device, now_ms, quota) = (who.device, self.now_ms(), config.photo_quota_per_day);
        // Under the lock: the bytes used and the append that adds to them are one step.
        let _guard = self.inner.blob_lock.lock().await;
        let (declared, used) = self.own_photo(who, &sha256, Some(now_ms.saturating_sub(86_400_000))).await?;
        let max = declared.map_or(config.photo_max_bytes, |d| d.min(config.photo_max_bytes));
        if used.saturating_add(chunk.len() as u64) > quota {
            return Err(Error::PhotoQuotaExceeded { max: quota });
        }
        let (dir, sha, n) = (self.blob_dir(), sha256.clone(), chunk.len() as u64);
        let status = tokio::task::spawn_blocking(move || blobs::append(&dir, &sha, offset, &chunk, last, max))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        if n > 0 {
            self.inner.store.write(move |tx| tx.add_uploaded_bytes(&sha256, device, n, now_ms)).await?;
        }
        Ok(status)
    }

    /// Remove partial uploads nobody touched for `Config::partial_upload_ttl`; how many.
    pub async fn expire_partial_uploads(&self) -> Result<usize> {
        let _guard = self.inner.blob_lock.lock().await;
        let (dir, ttl) = (self.blob_dir(), self.inner.config.partial_upload_ttl);
        tokio::task::spawn_blocking(move || blobs::expire_partials(&dir, ttl)).await.map_err(|e| Error::Internal(e.to_string()))?
    }
}
