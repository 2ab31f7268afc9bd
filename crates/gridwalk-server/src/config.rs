//! Tunables of one server instance. Defaults are what production uses; tests shrink them.
//! The district's own part (departments, routing, escalation timings, whistle targets,
//! notification templates) comes from its config file: [`crate::district`].

use crate::district::{ConfigError, DistrictConfig};
use gridwalk_domain::sla::EscalationRules;
use gridwalk_domain::validate::ClockBounds;
use gridwalk_domain::WhistleLevel;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    /// Largest JSON request body (bytes).
    pub json_body_limit: usize,
    /// Largest photo (bytes), and so the largest blob chunk.
    pub photo_max_bytes: u64,
    /// Most open connections; the next client waits in the listen backlog until one closes.
    /// Every waiting tablet holds one (its long-poll), so this is sized for the fleet.
    pub max_connections: usize,
    /// How long a client may take to send a request's head, and how long a kept-alive
    /// connection may sit idle before the next one.
    pub header_timeout: Duration,
    /// The longest pause between two pieces of a request body.
    pub body_idle_timeout: Duration,
    /// Photo bytes one device may upload in 24 hours.
    pub photo_quota_per_day: u64,
    /// A partial photo upload untouched this long is removed.
    pub partial_upload_ttl: Duration,
    /// Per-token sustained request rate (requests per second).
    pub rate_per_sec: f64,
    /// Per-token burst (requests that may come at once).
    pub rate_burst: f64,
    /// Consecutive failed logins to one username from one client address that lock that
    /// username for that address (others still log in).
    pub lockout_after: u32,
    /// Consecutive failed logins to one username from any addresses that lock it for every
    /// address: the last net against a guesser with many addresses. Far above `lockout_after`,
    /// so one address hammering a supervisor locks only itself.
    pub lockout_user_after: u32,
    /// How long a lock lasts.
    pub lockout: Duration,
    /// Login attempts one client address may make at once (a token bucket per address).
    pub login_burst: u32,
    /// Login attempts one client address regains per minute.
    pub login_per_minute: f64,
    /// Reverse proxies whose `X-Forwarded-For` names the client: from these addresses the
    /// right-most address of that header is the client for the login throttle. Empty: the
    /// peer address is the client. (`[access] trusted_proxies` in the district's file.)
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a device token works after its last renewal (`[access] token_days`).
    pub token_ttl: Duration,
    /// A sync renews its token when the last renewal is older than this: one write per device
    /// per period at most, not one per request.
    pub token_renew_every: Duration,
    /// How long a console (browser) session works after its last use: a desk left logged in
    /// overnight is logged out by the morning.
    pub console_session_ttl: Duration,
    /// Mark the session cookie `Secure` even when no trusted proxy says the request came over
    /// TLS (for a server behind a TLS terminator that does not send `X-Forwarded-Proto`).
    pub console_secure_cookie: bool,
    /// Most events one push may carry.
    pub max_push_events: usize,
    /// Most events one pull returns.
    pub max_pull_limit: u64,
    /// Read connections kept open for queries. A read past them opens a connection for itself
    /// (SQLite; PostgreSQL waits for one, and keeps at least 16): with 4, a fleet's
    /// authentication reads opened and dropped a connection, schema parse included, per push.
    pub read_connections: usize,
    /// How long a write waits for a database lock another process holds before it is answered
    /// `busy` (503, `Retry-After`) with nothing stored.
    pub busy_timeout: Duration,
    /// When the server escalates on its own (supervisor alert, automatic whistle).
    pub escalation: EscalationRules,
    /// How often the background task runs the escalation rules.
    pub escalation_period: Duration,
    /// Whom an automatic whistle at each level calls (the `Whistled` event's target).
    pub whistle_targets: BTreeMap<WhistleLevel, String>,
    /// A report at the courtyard and category of an issue closed this recently is a
    /// recurrence (愈后防复).
    pub recurrence_window: Duration,
    /// Our Open311 `jurisdiction_id`; a request naming another one gets 404.
    pub open311_jurisdiction_id: String,
    /// The district's config file as parsed (the defaults without one). Its escalation and
    /// whistle targets are copied into the fields above, which are the ones in effect.
    pub district: Arc<DistrictConfig>,
    /// The messages a resident is sent when their issue is responded to, moves on in public, or
    /// is resolved (告知进展、告知结果).
    pub notice_templates: NoticeTemplates,
    /// How those messages leave the server, and how often they are retried.
    pub notice_sender: NoticeSenderConfig,
    /// How often the background task sends the messages that are due.
    pub notice_period: Duration,
    /// The bounds on every time a tablet sends (the district's `[clock]`).
    pub clock: ClockBounds,
}

/// The texts of the messages to residents, with placeholders `{order_no}` (the hotline order
/// number, else the issue id), `{category}` (the category's Chinese label), `{courtyard}` (the
/// courtyard's name) and `{note}` (the worker's note on the event). Plain data, so a district's
/// configuration file can fill it; used by `app::notices`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeTemplates {
    /// After the first response (响应).
    pub responded: String,
    /// After a progress step the worker marked public.
    pub progress: String,
    /// After the resolution (办结).
    pub resolved: String,
}

/// The district's default `[messages]` texts: one source for them.
impl Default for NoticeTemplates {
    fn default() -> Self {
        NoticeTemplates::of(&DistrictConfig::default().messages)
    }
}

