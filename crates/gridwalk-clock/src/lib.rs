//! Time and randomness come in through [`Clock`], on the tablet and on the server alike, so tests
//! can skew a tablet's clock by hours, drive the server's escalation job by hand and replay ids,
//! and the domain stays pure.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// The device's wall clock in Unix milliseconds (it may be wrong: that is the point).
    fn now_ms(&self) -> i64;
    /// 10 random bytes for a UUIDv7.
    fn random(&self) -> [u8; 10];
}

/// The real clock, optionally skewed (tests simulate a tablet whose clock is hours off).
#[derive(Debug, Default)]
pub struct SystemClock {
    pub skew_ms: i64,
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        d.as_millis() as i64 + self.skew_ms
    }
    fn random(&self) -> [u8; 10] {
        rand::random()
    }
}

/// A clock that only moves when told, with deterministic "random" bytes.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
    counter: AtomicU64,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        ManualClock { now: AtomicI64::new(start_ms), counter: AtomicU64::new(1) }
    }
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set(&self, ms: i64) {
        self.now.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
    fn random(&self) -> [u8; 10] {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let mut out = [0u8; 10];
        out[..8].copy_from_slice(&n.to_be_bytes());
        out
    }
}
