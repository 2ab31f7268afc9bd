//! Open311 GeoReport v2 under `/open311/v2`, over the hotline intake: services are our issue
//! categories, a request is an issue (one ticket to the end: `service_request_id` is the issue
//! id), filed with an API key and dispatched like a 12345 work order.
//!
//! Layers as in the rest of the server: [`params`] checks input, [`services`] holds the
//! catalogue, [`render`] writes JSON and XML from one tree, and the use cases here run on
//! [`AppState`]'s database; the handlers at the bottom only translate.
//!
//! POST answers with `service_request_id` at once, so there are no tokens (`GET tokens` is
//! not served).

pub mod error;
pub mod extras;
pub mod keys;
pub mod params;
pub mod render;
pub mod services;
pub mod w3c;
pub mod xml;

use crate::db::now_ms;
use crate::hotline;
use crate::registry::{RegistryIndex, Scope};
use crate::state::AppState;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, MethodRouter};
use axum::Router;
use error::Open311Error;
use gridwalk_domain::{EventBody, IssueId, IssueState, IssueStatus, ResidentContact};
use gridwalk_proto::{HotlineIntake, IntakePlace};
use params::{NewRequest, Params, RequestQuery, Where};
use render::{Answer, Format, Node, Record};

/// The `external_ref` (hotline order number) prefix of issues filed through Open311.
pub const ORDER_PREFIX: &str = "open311-";
/// Most requests one `GET requests` returns (newest first).
pub const MAX_RESULTS: usize = 1000;

type R<T> = Result<T, Open311Error>;

// ---- use cases -------------------------------------------------------------------------------

/// Check `jurisdiction_id` if given: ours or 404.
pub fn check_jurisdiction(state: &AppState, p: &Params) -> R<()> {
    match p.one("jurisdiction_id")? {
        Some(j) if j != state.config().open311_jurisdiction_id => Err(Open311Error::UnknownJurisdiction(j.to_owned())),
        _ => Ok(()),
    }
}

/// The key's id if `api_key` is given and live; a wrong key is refused (and audited), a missing
/// one only when `required`.
pub async fn authorize(state: &AppState, p: &Params, required: bool) -> R<Option<String>> {
    let Some(key) = p.one("api_key")?.map(str::to_owned) else {
        return if required { Err(Open311Error::MissingApiKey) } else { Ok(None) };
    };
    let found = state.db().read(move |c| keys::lookup(c, &key)).await?;
    match found {
        Some(id) => Ok(Some(id)),
        None => {
            state
                .db()
                .write(|c| crate::audit::record(c, now_ms(), "open311:?", "open311_key_refused", "unknown or revoked api_key"))
                .await?;
            Err(Open311Error::InvalidApiKey)
        }
    }
}

/// Record a read made with a key.
async fn audit_read(state: &AppState, key: Option<String>, what: String) -> R<()> {
    if let Some(id) = key {
        state.db().write(move |c| crate::audit::record(c, now_ms(), &keys::actor(&id), "open311_read", &what)).await?;
    }
    Ok(())
}

fn courtyard_code_for(registry: &RegistryIndex, address: &str) -> R<String> {
    let a = address.trim();
    registry
        .courtyard_by_code(a)
        .or_else(|| registry.registry.courtyards.iter().find(|c| c.name == a))
        .map(|c| c.code.clone())
        .ok_or_else(|| Open311Error::UnknownAddress(a.to_owned()))
}

