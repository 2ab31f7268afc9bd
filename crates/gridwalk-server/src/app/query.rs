//! Reads: pull, issue and visit queries, each within the caller's scope.

use super::registry::RegistryIndex;
use crate::error::{Error, Result};
use crate::model::{IssueView, Scope};
use crate::store::{IssueQuery, Reader};
use gridwalk_domain::{fold_issue, CourtyardId, DeviceId, Entity, EventBody, IssueId, IssueState, IssueStatus};
use gridwalk_proto::{IssueList, IssueSummary, PulledEvent, VisitList};
use serde::Deserialize;

/// The events of a pull page, plus whether more follow.
pub struct PullPage {
    pub events: Vec<PulledEvent>,
    pub next_cursor: u64,
    pub has_more: bool,
    /// The highest sequence a cursor may move to (what the server holds, for the tablet's
    /// check that it was not restored to an older copy); never below `next_cursor`.
    pub max_seq: u64,
}

/// Events in `scope` after `after`, excluding the caller's own device (it has them).
///
/// A whistle to one of the caller's departments brings the **whole** issue: when the page holds
/// such a `Whistled` event, every earlier event of that issue comes with it, whatever the
/// cursor, so a department tablet enrolled before the whistle still gets the report. (They carry
/// their own, older sequence numbers and the page is in server order; the tablet stores events
/// by id, so a repeat is a no-op, and the cursor moves by the page, not by them.)
pub fn pull(r: &dyn Reader, scope: &Scope, own_device: DeviceId, after: u64, limit: u64) -> Result<PullPage> {
    // Read before the page: every event at or below it was settled when the page was read.
    let examined = r.max_server_seq()?;
    let mut events = r.pull_page(scope, own_device, after, limit.saturating_add(1))?;
    let has_more = events.len() as u64 > limit;
    events.truncate(limit as usize);
    let last = events.last().map(|e| e.server_seq).unwrap_or(after);
    // A page that is not full saw every event up to `examined`: the cursor moves past the ones
    // it left out (the device's own, other places), so the next pull does not read them again.
    // Without this, a tablet that only pushes re-read all its own events on every pull.
    let next_cursor = if has_more { last } else { last.max(examined) };
    if !scope.departments.is_empty() && !scope.district {
        events = with_whistled_history(r, scope, events)?;
    }
    Ok(PullPage { events, next_cursor, has_more, max_seq: examined.max(next_cursor) })
}

fn with_whistled_history(r: &dyn Reader, scope: &Scope, page: Vec<PulledEvent>) -> Result<Vec<PulledEvent>> {
    let mut seen: std::collections::HashSet<gridwalk_domain::EventId> = page.iter().map(|p| p.event.id).collect();
    let mut out = Vec::with_capacity(page.len());
    for pulled in page {
        if let (Entity::Issue(issue), EventBody::Whistled { target, .. }) = (&pulled.event.entity, &pulled.event.body) {
            if scope.departments.contains(target) {
                for earlier in r.entity_events_before(Entity::Issue(*issue), pulled.server_seq)? {
                    if seen.insert(earlier.event.id) {
                        out.push(earlier);
                    }
                }
            }
        }
        out.push(pulled);
    }
    // In the server's order: an issue's earlier events come before any of its later ones the
    // page already held (the cursor may have passed them while the issue was not yet whistled).
    out.sort_by_key(|p| p.server_seq);
    Ok(out)
}

/// Filters of `GET /api/v1/issues`. Its doc comments are the OpenAPI document's parameter
/// descriptions.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IssueFilter {
    /// only this courtyard
    pub courtyard_id: Option<CourtyardId>,
    /// reported|responded|in_progress|resolved|closed
    pub status: Option<String>,
    /// page size, at most 500
    pub limit: Option<u32>,
    /// issue id to continue after
    pub after: Option<IssueId>,
}

pub const MAX_ISSUE_PAGE: u32 = 500;

/// Check that a named courtyard exists and is in scope.
pub fn check_courtyard(registry: &RegistryIndex, scope: &Scope, id: CourtyardId) -> Result<()> {
    let place = registry.place(id).ok_or_else(|| Error::UnknownCourtyard(id.to_string()))?;
    if !scope.contains(&place) {
        return Err(Error::OutOfScope(format!("courtyard {id}")));
    }
    Ok(())
}

/// An issue as a list shows it.
pub fn summary(v: &IssueView) -> Option<IssueSummary> {
    let s = &v.state;
    let r = s.report.as_ref()?;
    Some(IssueSummary {
        id: s.id,
        courtyard_id: r.courtyard,
        category: r.category,
        source: r.source,
        status: s.status,
        description: r.description.clone(),
        contact_name: r.contact.as_ref().and_then(|c| c.name.clone()),
        contact_phone_masked: r.contact.as_ref().map(|c| c.masked_phone()),
        external_ref: r.external_ref.clone(),
        received_at_ms: s.received_at_ms,
        response_due_ms: s.response_due_ms,
        responded_at_ms: s.responded_at_ms,
        resolved_at_ms: s.resolved_at_ms,
        closed_at_ms: s.closed_at_ms,
        reopen_count: s.reopen_count,
        conflicts: v.conflicts,
    })
}

pub fn list_issues(r: &dyn Reader, registry: &RegistryIndex, scope: &Scope, f: &IssueFilter) -> Result<IssueList> {
    if let Some(yard) = f.courtyard_id {
        check_courtyard(registry, scope, yard)?;
    }
    let status = match &f.status {
        Some(code) => Some(IssueStatus::from_code(code).ok_or_else(|| Error::InvalidQuery(format!("unknown status {code:?}")))?.code()),
        None => None,
    };
    let limit = f.limit.unwrap_or(100).clamp(1, MAX_ISSUE_PAGE);
    let q = IssueQuery { courtyard: f.courtyard_id, status, after: f.after, limit: limit + 1 };
    let mut issues: Vec<IssueSummary> = r.issue_views(scope, &q)?.iter().filter_map(summary).collect();
    let more = issues.len() > limit as usize;
    issues.truncate(limit as usize);
    let next_after = if more { issues.last().map(|i| i.id) } else { None };
    Ok(IssueList { issues, next_after })
}

/// One issue with its whole history, folded from its events; out of scope is refused, not
/// hidden.
pub fn get_issue(r: &dyn Reader, scope: &Scope, id: IssueId) -> Result<IssueState> {
    let place = r.issue_place(id)?.ok_or_else(|| Error::NotFound(format!("issue {id}")))?;
    if !scope.contains(&place) && (scope.departments.is_empty() || !r.whistled_to(id, &scope.departments)?) {
        return Err(Error::OutOfScope(format!("issue {id}")));
    }
    Ok(fold_issue(id, r.entity_events(Entity::Issue(id))?))
}

/// Filters of `GET /api/v1/visits` (doc comments as for [`IssueFilter`]).
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VisitFilter {
    /// only this courtyard
    pub courtyard_id: Option<CourtyardId>,
    /// at most 500
    pub limit: Option<u32>,
}

pub fn list_visits(r: &dyn Reader, registry: &RegistryIndex, scope: &Scope, f: &VisitFilter) -> Result<VisitList> {
    if let Some(yard) = f.courtyard_id {
        check_courtyard(registry, scope, yard)?;
    }
    let visits = r.visit_views(scope, f.courtyard_id, f.limit.unwrap_or(100).clamp(1, MAX_ISSUE_PAGE))?;
    Ok(VisitList { visits })
}
