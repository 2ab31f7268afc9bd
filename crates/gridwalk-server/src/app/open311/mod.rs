//! Open311 GeoReport v2's use cases, over the hotline intake: services are our issue
//! categories, a request is an issue (one ticket to the end: `service_request_id` is the issue's
//! public id, [`crate::model::public_id`], not its internal id), filed with an API key and
//! dispatched like a 12345 work order. What a request shows is the public view
//! ([`service_request`]), with or without a key.
//!
//! [`params`] checks input, [`services`] holds the catalogue, [`extras`] carries what a request
//! adds to a report. The wire (routes, JSON and XML) is [`crate::http::open311`]'s.

pub mod error;
pub mod extras;
pub mod keys;
pub mod params;
pub mod services;
pub mod w3c;

use super::hotline;
use super::hotline::{IntakeOutcome, Prepared};
use super::registry::RegistryIndex;
use super::AppState;
use crate::model::{public_id, IssueView, PublicPage, Scope};
use error::Open311Error;
use gridwalk_domain::publish::scrub;
use gridwalk_domain::{IssueId, ResidentContact};
use gridwalk_proto::{HotlineIntake, IntakePlace};
use params::{NewRequest, Params, RequestQuery, Where};
use services::Service;

/// The `external_ref` (hotline order number) prefix of issues filed through Open311.
pub const ORDER_PREFIX: &str = "open311-";

type R<T> = Result<T, Open311Error>;

/// One issue as a GeoReport service request, before it meets a format.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRequest {
    /// The public id ([`crate::model::public_id`]), never the internal issue id.
    pub public_id: String,
    pub closed: bool,
    pub status_notes: Option<String>,
    pub service: Service,
    pub description: String,
    pub agency_responsible: Option<String>,
    pub requested_ms: Option<i64>,
    pub updated_ms: Option<i64>,
    pub expected_ms: Option<i64>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub point: Option<(f64, f64)>,
    pub media_url: Option<String>,
}

impl AppState {
    /// Check `jurisdiction_id` if given: ours or 404.
    pub fn open311_jurisdiction(&self, p: &Params) -> R<()> {
        match p.one("jurisdiction_id")? {
            Some(j) if j != self.config().open311_jurisdiction_id => Err(Open311Error::UnknownJurisdiction(j.to_owned())),
            _ => Ok(()),
        }
    }

    /// The key's id if `api_key` is given and live; a wrong key is refused (and audited), a
    /// missing one only when `required`.
    pub async fn open311_key(&self, p: &Params, required: bool) -> R<Option<String>> {
        let Some(key) = p.one("api_key")?.map(str::to_owned) else {
            return if required { Err(Open311Error::MissingApiKey) } else { Ok(None) };
        };
        let hash = super::auth::token_hash(&key);
        match self.storage().read(move |r| r.api_key_by_hash(&hash)).await? {
            Some(id) => Ok(Some(id)),
            None => {
                let now = self.now_ms();
                self.storage().write(move |tx| tx.audit(now, "open311:?", "open311_key_refused", "unknown or revoked api_key")).await?;
                Err(Open311Error::InvalidApiKey)
            }
        }
    }

    /// Record a read made with a key.
    pub async fn open311_audit_read(&self, key: Option<String>, what: String) -> R<()> {
        if let Some(id) = key {
            let now = self.now_ms();
            self.storage().write(move |tx| tx.audit(now, &keys::actor(&id), "open311_read", &what)).await?;
        }
        Ok(())
    }

    /// `POST requests`: the request becomes a hotline issue (its id and response deadline are
    /// the answer), or, when its address cannot be placed, waits in the dispatcher's queue (the
    /// answer is then a `token`, as GeoReport v2 allows).
    pub async fn open311_file(&self, key_id: String, r: NewRequest) -> R<Filed> {
        let registry = self.fresh_registry().await?;
        let now = self.now_ms();
        let order_no =
            format!("{ORDER_PREFIX}{}", uuid::Builder::from_unix_timestamp_millis(now.max(0) as u64, &self.clock().random()).into_uuid());
        let order = to_order(&registry, &r, order_no, now)?;
        let outcome = match hotline::prepare(&registry, &Scope::district(), &order, now)? {
            Prepared::Filed(report, place) => self.take_in(registry, keys::actor(&key_id), report, place).await?,
            Prepared::Queued(row) => self.queue_order(keys::actor(&key_id), row).await?,
        };
        Ok(match outcome {
            IntakeOutcome::Filed(resp) => Filed::Issue { id: resp.issue_id, due_ms: resp.response_due_ms },
            IntakeOutcome::Queued(q) => Filed::Queued { token: q.order_no, reason_zh: q.reason_zh, due_ms: q.response_due_ms },
        })
    }

