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
    /// The messages a resident is sent when their issue is responded to, moves on in public, or
    /// is resolved (告知进展、告知结果).
    pub notice_templates: NoticeTemplates,
    /// How those messages leave the server, and how often they are retried.
    pub notice_sender: NoticeSenderConfig,
    /// How often the background task sends the messages that are due.
    pub notice_period: Duration,
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

impl Default for NoticeTemplates {
    fn default() -> Self {
        NoticeTemplates {
            responded: "您反映的{category}问题（工单{order_no}）已有网格员响应，正在处理。".to_owned(),
            progress: "您反映的{category}问题（工单{order_no}）有新进展：{note}。".to_owned(),
            resolved: "您反映的{category}问题（工单{order_no}）已办结：{note}。如有意见请致电12345。".to_owned(),
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
            notice_templates: NoticeTemplates::default(),
            notice_sender: NoticeSenderConfig::default(),
            notice_period: Duration::from_secs(5),
        }
    }
}
