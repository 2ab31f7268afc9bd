//! Administration on a data directory: registry loading, workers, devices, API keys. The CLI
//! calls these; so do tests and the benchmark. Every change is audited with the actor `cli`.

use super::access::{self, AccessChange};
use super::auth::{self, create_device, hash_password};
use super::authored::{ensure_hotline_identity, HOTLINE_USERNAME};
use super::registry::RegistryIndex;
use crate::error::{Error, Result};
use crate::model::{ApiKeyInfo, AuditEntry, DeviceRow};
use crate::store::blobs::BLOB_DIR;
use crate::store::engine::Database;
use crate::store::files::{private_dir, DataDirLock};
use crate::store::sqlite::{self, BackupSummary, BUSY_TIMEOUT};
use crate::store::{Storage, EPOCH_META_KEY};
use gridwalk_clock::{Clock, SystemClock};
use gridwalk_domain::registry_gen::{demo_registry, parse_registry_csv, ImportError};
use gridwalk_domain::{DeviceId, Registry, Role, WorkerId};
use gridwalk_proto::{ScopeUnit, WorkerInfo};
use std::path::Path;

pub const ACTOR: &str = "cli";

/// A data directory's storage, opened (created and migrated if needed) for one command, with
/// the hotline identity in place.
pub fn open(data_dir: &Path) -> Result<Storage> {
    private_dir(data_dir)?;
    let store = Database::of(data_dir)?.open(1, BUSY_TIMEOUT)?;
    let now = SystemClock::default().now_ms();
    store.write_blocking(move |tx| ensure_hotline_identity(tx, now))?;
    Ok(store)
}

/// The stored registry and its version, for checks that need it (`config check --data`). Refuses
/// a data directory without a database rather than creating one.
pub fn stored_registry(data_dir: &Path) -> Result<(Registry, u64)> {
    let database = Database::of(data_dir)?;
    if let Database::Sqlite(file) = &database {
        if !file.is_file() {
            return Err(Error::NotFound(format!("no database in {}", data_dir.display())));
        }
    }
    database.open(1, BUSY_TIMEOUT)?.read_blocking(|r| Ok((r.registry()?, r.registry_version()?)))
}

/// A new database epoch: 16 random bytes in hex. Not a secret, only never the same twice.
pub fn new_epoch() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The running server's hold on its data directory (see [`crate::store::files`]): a second
/// server, or a restore, is refused while it is held. On PostgreSQL the hold is shared: the
/// servers of one database share their data directory (its photos).
pub fn hold_data_dir(data_dir: &Path) -> Result<DataDirLock> {
    if Database::of(data_dir)?.is_postgres() {
        DataDirLock::share(data_dir)
    } else {
        DataDirLock::take(data_dir)
    }
}

/// Bind a data directory to a database (`sqlite`, or a `postgres://` URL): see
/// [`crate::store::engine`].
pub fn use_database(data_dir: &Path, url: &str) -> Result<Database> {
    Database::bind(data_dir, url)
}

/// What only the embedded engine can do here; PostgreSQL has its own tools for it.
fn sqlite_only(data_dir: &Path) -> Result<std::path::PathBuf> {
    match Database::of(data_dir)? {
        Database::Sqlite(file) => Ok(file),
        Database::Postgres(_) => Err(Error::EngineUnsupported(
            "backup and restore of a PostgreSQL database are PostgreSQL's own (pg_basebackup, WAL archiving): see DEPLOYMENT.md",
        )),
    }
}

/// Back up a data directory (database and photos) into one file, while the server runs.
pub fn backup(data_dir: &Path, out: &Path) -> Result<BackupSummary> {
    sqlite::backup_to(&sqlite_only(data_dir)?, &data_dir.join(BLOB_DIR), out)
}

/// Restore a data directory from a backup file: refused while a server holds the directory,
/// for a file that is not an intact backup, and for a schema newer than this build's. The
/// restored database gets a new epoch, from which every tablet learns to re-send what the
/// server no longer holds and to pull again from the start; it is migrated if it is older.
pub fn restore(data_dir: &Path, from: &Path) -> Result<(BackupSummary, String)> {
    let db = sqlite_only(data_dir)?;
    let _held = DataDirLock::take(data_dir)?;
    let epoch = new_epoch();
    let summary = sqlite::restore_from(&db, &data_dir.join(BLOB_DIR), from, &epoch)?;
    let detail =
        format!("from {}: {} events, {} photos, schema {}; epoch {epoch}", from.display(), summary.events, summary.blobs, summary.schema);
    open(data_dir)?.write_blocking(move |tx| tx.audit(now_ms(), ACTOR, "restored", &detail))?;
    Ok((summary, epoch))
}

/// The data directory's epoch, if its database has one yet.
pub fn epoch(data_dir: &Path) -> Result<Option<String>> {
    open(data_dir)?.read_blocking(|r| r.meta(EPOCH_META_KEY))
}

