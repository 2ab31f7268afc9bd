//! 总览, 地图 and 走访: today's figures and the three rates (this week, last week, a 12-week
//! trend, by unit with drill-down), the courtyards on the map, and visit coverage. The rates
//! are the domain's ([`gridwalk_domain::rates::compute`]) over facts read from the view's
//! columns, so the overview and `GET /api/v1/rates` can never disagree.

use crate::app::registry::RegistryIndex;
use crate::app::{Action, AppState, Grant, Principal};
use crate::error::{Error, Result};
use crate::model::{Place, Scope};
use gridwalk_domain::calendar::beijing;
use gridwalk_domain::console::Menu;
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

/// The hotspot level of a courtyard from the issues received there in the map's window:
/// 0 below 3, 1 from 3, 2 from 6, 3 from 10 (see the server README).
pub fn hotspot_level(received: u64) -> u8 {
    match received {
        0..=2 => 0,
        3..=5 => 1,
        6..=9 => 2,
        _ => 3,
    }
}

/// The map's filters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MapQuery {
    /// a category code
    pub category: Option<String>,
    /// received at or after (ms); default 30 days ago
    pub from_ms: Option<i64>,
    /// received before (ms); default now
    pub to_ms: Option<i64>,
}

/// The coverage page's window.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CoverageQuery {
    /// weeks shown, 1 to 26 (default 4)
    pub weeks: Option<u32>,
    /// a courtyard not visited in this many days is stale, 1 to 365 (default 30)
    pub stale_days: Option<u32>,
}

impl CoverageQuery {
    /// The weeks shown and the stale threshold in days, bounded.
    pub fn window(&self) -> (i64, i64) {
        (i64::from(self.weeks.unwrap_or(4).clamp(1, 26)), i64::from(self.stale_days.unwrap_or(30).clamp(1, 365)))
    }
}

/// ISO week label of the week starting at `start_ms`.
fn week_label(start_ms: i64) -> String {
    let iso = beijing(start_ms).date().iso_week_date();
    format!("{}-W{:02}", iso.year(), iso.week())
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
        let from = super::tickets::bounded_time("from_ms", q.from_ms)?.unwrap_or(now - 30 * DAY_MS);
        let s2 = scope.clone();
        let counts = self.storage().read(move |r| r.courtyard_counts(&s2, now, q.category.as_deref(), from, to)).await?;
        let by_yard: HashMap<_, _> = counts.into_iter().map(|c| (c.courtyard, c)).collect();
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
                    hotspot: hotspot_level(c.map_or(0, |c| c.received)),
                }
            })
            .collect();
        Ok(MapView { courtyards })
    }

    /// 走访: visits per worker and community per week, against the courtyards they answer
    /// for, and the courtyards nobody visited lately.
    pub async fn console_coverage(&self, who: &Principal, q: CoverageQuery) -> Result<Coverage> {
        let Grant { registry, scope } = self.console_grant(who, Menu::Visits, Action::ReadRecords).await?;
        let (weeks, stale_days) = q.window();
        let now = self.now_ms();
        let s2 = scope.clone();
        let (visits, workers, responsible) =
            self.storage().read(move |r| Ok((r.visits_in(&s2)?, r.workers()?, r.responsible_workers()?))).await?;
        Ok(coverage_of(&registry, &scope, &visits, &workers, &responsible, now, weeks, stale_days))
    }
}

