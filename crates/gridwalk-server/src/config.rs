//! Tunables of one server instance. Defaults are what production uses; tests shrink them.

use gridwalk_domain::sla::EscalationRules;
use gridwalk_domain::WhistleLevel;
use std::collections::BTreeMap;
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
}

/// The default targets of automatic whistles, one per level.
pub fn default_whistle_targets() -> BTreeMap<WhistleLevel, String> {
    BTreeMap::from([
        (WhistleLevel::PartyBranch, "党支部".to_owned()),
        (WhistleLevel::Community, "街道科室".to_owned()),
        (WhistleLevel::Subdistrict, "区职能部门".to_owned()),
    ])
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
            escalation: EscalationRules::default(),
            escalation_period: Duration::from_secs(60),
            whistle_targets: default_whistle_targets(),
            recurrence_window: Duration::from_secs(30 * 24 * 3600),
            open311_jurisdiction_id: "chaoyang.bj".to_owned(),
        }
    }
}
