//! The 接诉即办 workflow on the server: the escalation run and recurrence links (both write
//! server-authored events through [`super::authored`]), and the dashboard reads (alerts, the
//! three rates, pledges). Writes run inside the caller's writer job, so what they append
//! commits together with what caused it.

use super::authored::{append_to_known, SYSTEM_ACTOR};
use super::notices::NoticeTemplates;
use super::query::summary;
use super::registry::RegistryIndex;
use crate::error::Result;
use crate::model::{EscalationRow, Scope};
use crate::store::{ClosedAsk, Reader, Tx};
use gridwalk_clock::Clock;
use gridwalk_domain::rates::{self, Period, RateFacts};
use gridwalk_domain::sla::{self, Escalation, EscalationRules};
use gridwalk_domain::{EventBody, IssueId, IssueState, WhistleLevel, WorkerId};
use gridwalk_proto::{Alert, PledgeList, PledgeProgress, RatesReport};
use std::collections::{BTreeMap, HashMap};

/// 愈后防复: if `new_issue` repeats an issue closed at the same courtyard in the same category
/// within `window_ms` before its receipt, link the two: `RecurrenceFlagged` on the new issue,
/// `Recurred` on the earlier one (which the fold reopens). Returns the earlier issue, if any.
/// The one place recurrence is checked: after a push, and after a hotline or Open311 intake.
pub fn flag_recurrence(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    clock: &dyn Clock,
    templates: &NoticeTemplates,
    new_issue: IssueId,
    window_ms: i64,
) -> Result<Option<IssueId>> {
    let Some(view) = tx.issue_view(new_issue)? else { return Ok(None) };
    let now_ms = clock.now_ms();
    let Some(ask) = recurrence_ask(&view.state, now_ms, window_ms) else { return Ok(None) };
    let Some(earlier) = tx.closed_issue_between(ask.category, ask.courtyard, ask.from_ms, ask.to_ms, ask.except)? else {
        return Ok(None);
    };
    link_recurrence(tx, registry, clock, templates, new_issue, earlier, now_ms)?;
    Ok(Some(earlier))
}

/// [`flag_recurrence`] for each issue a push reported, given as the push just folded and
/// stored them, in order: one batched question for all first. Until one is flagged nothing has
/// changed since, so its answers stand; once one is, the earlier issue it names reopens, and
/// the rest are asked afresh one at a time, exactly as `flag_recurrence` in turn would.
pub fn flag_recurrences(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    clock: &dyn Clock,
    templates: &NoticeTemplates,
    reported: &[&IssueState],
    window_ms: i64,
) -> Result<()> {
    let now_ms = clock.now_ms();
    let asks: Vec<(IssueId, ClosedAsk<'_>)> =
        reported.iter().filter_map(|s| recurrence_ask(s, now_ms, window_ms).map(|a| (s.id, a))).collect();
    if asks.is_empty() {
        return Ok(());
    }
    let answers = tx.closed_issues_between(&asks.iter().map(|(_, a)| *a).collect::<Vec<_>>())?;
    let mut changed = false;
    for ((new_issue, _), answer) in asks.iter().zip(answers) {
        if changed {
            flag_recurrence(tx, registry, clock, templates, *new_issue, window_ms)?;
        } else if let Some(earlier) = answer {
            link_recurrence(tx, registry, clock, templates, *new_issue, earlier, now_ms)?;
            changed = true;
        }
    }
    Ok(())
}

/// What to ask the store about `state`'s recurrence, if anything.
fn recurrence_ask(state: &IssueState, now_ms: i64, window_ms: i64) -> Option<ClosedAsk<'static>> {
    let report = state.report.as_ref()?;
    if state.recurrence_of.is_some() || window_ms <= 0 {
        return None;
    }
    let at = state.received_at_ms.unwrap_or(now_ms);
    Some(ClosedAsk {
        category: report.category.code(),
        courtyard: report.courtyard,
        from_ms: at.saturating_sub(window_ms),
        to_ms: at,
        except: state.id,
    })
}

fn link_recurrence(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    clock: &dyn Clock,
    templates: &NoticeTemplates,
    new_issue: IssueId,
    earlier: IssueId,
    now_ms: i64,
) -> Result<()> {
    append_to_known(tx, registry, clock, templates, new_issue, EventBody::RecurrenceFlagged { earlier_issue: earlier })?;
    append_to_known(tx, registry, clock, templates, earlier, EventBody::Recurred { new_issue })?;
    tx.audit(now_ms, SYSTEM_ACTOR, "recurrence_flagged", &format!("issue {new_issue} repeats closed issue {earlier}"))
}

fn escalation_key(e: &Escalation) -> (&'static str, &'static str) {
    match e {
        Escalation::AlertSupervisor => ("alert_supervisor", ""),
        Escalation::WhistleNext { level } => ("whistle_next", level.code()),
    }
}

