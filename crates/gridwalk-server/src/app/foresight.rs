//! 未诉先办 on the server: walk-around coverage, hotspots, trends and the early-warning list,
//! each the domain's method (`gridwalk_domain::foresight`, the tablet's code) over counts one
//! GROUP BY reads, and the proactive task a supervisor makes from a warning.
//!
//! Every number a caller sends is bounded (by the domain's `bounded_*`) before it meets
//! arithmetic; a refusal is `invalid_query` and reads nothing.

use super::authored;
use super::hotline::dispatch_to;
use super::registry::RegistryIndex;
use super::{Action, AppState, Grant, Principal};
use crate::error::{Error, Result};
use crate::model::{IssueBucket, Scope};
use gridwalk_domain::foresight::coverage::{self, Coverage, Level};
use gridwalk_domain::foresight::hotspot::{self, CellCounts, Hotspot, BASELINE_WINDOWS};
use gridwalk_domain::foresight::trend::{self, Series};
use gridwalk_domain::foresight::warning::{self, QuietYard, RateChange, Warning};
use gridwalk_domain::foresight::{self as fs, bounded_i64, AskError, Duty, Rules, Unit, DAY_MS, WEEK_MS};
use gridwalk_domain::{rates, validate, Category, CourtyardId, Entity, EventBody, EventId, IssueId, IssueReport, IssueSource, WorkerId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

impl From<AskError> for Error {
    fn from(e: AskError) -> Self {
        Error::InvalidQuery(e.to_string())
    }
}

/// `GET /api/v1/foresight/coverage`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CoverageAsk {
    /// worker, community or subdistrict (default community)
    pub level: Option<String>,
    /// ISO weeks shown, ending with this one: 1 to 53 (default 4)
    pub weeks: Option<i64>,
    /// a courtyard not visited in this many days is overdue: 1 to 365 (default `[foresight] stale_days`)
    pub stale_days: Option<i64>,
}

/// `GET /api/v1/foresight/hotspots`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HotspotAsk {
    /// courtyard or community (default courtyard)
    pub level: Option<String>,
    /// the window's length in days: 1 to 90 (default 7, so the baseline is the 8 weeks before)
    pub window_days: Option<i64>,
}

/// `GET /api/v1/foresight/trends`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrendAsk {
    /// district, subdistrict, community or courtyard (default district)
    pub level: Option<String>,
    /// ISO weeks shown, ending with this one: 1 to 53 (default 12)
    pub weeks: Option<i64>,
    /// one category's series only
    pub category: Option<String>,
}