/// The coverage tables from the visits: pure, for the tests' hand-computed fixtures.
#[allow(clippy::too_many_arguments)]
pub fn coverage_of(
    registry: &RegistryIndex,
    scope: &Scope,
    visits: &[gridwalk_domain::VisitState],
    workers: &[gridwalk_proto::WorkerInfo],
    responsible: &[(gridwalk_domain::CourtyardId, gridwalk_domain::WorkerId)],
    now_ms: i64,
    weeks: i64,
    stale_days: i64,
) -> Coverage {
    let first = Period::Week.start(now_ms) - (weeks - 1) * WEEK_MS;
    let columns: Vec<WeekColumn> =
        (0..weeks).map(|i| first + i * WEEK_MS).map(|s| WeekColumn { start_ms: s, label: week_label(s) }).collect();
    let column = |at: i64| (at >= first && at <= now_ms).then(|| ((at - first) / WEEK_MS) as usize).filter(|i| *i < columns.len());
    let yards: Vec<_> = registry.registry.courtyards.iter().filter(|y| registry.place(y.id).is_some_and(|p| scope.contains(&p))).collect();
    let mut last_visit: HashMap<gridwalk_domain::CourtyardId, i64> = HashMap::new();
    let mut by_worker: HashMap<gridwalk_domain::WorkerId, (Vec<u64>, std::collections::HashSet<gridwalk_domain::CourtyardId>)> =
        HashMap::new();
    let mut by_community: HashMap<gridwalk_domain::CommunityId, (Vec<u64>, std::collections::HashSet<gridwalk_domain::CourtyardId>)> =
        HashMap::new();
    for v in visits {
        let (Some(visit), Some(worker)) = (&v.visit, v.worker) else { continue };
        let at = visit.started_at_ms;
        let e = last_visit.entry(visit.courtyard).or_insert(at);
        *e = (*e).max(at);
        if let Some(i) = column(at) {
            let w = by_worker.entry(worker).or_insert_with(|| (vec![0; columns.len()], Default::default()));
            w.0[i] += 1;
            w.1.insert(visit.courtyard);
            if let Some(y) = registry.courtyard(visit.courtyard) {
                let c = by_community.entry(y.community).or_insert_with(|| (vec![0; columns.len()], Default::default()));
                c.0[i] += 1;
                c.1.insert(visit.courtyard);
            }
        }
    }
    let mut answer_for: HashMap<gridwalk_domain::WorkerId, Vec<gridwalk_domain::CourtyardId>> = HashMap::new();
    for (yard, worker) in responsible {
        if yards.iter().any(|y| y.id == *yard) {
            answer_for.entry(*worker).or_default().push(*yard);
        }
    }
    let mut worker_rows: Vec<WorkerCoverage> = workers
        .iter()
        .filter(|w| answer_for.contains_key(&w.id) || by_worker.contains_key(&w.id))
        .map(|w| {
            let own = answer_for.get(&w.id).map(Vec::as_slice).unwrap_or(&[]);
            let seen = by_worker.get(&w.id);
            WorkerCoverage {
                username: w.username.clone(),
                name: w.name.clone(),
                courtyards: own.len() as u64,
                visits: seen.map_or_else(|| vec![0; columns.len()], |s| s.0.clone()),
                visited_courtyards: own.iter().filter(|y| seen.is_some_and(|s| s.1.contains(y))).count() as u64,
            }
        })
        .collect();
    worker_rows.sort_by(|a, b| a.username.cmp(&b.username));
    let mut community_rows: Vec<CommunityCoverage> = registry
        .registry
        .communities
        .iter()
        .filter_map(|c| {
            let total = yards.iter().filter(|y| y.community == c.id).count() as u64;
            (total > 0).then(|| {
                let seen = by_community.get(&c.id);
                CommunityCoverage {
                    id: c.id,
                    name: c.name.clone(),
                    courtyards: total,
                    visits: seen.map_or_else(|| vec![0; columns.len()], |s| s.0.clone()),
                    visited_courtyards: seen.map_or(0, |s| s.1.len() as u64),
                }
            })
        })
        .collect();
    community_rows.sort_by(|a, b| a.name.cmp(&b.name));
    let stale_before = now_ms - stale_days * DAY_MS;
    let mut stale: Vec<StaleCourtyard> = yards
        .iter()
        .filter(|y| last_visit.get(&y.id).is_none_or(|at| *at < stale_before))
        .map(|y| StaleCourtyard {
            courtyard_id: y.id,
            name: y.name.clone(),
            community_name: registry.registry.communities.iter().find(|c| c.id == y.community).map(|c| c.name.clone()).unwrap_or_default(),
            last_visit_ms: last_visit.get(&y.id).copied(),
        })
        .collect();
    stale.sort_by_key(|s| (s.last_visit_ms.unwrap_or(i64::MIN), s.courtyard_id));
    Coverage { weeks: columns, workers: worker_rows, communities: community_rows, stale }
}
