//! Tunables of one server instance. Defaults are what production uses; tests shrink them.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    /// Largest JSON request body (bytes).
    pub json_body_limit: usize,
    /// Largest photo (bytes), and so the largest blob chunk.
    pub photo_max_bytes: u64,
    /// Per-token sustained request rate (requests per second).
    pub rate_per_sec: f64,
    /// Per-token burst (requests that may come at once).
    pub rate_burst: f64,
    /// Consecutive failed logins that lock a username.
    pub lockout_after: u32,
    /// How long a locked username stays locked.
    pub lockout: Duration,
    /// Most events one push may carry.
    pub max_push_events: usize,
    /// Most events one pull returns.
    pub max_pull_limit: u64,
    /// Read connections kept open for queries.
    pub read_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            json_body_limit: 2 * 1024 * 1024,
            photo_max_bytes: 10 * 1024 * 1024,
            rate_per_sec: 20.0,
            rate_burst: 60.0,
            lockout_after: 5,
            lockout: Duration::from_secs(5 * 60),
            max_push_events: 1000,
            max_pull_limit: 1000,
            read_connections: 4,
        }
    }
}
