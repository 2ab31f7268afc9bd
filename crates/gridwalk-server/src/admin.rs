//! Administration on a data directory: registry loading, workers, devices. The CLI calls these;
//! so do tests and the benchmark. Every change is audited with the actor `cli`.

use crate::audit;
use crate::auth::{self, create_device, hash_password, random_bits};
use crate::db::{now_ms, open_connection, DB_FILE};
use crate::error::{Error, Result};
use crate::hotline::{ensure_hotline_identity, HOTLINE_USERNAME};
use crate::registry;
use gridwalk_domain::registry_gen::{demo_registry, parse_registry_csv};
use gridwalk_domain::{DeviceId, Registry, Role, WorkerId};
use gridwalk_proto::{ScopeUnit, WorkerInfo};
use rusqlite::{params, Connection};
use std::path::Path;

pub const ACTOR: &str = "cli";
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Open (creating if needed) the database of a data directory.
pub fn open(data_dir: &Path) -> Result<Connection> {
    std::fs::create_dir_all(data_dir)?;
    let conn = open_connection(&data_dir.join(DB_FILE))?;
    ensure_hotline_identity(&conn, now_ms())?;
    Ok(conn)
}

fn replace_registry(data_dir: &Path, reg: &Registry, what: &str) -> Result<u64> {
    let conn = open(data_dir)?;
    let tx = conn.unchecked_transaction()?;
    let version = registry::replace(&tx, reg)?;
    audit::record(
        &tx,
        now_ms(),
        ACTOR,
        "registry_replaced",
        &format!(
            "{what}: {} subdistricts, {} communities, {} courtyards; version {version}",
            reg.subdistricts.len(),
            reg.communities.len(),
            reg.courtyards.len()
        ),
    )?;
    tx.commit()?;
    Ok(version)
}

/// Load the generated Chaoyang demo registry. Returns the new registry version.
pub fn load_demo_registry(data_dir: &Path) -> Result<u64> {
    replace_registry(data_dir, &demo_registry(), "demo registry")
}

/// Import a registry CSV; every bad row is reported with its line number and nothing changes.
pub fn import_registry_csv(data_dir: &Path, csv: &str) -> Result<u64> {
    let reg = parse_registry_csv(csv).map_err(Error::RegistryImport)?;
    replace_registry(data_dir, &reg, "CSV import")
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
    let conn = open(data_dir)?;
    add_worker_on(&conn, w)
}

/// [`add_worker`] on an open connection (tests add several workers on one).
pub fn add_worker_on(conn: &Connection, w: &NewWorker) -> Result<WorkerInfo> {
    if w.username.trim().is_empty() || w.username.chars().count() > auth::MAX_NAME_CHARS || w.username.chars().any(char::is_control) {
        return Err(gridwalk_domain::ValidationError::EmptyText { field: "username" }.into());
    }
    if w.password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::WeakPassword { min: MIN_PASSWORD_CHARS });
    }
    if w.scope.is_empty() {
        return Err(Error::BadScope("(empty)".into()));
    }
    // Scope codes must exist now, so a typo fails loudly instead of granting nothing.
    registry::load(conn)?.resolve(&w.scope)?;
    let hash = hash_password(&w.password)?;
    let id = WorkerId::from_parts(now_ms() as u64, random_bits());
    let tx = conn.unchecked_transaction()?;
    let taken: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM workers WHERE username = ?1)", [&w.username], |r| r.get(0))?;
    if taken || w.username == HOTLINE_USERNAME {
        return Err(Error::UsernameTaken(w.username.clone()));
    }
    tx.execute(
        "INSERT INTO workers (id, username, name, role, scope_json, password_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id.to_string(), w.username, w.name, w.role.code(), serde_json::to_string(&w.scope)?, hash, now_ms()],
    )?;
    audit::record(&tx, now_ms(), ACTOR, "worker_added", &format!("{} ({}) role {} scope {:?}", w.username, id, w.role.code(), w.scope))?;
    tx.commit()?;
    Ok(WorkerInfo { id, username: w.username.clone(), name: w.name.clone(), role: w.role, scope: w.scope.clone() })
}

