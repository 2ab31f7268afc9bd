//! 工单: the ticket list (filters, keyset paging), the ticket page (timeline, masked phone,
//! photos, point, the actions the caller may take), the actions themselves, the department
//! inbox, and the pickers of the intake form.

use crate::app::authored;
use crate::app::ingest::{self, PushRules};
use crate::app::query::{self, summary};
use crate::app::registry::RegistryIndex;
use crate::app::views::event_text;
use crate::app::{Action, AppState, Grant, Principal};
use crate::error::{Error, Result};
use crate::model::{IssueView, Scope, TicketQuery};
use crate::store::Reader;
use gridwalk_domain::address::haversine_m;
use gridwalk_domain::console::{may_reveal_phone, Menu};
use gridwalk_domain::rules::{self, Actor};
use gridwalk_domain::{fold, validate, Assignee, Entity, Event, EventId, GeoPoint, IssueId, IssueState, WorkerId};
use gridwalk_proto::console::*;
use gridwalk_proto::{LoggedEvent, PushOutcome, PushRequest};
use serde::Deserialize;
use std::collections::HashMap;

/// The most tickets one page lists.
pub const MAX_TICKET_PAGE: u32 = 200;

/// The ticket list's filters as the page sends them (all optional).
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TicketFilter {
    /// a status code
    pub status: Option<String>,
    /// a category code
    pub category: Option<String>,
    /// a source code
    pub source: Option<String>,
    /// subdistrict id
    pub subdistrict: Option<String>,
    /// community id
    pub community: Option<String>,
    /// courtyard id
    pub courtyard: Option<String>,
    /// a worker's username, `dispatcher`, or `community:<community id>`
    pub assignee: Option<String>,
    /// only open issues unanswered past their response deadline
    pub overdue: Option<bool>,
    /// received at or after (ms)
    pub from_ms: Option<i64>,
    /// received before (ms)
    pub to_ms: Option<i64>,
    /// the `next_after` of the previous page
    pub after: Option<String>,
    /// page size, at most 200
    pub limit: Option<u32>,
}

fn bad(what: &str, value: &str) -> Error {
    Error::InvalidQuery(format!("{what}={value:?} is not known"))
}

fn parse_id<T: std::str::FromStr>(what: &str, v: &Option<String>) -> Result<Option<T>> {
    v.as_deref().filter(|s| !s.is_empty()).map(|s| s.parse::<T>().map_err(|_| bad(what, s))).transpose()
}

/// A time the page sent, bounded before any arithmetic meets it (years 2000 to 2200).
pub fn bounded_time(what: &str, v: Option<i64>) -> Result<Option<i64>> {
    const MIN: i64 = 946_684_800_000;
    const MAX: i64 = 7_258_118_400_000;
    match v {
        Some(t) if !(MIN..=MAX).contains(&t) => Err(Error::InvalidQuery(format!("{what}={t} is outside the years 2000 to 2200"))),
        other => Ok(other),
    }
}

/// An issue source by its vocabulary code or its wire name.
fn source_of(s: &str) -> Option<gridwalk_domain::IssueSource> {
    gridwalk_domain::IssueSource::from_code(s).or_else(|| serde_json::from_value(serde_json::Value::String(s.to_owned())).ok())
}

/// The cursor of the row after which the next page starts: `<received_ms>:<issue id>`.
fn cursor_of(v: &IssueView) -> Option<String> {
    Some(format!("{}:{}", v.state.received_at_ms?, v.state.id))
}

fn parse_cursor(s: &str) -> Result<(i64, IssueId)> {
    let (at, id) = s.split_once(':').ok_or_else(|| bad("after", s))?;
    let at = at.parse::<i64>().map_err(|_| bad("after", s))?;
    Ok((bounded_time("after", Some(at))?.unwrap_or(at), id.parse().map_err(|_| bad("after", s))?))
}

