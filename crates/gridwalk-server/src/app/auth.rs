//! Enrolment and authentication: argon2 passwords, per-device bearer tokens kept only as
//! hashes, login lockout and per-token rate limits.
//!
//! Secrets (tokens, password salts) come from the operating system's generator, never from the
//! injected [`Clock`]: a test clock replays ids, and nothing it does may weaken a secret.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{Storage, Tx};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use gridwalk_clock::Clock;
use gridwalk_domain::{DeviceId, ValidationError, WorkerId};
use gridwalk_proto::{LoginRequest, LoginResponse, WorkerInfo};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
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

/// Register a new device for a worker and return its id and token (the token is never stored).
pub fn create_device(tx: &dyn Tx, clock: &dyn Clock, worker: WorkerId, device_name: &str) -> Result<(DeviceId, String)> {
    let now = clock.now_ms();
    let device = DeviceId::from_parts(now.max(0) as u64, clock.random());
    let token = new_token();
    tx.insert_device(device, worker, device_name, Some(&token_hash(&token)), now)?;
    Ok((device, token))
}

/// Give a device its notify-only token (kept only as its hash, in its own table, so it never
/// passes for a session token and a session token never passes for it).
pub fn create_notify_token(tx: &dyn Tx, device: DeviceId, now_ms: i64) -> Result<String> {
    let token = new_token();
    tx.insert_notify_token(device, &token_hash(&token), now_ms)?;
    Ok(token)
}

pub fn check_name(field: &'static str, s: &str) -> Result<()> {
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
    LoggedIn { device: DeviceId, token: String, notify_token: String },
    Failed,
    Locked { until_ms: i64 },
}

fn locked_error(until_ms: i64, now_ms: i64) -> Error {
    Error::LoginLocked { retry_after_s: ((until_ms - now_ms) / 1000).max(1) }
}

/// Log in: check the lockout, verify the password off the async runtime, then record the
/// outcome (failure count, lockout, new device, audit) in one durable write.
pub async fn login(db: &Storage, config: &Config, clock: Arc<dyn Clock>, req: LoginRequest) -> Result<LoginResponse> {
    check_name("username", &req.username)?;
    check_name("device_name", &req.device_name)?;
    let now_ms = clock.now_ms();
    let username = req.username.clone();
    let (record, lock) = db.read(move |r| Ok((r.worker_by_username(&username)?, r.login_locked_until(&username)?))).await?;
    if let Some(until) = lock.filter(|&u| u > now_ms) {
        let username = req.username.clone();
        db.write(move |tx| tx.audit(now_ms, &username, "login_refused_locked", "")).await?;
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
        .write(move |tx| {
            // Re-checked inside the write: a lock set by a concurrent failure wins.
            if let Some(until) = tx.login_locked_until(&username)?.filter(|&u| u > now_ms) {
                return Ok(LoginOutcome::Locked { until_ms: until });
            }
            match worker_id.filter(|_| verified) {
                Some(worker) => {
                    tx.clear_login_failures(&username)?;
                    let (device, token) = create_device(tx, clock.as_ref(), worker, &device_name)?;
                    let notify_token = create_notify_token(tx, device, now_ms)?;
                    tx.audit(now_ms, &username, "login_ok", &format!("device {device} ({device_name})"))?;
                    Ok(LoginOutcome::LoggedIn { device, token, notify_token })
                }
                None => {
                    let n = tx.note_login_failure(&username)?;
                    tx.audit(now_ms, &username, "login_failed", &format!("consecutive failures: {n}"))?;
                    if n >= i64::from(lock_after) {
                        tx.lock_login(&username, now_ms + lock_ms)?;
                        tx.audit(now_ms, &username, "login_locked", &format!("locked for {} s", lock_ms / 1000))?;
                    }
                    Ok(LoginOutcome::Failed)
                }
            }
        })
        .await?;
    match (outcome, worker) {
        (LoginOutcome::LoggedIn { device, token, notify_token }, Some(worker)) => {
            Ok(LoginResponse { token, device_id: device, worker, server_time_ms: now_ms, notify_token })
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

/// Which credential a bearer token must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    NotifyOnly,
}

/// Resolve a bearer token to its caller; a revoked token's use is audited.
pub async fn authenticate(db: &Storage, token: &str, now_ms: i64, kind: TokenKind) -> Result<Principal> {
    let hash = token_hash(token);
    let found = db
        .read(move |r| {
            let found = match kind {
                TokenKind::Session => r.device_by_token_hash(&hash)?,
                TokenKind::NotifyOnly => r.device_by_notify_hash(&hash)?,
            };
            let Some(t) = found else { return Ok(None) };
            let record = r.worker_by_id(t.worker)?.ok_or_else(|| Error::Corrupt(format!("device {} has no worker", t.device)))?;
            Ok(Some((t, record.info)))
        })
        .await?;
    match found {
        Some((t, worker)) if t.revoked_ms.is_none() => Ok(Principal { worker, device: t.device }),
        Some((t, worker)) => {
            let (device, username) = (t.device, worker.username);
            db.write(move |tx| tx.audit(now_ms, &username, "revoked_token_used", &format!("device {device}"))).await?;
            Err(Error::TokenRevoked)
        }
        None => Err(Error::InvalidToken),
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
}