fn now_ms() -> i64 {
    SystemClock::default().now_ms()
}

fn replace_registry(data_dir: &Path, reg: Registry, what: &'static str) -> Result<u64> {
    open(data_dir)?.write_blocking(move |tx| {
        let version = tx.replace_registry(&reg)?;
        let detail = format!(
            "{what}: {} subdistricts, {} communities, {} courtyards; version {version}",
            reg.subdistricts.len(),
            reg.communities.len(),
            reg.courtyards.len()
        );
        tx.audit(now_ms(), ACTOR, "registry_replaced", &detail)?;
        Ok(version)
    })
}

/// Load the generated Chaoyang demo registry. Returns the new registry version.
pub fn load_demo_registry(data_dir: &Path) -> Result<u64> {
    replace_registry(data_dir, demo_registry(), "demo registry")
}

/// Import a registry CSV; every bad row is reported with its line number and nothing changes.
pub fn import_registry_csv(data_dir: &Path, csv: &str) -> Result<u64> {
    let reg = parse_registry_csv(csv).map_err(Error::RegistryImport)?;
    replace_registry(data_dir, reg, "CSV import")
}

/// The header of a responsible-worker file: one courtyard a row.
pub const RESPONSIBLE_HEADER: &str = "courtyard_code,username";

/// Name each courtyard's responsible grid worker (责任网格员) from a CSV of
/// `courtyard_code,username`. Every bad row is reported with its line number and nothing
/// changes; a good file replaces the named courtyards' workers in one transaction.
pub fn import_responsible_csv(data_dir: &Path, csv: &str) -> Result<usize> {
    let storage = open(data_dir)?;
    let (registry, workers) = storage.read_blocking(|r| Ok((r.registry()?, r.workers()?)))?;
    let index = RegistryIndex::new(registry, 0);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in csv.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || (n == 1 && line == RESPONSIBLE_HEADER) {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [code, username] = cols[..] else {
            errors.push(ImportError::new(n, format!("expected 2 columns: {RESPONSIBLE_HEADER}")));
            continue;
        };
        let Some(yard) = index.courtyard_by_code(code) else {
            errors.push(ImportError::new(n, format!("unknown courtyard code {code}")));
            continue;
        };
        let Some(worker) = workers.iter().find(|w| w.username == username) else {
            errors.push(ImportError::new(n, format!("unknown worker {username}")));
            continue;
        };
        let place = index.place(yard.id).ok_or_else(|| Error::UnknownCourtyard(code.into()))?;
        if !index.resolve_lenient(&worker.scope).contains(&place) {
            errors.push(ImportError::new(n, format!("courtyard {code} is outside the scope of {username}")));
            continue;
        }
        rows.push((yard.id, worker.id, format!("{code} -> {username}")));
    }
    if !errors.is_empty() {
        return Err(Error::RegistryImport(errors));
    }
    let count = rows.len();
    storage.write_blocking(move |tx| {
        let now = now_ms();
        for (yard, worker, detail) in rows {
            tx.set_responsible_worker(yard, worker, now)?;
            tx.audit(now, ACTOR, "responsible_worker_set", &detail)?;
        }
        Ok(count)
    })
}

/// Name one courtyard's responsible grid worker.
pub fn set_responsible(data_dir: &Path, courtyard_code: &str, username: &str) -> Result<()> {
    import_responsible_csv(data_dir, &format!("{courtyard_code},{username}")).map(drop)
}

#[derive(Clone, Debug)]
pub struct NewWorker {
    pub username: String,
    pub name: String,
    pub role: Role,
    pub scope: Vec<ScopeUnit>,
    pub password: String,
}

pub fn add_worker(data_dir: &Path, w: &NewWorker) -> Result<WorkerInfo> {
    add_worker_to(&open(data_dir)?, w)
}

/// [`add_worker`] on open storage (tests add several workers to one).
pub fn add_worker_to(store: &Storage, w: &NewWorker) -> Result<WorkerInfo> {
    add_worker_as(store, w, ACTOR)
}

/// [`add_worker_to`] recorded in the audit as done by `actor` (an admin at the console).
/// Blocks: call it off the async runtime.
pub fn add_worker_as(store: &Storage, w: &NewWorker, actor: &str) -> Result<WorkerInfo> {
    if w.username.trim().is_empty() || w.username.chars().count() > auth::MAX_NAME_CHARS || w.username.chars().any(char::is_control) {
        return Err(gridwalk_domain::ValidationError::EmptyText { field: "username" }.into());
    }
    access::check_new_password(&w.password, &w.username)?;
    if w.scope.is_empty() {
        return Err(Error::BadScope("(empty)".into()));
    }
    if w.username == HOTLINE_USERNAME {
        return Err(Error::UsernameTaken(w.username.clone()));
    }
    let hash = hash_password(&w.password)?;
    let clock = SystemClock::default();
    let info = WorkerInfo {
        id: WorkerId::from_parts(clock.now_ms() as u64, clock.random()),
        username: w.username.clone(),
        name: w.name.clone(),
        role: w.role,
        scope: w.scope.clone(),
    };
    let stored = info.clone();
    let actor = actor.to_owned();
    store.write_blocking(move |tx| {
        if tx.worker_by_username(&stored.username)?.is_some() {
            return Err(Error::UsernameTaken(stored.username.clone()));
        }
        // Scope codes must exist now, so a typo fails loudly instead of granting nothing.
        RegistryIndex::new(tx.registry()?, 0).resolve(&stored.scope)?;
        tx.insert_worker(&stored, &hash, now_ms())?;
        let detail = format!("{} ({}) role {} scope {:?}", stored.username, stored.id, stored.role.code(), stored.scope);
        tx.audit(now_ms(), &actor, "worker_added", &detail)
    })?;
    Ok(info)
}