/// Whom an automatic whistle calls: at the subdistrict level (街乡吹哨、部门报到) the district
/// department the config file routes the issue's category and subdistrict to; at the other
/// levels the configured fixed target.
pub struct WhistleTargets<'a> {
    pub fixed: &'a BTreeMap<WhistleLevel, String>,
    pub district: &'a crate::district::DistrictConfig,
}

impl WhistleTargets<'_> {
    pub fn target(&self, level: WhistleLevel, state: &gridwalk_domain::IssueState, registry: &RegistryIndex) -> String {
        let fixed = || self.fixed.get(&level).cloned().unwrap_or_else(|| level.label_zh().to_owned());
        if level != WhistleLevel::Subdistrict {
            return fixed();
        }
        let routed = state.report.as_ref().and_then(|r| {
            let place = registry.place(r.courtyard)?;
            let sd = registry.registry.subdistricts.iter().find(|s| s.id == place.subdistrict)?;
            Some(self.district.route(r.category, &sd.code, &sd.name).to_owned())
        });
        routed.unwrap_or_else(fixed)
    }
}

/// Run the escalation rules over every open issue at the clock's now (issue times are
/// clock-corrected). Each escalation happens once: it is recorded, audited, and a `WhistleNext`
/// appends a server-authored `Whistled` event to the level's target ([`WhistleTargets`]). Returns what was
/// done now.
pub fn run_escalations(
    tx: &dyn Tx,
    registry: &RegistryIndex,
    clock: &dyn Clock,
    templates: &NoticeTemplates,
    rules: &EscalationRules,
    targets: &WhistleTargets<'_>,
) -> Result<Vec<Alert>> {
    let run = EscalationRun { registry, clock, templates, rules, targets, now_ms: clock.now_ms() };
    let mut done = Vec::new();
    for view in tx.open_issue_views()? {
        // Each issue apart: one bad row is skipped and reported, never the district's whole run.
        let mut alerts = Vec::new();
        let outcome = tx.apart(&mut |tx| {
            alerts.clear();
            run.escalate(tx, &view, &mut alerts)
        });
        match outcome {
            Ok(()) => done.append(&mut alerts),
            Err(e) => {
                tracing::error!(issue = %view.state.id, error = %e, "escalation skipped an issue it could not process");
                let detail = format!("issue {}: {} ({})", view.state.id, e, e.code());
                tx.audit(run.now_ms, SYSTEM_ACTOR, "escalation_skipped", &detail)?;
            }
        }
    }
    Ok(done)
}

/// One escalation run: what it goes by, and its now.
struct EscalationRun<'a> {
    registry: &'a RegistryIndex,
    clock: &'a dyn Clock,
    templates: &'a NoticeTemplates,
    rules: &'a EscalationRules,
    targets: &'a WhistleTargets<'a>,
    now_ms: i64,
}

impl EscalationRun<'_> {
    /// The escalations due on one issue, recorded, audited and (for a whistle) appended.
    fn escalate(&self, tx: &dyn Tx, view: &crate::model::IssueView, done: &mut Vec<Alert>) -> Result<()> {
        let EscalationRun { registry, clock, templates, rules, targets, now_ms } = *self;
        let state = &view.state;
        for esc in sla::escalations(state, now_ms, rules) {
            let (kind, level) = escalation_key(&esc);
            let target = |level: &WhistleLevel| targets.target(*level, state, registry);
            let detail = match &esc {
                Escalation::AlertSupervisor => "no response within the hour of receipt".to_owned(),
                Escalation::WhistleNext { level } => format!("unresolved too long: whistle {} to {}", level.code(), target(level)),
            };
            let row = EscalationRow { issue_id: state.id, kind: kind.into(), level: level.into(), at_ms: now_ms, detail: detail.clone() };
            if !tx.insert_escalation(&row)? {
                continue;
            }
            tx.audit(now_ms, SYSTEM_ACTOR, kind, &format!("issue {}: {detail}", state.id))?;
            if let Escalation::WhistleNext { level } = esc {
                let note = format!("自动吹哨：超过 {} 小时未解决", rules.whistle_after_ms / 3_600_000);
                append_to_known(tx, registry, clock, templates, state.id, EventBody::Whistled { level, target: target(&level), note })?;
            }
            done.push(Alert { issue_id: state.id, kind: kind.into(), level: level.into(), at_ms: now_ms, detail, issue: summary(view) });
        }
        Ok(())
    }
}

/// Escalations on issues in scope, newest first.
pub fn list_alerts(r: &dyn Reader, scope: &Scope, limit: u32) -> Result<Vec<Alert>> {
    Ok(r.alerts(scope, limit)?
        .into_iter()
        .map(|(e, view)| Alert {
            issue_id: e.issue_id,
            kind: e.kind,
            level: e.level,
            at_ms: e.at_ms,
            detail: e.detail,
            issue: summary(&view),
        })
        .collect())
}

