//! 总览, 地图 and 走访: today's figures and the three rates (this week, last week, a 12-week
//! trend, by unit with drill-down), the courtyards on the map, and visit coverage. The rates
//! are the domain's ([`gridwalk_domain::rates::compute`]) over facts read from the view's
//! columns, so the overview and `GET /api/v1/rates` can never disagree. The map's hotspots
//! and the coverage tables are likewise the domain's 未诉先办 methods (`foresight`), the ones
//! the 预警 page and the tablet use.

use crate::app::foresight::{coverage_tallies, duties, hotspots_at, last_weeks};
use crate::app::registry::RegistryIndex;
use crate::app::{Action, AppState, Grant, Principal};
use crate::error::{Error, Result};
use crate::model::{Place, Scope};
use gridwalk_domain::calendar::beijing;
use gridwalk_domain::console::Menu;
use gridwalk_domain::foresight::coverage::{self, CoverageRow, Level};
use gridwalk_domain::foresight::{self, hotspot, Unit};
use gridwalk_domain::rates::{self, Period, RateFacts};
use gridwalk_proto::console::*;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// Weeks in the overview's trend.
pub const TREND_WEEKS: i64 = 12;

/// The definitions beside the figures, in the words of the server README.
pub fn definitions() -> Vec<Definition> {
    let d = |code: &str, zh: &str, en: &str| Definition { code: code.into(), zh: zh.into(), en: en.into() };
    vec![
        d(
            "response",
            "响应率 = 受理后 1 小时内首次响应的诉求数 ÷ 受理诉求数；尚在首小时内且未响应的不计入。按受理时间归期，退单、转派不重新计时。",
            "Response rate = issues first answered within 1 hour of receipt ÷ issues received; an unanswered issue still inside its first hour is not yet counted. Issues count in the period they were received; returns and transfers do not restart the clock.",
        ),
        d(
            "resolution",
            "解决率 = 当前状态为已解决或已办结的诉求数 ÷ 受理诉求数；重新办理的诉求在再次解决前算未解决。",
            "Resolution rate = issues now resolved or closed ÷ issues received; a reopened issue counts as unresolved until resolved again.",
        ),
        d(
            "satisfaction",
            "满意率 = 最近一次回访为满意或基本满意的诉求数 ÷ 有回访的诉求数。重复件与撤销件不计入任何一率。",
            "Satisfaction rate = issues whose latest callback was satisfied or basically satisfied ÷ issues with a callback. Duplicates and cancelled reports count in no rate.",
        ),
        d(
            "overdue",
            "超时 = 未办结、未响应且已过响应时限（受理后 1 小时）的诉求，不论受理于哪一天。",
            "Overdue = open issues with no response past their response deadline (1 hour after receipt), whatever day they were received.",
        ),
    ]
}

/// `by` and `unit` of the overview.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OverviewQuery {
    /// `subdistrict` (default) or `community`
    pub by: Option<String>,
    /// a subdistrict code: its communities
    pub unit: Option<String>,
}

/// Midnight (Beijing) of the day holding `ms`.
pub fn day_start(ms: i64) -> i64 {
    gridwalk_domain::calendar::instant(beijing(ms).date().to_datetime(jiff::civil::Time::midnight()))
}

/// The group key and label of a place for `by`.
fn unit_of(registry: &RegistryIndex, place: &Place, community: bool) -> (String, String) {
    let reg = &registry.registry;
    if community {
        reg.communities
            .iter()
            .find(|c| c.id == place.community)
            .map_or((place.community.to_string(), String::new()), |c| (c.code.clone(), c.name.clone()))
    } else {
        reg.subdistricts
            .iter()
            .find(|s| s.id == place.subdistrict)
            .map_or((place.subdistrict.to_string(), String::new()), |s| (s.code.clone(), s.name.clone()))
    }
}