pub fn list_workers(data_dir: &Path) -> Result<Vec<WorkerInfo>> {
    let workers = open(data_dir)?.read_blocking(|r| r.workers())?;
    Ok(workers.into_iter().filter(|w| w.username != HOTLINE_USERNAME).collect())
}

pub fn list_devices(data_dir: &Path) -> Result<Vec<DeviceRow>> {
    open(data_dir)?.read_blocking(|r| r.devices())
}

/// Revoke a device's token: its next request gets 401 `token_revoked` (and is audited).
pub fn revoke_device(data_dir: &Path, id: DeviceId) -> Result<()> {
    open(data_dir)?.write_blocking(move |tx| {
        if !tx.revoke_device(id, now_ms())? {
            return Err(Error::UnknownDevice(id.to_string()));
        }
        tx.audit(now_ms(), ACTOR, "device_revoked", &id.to_string())
    })
}

/// Issue device tokens for a worker without a password login, in one transaction: for
/// provisioning many tablets at once (and for the load benchmark, where 4,000 argon2 logins
/// would measure argon2, not ingest).
pub fn issue_device_tokens(data_dir: &Path, username: &str, device_names: &[String]) -> Result<Vec<(DeviceId, String)>> {
    let (username, names) = (username.to_owned(), device_names.to_vec());
    open(data_dir)?.write_blocking(move |tx| {
        let worker = tx.worker_by_username(&username)?.ok_or_else(|| Error::UnknownWorker(username.clone()))?;
        let clock = SystemClock::default();
        let mut out = Vec::with_capacity(names.len());
        for name in &names {
            out.push(create_device(tx, &clock, worker.info.id, name)?);
        }
        tx.audit(now_ms(), ACTOR, "device_tokens_issued", &format!("{} tokens for {username}", out.len()))?;
        Ok(out)
    })
}

/// Disable (`true`) or enable a worker: see [`access`] for what it does to their devices.
pub fn set_disabled(data_dir: &Path, username: &str, disabled: bool) -> Result<AccessChange> {
    let username = username.to_owned();
    open(data_dir)?.write_blocking(move |tx| access::set_disabled(tx, ACTOR, &username, disabled, now_ms()))
}

/// Set a worker's password (checked by the password rule); every device of theirs is revoked.
pub fn reset_password(data_dir: &Path, username: &str, password: &str) -> Result<AccessChange> {
    access::check_new_password(password, username)?;
    let hash = hash_password(password)?;
    let username = username.to_owned();
    open(data_dir)?.write_blocking(move |tx| access::set_password(tx, ACTOR, &username, &hash, None, now_ms()))
}

/// Change a worker's role, scope or both, checked as `worker add` checks them.
pub fn change_role(data_dir: &Path, username: &str, change: &access::RoleChange) -> Result<AccessChange> {
    let (role, scope) = access::parse_role_change(change)?;
    let username = username.to_owned();
    open(data_dir)?.write_blocking(move |tx| access::set_role_and_scope(tx, ACTOR, &username, role, scope, now_ms()))
}

pub fn recent_audit(data_dir: &Path, limit: u32) -> Result<Vec<AuditEntry>> {
    open(data_dir)?.read_blocking(|r| r.recent_audit(limit))
}

/// Make an Open311 API key; the key is returned once and stored only as its sha256.
pub fn add_api_key(data_dir: &Path, name: &str) -> Result<super::open311::keys::NewApiKey> {
    let name = name.to_owned();
    open(data_dir)?.write_blocking(move |tx| super::open311::keys::add(tx, &SystemClock::default(), ACTOR, &name))
}

pub fn list_api_keys(data_dir: &Path) -> Result<Vec<ApiKeyInfo>> {
    open(data_dir)?.read_blocking(|r| r.api_keys())
}

/// Revoke an Open311 API key: its next use answers 403.
pub fn revoke_api_key(data_dir: &Path, id: &str) -> Result<()> {
    let id = id.to_owned();
    open(data_dir)?.write_blocking(move |tx| super::open311::keys::revoke(tx, ACTOR, &id, now_ms()))
}