/// How `GET /api/v1/rates` groups issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    District,
    Subdistrict,
    Community,
    Category,
    Worker,
    /// Per source: the one grouping that counts proactive tasks, apart from the complaints.
    Source,
}

impl GroupBy {
    pub fn from_code(code: &str) -> Option<GroupBy> {
        Some(match code {
            "district" => GroupBy::District,
            "subdistrict" => GroupBy::Subdistrict,
            "community" => GroupBy::Community,
            "category" => GroupBy::Category,
            "worker" => GroupBy::Worker,
            "source" => GroupBy::Source,
            _ => return None,
        })
    }
    pub fn code(self) -> &'static str {
        match self {
            GroupBy::District => "district",
            GroupBy::Subdistrict => "subdistrict",
            GroupBy::Community => "community",
            GroupBy::Category => "category",
            GroupBy::Worker => "worker",
            GroupBy::Source => "source",
        }
    }
}

/// What the rates are asked for.
#[derive(Clone, Copy, Debug)]
pub struct RatesQuery {
    pub by: GroupBy,
    pub period: Period,
    pub from_ms: i64,
    pub to_ms: i64,
    pub as_of_ms: i64,
}

/// The three rates of issues in scope received in `[from_ms, to_ms)`, grouped and bucketed
/// (definitions: [`gridwalk_domain::rates`]).
pub fn rates(r: &dyn Reader, registry: &RegistryIndex, scope: &Scope, q: RatesQuery) -> Result<RatesReport> {
    let subdistricts: HashMap<_, (&str, &str)> =
        registry.registry.subdistricts.iter().map(|s| (s.id, (s.code.as_str(), s.name.as_str()))).collect();
    let communities: HashMap<_, (&str, &str)> =
        registry.registry.communities.iter().map(|c| (c.id, (c.code.as_str(), c.name.as_str()))).collect();
    let mut workers: HashMap<WorkerId, String> = HashMap::new();
    let mut facts = Vec::new();
    let mut labels = BTreeMap::new();
    for (view, place) in r.issues_received(scope, q.from_ms, q.to_ms)? {
        let state = &view.state;
        let Some(f) = RateFacts::of(state) else { continue };
        // A proactive task answers no resident: it counts only under by=source, as its own row.
        if q.by != GroupBy::Source && !rates::is_complaint(state) {
            continue;
        }
        let (key, label) = match q.by {
            GroupBy::Source => {
                let s = state.report.as_ref().map(|r| r.source);
                (s.map(|s| s.code()).unwrap_or("").to_owned(), s.map(|s| s.label_zh()).unwrap_or("").to_owned())
            }
            GroupBy::District => ("district".to_owned(), "朝阳区".to_owned()),
            GroupBy::Subdistrict => match subdistricts.get(&place.subdistrict) {
                Some((code, name)) => ((*code).to_owned(), (*name).to_owned()),
                None => (place.subdistrict.to_string(), String::new()),
            },
            GroupBy::Community => match communities.get(&place.community) {
                Some((code, name)) => ((*code).to_owned(), (*name).to_owned()),
                None => (place.community.to_string(), String::new()),
            },
            GroupBy::Category => {
                let c = state.report.as_ref().map(|r| r.category);
                (c.map(|c| c.code()).unwrap_or("").to_owned(), c.map(|c| c.label_zh()).unwrap_or("").to_owned())
            }
            GroupBy::Worker => match rates::issue_worker(state) {
                Some(w) => {
                    let name = match workers.entry(w) {
                        std::collections::hash_map::Entry::Occupied(e) => e.get().clone(),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(r.worker_by_id(w)?.map(|rec| rec.info.name).unwrap_or_default()).clone()
                        }
                    };
                    (w.to_string(), name)
                }
                None => (String::new(), String::new()),
            },
        };
        labels.insert(key.clone(), label);
        facts.push((key, f));
    }
    let rows = rates::compute(&facts, q.period, q.from_ms, q.to_ms, q.as_of_ms);
    Ok(RatesReport { by: q.by.code().into(), period: q.period, from_ms: q.from_ms, to_ms: q.to_ms, as_of_ms: q.as_of_ms, rows, labels })
}

/// Pledged issues in scope (optionally one cadre's), with their progress, oldest pledge first.
pub fn pledges(r: &dyn Reader, scope: &Scope, cadre: Option<WorkerId>) -> Result<PledgeList> {
    let mut pledges = Vec::new();
    for view in r.pledged_issue_views(scope)? {
        let state = &view.state;
        let (Some(pledge), Some(issue)) = (state.pledge.clone(), summary(&view)) else { continue };
        if cadre.is_some_and(|c| c != pledge.by) {
            continue;
        }
        pledges.push(PledgeProgress { issue, pledge, whistles: state.whistles.clone(), satisfaction: state.satisfaction });
    }
    pledges.sort_by_key(|p| (p.pledge.at_ms, p.issue.id));
    Ok(PledgeList { pledges })
}
