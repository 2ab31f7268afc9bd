//! The district's config file (TOML, `gridwalk-server serve --config FILE`): the department
//! directory, the routing of categories to departments, the escalation timings, the whistle
//! targets and the resident notification templates. Pure: the caller reads the file, this only
//! parses text; [`crate::Config::from_file`] does both.
//!
//! Everything has a default ([`DistrictConfig::default`], a plain Chaoyang setup), and a file
//! overrides only what it gives, with two whole-list rules:
//! - `[[department]]` entries, when given, **replace** the default directory; then `[[routing]]`
//!   comes only from the file (none: everything goes to `default_department`), and
//!   `default_department` must be given.
//! - `[[routing]]` rules, when given, replace the default rules.
//!
//! Every error carries the 1-based line of the file it is about (`line N: …`), from the byte
//! spans the TOML parser keeps ([`toml::Spanned`]); the parsed items keep their lines, so the
//! later check against the registry ([`DistrictConfig::check_registry`]) can point at them too.

use gridwalk_domain::sla::EscalationRules;
use gridwalk_domain::validate::ClockBounds;
use gridwalk_domain::{Category, Registry, WhistleLevel};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::time::Duration;
use thiserror::Error;
use toml::Spanned;

/// The commented example file (`gridwalk-server config example`); a test parses it.
pub const EXAMPLE_TOML: &str = include_str!("../district.example.toml");

const ALERT_AFTER_DEADLINE_MINUTES: RangeInclusive<i64> = 0..=10_080;
const WHISTLE_AFTER_HOURS: RangeInclusive<i64> = 1..=2_160;
const PERIOD_SECONDS: RangeInclusive<i64> = 1..=3_600;
// `[clock]`: how far a tablet's times may stray from the server's (validate::ClockBounds).
const AHEAD_SECONDS: RangeInclusive<i64> = 0..=3_600;
const OFFSET_HOURS: RangeInclusive<i64> = 0..=720;
const OFFLINE_DAYS: RangeInclusive<i64> = 1..=365;
const RATE_TOLERANCE_HOURS: RangeInclusive<i64> = 1..=720;
const VISIT_HOURS: RangeInclusive<i64> = 1..=72;
const MAX_ATTEMPTS: RangeInclusive<i64> = 1..=50;
const RETRY_BASE_SECONDS: RangeInclusive<i64> = 1..=3_600;
/// A webhook's defaults when the file gives only its `url`.
const DEFAULT_MAX_ATTEMPTS: u32 = 8;
const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(30);
/// The department everything goes to when no rule matches, by default.
pub const DEFAULT_DEPARTMENT: &str = "区城管委";

// ---------------------------------------------------------------------------------------------
// Errors

/// `line N: ` when the line is known.
fn at(line: &Option<usize>) -> String {
    line.map(|n| format!("line {n}: ")).unwrap_or_default()
}

fn scope(subdistrict: &Option<String>) -> String {
    subdistrict.as_ref().map(|s| format!("subdistrict {s}")).unwrap_or_else(|| "any subdistrict".to_owned())
}

fn first(first_line: &Option<usize>) -> String {
    first_line.map(|n| format!("; first on line {n}")).unwrap_or_else(|| "; first in the built-in defaults".to_owned())
}

/// What is wrong with a config file. Every variant has a stable [`ConfigError::code`] and (but
/// `Read`) the 1-based line it is about; the text is Chinese first, then English.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("读取配置文件失败（cannot read the config file {path}: {message}）")]
    Read { path: String, message: String },
    #[error("{}TOML 语法错误（TOML syntax error: {message}）", at(.line))]
    Syntax { line: Option<usize>, message: String },
    #[error("{}未知的键“{key}”（unknown key {key:?}{expected}）", at(.line))]
    UnknownKey { line: Option<usize>, key: String, expected: String },
    #[error("{}缺少 {field}{why_zh}（missing {field}{why_en}）", at(.line))]
    MissingKey { line: Option<usize>, field: String, why_zh: String, why_en: String },
    #[error("{}{zh}（{en}）", at(.line))]
    InvalidValue { line: Option<usize>, zh: String, en: String },
    #[error("{}{field} = {value} 超出范围 {min}..={max}（{field} = {value} is out of range {min}..={max}）", at(.line))]
    OutOfRange { line: Option<usize>, field: &'static str, value: i64, min: i64, max: i64 },
    #[error("{}部门“{name}”重复声明（duplicate department {name:?}{}）", at(.line), first(.first_line))]
    DuplicateDepartment { line: Option<usize>, name: String, first_line: Option<usize> },
    #[error("{}{field} 指向未声明的部门“{name}”（unknown department {name:?} in {field}: declare it with [[department]]）", at(.line))]
    UnknownDepartment { line: Option<usize>, field: &'static str, name: String },
    #[error("{}上级部门形成环路 {cycle}（department parents form a cycle: {cycle}）", at(.line))]
    ParentCycle { line: Option<usize>, cycle: String },
    #[error("{}未知的诉求类别“{code}”（unknown category {code:?}; known: {known}）", at(.line))]
    UnknownCategory { line: Option<usize>, code: String, known: String },
    #[error("{}类别 {category} 的派单规则重复（duplicate routing rule for {category} in {}{}）", at(.line), scope(.subdistrict), first(.first_line))]
    DuplicateRule { line: Option<usize>, category: &'static str, subdistrict: Option<String>, first_line: Option<usize> },
    #[error("{}未知的街乡“{name}”（unknown subdistrict {name:?}: no subdistrict of the registry has this code or name）", at(.line))]
    UnknownSubdistrict { line: Option<usize>, name: String },
    #[error(
        "{}{field} 中有未知的占位符 {{{name}}}（unknown placeholder {{{name}}} in {field}; use {{order_no}}, {{category}}, {{courtyard}} or {{note}}）",
        at(.line)
    )]
    UnknownPlaceholder { line: Option<usize>, field: &'static str, name: String },
}

impl ConfigError {
    /// The stable code scripts match on.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => "config_read",
            ConfigError::Syntax { .. } => "config_syntax",
            ConfigError::UnknownKey { .. } => "config_unknown_key",
            ConfigError::MissingKey { .. } => "config_missing_key",
            ConfigError::InvalidValue { .. } => "config_invalid_value",
            ConfigError::OutOfRange { .. } => "config_out_of_range",
            ConfigError::DuplicateDepartment { .. } => "config_duplicate_department",
            ConfigError::UnknownDepartment { .. } => "config_unknown_department",
            ConfigError::ParentCycle { .. } => "config_parent_cycle",
            ConfigError::UnknownCategory { .. } => "config_unknown_category",
            ConfigError::DuplicateRule { .. } => "config_duplicate_rule",
            ConfigError::UnknownSubdistrict { .. } => "config_unknown_subdistrict",
            ConfigError::UnknownPlaceholder { .. } => "config_unknown_placeholder",
        }
    }

    /// The 1-based line of the file the error is about, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { line, .. }
            | ConfigError::UnknownKey { line, .. }
            | ConfigError::MissingKey { line, .. }
            | ConfigError::InvalidValue { line, .. }
            | ConfigError::OutOfRange { line, .. }
            | ConfigError::DuplicateDepartment { line, .. }
            | ConfigError::UnknownDepartment { line, .. }
            | ConfigError::ParentCycle { line, .. }
            | ConfigError::UnknownCategory { line, .. }
            | ConfigError::DuplicateRule { line, .. }
            | ConfigError::UnknownSubdistrict { line, .. }
            | ConfigError::UnknownPlaceholder { line, .. } => *line,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parsed configuration

/// What a department is (部门类型).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DepartmentKind {
    /// 街道科室
    Section,
    /// 区职能部门
    DistrictDepartment,
    /// 党组织
    Party,
}