pub fn list_workers(data_dir: &Path) -> Result<Vec<WorkerInfo>> {
    let conn = open(data_dir)?;
    let mut stmt = conn.prepare("SELECT username FROM workers WHERE username <> ?1 ORDER BY username")?;
    let names = stmt.query_map([HOTLINE_USERNAME], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for n in names {
        if let Some(w) = auth::worker_by_username(&conn, &n)? {
            out.push(w.info);
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    pub id: DeviceId,
    pub username: String,
    pub name: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub held_seq: u64,
}

pub fn list_devices(data_dir: &Path) -> Result<Vec<DeviceRow>> {
    let conn = open(data_dir)?;
    let mut stmt = conn.prepare(
        "SELECT d.id, w.username, d.name, d.created_ms, d.revoked_ms, d.held_seq FROM devices d JOIN workers w ON w.id = d.worker_id
         ORDER BY d.created_ms, d.id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, i64>(5)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, username, name, created_ms, revoked_ms, held) = row?;
        let id = id.parse().map_err(|e| Error::Corrupt(format!("device id: {e}")))?;
        out.push(DeviceRow { id, username, name, created_ms, revoked_ms, held_seq: held.max(0) as u64 });
    }
    Ok(out)
}

/// Revoke a device's token: its next request gets 401 `token_revoked` (and is audited).
pub fn revoke_device(data_dir: &Path, id: DeviceId) -> Result<()> {
    let conn = open(data_dir)?;
    let tx = conn.unchecked_transaction()?;
    let n = tx.execute("UPDATE devices SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL", params![id.to_string(), now_ms()])?;
    if n == 0 {
        let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM devices WHERE id = ?1)", [id.to_string()], |r| r.get(0))?;
        if !exists {
            return Err(Error::UnknownDevice(id.to_string()));
        }
    }
    audit::record(&tx, now_ms(), ACTOR, "device_revoked", &id.to_string())?;
    tx.commit()?;
    Ok(())
}

/// Issue device tokens for a worker without a password login, in one transaction: for
/// provisioning many tablets at once (and for the load benchmark, where 4,000 argon2 logins
/// would measure argon2, not ingest).
pub fn issue_device_tokens(data_dir: &Path, username: &str, device_names: &[String]) -> Result<Vec<(DeviceId, String)>> {
    let conn = open(data_dir)?;
    let worker = auth::worker_by_username(&conn, username)?.ok_or_else(|| Error::UnknownWorker(username.to_owned()))?;
    let tx = conn.unchecked_transaction()?;
    let now = now_ms();
    let mut out = Vec::with_capacity(device_names.len());
    for name in device_names {
        out.push(create_device(&tx, worker.info.id, name, now)?);
    }
    audit::record(&tx, now, ACTOR, "device_tokens_issued", &format!("{} tokens for {username}", out.len()))?;
    tx.commit()?;
    Ok(out)
}

pub fn recent_audit(data_dir: &Path, limit: u32) -> Result<Vec<audit::AuditEntry>> {
    audit::recent(&open(data_dir)?, limit)
}

/// Make an Open311 API key; the key is returned once and stored only as its sha256.
pub fn add_api_key(data_dir: &Path, name: &str) -> Result<crate::open311::keys::NewApiKey> {
    crate::open311::keys::add(&open(data_dir)?, ACTOR, name, now_ms())
}

pub fn list_api_keys(data_dir: &Path) -> Result<Vec<crate::open311::keys::ApiKeyInfo>> {
    crate::open311::keys::list(&open(data_dir)?)
}

/// Revoke an Open311 API key: its next use answers 403.
pub fn revoke_api_key(data_dir: &Path, id: &str) -> Result<()> {
    crate::open311::keys::revoke(&open(data_dir)?, ACTOR, id, now_ms())
}