/// The hotline work order an Open311 request becomes.
pub fn to_order(registry: &RegistryIndex, r: &NewRequest, order_no: String, now_ms: i64) -> R<HotlineIntake> {
    let place = match &r.place {
        Where::Point { lat, lon, address } => {
            IntakePlace::Address { address: address.clone().unwrap_or_else(|| format!("{lat},{lon}")), lat: *lat, lon: *lon }
        }
        Where::Address(a) => IntakePlace::CourtyardCode { code: courtyard_code_for(registry, a)? },
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

/// `POST requests`: the request becomes a hotline issue; its id is the answer.
pub async fn file_request(state: &AppState, key_id: String, r: NewRequest) -> R<(IssueId, i64)> {
    let registry = state.fresh_registry().await?;
    let now = now_ms();
    let order_no =
        format!("{ORDER_PREFIX}{}", uuid::Builder::from_unix_timestamp_millis(now as u64, &crate::auth::random_bits()).into_uuid());
    let order = to_order(&registry, &r, order_no, now)?;
    let district = Scope { district: true, ..Default::default() };
    let (report, place) = hotline::prepare(&registry, &district, &order)?;
    let actor = keys::actor(&key_id);
    let resp = state.take_in(registry, actor, report, place, now).await?;
    Ok((resp.issue_id, resp.response_due_ms))
}

/// The latest note-like text of an issue (its notes, progress, response, resolution …).
pub fn status_notes(s: &IssueState) -> Option<String> {
    s.history.iter().rev().filter(|h| h.conflict.is_none()).find_map(|h| {
        let text = match &h.event.body {
            EventBody::NoteAdded { text } => text,
            EventBody::ProgressAdded { note }
            | EventBody::IssueResponded { note }
            | EventBody::IssueResolved { note, .. }
            | EventBody::IssueClosed { note }
            | EventBody::CallbackRecorded { note, .. }
            | EventBody::Whistled { note, .. }
            | EventBody::ReportedIn { note, .. } => note,
            EventBody::IssueReopened { reason } => reason,
            _ => return None,
        };
        (!text.trim().is_empty()).then(|| text.clone())
    })
}

/// One issue as a GeoReport service request.
pub fn service_request(registry: &RegistryIndex, s: &IssueState) -> Option<Record> {
    let report = s.report.as_ref()?;
    let yard = registry.courtyard(report.courtyard);
    let subdistrict = registry
        .place(report.courtyard)
        .and_then(|p| registry.registry.subdistricts.iter().find(|d| d.id == p.subdistrict))
        .map(|d| d.name.clone());
    let agency = s.whistles.last().map(|w| w.target.clone()).or(subdistrict);
    let from_open311 = report.external_ref.as_deref().is_some_and(|r| r.starts_with(ORDER_PREFIX));
    let (description, extra) =
        if from_open311 { extras::decode(&report.description) } else { (report.description.clone(), Default::default()) };
    let service = services::service(report.category);
    let (lat, lon) = match (report.location, yard) {
        (Some(l), _) => (Node::Number(l.lat), Node::Number(l.lon)),
        (None, Some(y)) => (Node::Number(y.point.lat), Node::Number(y.point.lon)),
        (None, None) => (Node::Null, Node::Null),
    };
    let updated = s.history.iter().map(|h| h.event.corrected_ms()).max();
    Some(vec![
        ("service_request_id", s.id.to_string().into()),
        ("status", if s.status == IssueStatus::Closed { "closed" } else { "open" }.into()),
        ("status_notes", status_notes(s).into()),
        ("service_name", service.name().into()),
        ("service_code", service.code().into()),
        ("description", description.into()),
        ("agency_responsible", agency.into()),
        ("service_notice", Node::Null),
        ("requested_datetime", s.received_at_ms.map(w3c::format).into()),
        ("updated_datetime", updated.map(w3c::format).into()),
        ("expected_datetime", s.response_due_ms.map(w3c::format).into()),
        ("address", yard.map(|y| y.name.clone()).into()),
        ("address_id", yard.map(|y| y.code.clone()).into()),
        ("zipcode", Node::Null),
        ("lat", lat),
        ("long", lon),
        ("media_url", extra.media_url.into()),
    ])
}

fn load_states(conn: &rusqlite::Connection, q: &RequestQuery) -> crate::Result<Vec<IssueState>> {
    let mut out = Vec::new();
    let mut push = |json: String| -> crate::Result<()> {
        out.push(serde_json::from_str::<IssueState>(&json)?);
        Ok(())
    };
    match q {
        RequestQuery::Ids(ids) => {
            let mut stmt = conn.prepare_cached("SELECT state_json FROM issues WHERE id = ?1")?;
            for id in ids {
                let mut rows = stmt.query([id.to_string()])?;
                if let Some(row) = rows.next()? {
                    push(row.get(0)?)?;
                }
            }
        }
        RequestQuery::Filter { start_ms, end_ms, .. } => {
            let mut stmt =
                conn.prepare("SELECT state_json FROM issues WHERE received_at_ms BETWEEN ?1 AND ?2 ORDER BY received_at_ms DESC, id DESC")?;
            let rows = stmt.query_map([start_ms, end_ms], |r| r.get::<_, String>(0))?;
            for json in rows {
                push(json?)?;
            }
        }
    }
    Ok(out)
}

/// `GET requests`: the filter over every issue in the district (newest first, at most
/// [`MAX_RESULTS`]).
pub async fn find_requests(state: &AppState, q: RequestQuery) -> R<Vec<Record>> {
    let registry = state.fresh_registry().await?;
    let q2 = q.clone();
    let states = state.db().read(move |c| load_states(c, &q2)).await?;
    let keep = |s: &IssueState| match &q {
        RequestQuery::Ids(_) => true,
        RequestQuery::Filter { categories, statuses, .. } => {
            let category_ok = match (categories, &s.report) {
                (Some(cs), Some(r)) => cs.contains(&r.category),
                _ => true,
            };
            let closed = s.status == IssueStatus::Closed;
            category_ok && ((closed && statuses.closed) || (!closed && statuses.open))
        }
    };
    Ok(states.iter().filter(|s| keep(s)).filter_map(|s| service_request(&registry, s)).take(MAX_RESULTS).collect())
}

// ---- answers ---------------------------------------------------------------------------------

fn service_record(s: &services::Service) -> Record {
    vec![
        ("service_code", s.code().into()),
        ("service_name", s.name().into()),
        ("description", s.description().into()),
        ("metadata", Node::Bool(s.metadata())),
        ("type", "realtime".into()),
        ("keywords", s.keywords.into()),
        ("group", s.group.into()),
    ]
}

pub fn services_answer() -> Answer {
    Answer::List { root: "services", item: "service", records: services::all().iter().map(service_record).collect() }
}

pub fn definition_answer(code: &str) -> R<Answer> {
    let s = services::by_code(code)?;
    if !s.metadata() {
        return Err(Open311Error::NoDefinition(code.to_owned()));
    }
    let attributes = s
        .attributes
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let values = a.values.iter().map(|(k, n)| vec![("key", Node::from(*k)), ("name", Node::from(*n))]).collect();
            vec![
                ("variable", Node::Bool(true)),
                ("code", a.code.into()),
                ("datatype", a.datatype.code().into()),
                ("required", Node::Bool(a.required)),
                ("datatype_description", a.datatype_description.into()),
                ("order", Node::Int(i as i64 + 1)),
                ("description", a.description.into()),
                ("values", Node::List { item: "value", records: values }),
            ]
        })
        .collect();
    Ok(Answer::One {
        root: "service_definition",
        record: vec![("service_code", s.code().into()), ("attributes", Node::List { item: "attribute", records: attributes })],
    })
}