impl NoticeTemplates {
    /// The templates of the district's `[messages]` section (the one source of their texts).
    pub fn of(m: &crate::district::Messages) -> NoticeTemplates {
        NoticeTemplates {
            responded: m.responded.text().to_owned(),
            progress: m.progress.text().to_owned(),
            resolved: m.resolved.text().to_owned(),
        }
    }
}

impl NoticeSenderConfig {
    /// The sender the district's `[messages.sender]` names.
    pub fn of(s: &crate::district::SenderConfig) -> NoticeSenderConfig {
        match s {
            crate::district::SenderConfig::Log => NoticeSenderConfig::Log,
            crate::district::SenderConfig::Webhook { url, max_attempts, retry_base } => {
                NoticeSenderConfig::Webhook { url: url.clone(), max_attempts: *max_attempts, retry_base: *retry_base }
            }
        }
    }
}

/// Where the messages to residents go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NoticeSenderConfig {
    /// Write each message to the log (phone masked) and count it as sent: no message leaves
    /// the server. The default, until a district configures its SMS gateway.
    #[default]
    Log,
    /// POST each message as JSON `{id, phone, text}` to `url` with `Idempotency-Key: <id>`.
    /// A failure that may pass (5xx, timeout, no connection) is retried after
    /// `retry_base * 2^attempts` (capped at an hour), up to `max_attempts` tries in all.
    Webhook { url: String, max_attempts: u32, retry_base: Duration },
}

/// The default targets of automatic whistles, one per level. `DistrictConfig::default()`
/// declares each of them as a department, so a `department:NAME` scope reaches them.
pub fn default_whistle_targets() -> BTreeMap<WhistleLevel, String> {
    BTreeMap::from([
        (WhistleLevel::PartyBranch, "党支部".to_owned()),
        (WhistleLevel::Community, "街道科室".to_owned()),
        (WhistleLevel::Subdistrict, "区职能部门".to_owned()),
    ])
}

impl Default for Config {
    fn default() -> Self {
        let district = DistrictConfig::default();
        Config {
            json_body_limit: 2 * 1024 * 1024,
            photo_max_bytes: 10 * 1024 * 1024,
            max_connections: 10_000,
            header_timeout: Duration::from_secs(30),
            // A weak 2G link still moves a few kB a second; 30 s without a byte is a dead one
            // (or a slow-loris).
            body_idle_timeout: Duration::from_secs(30),
            // A busy day is a few dozen photos of a few MB; 1 GiB is far past it and still
            // bounds what a stolen token can fill the disk with.
            photo_quota_per_day: 1024 * 1024 * 1024,
            partial_upload_ttl: Duration::from_secs(7 * 24 * 3600),
            rate_per_sec: 20.0,
            rate_burst: 60.0,
            lockout_after: 5,
            lockout_user_after: 50,
            lockout: Duration::from_secs(5 * 60),
            login_burst: 20,
            login_per_minute: 6.0,
            trusted_proxies: district.access.trusted_proxies.clone(),
            token_ttl: district.access.token_ttl,
            token_renew_every: Duration::from_secs(3600),
            console_session_ttl: Duration::from_secs(8 * 3600),
            console_secure_cookie: false,
            max_push_events: 1000,
            max_pull_limit: 1000,
            read_connections: 16,
            busy_timeout: Duration::from_secs(10),
            escalation: district.escalation.clone(),
            escalation_period: district.escalation_period,
            whistle_targets: district.whistle_targets.clone(),
            recurrence_window: Duration::from_secs(30 * 24 * 3600),
            open311_jurisdiction_id: "chaoyang.bj".to_owned(),
            notice_templates: NoticeTemplates::of(&district.messages),
            notice_sender: NoticeSenderConfig::of(&district.messages.sender),
            clock: district.clock,
            district: Arc::new(district),
            notice_period: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// The token lifetime and renewal period in effect, bounded whatever was configured:
    /// a token lives a minute to a year, and is renewed at most every half of its life.
    pub fn token_times_ms(&self) -> (i64, i64) {
        let ttl = (self.token_ttl.as_millis().min(365 * 24 * 3_600_000) as i64).max(60_000);
        let every = (self.token_renew_every.as_millis().min(i64::MAX as u128) as i64).clamp(0, ttl / 2);
        (ttl, every)
    }

    /// [`Config::token_times_ms`] for console sessions: a minute to a day, renewed at
    /// most every minute (a desk's clicks must not each cost a write).
    pub fn console_times_ms(&self) -> (i64, i64) {
        let ttl = (self.console_session_ttl.as_millis().min(24 * 3_600_000) as i64).max(60_000);
        (ttl, (ttl / 2).min(60_000))
    }

    /// The defaults with a district's configuration: its escalation timings and whistle
    /// targets take effect.
    pub fn with_district(district: DistrictConfig) -> Config {
        Config {
            escalation: district.escalation.clone(),
            escalation_period: district.escalation_period,
            whistle_targets: district.whistle_targets.clone(),
            notice_templates: NoticeTemplates::of(&district.messages),
            notice_sender: NoticeSenderConfig::of(&district.messages.sender),
            trusted_proxies: district.access.trusted_proxies.clone(),
            token_ttl: district.access.token_ttl,
            clock: district.clock,
            district: Arc::new(district),
            ..Config::default()
        }
    }

    /// The defaults overridden by a config file's text ([`DistrictConfig::from_toml`]).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        DistrictConfig::from_toml(text).map(Config::with_district)
    }

    /// The defaults overridden by a config file. The registry check is separate
    /// ([`DistrictConfig::check_registry`]): the registry is in the database.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.display().to_string(), message: e.to_string() })?;
        Config::from_toml(&text)
    }
}
