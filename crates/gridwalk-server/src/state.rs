//! The server's state and its use cases as plain async functions. The HTTP layer only turns
//! requests into calls here and results into responses.

use crate::auth::{self, Action, Principal, RateLimiter};
use crate::config::Config;
use crate::db::{now_ms, Db, DB_FILE};
use crate::error::{Error, Result};
use crate::query::{self, IssueFilter, VisitFilter};
use crate::registry::{self, RegistryIndex, Scope};
use crate::workflow::{self, GroupBy};
use crate::{blobs, hotline, ingest};
use gridwalk_domain::rates::Period;
use gridwalk_domain::{IssueId, IssueState, WorkerId};
use gridwalk_proto::{
    Alert, AlertList, BlobStatus, HotlineIntake, HotlineIntakeResponse, IssueList, LoginRequest, LoginResponse, PledgeList, PullResponse,
    PushRequest, PushResponse, RatesReport, RegistrySnapshot, VisitList,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

/// How often a push re-checks whether the CLI replaced the registry underneath the server.
const REGISTRY_RECHECK_MS: i64 = 1000;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    config: Config,
    data_dir: PathBuf,
    registry: RwLock<Arc<RegistryIndex>>,
    registry_checked_ms: AtomicI64,
    limiter: RateLimiter,
    /// Serializes blob appends: two uploads of one photo must not interleave their chunks.
    blob_lock: tokio::sync::Mutex<()>,
}