impl DepartmentKind {
    pub const ALL: &'static [DepartmentKind] = &[DepartmentKind::Section, DepartmentKind::DistrictDepartment, DepartmentKind::Party];

    /// The code the file uses.
    pub fn code(self) -> &'static str {
        match self {
            DepartmentKind::Section => "section",
            DepartmentKind::DistrictDepartment => "district_department",
            DepartmentKind::Party => "party",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            DepartmentKind::Section => "街道科室",
            DepartmentKind::DistrictDepartment => "区职能部门",
            DepartmentKind::Party => "党组织",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            DepartmentKind::Section => "Subdistrict section",
            DepartmentKind::DistrictDepartment => "District department",
            DepartmentKind::Party => "Party organisation",
        }
    }

    pub fn from_code(code: &str) -> Option<DepartmentKind> {
        DepartmentKind::ALL.iter().copied().find(|k| k.code() == code)
    }
}

/// One entry of the department directory. A department's name is what whistles target and
/// what a `department:NAME` scope matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Department {
    pub name: String,
    /// The name of the department this one belongs to.
    pub parent: Option<String>,
    /// A phone number or any text.
    pub contact: Option<String>,
    pub kind: Option<DepartmentKind>,
    /// The file line of `name` (`None`: a built-in default).
    pub line: Option<usize>,
    /// The file line of `parent`.
    pub parent_line: Option<usize>,
}

/// Issues of `category` (in `subdistrict`, a code or a name, when given) go to `department`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingRule {
    pub category: Category,
    pub subdistrict: Option<String>,
    pub department: String,
    /// The file line of `category` (`None`: a built-in default).
    pub line: Option<usize>,
    pub subdistrict_line: Option<usize>,
    pub department_line: Option<usize>,
}

/// The resident notifications (告知).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// The issue was taken up (已响应).
    Responded,
    /// A progress note (办理进展).
    Progress,
    /// The issue was resolved (已解决).
    Resolved,
}

impl MessageKind {
    pub const ALL: &'static [MessageKind] = &[MessageKind::Responded, MessageKind::Progress, MessageKind::Resolved];

    /// The key under `[messages]`.
    pub fn code(self) -> &'static str {
        match self {
            MessageKind::Responded => "responded",
            MessageKind::Progress => "progress",
            MessageKind::Resolved => "resolved",
        }
    }

    fn field(self) -> &'static str {
        match self {
            MessageKind::Responded => "messages.responded",
            MessageKind::Progress => "messages.progress",
            MessageKind::Resolved => "messages.resolved",
        }
    }
}

/// The values a template's placeholders take.
#[derive(Clone, Copy, Debug, Default)]
pub struct MessageVars<'a> {
    /// `{order_no}`: the 12345 order number.
    pub order_no: &'a str,
    /// `{category}`: the category's Chinese label.
    pub category: &'a str,
    /// `{courtyard}`: the courtyard's name.
    pub courtyard: &'a str,
    /// `{note}`: the worker's note.
    pub note: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    OrderNo,
    Category,
    Courtyard,
    Note,
}

impl Var {
    fn from_name(name: &str) -> Option<Var> {
        Some(match name {
            "order_no" => Var::OrderNo,
            "category" => Var::Category,
            "courtyard" => Var::Courtyard,
            "note" => Var::Note,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// Why a template does not parse: the placeholder's name (or, unclosed, what follows the `{`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct BadPlaceholder {
    name: String,
    unclosed: bool,
}

/// A message template: text with `{order_no}`, `{category}`, `{courtyard}` and `{note}`. A `{`
/// always opens a placeholder; any other name is refused when the template is parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

impl Template {
    fn parse(text: &str) -> Result<Template, BadPlaceholder> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(BadPlaceholder { name: after.chars().take(20).collect(), unclosed: true });
            };
            let name = &after[..close];
            let var = Var::from_name(name).ok_or_else(|| BadPlaceholder { name: name.to_owned(), unclosed: false })?;
            parts.push(Part::Var(var));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { text: text.to_owned(), parts })
    }

    /// The template as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The template with its placeholders filled in.
    pub fn render(&self, vars: &MessageVars<'_>) -> String {
        let mut out = String::with_capacity(self.text.len() + 64);
        for part in &self.parts {
            out.push_str(match part {
                Part::Text(t) => t,
                Part::Var(Var::OrderNo) => vars.order_no,
                Part::Var(Var::Category) => vars.category,
                Part::Var(Var::Courtyard) => vars.courtyard,
                Part::Var(Var::Note) => vars.note,
            });
        }
        out
    }
}

/// How resident notifications go out. Plain data: the sender itself lives elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderConfig {
    /// Written to the server log only.
    Log,
    /// POSTed to `url`, retried up to `max_attempts` times in all with backoff from `retry_base`.
    Webhook { url: String, max_attempts: u32, retry_base: Duration },
}

/// The `[messages]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Messages {
    pub responded: Template,
    pub progress: Template,
    pub resolved: Template,
    pub sender: SenderConfig,
}

impl Messages {
    pub fn template(&self, kind: MessageKind) -> &Template {
        match kind {
            MessageKind::Responded => &self.responded,
            MessageKind::Progress => &self.progress,
            MessageKind::Resolved => &self.resolved,
        }
    }

    fn template_mut(&mut self, kind: MessageKind) -> &mut Template {
        match kind {
            MessageKind::Responded => &mut self.responded,
            MessageKind::Progress => &mut self.progress,
            MessageKind::Resolved => &mut self.resolved,
        }
    }
}

/// Where the file set the values that are checked against others (`None`: a default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Lines {
    default_department: Option<usize>,
    whistle_targets: BTreeMap<WhistleLevel, usize>,
    /// The first `[[department]]`, when the file replaced the directory.
    first_department: Option<usize>,
}

/// The district's configuration, as the file (over the defaults) says.
#[derive(Clone, Debug, PartialEq)]
pub struct DistrictConfig {
    /// The department directory, in file order.
    pub departments: Vec<Department>,
    /// Routing rules, in file order; see [`DistrictConfig::route`].
    pub routing: Vec<RoutingRule>,
    /// Where an issue goes when no rule matches.
    pub default_department: String,
    /// `[escalation]`; [`crate::Config::with_district`] copies it to `Config::escalation`.
    pub escalation: EscalationRules,
    /// `[escalation] period_seconds`; copied to `Config::escalation_period`.
    pub escalation_period: Duration,
    /// `[whistle_targets]`; copied to `Config::whistle_targets`.
    pub whistle_targets: BTreeMap<WhistleLevel, String>,
    pub messages: Messages,
    /// `[access]`; copied to `Config::token_ttl` and `Config::trusted_proxies`.
    pub access: AccessConfig,
    /// `[clock]`: the bounds on every time a tablet sends; copied to `Config::clock`.
    pub clock: ClockBounds,
    /// `[foresight]`: 未诉先办's tunables.
    pub foresight: ForesightConfig,
    lines: Lines,
}

/// `[foresight]`: the thresholds of coverage, hotspots and "already reported nearby"
/// (`gridwalk_domain::foresight::Rules`), and what intake does with a probable duplicate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForesightConfig {
    pub rules: gridwalk_domain::foresight::Rules,
    pub on_duplicate: OnDuplicate,
}

impl Default for ForesightConfig {
    fn default() -> Self {
        ForesightConfig { rules: gridwalk_domain::foresight::Rules::default(), on_duplicate: OnDuplicate::Link }
    }
}

/// `on_duplicate`: what a hotline or Open311 order that probably repeats an open issue does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnDuplicate {
    /// Open its own ticket, marked as a probable duplicate of the other (the default: a
    /// supervisor decides whether to merge).
    Link,
    /// Open no ticket: the order is a "me too" on the open issue (一事一单).
    Attach,
}

