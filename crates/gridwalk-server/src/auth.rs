//! Enrolment and authentication: argon2 passwords, per-device bearer tokens kept only as
//! hashes, login lockout, per-token rate limits and what each role may do.

use crate::audit;
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use gridwalk_domain::{DeviceId, Role, ValidationError, WorkerId};
use gridwalk_proto::{LoginRequest, LoginResponse, ScopeUnit, WorkerInfo};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// Longest username or device name accepted.
pub const MAX_NAME_CHARS: usize = 64;

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
}

/// Constant work whether or not the user exists: an unknown username still costs one argon2
/// verification, so response times do not reveal which usernames exist.
pub fn verify_password(stored: Option<&str>, password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a password anyone has").unwrap_or_default());
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy.as_str(), false),
    };
    let ok = PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok());
    ok && real
}

/// A fresh bearer token: 32 random bytes (256 bits), hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The only form of a token the server stores.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn random_bits() -> [u8; 10] {
    let mut r = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut r);
    r
}

/// What an endpoint does, for the role check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Push,
    Pull,
    ReadRegistry,
    ReadRecords,
    HotlineIntake,
    UploadPhoto,
    /// Alerts and the three rates: the supervisors' dashboard.
    ReadDashboard,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Push => "push events",
            Action::Pull => "pull events",
            Action::ReadRegistry => "read the registry",
            Action::ReadRecords => "read issues and visits",
            Action::HotlineIntake => "take in hotline work orders",
            Action::UploadPhoto => "upload photos",
            Action::ReadDashboard => "read alerts and rates",
        }
    }

    /// Roles decide *what kind* of thing a worker may do; the scope decides *where*. Taking in
    /// hotline orders is a desk job for supervisors and admins; everything else is open to
    /// every role inside its scope (department staff respond to what was whistled to them).
    pub fn allowed(self, role: Role) -> bool {
        match self {
            Action::HotlineIntake | Action::ReadDashboard => matches!(role, Role::Supervisor | Role::Admin),
            Action::Push | Action::Pull | Action::ReadRegistry | Action::ReadRecords | Action::UploadPhoto => true,
        }
    }

    pub fn check(self, role: Role) -> Result<()> {
        if self.allowed(role) {
            Ok(())
        } else {
            Err(Error::Forbidden { role: role.code(), action: self.name() })
        }
    }
}

/// A worker row with its password hash.
pub struct WorkerRecord {
    pub info: WorkerInfo,
    pub password_hash: String,
}

fn worker_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, String, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn worker_record(raw: (String, String, String, String, String, String)) -> Result<WorkerRecord> {
    let (id, username, name, role, scope_json, password_hash) = raw;
    let id: WorkerId = id.parse().map_err(|e| Error::Corrupt(format!("worker id: {e}")))?;
    let role = Role::from_code(&role).ok_or_else(|| Error::Corrupt(format!("role {role}")))?;
    let scope: Vec<ScopeUnit> = serde_json::from_str(&scope_json)?;
    Ok(WorkerRecord { info: WorkerInfo { id, username, name, role, scope }, password_hash })
}

const WORKER_COLUMNS: &str = "id, username, name, role, scope_json, password_hash";

pub fn worker_by_username(conn: &Connection, username: &str) -> Result<Option<WorkerRecord>> {
    let raw =
        conn.query_row(&format!("SELECT {WORKER_COLUMNS} FROM workers WHERE username = ?1"), [username], worker_from_row).optional()?;
    raw.map(worker_record).transpose()
}

pub fn worker_by_id(conn: &Connection, id: WorkerId) -> Result<Option<WorkerRecord>> {
    let raw =
        conn.query_row(&format!("SELECT {WORKER_COLUMNS} FROM workers WHERE id = ?1"), [id.to_string()], worker_from_row).optional()?;
    raw.map(worker_record).transpose()
}