impl AppState {
    /// Open (creating if needed) the data directory: database, migrations, hotline identity,
    /// the writer thread and the registry index.
    pub fn open(data_dir: &Path, config: Config) -> Result<AppState> {
        let conn = crate::admin::open(data_dir)?;
        let index = registry::load(&conn)?;
        drop(conn);
        let db = Db::open(&data_dir.join(DB_FILE), config.read_connections)?;
        tracing::info!(data = %data_dir.display(), registry_version = index.version, courtyards = index.registry.courtyards.len(), "server state open");
        Ok(AppState {
            inner: Arc::new(Inner {
                db,
                limiter: RateLimiter::new(config.rate_per_sec, config.rate_burst),
                config,
                data_dir: data_dir.to_owned(),
                registry: RwLock::new(Arc::new(index)),
                registry_checked_ms: AtomicI64::new(now_ms()),
                blob_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.inner.data_dir.join("blobs")
    }

    /// The registry as last loaded.
    pub fn registry(&self) -> Arc<RegistryIndex> {
        self.inner.registry.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// The registry, reloaded first if the stored version moved (an import by the CLI).
    pub async fn fresh_registry(&self) -> Result<Arc<RegistryIndex>> {
        let cached = self.registry();
        self.inner.registry_checked_ms.store(now_ms(), Ordering::Relaxed);
        let stored = self.inner.db.read(registry::stored_version).await?;
        if stored == cached.version {
            return Ok(cached);
        }
        let fresh = Arc::new(self.inner.db.read(registry::load).await?);
        if let Ok(mut slot) = self.inner.registry.write() {
            *slot = fresh.clone();
        }
        tracing::info!(version = fresh.version, "registry reloaded");
        Ok(fresh)
    }

    async fn recent_registry(&self) -> Result<Arc<RegistryIndex>> {
        if now_ms() - self.inner.registry_checked_ms.load(Ordering::Relaxed) > REGISTRY_RECHECK_MS {
            return self.fresh_registry().await;
        }
        Ok(self.registry())
    }

    pub fn scope_of(&self, registry: &RegistryIndex, who: &Principal) -> Scope {
        registry.resolve_lenient(&who.worker.scope)
    }

    pub async fn login(&self, req: LoginRequest) -> Result<LoginResponse> {
        auth::login(&self.inner.db, &self.inner.config, req, now_ms()).await
    }

    /// Resolve a bearer token and take one request from its rate bucket.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let looks_right = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
        if !looks_right {
            return Err(Error::InvalidToken);
        }
        let who = auth::authenticate(&self.inner.db, token, now_ms()).await?;
        if !self.inner.limiter.allow(who.device) {
            return Err(Error::RateLimited);
        }
        Ok(who)
    }

    pub async fn push(&self, who: &Principal, req: PushRequest) -> Result<PushResponse> {
        Action::Push.check(who.worker.role)?;
        if req.device_id != who.device {
            return Err(Error::WrongDevice { claimed: req.device_id.to_string() });
        }
        if req.events.len() > self.inner.config.max_push_events {
            return Err(Error::BatchTooLarge { max: self.inner.config.max_push_events });
        }
        let registry = self.recent_registry().await?;
        let scope = self.scope_of(&registry, who);
        let who = who.clone();
        let window = self.recurrence_window_ms();
        self.inner.db.write(move |c| ingest::push(c, &who, &scope, &registry, req, window, now_ms())).await
    }

    pub async fn pull(&self, who: &Principal, after: u64, limit: u64, registry_version: u64) -> Result<PullResponse> {
        Action::Pull.check(who.worker.role)?;
        let registry = self.fresh_registry().await?;
        let scope = self.scope_of(&registry, who);
        let limit = limit.clamp(1, self.inner.config.max_pull_limit);
        let device = who.device;
        let snapshot = (registry.version > registry_version).then(|| registry.snapshot(&scope));
        let page = self.inner.db.read(move |c| query::pull(c, &scope, device, after, limit)).await?;
        Ok(PullResponse {
            events: page.events,
            next_cursor: page.next_cursor,
            has_more: page.has_more,
            registry: snapshot,
            server_time_ms: now_ms(),
        })
    }

    pub async fn registry_snapshot(&self, who: &Principal) -> Result<RegistrySnapshot> {
        Action::ReadRegistry.check(who.worker.role)?;
        let registry = self.fresh_registry().await?;
        Ok(registry.snapshot(&self.scope_of(&registry, who)))
    }

    pub async fn list_issues(&self, who: &Principal, filter: IssueFilter) -> Result<IssueList> {
        Action::ReadRecords.check(who.worker.role)?;
        let registry = self.recent_registry().await?;
        let scope = self.scope_of(&registry, who);
        self.inner.db.read(move |c| query::list_issues(c, &registry, &scope, &filter)).await
    }

    pub async fn get_issue(&self, who: &Principal, id: IssueId) -> Result<IssueState> {
        Action::ReadRecords.check(who.worker.role)?;
        let registry = self.recent_registry().await?;
        let scope = self.scope_of(&registry, who);
        self.inner.db.read(move |c| query::get_issue(c, &scope, id)).await
    }

    pub async fn list_visits(&self, who: &Principal, filter: VisitFilter) -> Result<VisitList> {
        Action::ReadRecords.check(who.worker.role)?;
        let registry = self.recent_registry().await?;
        let scope = self.scope_of(&registry, who);
        self.inner.db.read(move |c| query::list_visits(c, &registry, &scope, &filter)).await
    }

    pub async fn hotline_intake(&self, who: &Principal, order: HotlineIntake) -> Result<HotlineIntakeResponse> {
        Action::HotlineIntake.check(who.worker.role)?;
        let registry = self.fresh_registry().await?;
        let scope = self.scope_of(&registry, who);
        let (report, place) = hotline::prepare(&registry, &scope, &order)?;
        self.take_in(registry, who.worker.username.clone(), report, place, now_ms()).await
    }

    /// Store a prepared hotline report (from the hotline desk or Open311) and, in the same
    /// transaction, link it to the issue it repeats, if any.
    pub async fn take_in(
        &self,
        registry: Arc<RegistryIndex>,
        actor: String,
        report: gridwalk_domain::IssueReport,
        place: crate::registry::Place,
        now: i64,
    ) -> Result<HotlineIntakeResponse> {
        let window = self.recurrence_window_ms();
        self.inner
            .db
            .write(move |c| {
                let resp = hotline::intake(c, &registry, &actor, report, place, now)?;
                if resp.created {
                    workflow::flag_recurrence(c, &registry, resp.issue_id, window, now)?;
                }
                Ok(resp)
            })
            .await
    }

    fn recurrence_window_ms(&self) -> i64 {
        i64::try_from(self.inner.config.recurrence_window.as_millis()).unwrap_or(i64::MAX)
    }

    /// Run the escalation rules at `now_ms` (server clock): what the background task does every
    /// `Config::escalation_period`; tests call it with a fixed time. Returns what was done now.
    pub async fn run_escalations(&self, now_ms: i64) -> Result<Vec<Alert>> {
        let registry = self.fresh_registry().await?;
        let rules = self.inner.config.escalation.clone();
        let targets = self.inner.config.whistle_targets.clone();
        self.inner.db.write(move |c| workflow::run_escalations(c, &registry, &rules, &targets, now_ms)).await
    }

    pub async fn alerts(&self, who: &Principal, limit: u32) -> Result<AlertList> {
        Action::ReadDashboard.check(who.worker.role)?;
        let registry = self.recent_registry().await?;
        let scope = self.scope_of(&registry, who);
        let limit = limit.clamp(1, query::MAX_ISSUE_PAGE);
        Ok(AlertList { alerts: self.inner.db.read(move |c| workflow::list_alerts(c, &scope, limit)).await? })
    }

    /// The three rates (`by` and `period` as codes; `[from_ms, to_ms)` by receipt time).
    pub async fn rates(&self, who: &Principal, by: &str, period: &str, from_ms: i64, to_ms: i64) -> Result<RatesReport> {
        Action::ReadDashboard.check(who.worker.role)?;
        let by = GroupBy::from_code(by)
            .ok_or_else(|| Error::InvalidQuery(format!("by={by:?}: use district, subdistrict, community, category or worker")))?;
        let period = Period::from_code(period).ok_or_else(|| Error::InvalidQuery(format!("period={period:?}: use week or month")))?;
        if from_ms >= to_ms {
            return Err(Error::InvalidQuery(format!("from ({from_ms}) must be before to ({to_ms})")));
        }
        let registry = self.recent_registry().await?;
        let scope = self.scope_of(&registry, who);
        let as_of = now_ms();
        self.inner.db.read(move |c| workflow::rates(c, &registry, &scope, by, period, from_ms, to_ms, as_of)).await
    }

    /// Pledged issues in scope with their progress, optionally of one cadre.
    pub async fn pledges(&self, who: &Principal, cadre: Option<WorkerId>) -> Result<PledgeList> {
        Action::ReadRecords.check(who.worker.role)?;
        let registry = self.recent_registry().await?;
        let scope = self.scope_of(&registry, who);
        self.inner.db.read(move |c| workflow::pledges(c, &scope, cadre)).await
    }

    pub async fn blob_status(&self, who: &Principal, sha256: String) -> Result<BlobStatus> {
        Action::UploadPhoto.check(who.worker.role)?;
        let dir = self.blob_dir();
        tokio::task::spawn_blocking(move || blobs::status(&dir, &sha256)).await.map_err(|e| Error::Internal(e.to_string()))?
    }

    pub async fn blob_put(&self, who: &Principal, sha256: String, offset: u64, chunk: Vec<u8>, last: bool) -> Result<BlobStatus> {
        Action::UploadPhoto.check(who.worker.role)?;
        blobs::check_name(&sha256)?;
        let _guard = self.inner.blob_lock.lock().await;
        let dir = self.blob_dir();
        let max = self.inner.config.photo_max_bytes;
        tokio::task::spawn_blocking(move || blobs::append(&dir, &sha256, offset, &chunk, last, max))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
    }
}