fn requests_answer(records: Vec<Record>) -> Answer {
    Answer::List { root: "service_requests", item: "request", records }
}

pub fn error_answer(e: &Open311Error) -> Answer {
    Answer::List {
        root: "errors",
        item: "error",
        records: vec![vec![("code", Node::Int(i64::from(e.status()))), ("description", e.description().into())]],
    }
}

// ---- HTTP ------------------------------------------------------------------------------------

fn respond(format: Format, status: StatusCode, answer: &Answer) -> Response {
    (status, [(CONTENT_TYPE, format.content_type())], render::render(format, answer)).into_response()
}

fn fail(format: Format, e: Open311Error) -> Response {
    if e.status() >= 500 {
        tracing::error!(error = %e, code = e.code(), "open311 request failed");
    }
    respond(format, StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &error_answer(&e))
}

fn query_params(uri: &Uri) -> R<Params> {
    Query::<Vec<(String, String)>>::try_from_uri(uri).map(|q| Params::new(q.0)).map_err(|e| Open311Error::BadForm(e.body_text()))
}

async fn list_services(state: AppState, uri: Uri) -> R<Answer> {
    let p = query_params(&uri)?;
    check_jurisdiction(&state, &p)?;
    let key = authorize(&state, &p, false).await?;
    audit_read(&state, key, "GET services".into()).await?;
    Ok(services_answer())
}

async fn definition(state: AppState, uri: Uri, code: String) -> R<Answer> {
    let p = query_params(&uri)?;
    check_jurisdiction(&state, &p)?;
    let key = authorize(&state, &p, false).await?;
    let answer = definition_answer(&code)?;
    audit_read(&state, key, format!("GET services/{code}")).await?;
    Ok(answer)
}

async fn list_requests(state: AppState, uri: Uri) -> R<Answer> {
    let p = query_params(&uri)?;
    check_jurisdiction(&state, &p)?;
    let key = authorize(&state, &p, false).await?;
    let q = params::request_query(&p, now_ms())?;
    let records = find_requests(&state, q).await?;
    audit_read(&state, key, format!("GET requests?{}", uri.query().unwrap_or(""))).await?;
    Ok(requests_answer(records))
}

async fn one_request(state: AppState, uri: Uri, id: String) -> R<Answer> {
    let p = query_params(&uri)?;
    check_jurisdiction(&state, &p)?;
    let key = authorize(&state, &p, false).await?;
    let issue: IssueId = id.parse().map_err(|_| Open311Error::UnknownRequest(id.clone()))?;
    let records = find_requests(&state, RequestQuery::Ids(vec![issue])).await?;
    if records.is_empty() {
        return Err(Open311Error::UnknownRequest(id));
    }
    audit_read(&state, key, format!("GET requests/{id}")).await?;
    Ok(requests_answer(records))
}