const STALE_DAYS: RangeInclusive<i64> = 1..=gridwalk_domain::foresight::MAX_STALE_DAYS;
const FAR_VISIT_M: RangeInclusive<i64> = 10..=5_000;
const HOTSPOT_MIN_COUNT: RangeInclusive<i64> = 2..=1_000;
const HOTSPOT_Z: RangeInclusive<i64> = 1..=10;
const NEARBY_RADIUS_M: RangeInclusive<i64> = 0..=5_000;
const DUPLICATE_DAYS: RangeInclusive<i64> = 1..=gridwalk_domain::foresight::MAX_WINDOW_DAYS;

/// `[access]`: device tokens' lifetime and the proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessConfig {
    /// `token_days` (1–365, default 30): a device token works this long after the last sync
    /// that renewed it.
    pub token_ttl: Duration,
    /// `trusted_proxies` (IP addresses; default none).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig { token_ttl: Duration::from_secs(30 * 24 * 3600), trusted_proxies: Vec::new() }
    }
}

const TOKEN_DAYS: RangeInclusive<i64> = 1..=365;

/// Categories and their default departments (`other` goes to the default department).
const DEFAULT_ROUTES: &[(Category, &str)] = &[
    (Category::StreetLight, "区城管委"),
    (Category::Sanitation, "街道城市管理科"),
    (Category::Leak, "区水务局"),
    (Category::IllegalBuilding, "街道城市管理科"),
    (Category::WallBreaking, "区住建委"),
    (Category::PropertyManagement, "区住建委"),
    (Category::ElderlyCare, "区民政局"),
    (Category::GarbageSorting, "区城管委"),
    (Category::Lift, "区市场监管局"),
    (Category::Parking, "区交通委"),
    (Category::Noise, "区生态环境局"),
    (Category::Greening, "区园林绿化局"),
    (Category::Heating, "区城管委"),
];

const DEFAULT_RESPONDED: &str = "【朝阳区接诉即办】您反映的{category}问题（工单号{order_no}，{courtyard}）已受理，正在办理。{note}";
const DEFAULT_PROGRESS: &str = "【朝阳区接诉即办】工单{order_no}（{category}，{courtyard}）办理进展：{note}";
const DEFAULT_RESOLVED: &str =
    "【朝阳区接诉即办】您反映的{category}问题（工单号{order_no}，{courtyard}）已办结：{note}。如不满意，请致电12345。";