/// Register a new device for a worker and return its id and token (the token is never stored).
pub fn create_device(conn: &Connection, worker: WorkerId, device_name: &str, now_ms: i64) -> Result<(DeviceId, String)> {
    let device = DeviceId::from_parts(now_ms.max(0) as u64, random_bits());
    let token = new_token();
    conn.execute(
        "INSERT INTO devices (id, worker_id, name, token_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![device.to_string(), worker.to_string(), device_name, token_hash(&token), now_ms],
    )?;
    Ok((device, token))
}

fn check_name(field: &'static str, s: &str) -> Result<()> {
    if s.trim().is_empty() {
        return Err(ValidationError::EmptyText { field }.into());
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(ValidationError::TextTooLong { field, max: MAX_NAME_CHARS }.into());
    }
    if s.chars().any(char::is_control) {
        return Err(ValidationError::ControlCharacters { field }.into());
    }
    Ok(())
}

enum LoginOutcome {
    LoggedIn { device: DeviceId, token: String },
    Failed,
    Locked { until_ms: i64 },
}

fn locked_until(conn: &Connection, username: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT locked_until_ms FROM login_failures WHERE username = ?1", [username], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

fn locked_error(until_ms: i64, now_ms: i64) -> Error {
    Error::LoginLocked { retry_after_s: ((until_ms - now_ms) / 1000).max(1) }
}

/// Log in: check the lockout, verify the password off the async runtime, then record the
/// outcome (failure count, lockout, new device, audit) in one durable write.
pub async fn login(db: &Db, config: &Config, req: LoginRequest, now_ms: i64) -> Result<LoginResponse> {
    check_name("username", &req.username)?;
    check_name("device_name", &req.device_name)?;
    let username = req.username.clone();
    let (record, lock) = db
        .read(move |c| {
            let lock = locked_until(c, &username)?;
            Ok((worker_by_username(c, &username)?, lock))
        })
        .await?;
    if let Some(until) = lock.filter(|&u| u > now_ms) {
        let username = req.username.clone();
        db.write(move |c| audit::record(c, now_ms, &username, "login_refused_locked", "")).await?;
        return Err(locked_error(until, now_ms));
    }
    let password = req.password.clone();
    let stored = record.as_ref().map(|r| r.password_hash.clone());
    let verified = tokio::task::spawn_blocking(move || verify_password(stored.as_deref(), &password))
        .await
        .map_err(|e| Error::Internal(format!("password check: {e}")))?;
    let worker = record.map(|r| r.info);
    let worker_id = worker.as_ref().map(|w| w.id);
    let (username, device_name) = (req.username.clone(), req.device_name.clone());
    let (lock_after, lock_ms) = (config.lockout_after.max(1), config.lockout.as_millis() as i64);
    let outcome = db
        .write(move |c| {
            // Re-checked inside the write: a lock set by a concurrent failure wins.
            if let Some(until) = locked_until(c, &username)?.filter(|&u| u > now_ms) {
                return Ok(LoginOutcome::Locked { until_ms: until });
            }
            match worker_id.filter(|_| verified) {
                Some(worker) => {
                    c.execute("DELETE FROM login_failures WHERE username = ?1", [&username])?;
                    let (device, token) = create_device(c, worker, &device_name, now_ms)?;
                    audit::record(c, now_ms, &username, "login_ok", &format!("device {device} ({device_name})"))?;
                    Ok(LoginOutcome::LoggedIn { device, token })
                }
                None => {
                    let n: i64 = c.query_row(
                        "INSERT INTO login_failures (username, consecutive, locked_until_ms) VALUES (?1, 1, NULL)
                         ON CONFLICT(username) DO UPDATE SET consecutive = consecutive + 1
                         RETURNING consecutive",
                        [&username],
                        |r| r.get(0),
                    )?;
                    audit::record(c, now_ms, &username, "login_failed", &format!("consecutive failures: {n}"))?;
                    if n >= i64::from(lock_after) {
                        c.execute(
                            "UPDATE login_failures SET consecutive = 0, locked_until_ms = ?2 WHERE username = ?1",
                            params![username, now_ms + lock_ms],
                        )?;
                        audit::record(c, now_ms, &username, "login_locked", &format!("locked for {} s", lock_ms / 1000))?;
                    }
                    Ok(LoginOutcome::Failed)
                }
            }
        })
        .await?;
    match (outcome, worker) {
        (LoginOutcome::LoggedIn { device, token }, Some(worker)) => {
            Ok(LoginResponse { token, device_id: device, worker, server_time_ms: now_ms })
        }
        (LoginOutcome::Locked { until_ms }, _) => Err(locked_error(until_ms, now_ms)),
        _ => Err(Error::InvalidCredentials),
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Principal {
    pub worker: WorkerInfo,
    pub device: DeviceId,
}

pub enum TokenState {
    Active(Principal),
    Revoked { device: DeviceId, username: String },
    Unknown,
}

/// Look a bearer token up by its hash.
pub fn lookup_token(conn: &Connection, token: &str) -> Result<TokenState> {
    let row = conn
        .query_row("SELECT d.id, d.revoked_ms, d.worker_id FROM devices d WHERE d.token_hash = ?1", [token_hash(token)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, String>(2)?))
        })
        .optional()?;
    let Some((device, revoked, worker)) = row else { return Ok(TokenState::Unknown) };
    let device: DeviceId = device.parse().map_err(|e| Error::Corrupt(format!("device id: {e}")))?;
    let worker: WorkerId = worker.parse().map_err(|e| Error::Corrupt(format!("worker id: {e}")))?;
    let record = worker_by_id(conn, worker)?.ok_or_else(|| Error::Corrupt(format!("device {device} has no worker")))?;
    if revoked.is_some() {
        return Ok(TokenState::Revoked { device, username: record.info.username });
    }
    Ok(TokenState::Active(Principal { worker: record.info, device }))
}

/// Resolve a bearer token to its caller; a revoked token's use is audited.
pub async fn authenticate(db: &Db, token: &str, now_ms: i64) -> Result<Principal> {
    let token = token.to_owned();
    match db.read(move |c| lookup_token(c, &token)).await? {
        TokenState::Active(p) => Ok(p),
        TokenState::Revoked { device, username } => {
            db.write(move |c| audit::record(c, now_ms, &username, "revoked_token_used", &format!("device {device}"))).await?;
            Err(Error::TokenRevoked)
        }
        TokenState::Unknown => Err(Error::InvalidToken),
    }
}

/// Per-token token buckets. In memory: a restart refills every bucket, which is harmless.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<DeviceId, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_sec: f64, burst: f64) -> Self {
        RateLimiter { per_sec, burst: burst.max(1.0), buckets: Mutex::new(HashMap::new()) }
    }

    /// Take one token for `device`; false when its bucket is empty.
    pub fn allow(&self, device: DeviceId) -> bool {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return false };
        let (tokens, last) = buckets.entry(device).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens() {
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password(Some(&h), "s3cret"), "the right password verifies");
        assert!(!verify_password(Some(&h), "wrong"), "a wrong password does not");
        assert!(!verify_password(None, "s3cret"), "an unknown user never verifies");
        let t = new_token();
        assert_eq!(t.len(), 64, "a token carries 256 random bits as hex");
        assert_ne!(t, new_token(), "tokens are random");
        assert_ne!(token_hash(&t), t, "only the hash is stored");
    }

    #[test]
    fn the_bucket_allows_a_burst_then_refuses() {
        let rl = RateLimiter::new(0.001, 3.0);
        let d = DeviceId::from_parts(1, [1; 10]);
        let allowed = (0..5).filter(|_| rl.allow(d)).count();
        assert_eq!(allowed, 3, "a burst of 3 passes and the rest are limited");
        assert!(rl.allow(DeviceId::from_parts(1, [2; 10])), "buckets are per device");
    }

    #[test]
    fn only_supervisors_and_admins_take_hotline_orders() {
        for role in Role::ALL {
            assert_eq!(Action::HotlineIntake.allowed(*role), matches!(role, Role::Supervisor | Role::Admin), "{role:?}");
            assert!(Action::Push.allowed(*role), "every role may push inside its scope");
        }
    }
}