/// The overview's figures from the store's facts: pure, so the bench and the tests compute
/// the same thing the handler serves.
pub fn overview_of(
    registry: &RegistryIndex,
    facts: &[(Place, RateFacts)],
    today: TodayFigures,
    now_ms: i64,
    by_community: bool,
    unit: Option<String>,
) -> Overview {
    let week = Period::Week.start(now_ms);
    let from = week - (TREND_WEEKS - 1) * WEEK_MS;
    let district: Vec<(String, RateFacts)> = facts.iter().map(|(_, f)| ("district".to_owned(), f.clone())).collect();
    let trend = rates::compute(&district, Period::Week, from, now_ms.saturating_add(1), now_ms);
    let this_week = trend.iter().find(|r| r.period_start_ms == week).cloned();
    let last_week = trend.iter().find(|r| r.period_start_ms == week - WEEK_MS).cloned();
    let mut labels = BTreeMap::new();
    let grouped: Vec<(String, RateFacts)> = facts
        .iter()
        .filter(|(_, f)| f.received_at_ms >= week)
        .map(|(p, f)| {
            let (key, label) = unit_of(registry, p, by_community);
            labels.insert(key.clone(), label);
            (key, f.clone())
        })
        .collect();
    let units = rates::compute(&grouped, Period::Week, week, now_ms.saturating_add(1), now_ms);
    Overview {
        as_of_ms: now_ms,
        today,
        this_week,
        last_week,
        trend,
        units,
        by: if by_community { "community" } else { "subdistrict" }.to_owned(),
        unit,
        labels,
        definitions: definitions(),
    }
}

/// The caller's scope narrowed to one subdistrict (for the drill-down): what of it they may see.
fn narrowed(registry: &RegistryIndex, scope: &Scope, code: &str) -> Result<Scope> {
    let sub = registry
        .registry
        .subdistricts
        .iter()
        .find(|s| s.code == code)
        .ok_or_else(|| Error::UnknownScopeUnit(format!("subdistrict:{code}")))?;
    if scope.district || scope.subdistricts.contains(&sub.id) {
        return Ok(Scope { subdistricts: [sub.id].into(), ..Default::default() });
    }
    let communities: std::collections::HashSet<_> = registry
        .registry
        .communities
        .iter()
        .filter(|c| c.subdistrict == sub.id && scope.communities.contains(&c.id))
        .map(|c| c.id)
        .collect();
    let courtyards = scope.courtyards.iter().copied().filter(|y| registry.place(*y).is_some_and(|p| p.subdistrict == sub.id)).collect();
    Ok(Scope { communities, courtyards, ..Default::default() })
}

/// The map's filters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MapQuery {
    /// a category code
    pub category: Option<String>,
    /// the hotspot window's start (ms): received at or after; default 7 days before `to_ms`
    pub from_ms: Option<i64>,
    /// the hotspot window's end (ms): received before; default now. The window is 1 to 90 days.
    pub to_ms: Option<i64>,
}

/// The coverage page's window.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CoverageQuery {
    /// ISO weeks shown, ending with this one: 1 to 53 (default 4)
    pub weeks: Option<i64>,
    /// a courtyard not visited in this many days is overdue: 1 to 365 (default `[foresight] stale_days`)
    pub stale_days: Option<i64>,
}

impl CoverageQuery {
    /// The weeks shown and the overdue threshold in days; out of bounds is `invalid_query`.
    pub fn window(&self, default_stale_days: i64) -> Result<(i64, i64)> {
        Ok((
            foresight::bounded_i64("weeks", self.weeks.unwrap_or(4), 1, foresight::MAX_WEEKS)?,
            foresight::bounded_i64("stale_days", self.stale_days.unwrap_or(default_stale_days), 1, foresight::MAX_STALE_DAYS)?,
        ))
    }
}