impl Default for DistrictConfig {
    fn default() -> Self {
        use DepartmentKind::*;
        let dept = |name: &str, parent: Option<&str>, kind| Department {
            name: name.to_owned(),
            parent: parent.map(str::to_owned),
            contact: None,
            kind: Some(kind),
            line: None,
            parent_line: None,
        };
        let district = Some("区职能部门");
        let departments = vec![
            // The whistle targets of the three levels (crate::config::default_whistle_targets).
            dept("党支部", None, Party),
            dept("街道科室", None, Section),
            dept("区职能部门", None, DistrictDepartment),
            dept("街道城市管理科", Some("街道科室"), Section),
            dept("区城管委", district, DistrictDepartment),
            dept("区住建委", district, DistrictDepartment),
            dept("区水务局", district, DistrictDepartment),
            dept("区市场监管局", district, DistrictDepartment),
            dept("区园林绿化局", district, DistrictDepartment),
            dept("区民政局", district, DistrictDepartment),
            dept("区交通委", district, DistrictDepartment),
            dept("区生态环境局", district, DistrictDepartment),
        ];
        let routing = DEFAULT_ROUTES
            .iter()
            .map(|(category, department)| RoutingRule {
                category: *category,
                subdistrict: None,
                department: (*department).to_owned(),
                line: None,
                subdistrict_line: None,
                department_line: None,
            })
            .collect();
        let template = |t: &str| Template::parse(t).expect("the default templates use known placeholders");
        DistrictConfig {
            departments,
            routing,
            default_department: DEFAULT_DEPARTMENT.to_owned(),
            escalation: EscalationRules::default(),
            escalation_period: Duration::from_secs(60),
            clock: ClockBounds::default(),
            whistle_targets: crate::config::default_whistle_targets(),
            messages: Messages {
                responded: template(DEFAULT_RESPONDED),
                progress: template(DEFAULT_PROGRESS),
                resolved: template(DEFAULT_RESOLVED),
                sender: SenderConfig::Log,
            },
            access: AccessConfig::default(),
            foresight: ForesightConfig::default(),
            lines: Lines::default(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The file's shape (serde), with the spans the errors need

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    department: Option<Vec<RawDepartment>>,
    routing: Option<Vec<RawRouting>>,
    default_department: Option<Spanned<String>>,
    escalation: Option<RawEscalation>,
    whistle_targets: Option<RawTargets>,
    messages: Option<RawMessages>,
    clock: Option<RawClock>,
    access: Option<RawAccess>,
    foresight: Option<RawForesight>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForesight {
    stale_days: Option<Spanned<i64>>,
    far_visit_m: Option<Spanned<i64>>,
    hotspot_min_count: Option<Spanned<i64>>,
    hotspot_z: Option<Spanned<i64>>,
    nearby_radius_m: Option<Spanned<i64>>,
    duplicate_days: Option<Spanned<i64>>,
    on_duplicate: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    token_days: Option<Spanned<i64>>,
    trusted_proxies: Option<Vec<Spanned<String>>>,
}

/// One `[clock]` key as the parser walks them: (key, value, allowed range, ms per unit, the
/// bound it sets).
type ClockField<'a> = (&'static str, &'a Option<Spanned<i64>>, RangeInclusive<i64>, i64, &'a mut i64);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClock {
    ahead_seconds: Option<Spanned<i64>>,
    offset_hours: Option<Spanned<i64>>,
    offline_days: Option<Spanned<i64>>,
    rate_tolerance_hours: Option<Spanned<i64>>,
    visit_hours: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDepartment {
    name: Spanned<String>,
    parent: Option<Spanned<String>>,
    contact: Option<String>,
    kind: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    category: Spanned<String>,
    subdistrict: Option<Spanned<String>>,
    department: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    alert_after_deadline_minutes: Option<Spanned<i64>>,
    whistle_after_hours: Option<Spanned<i64>>,
    period_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    party_branch: Option<Spanned<String>>,
    community: Option<Spanned<String>>,
    subdistrict: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessages {
    responded: Option<Spanned<String>>,
    progress: Option<Spanned<String>>,
    resolved: Option<Spanned<String>>,
    sender: Option<Spanned<RawSender>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSender {
    kind: Spanned<String>,
    url: Option<Spanned<String>>,
    max_attempts: Option<Spanned<i64>>,
    retry_base_seconds: Option<Spanned<i64>>,
}

/// Byte offsets of a text → 1-based lines.
struct Source<'a> {
    text: &'a str,
}

impl Source<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        1 + self.text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count()
    }

    fn line_of<T>(&self, s: &Spanned<T>) -> Option<usize> {
        Some(self.line(s.span().start))
    }

    /// A parse error of the `toml` crate, classified: `syntax` says it came from reading the
    /// TOML itself rather than from fitting it to the file's shape.
    fn toml_error(&self, e: toml::de::Error, syntax: bool) -> ConfigError {
        let line = e.span().map(|s| self.line(s.start));
        let message = e.message().trim().replace('\n', "; ");
        if syntax {
            ConfigError::Syntax { line, message }
        } else if let Some(rest) = message.strip_prefix("unknown field `") {
            // serde: "unknown field `x`, expected one of `a`, `b`"
            let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
            ConfigError::UnknownKey { line, key: key.to_owned(), expected: expected.to_owned() }
        } else if let Some(rest) = message.strip_prefix("missing field `") {
            let field = rest.trim_end_matches('`').to_owned();
            ConfigError::MissingKey { line, field, why_zh: String::new(), why_en: String::new() }
        } else {
            ConfigError::InvalidValue { line, zh: "值无效".to_owned(), en: message }
        }
    }

    fn bounded(&self, field: &'static str, v: &Spanned<i64>, range: RangeInclusive<i64>) -> Result<i64, ConfigError> {
        let value = *v.get_ref();
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::OutOfRange { line: self.line_of(v), field, value, min: *range.start(), max: *range.end() })
        }
    }

    fn template(&self, kind: MessageKind, v: &Spanned<String>) -> Result<Template, ConfigError> {
        Template::parse(v.get_ref()).map_err(|bad| {
            // The line of the `{` itself: found in the value's source text (a multi-line string
            // puts it below the key), else the line of the value.
            let span = v.span();
            let raw = self.text.get(span.clone()).unwrap_or_default();
            let needle = if bad.unclosed { format!("{{{}", bad.name) } else { format!("{{{}}}", bad.name) };
            let at = raw.find(&needle).map(|i| span.start + i).unwrap_or(span.start);
            let line = Some(self.line(at));
            if bad.unclosed {
                ConfigError::InvalidValue {
                    line,
                    zh: format!("{} 中有未闭合的“{{”", kind.field()),
                    en: format!("an unclosed “{{” in {}", kind.field()),
                }
            } else {
                ConfigError::UnknownPlaceholder { line, field: kind.field(), name: bad.name }
            }
        })
    }
}

/// What is wrong with a name, in Chinese and English.
fn name_problem(name: &str) -> Option<(&'static str, &'static str)> {
    if name.trim().is_empty() {
        Some(("不能为空", "must not be empty"))
    } else if name.trim() != name {
        Some(("不能有首尾空白", "must not start or end with spaces"))
    } else if name.chars().any(char::is_control) {
        Some(("不能含控制字符", "must not contain control characters"))
    } else {
        None
    }
}

fn check_name(field: &str, name: &str, line: Option<usize>) -> Result<(), ConfigError> {
    match name_problem(name) {
        Some((zh, en)) => Err(ConfigError::InvalidValue { line, zh: format!("{field} {zh}"), en: format!("{field} {en}") }),
        None => Ok(()),
    }
}

/// `http://host…` or `https://host…`, with a host and no spaces; else why not (zh, en).
fn check_url(url: &str) -> Result<(), (&'static str, &'static str)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or(("须以 http:// 或 https:// 开头", "must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    if host.is_empty() {
        return Err(("缺少主机名", "has no host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(("不能含空白字符", "must not contain spaces"));
    }
    Ok(())
}

impl DistrictConfig {
    /// Parse a config file's text over the defaults and validate it (everything but the
    /// registry, which is [`DistrictConfig::check_registry`]).
    pub fn from_toml(text: &str) -> Result<DistrictConfig, ConfigError> {
        let src = Source { text };
        // Syntax first, so a broken file is a syntax error and not a shape error.
        toml::from_str::<toml::Table>(text).map_err(|e| src.toml_error(e, true))?;
        let raw: RawFile = toml::from_str(text).map_err(|e| src.toml_error(e, false))?;
        let mut d = DistrictConfig::default();

        if let Some(departments) = raw.department {
            d.lines.first_department = departments.first().and_then(|r| src.line_of(&r.name));
            if raw.default_department.is_none() {
                return Err(ConfigError::MissingKey {
                    line: d.lines.first_department,
                    field: "default_department".to_owned(),
                    why_zh: "：文件声明了 [[department]] 时必须给出".to_owned(),
                    why_en: ": required when the file declares [[department]]".to_owned(),
                });
            }
            d.routing.clear();
            d.departments = departments
                .into_iter()
                .map(|r| {
                    let kind = match &r.kind {
                        None => None,
                        Some(k) => Some(DepartmentKind::from_code(k.get_ref()).ok_or_else(|| ConfigError::InvalidValue {
                            line: src.line_of(k),
                            zh: format!(
                                "department.kind = {:?} 须为 section 街道科室、district_department 区职能部门或 party 党组织",
                                k.get_ref()
                            ),
                            en: "department.kind must be section, district_department or party".to_owned(),
                        })?),
                    };
                    Ok(Department {
                        line: src.line_of(&r.name),
                        parent_line: r.parent.as_ref().and_then(|p| src.line_of(p)),
                        name: r.name.into_inner(),
                        parent: r.parent.map(Spanned::into_inner),
                        contact: r.contact,
                        kind,
                    })
                })
                .collect::<Result<_, ConfigError>>()?;
        }
        if let Some(rules) = raw.routing {
            d.routing = rules
                .into_iter()
                .map(|r| {
                    let category = Category::from_code(r.category.get_ref()).ok_or_else(|| ConfigError::UnknownCategory {
                        line: src.line_of(&r.category),
                        code: r.category.get_ref().clone(),
                        known: Category::ALL.iter().map(|c| c.code()).collect::<Vec<_>>().join(", "),
                    })?;
                    Ok(RoutingRule {
                        category,
                        line: src.line_of(&r.category),
                        subdistrict_line: r.subdistrict.as_ref().and_then(|s| src.line_of(s)),
                        department_line: src.line_of(&r.department),
                        subdistrict: r.subdistrict.map(Spanned::into_inner),
                        department: r.department.into_inner(),
                    })
                })
                .collect::<Result<_, ConfigError>>()?;
        }
        if let Some(name) = raw.default_department {
            d.lines.default_department = src.line_of(&name);
            d.default_department = name.into_inner();
        }
        if let Some(e) = raw.escalation {
            if let Some(v) = &e.alert_after_deadline_minutes {
                d.escalation.alert_after_deadline_ms =
                    src.bounded("escalation.alert_after_deadline_minutes", v, ALERT_AFTER_DEADLINE_MINUTES)? * 60_000;
            }
            if let Some(v) = &e.whistle_after_hours {
                d.escalation.whistle_after_ms = src.bounded("escalation.whistle_after_hours", v, WHISTLE_AFTER_HOURS)? * 3_600_000;
            }
            if let Some(v) = &e.period_seconds {
                d.escalation_period = Duration::from_secs(src.bounded("escalation.period_seconds", v, PERIOD_SECONDS)?.unsigned_abs());
            }
        }
        if let Some(a) = raw.access {
            if let Some(v) = &a.token_days {
                d.access.token_ttl = Duration::from_secs(src.bounded("access.token_days", v, TOKEN_DAYS)?.unsigned_abs() * 24 * 3600);
            }
            for p in a.trusted_proxies.unwrap_or_default() {
                let ip = p.get_ref().parse().map_err(|_| ConfigError::InvalidValue {
                    line: src.line_of(&p),
                    zh: format!("“{}”不是 IP 地址", p.get_ref()),
                    en: format!("{:?} is not an IP address", p.get_ref()),
                })?;
                d.access.trusted_proxies.push(ip);
            }
        }
        if let Some(f) = raw.foresight {
            let r = &mut d.foresight.rules;
            if let Some(v) = &f.stale_days {
                r.stale_days = src.bounded("foresight.stale_days", v, STALE_DAYS)?;
            }
            if let Some(v) = &f.far_visit_m {
                r.far_visit_m = src.bounded("foresight.far_visit_m", v, FAR_VISIT_M)? as f64;
            }
            if let Some(v) = &f.hotspot_min_count {
                r.hotspot_min_count = src.bounded("foresight.hotspot_min_count", v, HOTSPOT_MIN_COUNT)?.unsigned_abs();
            }
            if let Some(v) = &f.hotspot_z {
                r.hotspot_z = src.bounded("foresight.hotspot_z", v, HOTSPOT_Z)? as f64;
            }
            if let Some(v) = &f.nearby_radius_m {
                r.nearby_radius_m = src.bounded("foresight.nearby_radius_m", v, NEARBY_RADIUS_M)? as f64;
            }
            if let Some(v) = &f.duplicate_days {
                r.duplicate_days = src.bounded("foresight.duplicate_days", v, DUPLICATE_DAYS)?;
            }
            if let Some(v) = &f.on_duplicate {
                d.foresight.on_duplicate = match v.get_ref().as_str() {
                    "link" => OnDuplicate::Link,
                    "attach" => OnDuplicate::Attach,
                    other => {
                        return Err(ConfigError::InvalidValue {
                            line: src.line_of(v),
                            zh: format!("foresight.on_duplicate 应为 link 或 attach，而非“{other}”"),
                            en: format!("foresight.on_duplicate must be link or attach, not {other:?}"),
                        })
                    }
                };
            }
        }
        if let Some(c) = raw.clock {
            let fields: [ClockField<'_>; 5] = [
                ("clock.ahead_seconds", &c.ahead_seconds, AHEAD_SECONDS, 1_000, &mut d.clock.ahead_ms),
                ("clock.offset_hours", &c.offset_hours, OFFSET_HOURS, 3_600_000, &mut d.clock.offset_ms),
                ("clock.offline_days", &c.offline_days, OFFLINE_DAYS, 86_400_000, &mut d.clock.offline_ms),
                ("clock.rate_tolerance_hours", &c.rate_tolerance_hours, RATE_TOLERANCE_HOURS, 3_600_000, &mut d.clock.rate_tolerance_ms),
                ("clock.visit_hours", &c.visit_hours, VISIT_HOURS, 3_600_000, &mut d.clock.visit_ms),
            ];
            for (field, v, range, unit, slot) in fields {
                if let Some(v) = v {
                    *slot = src.bounded(field, v, range)? * unit;
                }
            }
        }
        if let Some(t) = raw.whistle_targets {
            for (level, v) in [
                (WhistleLevel::PartyBranch, t.party_branch),
                (WhistleLevel::Community, t.community),
                (WhistleLevel::Subdistrict, t.subdistrict),
            ] {
                if let Some(v) = v {
                    let line = src.line_of(&v);
                    check_name(&format!("whistle_targets.{}", level.code()), v.get_ref(), line)?;
                    d.lines.whistle_targets.insert(level, line.unwrap_or_default());
                    d.whistle_targets.insert(level, v.into_inner());
                }
            }
        }
        if let Some(m) = raw.messages {
            for (kind, v) in
                [(MessageKind::Responded, &m.responded), (MessageKind::Progress, &m.progress), (MessageKind::Resolved, &m.resolved)]
            {
                if let Some(v) = v {
                    *d.messages.template_mut(kind) = src.template(kind, v)?;
                }
            }
            if let Some(s) = &m.sender {
                d.messages.sender = Self::sender(&src, s)?;
            }
        }
        d.validate()?;
        Ok(d)
    }

    fn sender(src: &Source<'_>, s: &Spanned<RawSender>) -> Result<SenderConfig, ConfigError> {
        let s = s.get_ref();
        let max_attempts = s.max_attempts.as_ref().map(|v| src.bounded("messages.sender.max_attempts", v, MAX_ATTEMPTS)).transpose()?;
        let retry_base =
            s.retry_base_seconds.as_ref().map(|v| src.bounded("messages.sender.retry_base_seconds", v, RETRY_BASE_SECONDS)).transpose()?;
        match s.kind.get_ref().as_str() {
            "log" => {
                let webhook_only = [
                    ("url", s.url.as_ref().map(|v| v.span())),
                    ("max_attempts", s.max_attempts.as_ref().map(|v| v.span())),
                    ("retry_base_seconds", s.retry_base_seconds.as_ref().map(|v| v.span())),
                ];
                if let Some((key, Some(span))) = webhook_only.into_iter().find(|(_, span)| span.is_some()) {
                    return Err(ConfigError::InvalidValue {
                        line: Some(src.line(span.start)),
                        zh: format!("messages.sender.{key} 只用于 kind = \"webhook\""),
                        en: format!("messages.sender.{key} applies only to kind = \"webhook\""),
                    });
                }
                Ok(SenderConfig::Log)
            }
            "webhook" => {
                let Some(url) = &s.url else {
                    return Err(ConfigError::MissingKey {
                        line: src.line_of(&s.kind),
                        field: "messages.sender.url".to_owned(),
                        why_zh: "：kind = \"webhook\" 时必须给出".to_owned(),
                        why_en: ": a webhook needs a url".to_owned(),
                    });
                };
                check_url(url.get_ref()).map_err(|(zh, en)| ConfigError::InvalidValue {
                    line: src.line_of(url),
                    zh: format!("messages.sender.url = {:?} {zh}", url.get_ref()),
                    en: format!("messages.sender.url {en}"),
                })?;
                Ok(SenderConfig::Webhook {
                    url: url.get_ref().clone(),
                    max_attempts: max_attempts.map(|n| n.unsigned_abs() as u32).unwrap_or(DEFAULT_MAX_ATTEMPTS),
                    retry_base: retry_base.map(|n| Duration::from_secs(n.unsigned_abs())).unwrap_or(DEFAULT_RETRY_BASE),
                })
            }
            other => Err(ConfigError::InvalidValue {
                line: src.line_of(&s.kind),
                zh: format!("messages.sender.kind = {other:?} 须为 log 或 webhook"),
                en: "messages.sender.kind must be \"log\" or \"webhook\"".to_owned(),
            }),
        }
    }

    /// The checks across items: names, duplicates, parents and their cycles, and that every
    /// rule, the default and the subdistrict whistle target name a declared department.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut declared: HashMap<&str, &Department> = HashMap::new();
        for d in &self.departments {
            check_name("department.name", &d.name, d.line)?;
            if let Some(before) = declared.insert(&d.name, d) {
                return Err(ConfigError::DuplicateDepartment { line: d.line, name: d.name.clone(), first_line: before.line });
            }
        }
        for d in &self.departments {
            if let Some(parent) = &d.parent {
                if !declared.contains_key(parent.as_str()) {
                    return Err(ConfigError::UnknownDepartment { line: d.parent_line, field: "department.parent", name: parent.clone() });
                }
            }
        }
        for d in &self.departments {
            // Walk up the parents; meeting a department already on the path is a cycle.
            let mut path = vec![d.name.as_str()];
            while let Some(parent) = declared.get(path[path.len() - 1]).and_then(|x| x.parent.as_deref()) {
                if let Some(i) = path.iter().position(|p| *p == parent) {
                    let cycle = &path[i..];
                    // Reported at the cycle's member that comes first in the file.
                    let head = cycle.iter().min_by_key(|n| declared[**n].line).copied().unwrap_or(parent);
                    let start = cycle.iter().position(|n| *n == head).unwrap_or(0);
                    let mut names: Vec<&str> = cycle[start..].iter().chain(&cycle[..start]).copied().collect();
                    names.push(head);
                    return Err(ConfigError::ParentCycle { line: declared[head].parent_line, cycle: names.join(" → ") });
                }
                path.push(parent);
            }
        }
        let mut seen: HashMap<(Category, Option<&str>), &RoutingRule> = HashMap::new();
        for r in &self.routing {
            if let Some(s) = &r.subdistrict {
                check_name("routing.subdistrict", s, r.subdistrict_line)?;
            }
            if !declared.contains_key(r.department.as_str()) {
                return Err(ConfigError::UnknownDepartment {
                    line: r.department_line,
                    field: "routing.department",
                    name: r.department.clone(),
                });
            }
            if let Some(before) = seen.insert((r.category, r.subdistrict.as_deref()), r) {
                return Err(ConfigError::DuplicateRule {
                    line: r.line,
                    category: r.category.code(),
                    subdistrict: r.subdistrict.clone(),
                    first_line: before.line,
                });
            }
        }
        if !declared.contains_key(self.default_department.as_str()) {
            return Err(ConfigError::UnknownDepartment {
                line: self.lines.default_department.or(self.lines.first_department),
                field: "default_department",
                name: self.default_department.clone(),
            });
        }
        for level in WhistleLevel::ALL {
            let line = self.lines.whistle_targets.get(level).copied();
            let Some(target) = self.whistle_targets.get(level) else {
                return Err(ConfigError::MissingKey {
                    line,
                    field: format!("whistle_targets.{}", level.code()),
                    why_zh: "：每一级吹哨都要有目标".to_owned(),
                    why_en: ": every whistle level needs a target".to_owned(),
                });
            };
            check_name(&format!("whistle_targets.{}", level.code()), target, line)?;
            // 街乡吹哨、部门报到: the subdistrict level calls a department of the directory.
            if *level == WhistleLevel::Subdistrict && !declared.contains_key(target.as_str()) {
                return Err(ConfigError::UnknownDepartment {
                    line: line.or(self.lines.first_department),
                    field: "whistle_targets.subdistrict",
                    name: target.clone(),
                });
            }
        }
        Ok(())
    }

    /// Check the routing rules against the registry (loaded after the file): every rule's
    /// subdistrict is a subdistrict's code or name, and no two rules of a category name the
    /// same subdistrict (one by code, one by name).
    pub fn check_registry(&self, reg: &Registry) -> Result<(), ConfigError> {
        let mut seen: HashMap<(Category, &str), &RoutingRule> = HashMap::new();
        for r in &self.routing {
            let Some(s) = &r.subdistrict else { continue };
            let Some(found) = reg.subdistricts.iter().find(|x| x.code == *s || x.name == *s) else {
                return Err(ConfigError::UnknownSubdistrict { line: r.subdistrict_line, name: s.clone() });
            };
            if let Some(before) = seen.insert((r.category, found.code.as_str()), r) {
                return Err(ConfigError::DuplicateRule {
                    line: r.line,
                    category: r.category.code(),
                    subdistrict: Some(format!("{} ({})", found.name, found.code)),
                    first_line: before.line,
                });
            }
        }
        Ok(())
    }

    /// The department an issue of `category` in the given subdistrict goes to: the rule for
    /// the category in that subdistrict (named by code or name) first, then the category's
    /// rule for any subdistrict, then the default department.
    pub fn route(&self, category: Category, subdistrict_code: &str, subdistrict_name: &str) -> &str {
        let here = |r: &&RoutingRule| r.subdistrict.as_deref().is_some_and(|s| s == subdistrict_code || s == subdistrict_name);
        let of_category = || self.routing.iter().filter(move |r| r.category == category);
        of_category()
            .find(here)
            .or_else(|| of_category().find(|r| r.subdistrict.is_none()))
            .map(|r| r.department.as_str())
            .unwrap_or(&self.default_department)
    }

    /// A resident notification of `kind` with its placeholders filled in.
    pub fn render(&self, kind: MessageKind, vars: &MessageVars<'_>) -> String {
        self.messages.template(kind).render(vars)
    }

    /// A declared department by name.
    pub fn department(&self, name: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwalk_domain::registry_gen::demo_registry;

    fn parse(text: &str) -> Result<DistrictConfig, ConfigError> {
        DistrictConfig::from_toml(text)
    }

    #[test]
    fn foresight_keys_set_the_thresholds_and_what_intake_does_with_a_duplicate() {
        let d = parse("[foresight]\nstale_days = 21\nfar_visit_m = 150\nhotspot_min_count = 4\nhotspot_z = 2\nnearby_radius_m = 0\nduplicate_days = 3\non_duplicate = \"attach\"\n").unwrap();
        let r = d.foresight.rules;
        assert_eq!(
            (r.stale_days, r.far_visit_m, r.hotspot_min_count, r.hotspot_z, r.nearby_radius_m, r.duplicate_days),
            (21, 150.0, 4, 2.0, 0.0, 3),
            "every [foresight] key lands in the rules"
        );
        assert_eq!(d.foresight.on_duplicate, OnDuplicate::Attach);
        assert_eq!(parse("").unwrap().foresight, ForesightConfig::default(), "no [foresight]: the defaults, link");
    }

    #[test]
    fn the_example_file_parses_declares_the_default_directory_and_fits_the_demo_registry() {
        let example = parse(EXAMPLE_TOML).unwrap_or_else(|e| panic!("the shipped example parses: {e}"));
        let default = DistrictConfig::default();
        let names = |d: &DistrictConfig| d.departments.iter().map(|x| (x.name.clone(), x.parent.clone(), x.kind)).collect::<Vec<_>>();
        assert_eq!(names(&example), names(&default), "the example declares the default directory");
        for &c in Category::ALL {
            assert_eq!(
                example.route(c, "CY01", "建外街道"),
                default.route(c, "CY01", "建外街道"),
                "the example routes {c:?} as the default does"
            );
        }
        assert_eq!(example.route(Category::Noise, "CY04", "三里屯街道"), "街道城市管理科", "the example's subdistrict rule applies");
        assert_eq!(example.escalation, default.escalation, "the example's escalation numbers are the defaults");
        assert_eq!(example.foresight, default.foresight, "the example's [foresight] thresholds are the defaults");
        assert_eq!(example.escalation_period, default.escalation_period, "the example's period is the default");
        assert_eq!(example.whistle_targets, default.whistle_targets, "the example's whistle targets are the defaults");
        assert_eq!(example.clock, default.clock, "the example's clock bounds are the defaults");
        assert_eq!(example.messages, default.messages, "the example's templates and sender are the defaults");
        assert_eq!(example.default_department, DEFAULT_DEPARTMENT, "the example's default department is the default");
        example.check_registry(&demo_registry()).expect("the example's subdistrict names a subdistrict of the demo registry");
    }

    #[test]
    fn the_default_is_valid_routes_every_category_to_a_declared_department_and_declares_the_whistle_targets() {
        let d = DistrictConfig::default();
        d.validate().expect("the default configuration is valid");
        d.check_registry(&demo_registry()).expect("the default configuration fits the demo registry");
        for &c in Category::ALL {
            let to = d.route(c, "CY01", "建外街道");
            assert!(d.department(to).is_some(), "{c:?} routes to a declared department, not {to:?}");
            let explicit = d.routing.iter().any(|r| r.category == c);
            assert_eq!(explicit, c != Category::Other, "every category but other has its own default rule ({c:?})");
        }
        assert_eq!(d.route(Category::Other, "", ""), DEFAULT_DEPARTMENT, "other goes to the default department");
        for (level, target) in &d.whistle_targets {
            assert!(d.department(target).is_some(), "the default {level:?} whistle target {target} is a declared department");
        }
        assert_eq!(d.whistle_targets, crate::config::default_whistle_targets(), "the defaults keep today's whistle target names");
        assert_eq!(parse("").unwrap(), d, "an empty file is the defaults");
        assert_eq!(parse("# nothing but a comment\n").unwrap(), d, "a file of comments is the defaults");
        let config = crate::Config::default();
        assert_eq!(*config.district, d, "Config::default() carries the default district");
        assert_eq!(config.escalation, d.escalation, "Config::default()'s escalation is the district's");
        assert_eq!(config.whistle_targets, d.whistle_targets, "Config::default()'s whistle targets are the district's");
    }

    const DIRECTORY: &str = "default_department = \"甲\"\n\
                             [whistle_targets]\nsubdistrict = \"甲\"\n\
                             [[department]]\nname = \"甲\"\n";

    #[test]
    fn a_bad_file_fails_with_its_code_and_the_line_it_is_about() {
        // (case, file, expected code, expected line)
        let cases: &[(&str, String, &str, usize)] = &[
            ("syntax: a value missing", "[escalation]\nperiod_seconds = \n".into(), "config_syntax", 2),
            ("syntax: an unclosed string", "# c\ndefault_department = \"区城管委\n".into(), "config_syntax", 2),
            ("syntax: a key twice", "default_department = \"区城管委\"\ndefault_department = \"区水务局\"\n".into(), "config_syntax", 2),
            ("unknown key at the top", "\n\nmanager = \"张三\"\n".into(), "config_unknown_key", 3),
            ("unknown key in a table", "[escalation]\nperiod_seconds = 5\nperiod = 5\n".into(), "config_unknown_key", 3),
            (
                "unknown key in a department",
                "default_department = \"甲\"\n[whistle_targets]\nsubdistrict = \"甲\"\n[[department]]\nname = \"甲\"\nphone = \"1\"\n".into(),
                "config_unknown_key",
                6,
            ),
            ("unknown key in the sender", "[messages.sender]\nkind = \"log\"\nretries = 3\n".into(), "config_unknown_key", 3),
            ("unknown section", "[escalations]\nperiod_seconds = 5\n".into(), "config_unknown_key", 1),
            (
                "unknown department in a routing rule",
                "[[routing]]\ncategory = \"noise\"\ndepartment = \"区噪声办\"\n".into(),
                "config_unknown_department",
                3,
            ),
            (
                "unknown department in an inline rule",
                "routing = [\n  { category = \"noise\", department = \"区生态环境局\" },\n  { category = \"lift\", department = \"区电梯办\" },\n]\n"
                    .into(),
                "config_unknown_department",
                3,
            ),
            (
                "unknown category in a routing rule",
                "[[routing]]\ncategory = \"potholes\"\ndepartment = \"区城管委\"\n".into(),
                "config_unknown_category",
                2,
            ),
            (
                "the same rule twice",
                "[[routing]]\ncategory = \"noise\"\ndepartment = \"区城管委\"\n[[routing]]\ncategory = \"noise\"\ndepartment = \"区生态环境局\"\n"
                    .into(),
                "config_duplicate_rule",
                5,
            ),
            ("a routing rule without a department", "[[routing]]\ncategory = \"noise\"\n".into(), "config_missing_key", 1),
            ("duplicate department", format!("{DIRECTORY}[[department]]\nname = \"乙\"\n[[department]]\nname = \"甲\"\n"), "config_duplicate_department", 9),
            ("empty department name", format!("{DIRECTORY}[[department]]\nname = \"  \"\n"), "config_invalid_value", 7),
            ("unknown parent", format!("{DIRECTORY}[[department]]\nname = \"乙\"\nparent = \"丙\"\n"), "config_unknown_department", 8),
            (
                "parent cycle",
                format!("{DIRECTORY}[[department]]\nname = \"乙\"\nparent = \"丙\"\n[[department]]\nname = \"丙\"\nparent = \"乙\"\n"),
                "config_parent_cycle",
                8,
            ),
            ("a department its own parent", format!("{DIRECTORY}[[department]]\nname = \"乙\"\nparent = \"乙\"\n"), "config_parent_cycle", 8),
            ("unknown department kind", format!("{DIRECTORY}[[department]]\nname = \"乙\"\nkind = \"bureau\"\n"), "config_invalid_value", 8),
            (
                "a directory without a default department",
                "[whistle_targets]\nsubdistrict = \"甲\"\n[[department]]\nname = \"甲\"\n".into(),
                "config_missing_key",
                4,
            ),
            ("default department undeclared", "# c\ndefault_department = \"区不存在局\"\n".into(), "config_unknown_department", 2),
            (
                "a directory without the default subdistrict target",
                "default_department = \"甲\"\n[[department]]\nname = \"甲\"\n".into(),
                "config_unknown_department",
                3,
            ),
            ("subdistrict whistle target undeclared", "[whistle_targets]\nsubdistrict = \"区不存在局\"\n".into(), "config_unknown_department", 2),
            ("empty whistle target", "[whistle_targets]\nparty_branch = \"\"\n".into(), "config_invalid_value", 2),
            ("minutes out of range", "[escalation]\nalert_after_deadline_minutes = 10081\n".into(), "config_out_of_range", 2),
            ("negative minutes", "[escalation]\nalert_after_deadline_minutes = -1\n".into(), "config_out_of_range", 2),
            ("hours out of range", "[escalation]\n\nwhistle_after_hours = 0\n".into(), "config_out_of_range", 3),
            ("period out of range", "[escalation]\nperiod_seconds = 3601\n".into(), "config_out_of_range", 2),
            ("offline days out of range", "[clock]\noffline_days = 0\n".into(), "config_out_of_range", 2),
            ("unknown clock key", "[clock]\nahead_minutes = 5\n".into(), "config_unknown_key", 2),
            ("hotspot z out of range", "[foresight]\nhotspot_z = 0\n".into(), "config_out_of_range", 2),
            ("a negative radius", "[foresight]\nnearby_radius_m = -5\n".into(), "config_out_of_range", 2),
            ("one report a hotspot", "[foresight]\n\nhotspot_min_count = 1\n".into(), "config_out_of_range", 3),
            ("unknown duplicate handling", "[foresight]\non_duplicate = \"merge\"\n".into(), "config_invalid_value", 2),
            ("unknown foresight key", "[foresight]\nradius = 5\n".into(), "config_unknown_key", 2),
            ("a number given as text", "[escalation]\nperiod_seconds = \"60\"\n".into(), "config_invalid_value", 2),
            ("attempts out of range", "[messages.sender]\nkind = \"webhook\"\nurl = \"https://x.cn/\"\nmax_attempts = 51\n".into(), "config_out_of_range", 4),
            ("retry base out of range", "[messages.sender]\nkind = \"webhook\"\nurl = \"https://x.cn/\"\nretry_base_seconds = 0\n".into(), "config_out_of_range", 4),
            ("unknown placeholder", "[messages]\nprogress = \"进展 {note} {phone}\"\n".into(), "config_unknown_placeholder", 2),
            (
                "unknown placeholder in a multi-line template",
                "[messages]\nresolved = \"\"\"\n已办结：{note}\n请致电 {hotline}\n\"\"\"\n".into(),
                "config_unknown_placeholder",
                4,
            ),
            ("unclosed placeholder", "[messages]\nresponded = \"已受理 {order_no\"\n".into(), "config_invalid_value", 2),
            (
                "unclosed placeholder below a good one",
                "[messages]\nresponded = \"\"\"\n{order_no}\n已受理 {note\n\"\"\"\n".into(),
                "config_invalid_value",
                4,
            ),
            ("unknown sender kind", "[messages.sender]\nkind = \"sms\"\n".into(), "config_invalid_value", 2),
            ("webhook without a url", "[messages.sender]\nkind = \"webhook\"\n".into(), "config_missing_key", 2),
            ("webhook with an ftp url", "[messages.sender]\nkind = \"webhook\"\nurl = \"ftp://x.cn/\"\n".into(), "config_invalid_value", 3),
            ("webhook with no host", "[messages.sender]\nkind = \"webhook\"\nurl = \"https:///notify\"\n".into(), "config_invalid_value", 3),
            ("log with a url", "[messages.sender]\nkind = \"log\"\nurl = \"https://x.cn/\"\n".into(), "config_invalid_value", 3),
        ];
        for (case, text, code, line) in cases {
            let err = match parse(text) {
                Ok(_) => panic!("case {case:?}: the file is refused"),
                Err(e) => e,
            };
            assert_eq!((err.code(), err.line()), (*code, Some(*line)), "case {case:?}: the error has its code and line ({err})");
            let shown = err.to_string();
            assert!(shown.starts_with(&format!("line {line}: ")), "case {case:?}: the message starts with its line: {shown}");
            assert!(!shown.is_ascii(), "case {case:?}: the message is Chinese first: {shown}");
        }
    }

    #[test]
    fn a_file_overrides_only_what_it_gives_and_config_takes_its_escalation_and_targets() {
        let text = "[escalation]\nalert_after_deadline_minutes = 30\nwhistle_after_hours = 24\nperiod_seconds = 5\n\
                    [whistle_targets]\ncommunity = \"社区居委会\"\n\
                    [messages]\nprogress = \"{order_no}：{note}\"\n\
                    [messages.sender]\nkind = \"webhook\"\nurl = \"https://sms.example.cn:8443/notify?x=1\"\n";
        let d = parse(text).expect("the file parses");
        let default = DistrictConfig::default();
        assert_eq!(
            d.escalation,
            EscalationRules { alert_after_deadline_ms: 30 * 60_000, whistle_after_ms: 24 * 3_600_000 },
            "minutes and hours become ms"
        );
        assert_eq!(d.escalation_period, Duration::from_secs(5), "period_seconds is the escalation period");
        assert_eq!(d.whistle_targets[&WhistleLevel::Community], "社区居委会", "a whistle target may be a free name");
        assert_eq!(d.whistle_targets[&WhistleLevel::PartyBranch], "党支部", "an unset whistle target keeps its default");
        assert_eq!(d.departments, default.departments, "no [[department]]: the default directory");
        assert_eq!(d.routing, default.routing, "no [[routing]]: the default rules");
        assert_eq!(d.messages.responded, default.messages.responded, "an unset template keeps its default");
        assert_eq!(
            d.messages.sender,
            SenderConfig::Webhook {
                url: "https://sms.example.cn:8443/notify?x=1".into(),
                max_attempts: DEFAULT_MAX_ATTEMPTS,
                retry_base: DEFAULT_RETRY_BASE
            },
            "a webhook with only a url gets the default attempts and backoff"
        );
        let config = crate::Config::from_toml(text).expect("the file parses");
        assert_eq!(config.escalation, d.escalation, "Config takes the file's escalation rules");
        assert_eq!(config.escalation_period, Duration::from_secs(5), "Config takes the file's escalation period");
        assert_eq!(config.whistle_targets, d.whistle_targets, "Config takes the file's whistle targets");
        assert_eq!(config.open311_jurisdiction_id, crate::Config::default().open311_jurisdiction_id, "the rest of Config stays default");

        let own = parse(
            "default_department = \"区城管委\"\n\
             [whistle_targets]\nsubdistrict = \"区城管委\"\n\
             [[department]]\nname = \"区城管委\"\ncontact = \"010-12345\"\n",
        )
        .expect("a directory of its own parses");
        assert_eq!(own.departments.len(), 1, "[[department]] replaces the default directory");
        assert!(own.routing.is_empty(), "a directory of its own drops the default rules");
        assert_eq!(own.route(Category::Noise, "CY01", "建外街道"), "区城管委", "without rules everything goes to the default");
        assert_eq!(own.departments[0].contact.as_deref(), Some("010-12345"), "a department keeps its contact");
        assert_eq!(own.departments[0].line, Some(5), "a department keeps its line");
    }

    #[test]
    fn route_takes_the_subdistrict_rule_then_the_category_rule_then_the_default() {
        let d = parse(
            "default_department = \"区城管委\"\n\
             routing = [\n\
               { category = \"noise\", department = \"区生态环境局\" },\n\
               { category = \"noise\", subdistrict = \"CY04\", department = \"街道城市管理科\" },\n\
               { category = \"parking\", subdistrict = \"望京街道\", department = \"区交通委\" },\n\
             ]\n",
        )
        .expect("the rules parse");
        // (category, subdistrict code, subdistrict name, department)
        let cases = [
            (Category::Noise, "CY04", "三里屯街道", "街道城市管理科"),
            (Category::Noise, "CY01", "建外街道", "区生态环境局"),
            (Category::Noise, "", "", "区生态环境局"),
            (Category::Parking, "CY99", "望京街道", "区交通委"),
            (Category::Parking, "CY01", "建外街道", "区城管委"),
            (Category::Lift, "CY04", "三里屯街道", "区城管委"),
            (Category::Other, "CY04", "三里屯街道", "区城管委"),
        ];
        for (category, code, name, want) in cases {
            assert_eq!(
                d.route(category, code, name),
                want,
                "{category:?} in {name} ({code}): subdistrict rule, then category rule, then default"
            );
        }
    }

    #[test]
    fn check_registry_refuses_an_unknown_subdistrict_at_its_line_and_a_rule_twice_by_code_and_name() {
        let reg = demo_registry();
        let unknown = parse("[[routing]]\ncategory = \"noise\"\nsubdistrict = \"火星街道\"\ndepartment = \"区城管委\"\n").expect("parses");
        let err = unknown.check_registry(&reg).expect_err("an unknown subdistrict is refused");
        assert_eq!((err.code(), err.line()), ("config_unknown_subdistrict", Some(3)), "the error names the subdistrict's line: {err}");
        let twice = parse(
            "routing = [\n  { category = \"noise\", subdistrict = \"CY04\", department = \"区城管委\" },\n  \
             { category = \"noise\", subdistrict = \"三里屯街道\", department = \"区生态环境局\" },\n]\n",
        )
        .expect("parses: code and name look different before the registry is known");
        let err = twice.check_registry(&reg).expect_err("the same subdistrict by code and by name is one rule twice");
        assert_eq!((err.code(), err.line()), ("config_duplicate_rule", Some(3)), "the second rule's line: {err}");
        let fine = parse("[[routing]]\ncategory = \"noise\"\nsubdistrict = \"CY04\"\ndepartment = \"区城管委\"\n").expect("parses");
        fine.check_registry(&reg).expect("a subdistrict code of the registry is accepted");
    }

    #[test]
    fn render_fills_every_placeholder_and_keeps_the_text() {
        let d = parse("[messages]\nresolved = \"{order_no}|{category}|{courtyard}|{note}|{note}。谢谢\"\n").expect("parses");
        let vars = MessageVars { order_no: "12345-1", category: "路灯不亮", courtyard: "建外1号院", note: "已换灯" };
        assert_eq!(
            d.render(MessageKind::Resolved, &vars),
            "12345-1|路灯不亮|建外1号院|已换灯|已换灯。谢谢",
            "each placeholder is filled, as often as it appears"
        );
        assert_eq!(
            DistrictConfig::default().render(MessageKind::Progress, &vars),
            "【朝阳区接诉即办】工单12345-1（路灯不亮，建外1号院）办理进展：已换灯",
            "the default progress notice"
        );
        assert_eq!(Template::parse("无占位符").unwrap().render(&vars), "无占位符", "text without placeholders is kept");
        for kind in MessageKind::ALL {
            assert!(
                !DistrictConfig::default().render(*kind, &vars).contains('{'),
                "the default {kind:?} template fills all its placeholders"
            );
        }
    }

    #[test]
    fn every_error_code_is_snake_case_and_prefixed() {
        let samples = [
            ConfigError::Read { path: "x".into(), message: "y".into() },
            ConfigError::OutOfRange { line: Some(1), field: "f", value: 1, min: 2, max: 3 },
            ConfigError::ParentCycle { line: None, cycle: "甲 → 甲".into() },
        ];
        for e in samples {
            assert!(
                e.code().starts_with("config_") && e.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{e:?} has a config_ code"
            );
        }
        assert_eq!(
            ConfigError::ParentCycle { line: None, cycle: "甲 → 甲".into() }.to_string().find("line"),
            None,
            "no line, no line prefix"
        );
    }
}