impl TicketFilter {
    /// The store's query, every value checked: codes against the vocabularies, ids parsed,
    /// times bounded, the page size clamped.
    pub fn query(&self, r: &dyn Reader, now_ms: i64) -> Result<TicketQuery> {
        let code = |what: &str, v: &Option<String>, ok: &dyn Fn(&str) -> bool| -> Result<Option<String>> {
            match v.as_deref().filter(|s| !s.is_empty()) {
                Some(s) if ok(s) => Ok(Some(s.to_owned())),
                Some(s) => Err(bad(what, s)),
                None => Ok(None),
            }
        };
        let assignee = match self.assignee.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some("dispatcher") => Some("dispatcher".to_owned()),
            Some(c) if c.starts_with("community:") => {
                let id: gridwalk_domain::CommunityId = c["community:".len()..].parse().map_err(|_| bad("assignee", c))?;
                Some(format!("community:{id}"))
            }
            Some(username) => {
                let w = r.worker_by_username(username)?.ok_or_else(|| Error::UnknownWorker(username.to_owned()))?;
                Some(format!("worker:{}", w.info.id))
            }
        };
        Ok(TicketQuery {
            status: code("status", &self.status, &|s| gridwalk_domain::IssueStatus::from_code(s).is_some())?,
            category: code("category", &self.category, &|s| gridwalk_domain::Category::from_code(s).is_some())?,
            // The page sends a source as the wire spells it (`hotline`), the table stores its
            // vocabulary code (`hotline_12345`): either is taken, the code is what is asked.
            source: match self.source.as_deref().filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => Some(source_of(s).ok_or_else(|| bad("source", s))?.code().to_owned()),
            },
            subdistrict: parse_id("subdistrict", &self.subdistrict)?,
            community: parse_id("community", &self.community)?,
            courtyard: parse_id("courtyard", &self.courtyard)?,
            assignee,
            overdue_at: self.overdue.unwrap_or(false).then_some(now_ms),
            from_ms: bounded_time("from_ms", self.from_ms)?,
            to_ms: bounded_time("to_ms", self.to_ms)?,
            whistled_only: false,
            before: self.after.as_deref().filter(|s| !s.is_empty()).map(parse_cursor).transpose()?,
            limit: self.limit.unwrap_or(50).clamp(1, MAX_TICKET_PAGE),
        })
    }

    /// The filters as the page shows them (Chinese label, value), for an export's header.
    pub fn shown(&self, registry: &RegistryIndex) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut add = |label: &str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                out.push((label.to_owned(), v));
            }
        };
        add("状态", self.status.as_deref().map(|s| gridwalk_domain::IssueStatus::from_code(s).map_or(s, |x| x.label_zh()).to_owned()));
        add("类别", self.category.as_deref().map(|s| gridwalk_domain::Category::from_code(s).map_or(s, |x| x.label_zh()).to_owned()));
        add("来源", self.source.as_deref().map(|s| source_of(s).map_or(s, |x| x.label_zh()).to_owned()));
        let name_of = |id: &Option<String>, names: &dyn Fn(&str) -> Option<String>| id.as_deref().map(|i| names(i).unwrap_or(i.to_owned()));
        let reg = &registry.registry;
        add("街乡", name_of(&self.subdistrict, &|i| reg.subdistricts.iter().find(|s| s.id.to_string() == i).map(|s| s.name.clone())));
        add("社区", name_of(&self.community, &|i| reg.communities.iter().find(|s| s.id.to_string() == i).map(|s| s.name.clone())));
        add("院落", name_of(&self.courtyard, &|i| reg.courtyards.iter().find(|s| s.id.to_string() == i).map(|s| s.name.clone())));
        add("承办人", self.assignee.clone());
        add("仅超时", self.overdue.filter(|o| *o).map(|_| "是".to_owned()));
        add("受理起", self.from_ms.map(crate::app::console::export::beijing_text));
        add("受理止", self.to_ms.map(crate::app::console::export::beijing_text));
        out
    }
}