async fn post_request(state: AppState, req: Request) -> R<Answer> {
    let in_query = Query::<Vec<(String, String)>>::try_from_uri(req.uri()).map_err(|e| Open311Error::BadForm(e.body_text()))?.0;
    let form = axum::extract::Form::<Vec<(String, String)>>::from_request(req, &())
        .await
        .map_err(|e| Open311Error::BadForm(format!("{} (send application/x-www-form-urlencoded)", e.body_text())))?;
    let p = Params::new(form.0.into_iter().chain(in_query));
    check_jurisdiction(&state, &p)?;
    let key = authorize(&state, &p, true).await?.ok_or(Open311Error::MissingApiKey)?;
    let new = params::new_request(&p)?;
    let (id, due_ms) = file_request(&state, key, new).await?;
    let notice = format!("已受理，将于 {} 前与您联系", w3c::format(due_ms));
    Ok(requests_answer(vec![vec![
        ("service_request_id", id.to_string().into()),
        ("service_notice", notice.into()),
        ("account_id", Node::Null),
    ]]))
}

fn finish(format: Format, ok: StatusCode, r: R<Answer>) -> Response {
    match r {
        Ok(a) => respond(format, ok, &a),
        Err(e) => fail(format, e),
    }
}

fn formats(route: impl Fn(Format) -> MethodRouter<AppState>) -> [(Format, MethodRouter<AppState>); 2] {
    [(Format::Json, route(Format::Json)), (Format::Xml, route(Format::Xml))]
}

fn ext(f: Format) -> &'static str {
    match f {
        Format::Json => "json",
        Format::Xml => "xml",
    }
}

fn not_allowed(f: Format) -> Response {
    let e = Open311Error::NoSuchResource("this method is not served here".into());
    respond(
        f,
        StatusCode::METHOD_NOT_ALLOWED,
        &Answer::List {
            root: "errors",
            item: "error",
            records: vec![vec![("code", Node::Int(405)), ("description", format!("method_not_allowed: {e}").into())]],
        },
    )
}

/// `name.ext` from a path segment, or the 404 for an unknown format.
fn split_file(file: &str) -> R<(String, Format)> {
    Format::split(file).map(|(n, f)| (n.to_owned(), f)).ok_or_else(|| Open311Error::UnknownFormat(file.to_owned()))
}

/// The `/open311/v2` routes. Merged into the app after its JSON-error layers, so XML errors
/// stay XML.
pub fn router() -> Router<AppState> {
    let mut r = Router::new();
    for (f, mr) in formats(|f| {
        get(move |State(s): State<AppState>, uri: Uri| async move { finish(f, StatusCode::OK, list_services(s, uri).await) })
            .fallback(move || async move { not_allowed(f) })
    }) {
        r = r.route(&format!("/open311/v2/services.{}", ext(f)), mr);
    }
    for (f, mr) in formats(|f| {
        get(move |State(s): State<AppState>, uri: Uri| async move { finish(f, StatusCode::OK, list_requests(s, uri).await) })
            .post(move |State(s): State<AppState>, req: Request| async move { finish(f, StatusCode::CREATED, post_request(s, req).await) })
            .fallback(move || async move { not_allowed(f) })
    }) {
        r = r.route(&format!("/open311/v2/requests.{}", ext(f)), mr);
    }
    r.route(
        "/open311/v2/services/{file}",
        get(|State(s): State<AppState>, uri: Uri, Path(file): Path<String>| async move {
            match split_file(&file) {
                Ok((code, f)) => finish(f, StatusCode::OK, definition(s, uri, code).await),
                Err(e) => fail(Format::Json, e),
            }
        })
        .fallback(|| async { not_allowed(Format::Json) }),
    )
    .route(
        "/open311/v2/requests/{file}",
        get(|State(s): State<AppState>, uri: Uri, Path(file): Path<String>| async move {
            match split_file(&file) {
                Ok((id, f)) => finish(f, StatusCode::OK, one_request(s, uri, id).await),
                Err(e) => fail(Format::Json, e),
            }
        })
        .fallback(|| async { not_allowed(Format::Json) }),
    )
    .route(
        "/open311/v2/{*rest}",
        any(|uri: Uri| async move {
            let f = uri.path().rsplit_once('.').and_then(|(_, e)| Format::from_extension(e)).unwrap_or(Format::Json);
            fail(f, Open311Error::NoSuchResource(uri.path().to_owned()))
        }),
    )
    .layer(tower_http::trace::TraceLayer::new_for_http())
}