/// The coverage answer: the weeks, the rows and every courtyard's last visit.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CoverageAnswer {
    pub level: Level,
    /// The weeks' starts (ms), oldest first, with their ISO labels.
    pub weeks: Vec<WeekLabel>,
    pub stale_days: i64,
    pub far_visit_m: f64,
    #[serde(flatten)]
    pub coverage: Coverage,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WeekLabel {
    pub start_ms: i64,
    pub label: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HotspotAnswer {
    pub window_days: i64,
    /// Where the current window starts (ms); the baseline is the 8 windows before it.
    pub window_start_ms: i64,
    pub min_count: u64,
    pub z: f64,
    pub hotspots: Vec<Hotspot>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TrendAnswer {
    pub weeks: Vec<WeekLabel>,
    /// Every (unit, category) with a report in the weeks shown or their same weeks last year.
    pub series: Vec<Series>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WarningAnswer {
    pub as_of_ms: i64,
    pub warnings: Vec<Warning>,
}

/// `POST /api/v1/foresight/tasks`: a warning made into work.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// The task's id, made by the caller: a retry with the same id answers the same task.
    pub request_id: uuid::Uuid,
    pub courtyard_id: CourtyardId,
    /// A category code.
    pub category: String,
    /// What to look into (the warning's reason, as the supervisor words it).
    pub description: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TaskMade {
    pub issue_id: IssueId,
    /// The courtyard's responsible grid worker, if one is named (else the community's queue).
    pub assigned_to: Option<WorkerId>,
    /// False when `request_id` had already made this task.
    pub created: bool,
}

/// Weeks `n` (ending with the week of `now_ms`), oldest first.
pub(crate) fn last_weeks(now_ms: i64, n: i64) -> Vec<i64> {
    let this = fs::week_start(now_ms);
    (0..n).rev().map(|i| this - i * WEEK_MS).collect()
}

fn labels(weeks: &[i64]) -> Vec<WeekLabel> {
    weeks.iter().map(|w| WeekLabel { start_ms: *w, label: fs::week_label(*w) }).collect()
}

/// The courtyards in scope, where they sit and who answers for them.
pub fn duties(registry: &RegistryIndex, scope: &Scope) -> Vec<Duty> {
    registry
        .registry
        .courtyards
        .iter()
        .filter_map(|y| registry.place(y.id))
        .filter(|p| scope.contains(p))
        .map(|p| Duty {
            courtyard: p.courtyard,
            community: p.community,
            subdistrict: p.subdistrict,
            worker: registry.responsible(p.courtyard),
        })
        .collect()
}

/// The unit a courtyard's counts roll up to at `level`.
fn roll_up(registry: &RegistryIndex, level: &str, yard: CourtyardId) -> Option<Unit> {
    let p = registry.place(yard)?;
    Some(match level {
        "district" => Unit::District,
        "subdistrict" => Unit::Subdistrict(p.subdistrict),
        "community" => Unit::Community(p.community),
        _ => Unit::Courtyard(yard),
    })
}

/// Hotspot cells at `level` from the window buckets (0 the oldest baseline window).
pub fn cells_of(registry: &RegistryIndex, level: &str, buckets: &[IssueBucket]) -> Vec<CellCounts> {
    let mut cells: BTreeMap<(Unit, Category), CellCounts> = BTreeMap::new();
    for b in buckets {
        let (Some(unit), Ok(w)) = (roll_up(registry, level, b.courtyard), usize::try_from(b.bucket)) else { continue };
        let c = cells.entry((unit, b.category)).or_insert(CellCounts {
            unit,
            category: b.category,
            baseline: [0; BASELINE_WINDOWS],
            current: 0,
        });
        match w {
            w if w < BASELINE_WINDOWS => c.baseline[w] += b.count,
            BASELINE_WINDOWS => c.current += b.count,
            _ => {}
        }
    }
    cells.into_values().collect()
}

/// The visit tallies coverage needs for `weeks` (week starts, oldest first) as of `now_ms`: a
/// lookback over the weeks shown and the overdue threshold, whichever reaches further.
pub(crate) fn coverage_tallies(
    r: &dyn crate::store::Reader,
    scope: &Scope,
    weeks: &[i64],
    now_ms: i64,
    stale_days: i64,
    far_visit_m: f64,
) -> Result<Vec<coverage::VisitTally>> {
    let from = weeks.first().copied().unwrap_or(now_ms).min(now_ms.saturating_sub(stale_days * DAY_MS));
    r.visit_tallies(scope, from, now_ms.saturating_add(1), far_visit_m)
}

/// The hotspots at `level` over windows of `window_ms` ending at `now_ms`.
pub(crate) fn hotspots_at(
    r: &dyn crate::store::Reader,
    registry: &RegistryIndex,
    scope: &Scope,
    level: &str,
    rules: &Rules,
    now_ms: i64,
    window_ms: i64,
) -> Result<Vec<Hotspot>> {
    let from = hotspot::first_window_start(now_ms, window_ms);
    let buckets = r.issue_buckets(scope, from, now_ms.saturating_add(1), window_ms)?;
    Ok(hotspot::hotspots(&cells_of(registry, level, &buckets), rules.hotspot_min_count, rules.hotspot_z))
}

impl AppState {
    pub(crate) fn foresight_rules(&self) -> Rules {
        self.config().district.foresight.rules
    }

    /// 走访覆盖.
    pub async fn foresight_coverage(&self, who: &Principal, q: CoverageAsk) -> Result<CoverageAnswer> {
        let level = match q.level.as_deref() {
            None => Level::Community,
            Some(code) => Level::from_code(code)
                .ok_or_else(|| Error::InvalidQuery(format!("level={code:?}: use worker, community or subdistrict")))?,
        };
        let rules = self.foresight_rules();
        let weeks = bounded_i64("weeks", q.weeks.unwrap_or(4), 1, fs::MAX_WEEKS)?;
        let stale_days = bounded_i64("stale_days", q.stale_days.unwrap_or(rules.stale_days), 1, fs::MAX_STALE_DAYS)?;
        let Grant { registry, scope } = self.authorize(who, Action::ReadForesight).await?;
        let now = self.now_ms();
        let weeks = last_weeks(now, weeks);
        let tallies = self
            .storage()
            .read({
                let (scope, weeks) = (scope.clone(), weeks.clone());
                move |r| coverage_tallies(r, &scope, &weeks, now, stale_days, rules.far_visit_m)
            })
            .await?;
        let coverage = coverage::compute(&duties(&registry, &scope), &tallies, level, &weeks, now, stale_days);
        Ok(CoverageAnswer { level, weeks: labels(&weeks), stale_days, far_visit_m: rules.far_visit_m, coverage })
    }

    /// 热点.
    pub async fn foresight_hotspots(&self, who: &Principal, q: HotspotAsk) -> Result<HotspotAnswer> {
        let level = match q.level.as_deref() {
            None | Some("courtyard") => "courtyard",
            Some("community") => "community",
            Some(other) => return Err(Error::InvalidQuery(format!("level={other:?}: use courtyard or community"))),
        };
        let window_days = bounded_i64("window_days", q.window_days.unwrap_or(7), 1, fs::MAX_WINDOW_DAYS)?;
        let rules = self.foresight_rules();
        let Grant { registry, scope } = self.authorize(who, Action::ReadForesight).await?;
        let now = self.now_ms();
        let window_ms = window_days * DAY_MS;
        let hotspots = self.storage().read(move |r| hotspots_at(r, &registry, &scope, level, &rules, now, window_ms)).await?;
        Ok(HotspotAnswer {
            window_days,
            window_start_ms: now.saturating_add(1).saturating_sub(window_ms),
            min_count: rules.hotspot_min_count,
            z: rules.hotspot_z,
            hotspots,
        })
    }

    /// 趋势: weekly series with the same weeks last year.
    pub async fn foresight_trends(&self, who: &Principal, q: TrendAsk) -> Result<TrendAnswer> {
        let level = match q.level.as_deref() {
            None => "district",
            Some(l @ ("district" | "subdistrict" | "community" | "courtyard")) => l,
            Some(other) => return Err(Error::InvalidQuery(format!("level={other:?}: use district, subdistrict, community or courtyard"))),
        };
        let category = match q.category.as_deref() {
            None => None,
            Some(c) => Some(Category::from_code(c).ok_or_else(|| Error::InvalidQuery(format!("category={c:?} is not known")))?),
        };
        let n = bounded_i64("weeks", q.weeks.unwrap_or(12), 1, fs::MAX_WEEKS)?;
        let rules = self.foresight_rules();
        let Grant { registry, scope } = self.authorize(who, Action::ReadForesight).await?;
        let now = self.now_ms();
        let weeks = last_weeks(now, n);
        let needed = trend::weeks_needed(&weeks);
        // Two ranges: this year's weeks with their baselines, and last year's (never
        // overlapping, so no report counts twice).
        let this_from = weeks[0] - BASELINE_WINDOWS as i64 * WEEK_MS;
        let last_from = needed[0];
        let last_to = weeks.last().map_or(this_from, |w| trend::same_week_last_year(*w) + WEEK_MS).min(this_from);
        let s2 = scope.clone();
        let buckets = self
            .storage()
            .read(move |r| {
                let mut b = r.issue_buckets(&s2, this_from, now.saturating_add(1), WEEK_MS)?;
                for x in &mut b {
                    x.bucket = this_from + x.bucket * WEEK_MS;
                }
                if last_from < last_to {
                    let mut old = r.issue_buckets(&s2, last_from, last_to, WEEK_MS)?;
                    for x in &mut old {
                        x.bucket = last_from + x.bucket * WEEK_MS;
                    }
                    b.extend(old);
                }
                Ok(b)
            })
            .await?;
        let mut counts: BTreeMap<(Unit, Category), HashMap<i64, u64>> = BTreeMap::new();
        for b in &buckets {
            if category.is_some_and(|c| c != b.category) {
                continue;
            }
            let Some(unit) = roll_up(&registry, level, b.courtyard) else { continue };
            *counts.entry((unit, b.category)).or_default().entry(b.bucket).or_default() += b.count;
        }
        let series = counts
            .into_iter()
            .map(|((unit, category), c)| Series {
                unit,
                category,
                points: trend::series(&c, &weeks, rules.hotspot_min_count, rules.hotspot_z),
            })
            .filter(|s| s.points.iter().any(|p| p.count > 0 || p.last_year > 0))
            .collect();
        Ok(TrendAnswer { weeks: labels(&weeks), series })
    }

    /// 预警: one ranked list for the caller's scope.
    pub async fn foresight_warnings(&self, who: &Principal) -> Result<WarningAnswer> {
        let rules = self.foresight_rules();
        let Grant { registry, scope } = self.authorize(who, Action::ReadForesight).await?;
        let now = self.now_ms();
        let end = now.saturating_add(1);
        let look = warning::LOOKBACK_DAYS * DAY_MS;
        let stale_ms = rules.stale_days * DAY_MS;
        // Visits are looked for over twice the overdue threshold, at least the lookback.
        let visit_from = now.saturating_sub((2 * stale_ms).max(look));
        let lookback_days = (now - visit_from) / DAY_MS;
        let duties = duties(&registry, &scope);
        let (reg, s2) = (registry.clone(), scope.clone());
        let (hot, recurrences, facts, tallies, recent) = self
            .storage()
            .read(move |r| {
                Ok((
                    hotspots_at(r, &reg, &s2, "courtyard", &rules, now, 7 * DAY_MS)?,
                    r.recurrence_counts(&s2, now - look, end)?,
                    r.rate_facts(&s2, now - 2 * look, end)?,
                    r.visit_tallies(&s2, visit_from, end, rules.far_visit_m)?,
                    r.issue_buckets(&s2, now.saturating_sub(stale_ms), end, stale_ms.saturating_add(1))?,
                ))
            })
            .await?;
        let mut by_community: BTreeMap<gridwalk_domain::CommunityId, (Vec<rates::RateFacts>, Vec<rates::RateFacts>)> = BTreeMap::new();
        for (place, f) in facts {
            let e = by_community.entry(place.community).or_default();
            if f.received_at_ms < now - look {
                e.0.push(f);
            } else {
                e.1.push(f);
            }
        }
        let rate_changes: Vec<RateChange> = by_community
            .into_iter()
            .map(|(community, (before, recent))| {
                // The earlier period is judged as it stood at its end, so both had a whole period.
                let [b_resp, b_res, _] = rates::ratios(&before, now - look);
                let [n_resp, n_res, _] = rates::ratios(&recent, now);
                RateChange { community, before_response: b_resp, now_response: n_resp, before_resolution: b_res, now_resolution: n_res }
            })
            .collect();
        let mut last: HashMap<CourtyardId, i64> = HashMap::new();
        for t in tallies.iter().filter(|t| !t.far) {
            let e = last.entry(t.courtyard).or_insert(t.last_ms);
            *e = (*e).max(t.last_ms);
        }
        let mut reports: HashMap<CourtyardId, u64> = HashMap::new();
        for b in &recent {
            *reports.entry(b.courtyard).or_default() += b.count;
        }
        let yards: Vec<QuietYard> = duties
            .iter()
            .map(|d| QuietYard {
                courtyard: d.courtyard,
                last_visit_ms: last.get(&d.courtyard).copied(),
                reports: reports.get(&d.courtyard).copied().unwrap_or(0),
            })
            .collect();
        let warnings = warning::rank(&warning::Inputs {
            hotspots: &hot,
            recurrences: &recurrences,
            rates: &rate_changes,
            yards: &yards,
            now_ms: now,
            stale_days: rules.stale_days,
            lookback_days,
            hotspot_z: rules.hotspot_z,
        });
        Ok(WarningAnswer { as_of_ms: now, warnings })
    }

    /// Make a warning into a task: an issue with source `proactive` reported by the
    /// supervisor, assigned to the courtyard's responsible worker (else the community's queue).
    pub async fn foresight_task(&self, who: &Principal, req: NewTask) -> Result<TaskMade> {
        let category = validate::parse_category(&req.category)?;
        let Grant { registry, scope } = self.authorize(who, Action::CreateTask).await?;
        let place = registry.place(req.courtyard_id).ok_or_else(|| Error::UnknownCourtyard(req.courtyard_id.to_string()))?;
        if !scope.contains(&place) {
            return Err(Error::OutOfScope(format!("courtyard {}", req.courtyard_id)));
        }
        let report = IssueReport {
            courtyard: req.courtyard_id,
            category,
            source: IssueSource::Proactive,
            description: req.description,
            contact: None,
            location: None,
            received_at_ms: None,
            external_ref: None,
        };
        validate::issue_report(&report)?;
        let templates = self.config().notice_templates.clone();
        let (clock, author) = (self.inner.clock.clone(), who.worker.clone());
        let issue_id = IssueId(req.request_id);
        self.write_events(move |tx| {
            let event_id = EventId(req.request_id);
            let assigned = |tx: &dyn crate::store::Tx| -> Result<Option<WorkerId>> {
                Ok(tx.issue_view(issue_id)?.and_then(|v| v.state.assignee).and_then(|a| match a {
                    gridwalk_domain::Assignee::Worker(w) => Some(w),
                    _ => None,
                }))
            };
            if tx.event_slot(event_id)?.is_some() {
                // A resend answers the same task; an id of anything else is refused.
                let mine = tx.entity_events(Entity::Issue(issue_id))?.first().is_some_and(|e| {
                    e.id == event_id
                        && e.author == author.id
                        && matches!(&e.body, EventBody::IssueReported(r) if r.source == IssueSource::Proactive)
                });
                if !mine {
                    return Err(Error::InvalidId(format!("request {event_id} is another event")));
                }
                return Ok(TaskMade { issue_id, assigned_to: assigned(tx)?, created: false });
            }
            if tx.entity_stored(Entity::Issue(issue_id))? {
                return Err(Error::InvalidId(format!("request {event_id} names an existing issue")));
            }
            // The server records it on its own device, authored by the supervisor: the
            // caller's own device log (a tablet's, whose sequence only it may advance) is
            // left alone.
            let who = authored::Authored { id: event_id, author: author.id, issue: issue_id };
            authored::append_by(tx, &registry, clock.as_ref(), &templates, who, &place, EventBody::IssueReported(report))?;
            let (to, _) = dispatch_to(tx, &place)?;
            let body = EventBody::Assigned { to, reason: "未诉先办：由预警生成的主动治理任务".to_owned() };
            authored::append(tx, &registry, clock.as_ref(), &templates, issue_id, &place, body)?;
            tx.audit(clock.now_ms(), &author.username, "proactive_task", &format!("issue {issue_id} at courtyard {}", place.courtyard))?;
            Ok(TaskMade { issue_id, assigned_to: assigned(tx)?, created: true })
        })
        .await
    }
}
