//! Tunables of one server instance. Defaults are what production uses; tests shrink them.
//! The district's own part (departments, routing, escalation timings, whistle targets,
//! notification templates) comes from its config file: [`crate::district`].

use crate::district::{ConfigError, DistrictConfig};
use gridwalk_domain::sla::EscalationRules;
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
    /// The district's config file as parsed (the defaults without one). Its escalation and
    /// whistle targets are copied into the fields above, which are the ones in effect.
    pub district: Arc<DistrictConfig>,
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
            rate_per_sec: 20.0,
            rate_burst: 60.0,
            lockout_after: 5,
            lockout: Duration::from_secs(5 * 60),
            max_push_events: 1000,
            max_pull_limit: 1000,
            read_connections: 4,
            escalation: district.escalation.clone(),
            escalation_period: district.escalation_period,
            whistle_targets: district.whistle_targets.clone(),
            recurrence_window: Duration::from_secs(30 * 24 * 3600),
            open311_jurisdiction_id: "chaoyang.bj".to_owned(),
            district: Arc::new(district),
        }
    }
}

impl Config {
    /// The defaults with a district's configuration: its escalation timings and whistle
    /// targets take effect.
    pub fn with_district(district: DistrictConfig) -> Config {
        Config {
            escalation: district.escalation.clone(),
            escalation_period: district.escalation_period,
            whistle_targets: district.whistle_targets.clone(),
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