impl AppState {
    /// 总览.
    pub async fn console_overview(&self, who: &Principal, q: OverviewQuery) -> Result<Overview> {
        let Grant { registry, scope } = self.console_grant(who, Menu::Overview, Action::ReadRecords).await?;
        let by_community = match q.by.as_deref() {
            None | Some("subdistrict") => q.unit.is_some(),
            Some("community") => true,
            Some(other) => return Err(Error::InvalidQuery(format!("by={other:?}: use subdistrict or community"))),
        };
        let scope = match &q.unit {
            Some(code) => narrowed(&registry, &scope, code)?,
            None => scope,
        };
        let now = self.now_ms();
        let from = Period::Week.start(now) - (TREND_WEEKS - 1) * WEEK_MS;
        let (facts, today) = self
            .storage()
            .read(move |r| Ok((r.rate_facts(&scope, from, now.saturating_add(1))?, r.today_figures(&scope, day_start(now), now)?)))
            .await?;
        Ok(overview_of(&registry, &facts, today, now, by_community, q.unit))
    }

    /// 地图: every courtyard in scope with its counts.
    pub async fn console_map(&self, who: &Principal, q: MapQuery) -> Result<MapView> {
        let Grant { registry, scope } = self.console_grant(who, Menu::Map, Action::ReadRecords).await?;
        if let Some(c) = q.category.as_deref().filter(|c| gridwalk_domain::Category::from_code(c).is_none()) {
            return Err(Error::InvalidQuery(format!("category={c:?} is not known")));
        }
        let now = self.now_ms();
        let to = super::tickets::bounded_time("to_ms", q.to_ms)?.unwrap_or(now.saturating_add(1));
        let from = super::tickets::bounded_time("from_ms", q.from_ms)?.unwrap_or(to.saturating_sub(7 * DAY_MS));
        // Hot is what 预警 calls hot: the domain's test over the map's window (by default the
        // week to now, 预警's own), against the 8 windows of its length before it.
        let window_ms = to.saturating_sub(from);
        if !(DAY_MS..=foresight::MAX_WINDOW_DAYS * DAY_MS).contains(&window_ms) {
            return Err(Error::InvalidQuery(format!("from_ms..to_ms must span 1 to {} days", foresight::MAX_WINDOW_DAYS)));
        }
        let category = q.category.as_deref().and_then(gridwalk_domain::Category::from_code);
        let rules = self.foresight_rules();
        let (s2, reg) = (scope.clone(), registry.clone());
        let (counts, hot) = self
            .storage()
            .read(move |r| {
                Ok((r.courtyard_counts(&s2, now)?, hotspots_at(r, &reg, &s2, "courtyard", &rules, to.saturating_sub(1), window_ms)?))
            })
            .await?;
        let by_yard: HashMap<_, _> = counts.into_iter().map(|c| (c.courtyard, c)).collect();
        // The list is hottest first, so the first cell of a courtyard is its hottest.
        let mut hottest: HashMap<gridwalk_domain::CourtyardId, &hotspot::Judgement> = HashMap::new();
        for h in hot.iter().filter(|h| category.is_none_or(|c| c == h.category)) {
            if let Unit::Courtyard(y) = h.unit {
                hottest.entry(y).or_insert(&h.judgement);
            }
        }
        let courtyards = registry
            .registry
            .courtyards
            .iter()
            .filter(|y| registry.place(y.id).is_some_and(|p| scope.contains(&p)))
            .map(|y| {
                let c = by_yard.get(&y.id);
                MapCourtyard {
                    id: y.id,
                    name: y.name.clone(),
                    community_id: y.community,
                    lat: y.point.lat,
                    lon: y.point.lon,
                    open: c.map_or(0, |c| c.open),
                    overdue: c.map_or(0, |c| c.overdue),
                    hotspot: hotspot::map_level(hottest.get(&y.id).copied(), rules.hotspot_z),
                }
            })
            .collect();
        Ok(MapView { courtyards })
    }