    /// `GET requests`: one page of the public listing (newest first), or the requests with
    /// the public ids asked for. One bounded, indexed query of at most a page of views.
    pub async fn open311_find(&self, q: RequestQuery) -> R<Vec<ServiceRequest>> {
        let registry = self.fresh_registry().await?;
        let views = self
            .storage()
            .read(move |r| match q {
                RequestQuery::Ids(ids) => {
                    let mut out = Vec::new();
                    for id in ids {
                        out.extend(r.issue_by_public_id(&id)?);
                    }
                    Ok(Ok(out))
                }
                RequestQuery::Filter { categories, start_ms, end_ms, statuses, page_size, page_after } => {
                    let after = match page_after {
                        None => None,
                        Some(id) => match r.issue_by_public_id(&id)?.and_then(|v| v.state.received_at_ms) {
                            Some(received) => Some((received, id)),
                            None => return Ok(Err(Open311Error::BadPage(format!("page_after {id:?} names no request")))),
                        },
                    };
                    let final_only = match (statuses.open, statuses.closed) {
                        (true, false) => Some(false),
                        (false, true) => Some(true),
                        _ => None,
                    };
                    let page = PublicPage {
                        from_ms: start_ms,
                        to_ms: end_ms,
                        categories: categories.map(|cs| cs.iter().map(|c| c.code().to_owned()).collect()),
                        final_only,
                        after,
                        limit: page_size,
                    };
                    r.public_page(&page).map(Ok)
                }
            })
            .await??;
        Ok(views.iter().filter_map(|v| service_request(&registry, v)).collect())
    }
}

/// What `POST requests` did with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filed {
    Issue {
        id: IssueId,
        due_ms: i64,
    },
    /// Not placeable at a courtyard: queued for the dispatcher under this token.
    Queued {
        token: String,
        reason_zh: String,
        due_ms: i64,
    },
}

/// The hotline work order an Open311 request becomes.
pub fn to_order(registry: &RegistryIndex, r: &NewRequest, order_no: String, now_ms: i64) -> R<HotlineIntake> {
    let place = match &r.place {
        Where::Point { lat, lon, address } => {
            IntakePlace::Address { address: address.clone().unwrap_or_default(), lat: Some(*lat), lon: Some(*lon) }
        }
        // An exact courtyard code is the courtyard; anything else is a free address.
        Where::Address(a) => match registry.courtyard_by_code(a.trim()) {
            Some(c) => IntakePlace::CourtyardCode { code: c.code.clone() },
            None => IntakePlace::Address { address: a.trim().to_owned(), lat: None, lon: None },
        },
    };
    Ok(HotlineIntake {
        order_no,
        place,
        category: r.service.code().to_owned(),
        description: extras::encode(&r.description, &r.extras),
        received_at_ms: now_ms,
        contact: r.phone.clone().map(|phone| ResidentContact { name: r.name.clone(), phone }),
    })
}

/// One issue as the public sees it: its category, status, the courtyard (name, code and the
/// registry's point for it — never the caller's or the worker's exact fix), times, the
/// description and the latest public progress note, both scrubbed of phone and ID numbers
/// ([`gridwalk_domain::publish::scrub`]), and a media URL only when it is http(s). Never the
/// resident's contact, an internal note, or the internal issue id.
pub fn service_request(registry: &RegistryIndex, v: &IssueView) -> Option<ServiceRequest> {
    let s = &v.state;
    let report = s.report.as_ref()?;
    let yard = registry.courtyard(report.courtyard);
    let subdistrict = registry
        .place(report.courtyard)
        .and_then(|p| registry.registry.subdistricts.iter().find(|d| d.id == p.subdistrict))
        .map(|d| d.name.clone());
    let from_open311 = report.external_ref.as_deref().is_some_and(|r| r.starts_with(ORDER_PREFIX));
    let (description, extra) =
        if from_open311 { extras::decode(&report.description) } else { (report.description.clone(), Default::default()) };
    Some(ServiceRequest {
        public_id: public_id(s.id),
        closed: s.status.is_final(),
        status_notes: v.public_note.as_deref().map(scrub),
        service: services::service(report.category),
        description: scrub(&description),
        agency_responsible: s.whistles.last().map(|w| w.target.clone()).or(subdistrict),
        requested_ms: s.received_at_ms,
        updated_ms: v.updated_ms,
        expected_ms: s.response_due_ms,
        address: yard.map(|y| y.name.clone()),
        address_id: yard.map(|y| y.code.clone()),
        point: yard.map(|y| (y.point.lat, y.point.lon)),
        // Checked again here: a tablet's report can carry an Open311 trailer of its own.
        media_url: extra.media_url.filter(|u| params::is_http_url(u)),
    })
}