/// Names of workers and places, for rows.
pub struct Names<'a> {
    pub registry: &'a RegistryIndex,
    pub workers: HashMap<WorkerId, String>,
}

impl<'a> Names<'a> {
    pub fn load(r: &dyn Reader, registry: &'a RegistryIndex) -> Result<Names<'a>> {
        Ok(Names { registry, workers: r.workers()?.into_iter().map(|w| (w.id, w.name)).collect() })
    }

    pub fn assignee(&self, a: &Assignee) -> String {
        match a {
            Assignee::Worker(w) => self.workers.get(w).cloned().unwrap_or_else(|| w.to_string()),
            Assignee::Community(c) => {
                let name = self.registry.registry.communities.iter().find(|x| x.id == *c).map_or_else(|| c.to_string(), |x| x.name.clone());
                format!("{name}（社区督办）")
            }
            Assignee::Dispatcher => "区派单员".to_owned(),
        }
    }

    /// A list row of a view; `None` for an issue whose report is not known.
    pub fn row(&self, v: &IssueView, now_ms: i64) -> Option<TicketRow> {
        let issue = summary(v)?;
        let yard = self.registry.courtyard(issue.courtyard_id);
        let community = yard.and_then(|y| self.registry.registry.communities.iter().find(|c| c.id == y.community));
        let subdistrict = community.and_then(|c| self.registry.registry.subdistricts.iter().find(|s| s.id == c.subdistrict));
        let overdue = v.state.status.is_open() && v.state.responded_at_ms.is_none() && v.state.response_due_ms.is_some_and(|d| d < now_ms);
        Some(TicketRow {
            courtyard_name: yard.map(|y| y.name.clone()).unwrap_or_default(),
            community_name: community.map(|c| c.name.clone()).unwrap_or_default(),
            subdistrict_name: subdistrict.map(|s| s.name.clone()).unwrap_or_default(),
            assignee: v.state.assignee.as_ref().map(|a| self.assignee(a)),
            overdue,
            issue,
        })
    }
}

/// The page of `q` in scope.
fn page(r: &dyn Reader, registry: &RegistryIndex, scope: &Scope, q: &TicketQuery, now_ms: i64) -> Result<TicketPage> {
    let names = Names::load(r, registry)?;
    let mut views = Vec::with_capacity(q.limit as usize + 1);
    // One more than the page: whether a next page exists, without a second query.
    let probe = TicketQuery { limit: q.limit.saturating_add(1), ..q.clone() };
    r.each_ticket(scope, &probe, &mut |v| {
        views.push(v);
        Ok(true)
    })?;
    let more = views.len() > q.limit as usize;
    views.truncate(q.limit as usize);
    let next_after = if more { views.last().and_then(cursor_of) } else { None };
    let total = if q.before.is_none() { Some(r.ticket_count(scope, q)?) } else { None };
    Ok(TicketPage { tickets: views.iter().filter_map(|v| names.row(v, now_ms)).collect(), next_after, total })
}

fn timeline(state: &IssueState, names: &Names<'_>) -> Vec<TimelineItem> {
    state
        .history
        .iter()
        .map(|h| {
            let e = &h.event;
            TimelineItem {
                at_ms: e.wall_ms.saturating_add(e.clock_offset_ms),
                kind: e.body.kind().to_owned(),
                actor: names.workers.get(&e.author).cloned().unwrap_or_else(|| e.author.to_string()),
                text: event_text(&e.body).unwrap_or_default().to_owned(),
                conflict: h.conflict.is_some(),
            }
        })
        .collect()
}

/// The ticket page of a folded issue, for `who`.
fn ticket_of(r: &dyn Reader, app: &TicketContext<'_>, state: IssueState, now_ms: i64) -> Result<Ticket> {
    let names = Names::load(r, app.registry)?;
    let place = r.issue_place(state.id)?.ok_or_else(|| Error::NotFound(format!("issue {}", state.id)))?;
    let view = crate::app::views::issue_view(state.clone());
    let row = names.row(&view, now_ms).ok_or_else(|| Error::NotFound(format!("issue {} has no report yet", state.id)))?;
    let in_scope = app.scope.contains(&place);
    let offers = rules::offered(&state, app.actor, in_scope);
    let yard = app.registry.courtyard(place.courtyard);
    let workers = r
        .workers()?
        .into_iter()
        .filter(|w| w.username != authored::HOTLINE_USERNAME && app.registry.resolve_lenient(&w.scope).contains(&place))
        .map(|w| WorkerChoice { id: w.id, username: w.username, name: w.name })
        .collect();
    let id = state.id;
    let photos = state
        .photos
        .iter()
        .map(|sha| TicketPhoto {
            sha256: sha.clone(),
            url: format!("/api/v1/console/photos/{sha}?issue={id}"),
            thumb_url: format!("/api/v1/console/photos/{sha}?issue={id}&thumb=true"),
        })
        .collect();
    let contact = state.report.as_ref().and_then(|r| r.contact.as_ref());
    Ok(Ticket {
        contact_name: contact.and_then(|c| c.name.clone()),
        contact_phone_masked: contact.map(|c| c.masked_phone()),
        timeline: timeline(&state, &names),
        point: yard.map(|y| MapPoint { lat: y.point.lat, lon: y.point.lon }),
        whistle_targets: app.departments.clone(),
        row,
        offers,
        photos,
        workers,
        state,
    })
}

/// What building a ticket page needs besides the store.
struct TicketContext<'a> {
    registry: &'a RegistryIndex,
    scope: &'a Scope,
    actor: &'a Actor,
    departments: Vec<String>,
}