    /// 走访: each worker's and community's coverage per ISO week and the overdue courtyards,
    /// by the domain's method (`foresight::coverage`, the tablet's code).
    pub async fn console_coverage(&self, who: &Principal, q: CoverageQuery) -> Result<Coverage> {
        let rules = self.foresight_rules();
        let (weeks, stale_days) = q.window(rules.stale_days)?;
        let Grant { registry, scope } = self.console_grant(who, Menu::Visits, Action::ReadRecords).await?;
        let now = self.now_ms();
        let weeks = last_weeks(now, weeks);
        let (tallies, workers) = self
            .storage()
            .read({
                let (scope, weeks) = (scope.clone(), weeks.clone());
                move |r| Ok((coverage_tallies(r, &scope, &weeks, now, stale_days, rules.far_visit_m)?, r.workers()?))
            })
            .await?;
        let duties = duties(&registry, &scope);
        let by_worker = coverage::compute(&duties, &tallies, Level::Worker, &weeks, now, stale_days);
        let by_community = coverage::compute(&duties, &tallies, Level::Community, &weeks, now, stale_days);
        Ok(coverage_tables(&registry, &workers, &by_worker, &by_community, &weeks, stale_days, rules.far_visit_m))
    }
}

/// One unit's rows (sorted by unit, then week, as `coverage::compute` gives them) as week cells.
fn week_cells(rows: &[CoverageRow]) -> BTreeMap<Unit, (u64, Vec<WeekCoverage>)> {
    let mut out: BTreeMap<Unit, (u64, Vec<WeekCoverage>)> = BTreeMap::new();
    for r in rows {
        let e = out.entry(r.unit).or_insert((r.courtyards, Vec::new()));
        e.1.push(WeekCoverage { visited: r.visited, share: r.share, visits: r.visits, flagged: r.flagged });
    }
    out
}

/// The page's tables from the domain's coverage at worker and community level: names from
/// the registry and the workers, overdue courtyards the longest-unvisited first.
fn coverage_tables(
    registry: &RegistryIndex,
    workers: &[gridwalk_proto::WorkerInfo],
    by_worker: &coverage::Coverage,
    by_community: &coverage::Coverage,
    weeks: &[i64],
    stale_days: i64,
    far_visit_m: f64,
) -> Coverage {
    let named: HashMap<_, _> = workers.iter().map(|w| (w.id, w)).collect();
    let community_names: HashMap<_, _> = registry.registry.communities.iter().map(|c| (c.id, c.name.as_str())).collect();
    let mut worker_rows: Vec<WorkerCoverage> = week_cells(&by_worker.rows)
        .into_iter()
        .filter_map(|(unit, (courtyards, weeks))| {
            let Unit::Worker(id) = unit else { return None };
            // A worker the store no longer lists (removed since) is left out, not shown nameless.
            let w = named.get(&id)?;
            Some(WorkerCoverage { username: w.username.clone(), name: w.name.clone(), courtyards, weeks })
        })
        .collect();
    worker_rows.sort_by(|a, b| a.username.cmp(&b.username));
    let mut community_rows: Vec<CommunityCoverage> = week_cells(&by_community.rows)
        .into_iter()
        .filter_map(|(unit, (courtyards, weeks))| {
            let Unit::Community(id) = unit else { return None };
            Some(CommunityCoverage { id, name: community_names.get(&id)?.to_string(), courtyards, weeks })
        })
        .collect();
    community_rows.sort_by(|a, b| a.name.cmp(&b.name));
    let mut stale: Vec<StaleCourtyard> = by_community
        .courtyards
        .iter()
        .filter(|c| c.overdue)
        .filter_map(|c| {
            let y = registry.courtyard(c.courtyard)?;
            Some(StaleCourtyard {
                courtyard_id: c.courtyard,
                name: y.name.clone(),
                community_name: community_names.get(&c.community).map(|n| n.to_string()).unwrap_or_default(),
                last_visit_ms: c.last_visit_ms,
                last_flagged_ms: c.last_flagged_ms,
            })
        })
        .collect();
    stale.sort_by_key(|s| (s.last_visit_ms.unwrap_or(i64::MIN), s.courtyard_id));
    Coverage {
        weeks: weeks.iter().map(|w| WeekColumn { start_ms: *w, label: foresight::week_label(*w) }).collect(),
        stale_days,
        far_visit_m,
        workers: worker_rows,
        communities: community_rows,
        stale,
    }
}
