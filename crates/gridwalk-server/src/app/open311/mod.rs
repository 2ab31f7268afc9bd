//! Open311 GeoReport v2's use cases, over the hotline intake: services are our issue
//! categories, a request is an issue (one ticket to the end: `service_request_id` is the issue
//! id), filed with an API key and dispatched like a 12345 work order.
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
use crate::model::{IssueView, Scope};
use error::Open311Error;
use gridwalk_domain::{IssueId, ResidentContact};
use gridwalk_proto::{HotlineIntake, IntakePlace};
use params::{NewRequest, Params, RequestQuery, Where};
use services::Service;

/// The `external_ref` (hotline order number) prefix of issues filed through Open311.
pub const ORDER_PREFIX: &str = "open311-";
/// Most requests one `GET requests` returns (newest first).
pub const MAX_RESULTS: usize = 1000;

type R<T> = Result<T, Open311Error>;

/// One issue as a GeoReport service request, before it meets a format.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRequest {
    pub id: IssueId,
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

    /// `GET requests`: the filter over every issue in the district (newest first, at most
    /// [`MAX_RESULTS`]).
    pub async fn open311_find(&self, q: RequestQuery) -> R<Vec<ServiceRequest>> {
        let registry = self.fresh_registry().await?;
        let q2 = q.clone();
        let views = self
            .storage()
            .read(move |r| match &q2 {
                RequestQuery::Ids(ids) => {
                    let mut out = Vec::new();
                    for id in ids {
                        out.extend(r.issue_view(*id)?);
                    }
                    Ok(out)
                }
                RequestQuery::Filter { start_ms, end_ms, .. } => r.issues_received_newest_first(*start_ms, *end_ms, u32::MAX),
            })
            .await?;
        let keep = |v: &IssueView| match &q {
            RequestQuery::Ids(_) => true,
            RequestQuery::Filter { categories, statuses, .. } => {
                let category_ok = match (categories, &v.state.report) {
                    (Some(cs), Some(r)) => cs.contains(&r.category),
                    _ => true,
                };
                let closed = v.state.status.is_final();
                category_ok && ((closed && statuses.closed) || (!closed && statuses.open))
            }
        };
        Ok(views.iter().filter(|v| keep(v)).filter_map(|v| service_request(&registry, v)).take(MAX_RESULTS).collect())
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

/// One issue as a GeoReport service request.
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
    let point = match (report.location, yard) {
        (Some(l), _) => Some((l.lat, l.lon)),
        (None, Some(y)) => Some((y.point.lat, y.point.lon)),
        (None, None) => None,
    };
    Some(ServiceRequest {
        id: s.id,
        closed: s.status.is_final(),
        status_notes: v.last_note.clone(),
        service: services::service(report.category),
        description,
        agency_responsible: s.whistles.last().map(|w| w.target.clone()).or(subdistrict),
        requested_ms: s.received_at_ms,
        updated_ms: v.updated_ms,
        expected_ms: s.response_due_ms,
        address: yard.map(|y| y.name.clone()),
        address_id: yard.map(|y| y.code.clone()),
        point,
        media_url: extra.media_url,
    })
}