/// The refusal codes ingest gives, as the error codes the page knows.
fn refusal(code: &str, reason: String) -> Error {
    const KNOWN: &[&str] = &[
        "wrong_device",
        "wrong_author",
        "event_id_taken",
        "already_reported",
        "wrong_entity",
        "unknown_issue",
        "unknown_courtyard",
        "out_of_scope",
        "not_permitted",
        "unknown_worker",
        "assignee_out_of_scope",
        "unknown_community",
    ];
    let code = KNOWN.iter().find(|k| **k == code).copied().unwrap_or("action_refused");
    Error::ActionRefused { code, reason }
}

fn actor_of(who: &Principal, scope: &Scope) -> Actor {
    Actor { worker: who.worker.id, role: who.worker.role, departments: scope.departments.iter().cloned().collect() }
}

impl AppState {
    fn departments(&self) -> Vec<String> {
        self.config().district.departments.iter().map(|d| d.name.clone()).collect()
    }

    /// One page of tickets in scope.
    pub async fn console_tickets(&self, who: &Principal, filter: TicketFilter) -> Result<TicketPage> {
        let Grant { registry, scope } = self.console_grant(who, Menu::Tickets, Action::ReadRecords).await?;
        let now = self.now_ms();
        self.storage()
            .read(move |r| {
                let q = filter.query(r, now)?;
                page(r, &registry, &scope, &q, now)
            })
            .await
    }

    /// The ticket page; out of scope is refused.
    pub async fn console_ticket(&self, who: &Principal, id: IssueId) -> Result<Ticket> {
        let Grant { registry, scope } = self.console_grant(who, Menu::Tickets, Action::ReadRecords).await?;
        self.console_ticket_as(who, id, &registry, &scope).await
    }

