//! Enrolment and authentication: argon2 passwords, per-device bearer tokens kept only as
//! hashes, login lockout and per-token rate limits.
//!
//! Secrets (tokens, password salts) come from the operating system's generator, never from the
//! injected [`Clock`]: a test clock replays ids, and nothing it does may weaken a secret.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{Reader, Storage, Tx};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use gridwalk_clock::Clock;
use gridwalk_domain::{DeviceId, ValidationError, WorkerId};
use gridwalk_proto::{LoginRequest, LoginResponse, WorkerInfo};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
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
    LoggedIn {
        device: DeviceId,
        token: String,
        notify_token: String,
    },
    Failed,
    Disabled,
    /// A login again as a device that is not the worker's, or is revoked.
    NotTheirDevice,
    Locked {
        until_ms: i64,
    },
}

fn locked_error(until_ms: i64, now_ms: i64) -> Error {
    Error::LoginLocked { retry_after_s: ((until_ms - now_ms) / 1000).max(1) }
}

/// Where a login comes from, as the login throttle and lockout count it: an IPv4 address, an
/// IPv6 /64 (one host is given a whole /64, so a single address would be no limit), or
/// `unknown` when the server was not told (an in-process call).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(String);

impl ClientAddr {
    pub fn of(ip: Option<IpAddr>) -> ClientAddr {
        match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => ClientAddr(v4.to_string()),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                ClientAddr(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
            }
            None => ClientAddr("unknown".to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The lock on `username` for `addr`, if one holds at `now_ms`: the per-address lock or the
/// per-username one, whichever ends later.
fn lock_on(r: &dyn Reader, username: &str, addr: &ClientAddr, now_ms: i64) -> Result<Option<i64>> {
    let user = r.login_locked_until(username)?;
    let from = r.login_locked_until_from(username, addr.as_str())?;
    Ok(user.into_iter().chain(from).filter(|&u| u > now_ms).max())
}

/// Count one failed password for `username` from `addr` (a login, or a wrong current password
/// on a change) and set the locks it earns.
fn note_failure(tx: &dyn Tx, config: &Config, username: &str, addr: &ClientAddr, now_ms: i64) -> Result<()> {
    let lock_ms = config.lockout.as_millis().min(i64::MAX as u128) as i64;
    let from = tx.note_login_failure_from(username, addr.as_str())?;
    let all = tx.note_login_failure(username)?;
    tx.audit(now_ms, username, "login_failed", &format!("from {}: {from} in a row; {all} in a row from anywhere", addr.as_str()))?;
    if from >= i64::from(config.lockout_after.max(1)) {
        tx.lock_login_from(username, addr.as_str(), now_ms + lock_ms)?;
        tx.audit(now_ms, username, "login_locked", &format!("from {} for {} s", addr.as_str(), lock_ms / 1000))?;
    }
    if all >= i64::from(config.lockout_user_after.max(config.lockout_after).max(1)) {
        tx.lock_login(username, now_ms + lock_ms)?;
        tx.audit(now_ms, username, "login_locked", &format!("from every address for {} s", lock_ms / 1000))?;
    }
    Ok(())
}

/// A right password for `username` from `addr`: that address's count and the username's
/// count start again. Another address's lock stays: the right password from here says
/// nothing about the guesser there.
fn note_success(tx: &dyn Tx, username: &str, addr: &ClientAddr) -> Result<()> {
    tx.clear_login_failures(username)?;
    tx.clear_login_failures_from(username, addr.as_str())
}

/// Verify a password off the async runtime (argon2 takes tens of milliseconds).
async fn verify_off_runtime(stored: Option<String>, password: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || verify_password(stored.as_deref(), &password))
        .await
        .map_err(|e| Error::Internal(format!("password check: {e}")))
}

/// Log in: take one try from the address's bucket, check the locks, verify the password off
/// the async runtime, then record the outcome (failure counts, locks, new device and its
/// expiry, audit) in one durable write.
pub async fn login(
    db: &Storage,
    config: &Config,
    clock: Arc<dyn Clock>,
    throttle: &LoginThrottle,
    addr: ClientAddr,
    req: LoginRequest,
) -> Result<LoginResponse> {
    check_name("username", &req.username)?;
    check_name("device_name", &req.device_name)?;
    let now_ms = clock.now_ms();
    // Before any database work: a hammering address costs a map lookup, not a write.
    throttle.take(&addr, now_ms)?;
    let username = req.username.clone();
    let lock_addr = addr.clone();
    let (record, lock) = db.read(move |r| Ok((r.worker_by_username(&username)?, lock_on(r, &username, &lock_addr, now_ms)?))).await?;
    if let Some(until) = lock {
        let (username, detail) = (req.username.clone(), format!("from {}", addr.as_str()));
        db.write(move |tx| tx.audit(now_ms, &username, "login_refused_locked", &detail)).await?;
        return Err(locked_error(until, now_ms));
    }
    let stored = record.as_ref().map(|r| r.password_hash.clone());
    let verified = verify_off_runtime(stored, req.password.clone()).await?;
    let disabled = record.as_ref().is_some_and(|r| r.disabled_ms.is_some());
    let worker = record.map(|r| r.info);
    let worker_id = worker.as_ref().map(|w| w.id);
    let (username, device_name, again_as) = (req.username.clone(), req.device_name.clone(), req.device_id);
    let config = config.clone();
    let (ttl_ms, _) = config.token_times_ms();
    let outcome = db
        .write(move |tx| {
            // Re-checked inside the write: a lock set by a concurrent failure wins.
            if let Some(until) = lock_on(tx, &username, &addr, now_ms)? {
                return Ok(LoginOutcome::Locked { until_ms: until });
            }
            match (worker_id.filter(|_| verified), again_as) {
                // Only the holder of the right password learns that the worker is disabled.
                (Some(_), _) if disabled => {
                    note_success(tx, &username, &addr)?;
                    tx.audit(now_ms, &username, "login_refused_disabled", &format!("from {}", addr.as_str()))?;
                    Ok(LoginOutcome::Disabled)
                }
                // An enrolled tablet whose token expired: the same device, a fresh token.
                (Some(worker), Some(device)) => {
                    note_success(tx, &username, &addr)?;
                    let token = new_token();
                    if !tx.reissue_device_token(device, worker, &token_hash(&token))? {
                        tx.audit(now_ms, &username, "login_refused_device", &format!("device {device} is not theirs or is revoked"))?;
                        return Ok(LoginOutcome::NotTheirDevice);
                    }
                    tx.set_device_expiry(device, now_ms.saturating_add(ttl_ms))?;
                    tx.audit(now_ms, &username, "login_again", &format!("device {device} from {}", addr.as_str()))?;
                    // The notify-only token stays as it was: empty here means "keep yours".
                    Ok(LoginOutcome::LoggedIn { device, token, notify_token: String::new() })
                }
                (Some(worker), None) => {
                    note_success(tx, &username, &addr)?;
                    let (device, token) = create_device(tx, clock.as_ref(), worker, &device_name)?;
                    tx.set_device_expiry(device, now_ms.saturating_add(ttl_ms))?;
                    let notify_token = create_notify_token(tx, device, now_ms)?;
                    tx.audit(now_ms, &username, "login_ok", &format!("device {device} ({device_name}) from {}", addr.as_str()))?;
                    Ok(LoginOutcome::LoggedIn { device, token, notify_token })
                }
                (None, _) => {
                    note_failure(tx, &config, &username, &addr, now_ms)?;
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
        (LoginOutcome::Disabled, _) => Err(Error::WorkerDisabled),
        (LoginOutcome::NotTheirDevice, _) => Err(Error::TokenRevoked),
        _ => Err(Error::InvalidCredentials),
    }
}

/// Check `who`'s current password as a login does (throttled per address, refused while
/// locked, a wrong one counted towards the locks): a stolen session token alone must not be
/// a way to guess the password without limit.
pub async fn check_current_password(
    db: &Storage,
    config: &Config,
    throttle: &LoginThrottle,
    addr: ClientAddr,
    username: String,
    password: String,
    now_ms: i64,
) -> Result<()> {
    throttle.take(&addr, now_ms)?;
    let lock_addr = addr.clone();
    let name = username.clone();
    let (record, lock) = db.read(move |r| Ok((r.worker_by_username(&name)?, lock_on(r, &name, &lock_addr, now_ms)?))).await?;
    if let Some(until) = lock {
        return Err(locked_error(until, now_ms));
    }
    if verify_off_runtime(record.map(|r| r.password_hash), password).await? {
        return Ok(());
    }
    let config = config.clone();
    db.write(move |tx| note_failure(tx, &config, &username, &addr, now_ms)).await?;
    Err(Error::WrongPassword)
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Principal {
    pub worker: WorkerInfo,
    pub device: DeviceId,
    /// When the device's token expires unless renewed (`None`: not yet stamped).
    pub expires_ms: Option<i64>,
    /// A console (browser) session rather than a tablet: its expiry slides by the console's
    /// shorter lifetime.
    pub console: bool,
}

/// Which credential a bearer token must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    NotifyOnly,
}

/// Resolve a bearer token to its caller: refused when revoked (audited), expired, or when its
/// worker is disabled. Read on every request, so a disable, a role or a scope change holds
/// from the next request on.
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
            Ok(Some((t, record)))
        })
        .await?;
    let Some((t, record)) = found else { return Err(Error::InvalidToken) };
    if t.revoked_ms.is_some() {
        let (device, username) = (t.device, record.info.username);
        db.write(move |tx| tx.audit(now_ms, &username, "revoked_token_used", &format!("device {device}"))).await?;
        return Err(Error::TokenRevoked);
    }
    if t.expires_ms.is_some_and(|e| e <= now_ms) {
        return Err(Error::TokenExpired);
    }
    if record.disabled_ms.is_some() {
        return Err(Error::WorkerDisabled);
    }
    Ok(Principal { worker: record.info, device: t.device, expires_ms: t.expires_ms, console: t.console })
}

/// Most addresses the login throttle remembers: past it, full buckets (addresses that have
/// not tried for a while) are forgotten, so a spray of addresses cannot grow the map without
/// bound.
const MAX_THROTTLED_ADDRESSES: usize = 100_000;

/// Login attempts per client address: a token bucket each, on the injected clock (so tests
/// move it). In memory: a restart refills every bucket, which is harmless.
#[derive(Debug)]
pub struct LoginThrottle {
    burst: f64,
    per_ms: f64,
    buckets: Mutex<HashMap<ClientAddr, (f64, i64)>>,
}

impl LoginThrottle {
    pub fn new(burst: u32, per_minute: f64) -> Self {
        LoginThrottle { burst: f64::from(burst.max(1)), per_ms: per_minute.max(0.0) / 60_000.0, buckets: Mutex::new(HashMap::new()) }
    }

    /// Take one attempt for `addr` at `now_ms`, or say in how many seconds one is back.
    pub fn take(&self, addr: &ClientAddr, now_ms: i64) -> Result<()> {
        let Ok(mut buckets) = self.buckets.lock() else { return Err(Error::Internal("the login throttle is poisoned".into())) };
        if buckets.len() >= MAX_THROTTLED_ADDRESSES {
            let (burst, per_ms) = (self.burst, self.per_ms);
            buckets.retain(|_, (tokens, at)| *tokens + (now_ms - *at).max(0) as f64 * per_ms < burst);
        }
        let (tokens, at) = buckets.entry(addr.clone()).or_insert((self.burst, now_ms));
        // A clock that went back refills nothing and takes nothing away.
        *tokens = (*tokens + (now_ms - *at).max(0) as f64 * self.per_ms).min(self.burst);
        *at = (*at).max(now_ms);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        let wait_ms = if self.per_ms > 0.0 { ((1.0 - *tokens) / self.per_ms).ceil() } else { 3_600_000.0 };
        Err(Error::LoginThrottled { retry_after_s: ((wait_ms / 1000.0).ceil() as i64).clamp(1, 3600) })
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
    fn the_login_throttle_allows_a_burst_per_address_then_says_when_to_come_back() {
        let throttle = LoginThrottle::new(3, 6.0);
        let a = ClientAddr::of(Some("10.0.0.1".parse().unwrap()));
        let b = ClientAddr::of(Some("10.0.0.2".parse().unwrap()));
        assert_eq!((0..5).filter(|_| throttle.take(&a, 1_000).is_ok()).count(), 3, "a burst of 3 passes, the rest wait");
        match throttle.take(&a, 1_000) {
            Err(Error::LoginThrottled { retry_after_s }) => assert_eq!(retry_after_s, 10, "6 a minute: one back in 10 s"),
            other => panic!("an empty bucket is login_throttled, got {other:?}"),
        }
        assert!(throttle.take(&b, 1_000).is_ok(), "another address has its own bucket");
        assert!(throttle.take(&a, 11_000).is_ok(), "after 10 s one more try is back");
        let v6a = ClientAddr::of(Some("2001:db8:1:2::1".parse().unwrap()));
        let v6b = ClientAddr::of(Some("2001:db8:1:2:ffff::9".parse().unwrap()));
        assert_eq!(v6a, v6b, "IPv6 addresses count by their /64");
        assert_eq!(ClientAddr::of(Some("::ffff:10.0.0.1".parse().unwrap())), a, "an IPv4-mapped address is the IPv4 address");
    }
}