    /// A resident's full number, for a desk role, audited.
    pub async fn console_reveal_phone(&self, who: &Principal, id: IssueId) -> Result<RevealedPhone> {
        let Grant { scope, .. } = self.console_grant(who, Menu::Tickets, Action::ReadRecords).await?;
        if !may_reveal_phone(who.worker.role) {
            return Err(Error::Forbidden { role: who.worker.role.code(), action: "see a resident's phone number" });
        }
        let state = self.storage().read(move |r| query::get_issue(r, &scope, id)).await?;
        let phone =
            state.report.and_then(|r| r.contact).map(|c| c.phone).ok_or_else(|| Error::NotFound(format!("issue {id} has no phone")))?;
        let (now, username) = (self.now_ms(), who.worker.username.clone());
        self.storage().write(move |tx| tx.audit(now, &username, "phone_revealed", &format!("issue {id}"))).await?;
        Ok(RevealedPhone { phone })
    }

    /// Record what the caller does on a ticket, as an event of their console device, settled
    /// by the same ingest as a tablet's push. A resend of the same `request_id` is answered
    /// `duplicate` and stores nothing; a refusal stores nothing either.
    pub async fn console_action(&self, who: &Principal, id: IssueId, action: TicketAction) -> Result<TicketActionResult> {
        let menu = if who.worker.role == gridwalk_domain::Role::DepartmentStaff { Menu::Department } else { Menu::Tickets };
        let Grant { registry, scope } = self.console_grant(who, menu, Action::Push).await?;
        validate::body(&action.body)?;
        let rules = PushRules {
            recurrence_window_ms: i64::try_from(self.config().recurrence_window.as_millis()).unwrap_or(i64::MAX),
            clock: self.config().clock,
            templates: self.config().notice_templates.clone(),
        };
        let (clock, who2, scope2, registry2) = (self.inner.clock.clone(), who.clone(), scope.clone(), registry.clone());
        let outcome = self
            .write_events(move |tx| {
                let event_id = EventId(action.request_id);
                if let Some((device, _)) = tx.event_slot(event_id)? {
                    if device == who2.device {
                        return Ok("duplicate");
                    }
                    return Err(refusal("event_id_taken", format!("request {event_id} is another device's event")));
                }
                let state = tx.issue_view(id)?.map(|v| v.state).ok_or_else(|| Error::NotFound(format!("issue {id}")))?;
                let now = clock.now_ms();
                let event = Event {
                    id: event_id,
                    author: who2.worker.id,
                    device: who2.device,
                    hlc: authored::next_server_hlc(tx, now, state.last_hlc)?,
                    wall_ms: now,
                    clock_offset_ms: 0,
                    entity: Entity::Issue(id),
                    body: action.body,
                };
                // The fold must take it: what it would keep only as a conflict is refused here.
                let mut copy = state;
                fold::step(&mut copy, &event).map_err(|c| Error::InvalidTransition(format!("{c:?}")))?;
                // Another server process may record for the same console session at once.
                tx.lock_device(who2.device)?;
                let seq = tx.held_seq(who2.device)? + 1;
                let req = PushRequest { device_id: who2.device, events: vec![LoggedEvent { seq, event }] };
                let resp = ingest::push(tx, clock.as_ref(), &who2, &scope2, &registry2, req, &rules)?;
                match resp.results.into_iter().next().map(|r| r.outcome) {
                    Some(PushOutcome::Accepted) => Ok("accepted"),
                    Some(PushOutcome::Rejected { code, reason }) => Err(refusal(&code, reason)),
                    Some(PushOutcome::Conflict { reason }) => Err(refusal("action_refused", reason)),
                    other => Err(Error::Internal(format!("a console action was settled as {other:?}"))),
                }
            })
            .await?;
        let ticket = self.console_ticket_as(who, id, &registry, &scope).await?;
        Ok(TicketActionResult { outcome: outcome.to_owned(), ticket })
    }

    async fn console_ticket_as(
        &self,
        who: &Principal,
        id: IssueId,
        registry: &std::sync::Arc<RegistryIndex>,
        scope: &Scope,
    ) -> Result<Ticket> {
        let (now, actor, departments, registry, scope) =
            (self.now_ms(), actor_of(who, scope), self.departments(), registry.clone(), scope.clone());
        self.storage()
            .read(move |r| {
                let state = query::get_issue(r, &scope, id)?;
                ticket_of(r, &TicketContext { registry: &registry, scope: &scope, actor: &actor, departments }, state, now)
            })
            .await
    }

    /// 部门: what was whistled to the caller's departments, newest first, with that whistle.
    pub async fn console_department(&self, who: &Principal) -> Result<DepartmentInbox> {
        let Grant { registry, scope } = self.console_grant(who, Menu::Department, Action::ReadRecords).await?;
        let now = self.now_ms();
        self.storage()
            .read(move |r| {
                let names = Names::load(r, &registry)?;
                let q = TicketQuery { whistled_only: true, limit: 500, ..Default::default() };
                let mut tickets = Vec::new();
                r.each_ticket(&scope, &q, &mut |v| {
                    let whistle = v.state.whistles.iter().rev().find(|w| scope.departments.contains(&w.target) || scope.district).cloned();
                    if let (Some(whistle), Some(row)) = (whistle, names.row(&v, now)) {
                        tickets.push(DepartmentTicket { row, whistle });
                    }
                    Ok(true)
                })?;
                Ok(DepartmentInbox { tickets })
            })
            .await
    }

    /// The registry in scope, for pickers (courtyards with their points).
    pub async fn console_places(&self, who: &Principal) -> Result<Places> {
        let Grant { registry, scope } = self.console_grant(who, Menu::Tickets, Action::ReadRecords).await?;
        let reg = &registry.registry;
        let yards: Vec<_> = reg.courtyards.iter().filter(|y| registry.place(y.id).is_some_and(|p| scope.contains(&p))).collect();
        let communities: std::collections::BTreeSet<_> = yards.iter().map(|y| y.community).collect();
        let subdistricts: std::collections::BTreeSet<_> =
            reg.communities.iter().filter(|c| communities.contains(&c.id)).map(|c| c.subdistrict).collect();
        Ok(Places {
            subdistricts: reg
                .subdistricts
                .iter()
                .filter(|s| subdistricts.contains(&s.id))
                .map(|s| SubdistrictPlace { id: s.id, code: s.code.clone(), name: s.name.clone() })
                .collect(),
            communities: reg
                .communities
                .iter()
                .filter(|c| communities.contains(&c.id))
                .map(|c| CommunityPlace { id: c.id, code: c.code.clone(), name: c.name.clone(), subdistrict_id: c.subdistrict })
                .collect(),
            courtyards: yards
                .iter()
                .map(|y| CourtyardPlace {
                    id: y.id,
                    code: y.code.clone(),
                    name: y.name.clone(),
                    community_id: y.community,
                    lat: y.point.lat,
                    lon: y.point.lon,
                })
                .collect(),
        })
    }

    /// The courtyard in scope nearest a point (shown on the intake form before saving).
    pub async fn console_nearest(&self, who: &Principal, lat: f64, lon: f64) -> Result<NearestCourtyard> {
        let Grant { registry, scope } = self.console_grant(who, Menu::Intake, Action::HotlineIntake).await?;
        if !(lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
            return Err(Error::InvalidQuery(format!("lat={lat}, lon={lon} is not a point on Earth")));
        }
        let p = GeoPoint { lat, lon };
        let (yard, d) = registry
            .registry
            .courtyards
            .iter()
            .filter(|y| registry.place(y.id).is_some_and(|pl| scope.contains(&pl)))
            .map(|y| (y, haversine_m(y.point, p)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .ok_or_else(|| Error::NotFound("no courtyard in your scope".into()))?;
        let community = registry.registry.communities.iter().find(|c| c.id == yard.community).map(|c| c.name.clone()).unwrap_or_default();
        Ok(NearestCourtyard { courtyard_id: yard.id, name: yard.name.clone(), community_name: community, distance_m: d })
    }
}
