//! Open311 GeoReport v2's wire under `/open311/v2`: routes, and JSON or XML answers built once
//! as a [`render::Node`] tree. The use cases are [`crate::app::open311`]'s; POST answers with
//! `service_request_id` at once (or a `token` when the dispatcher must place it; `GET tokens`
//! is not served). `GET requests` pages with `page_size` and `page_after`.

pub mod doc;
pub mod render;
pub mod xml;

use crate::app::open311::error::Open311Error;
use crate::app::open311::params::{self, Params, RequestQuery};
use crate::app::open311::Filed;
use crate::app::open311::{keys, services, w3c, ServiceRequest};
use crate::app::AppState;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, MethodRouter};
use axum::Router;
use render::{Answer, Format, Node, Record};

type R<T> = Result<T, Open311Error>;

/// One service request as a record of the spec's fields.
fn request_record(r: &ServiceRequest) -> Record {
    let (lat, lon) = match r.point {
        Some((lat, lon)) => (Node::Number(lat), Node::Number(lon)),
        None => (Node::Null, Node::Null),
    };
    vec![
        ("service_request_id", r.public_id.clone().into()),
        ("status", if r.closed { "closed" } else { "open" }.into()),
        ("status_notes", r.status_notes.clone().into()),
        ("service_name", r.service.name().into()),
        ("service_code", r.service.code().into()),
        ("description", r.description.clone().into()),
        ("agency_responsible", r.agency_responsible.clone().into()),
        ("service_notice", Node::Null),
        ("requested_datetime", r.requested_ms.map(w3c::format).into()),
        ("updated_datetime", r.updated_ms.map(w3c::format).into()),
        ("expected_datetime", r.expected_ms.map(w3c::format).into()),
        ("address", r.address.clone().into()),
        ("address_id", r.address_id.clone().into()),
        ("zipcode", Node::Null),
        ("lat", lat),
        ("long", lon),
        ("media_url", r.media_url.clone().into()),
    ]
}

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
    state.open311_jurisdiction(&p)?;
    let key = state.open311_key(&p, false).await?;
    state.open311_audit_read(key, "GET services".into()).await?;
    Ok(services_answer())
}

async fn definition(state: AppState, uri: Uri, code: String) -> R<Answer> {
    let p = query_params(&uri)?;
    state.open311_jurisdiction(&p)?;
    let key = state.open311_key(&p, false).await?;
    let answer = definition_answer(&code)?;
    state.open311_audit_read(key, format!("GET services/{code}")).await?;
    Ok(answer)
}

async fn list_requests(state: AppState, uri: Uri) -> R<Answer> {
    let p = query_params(&uri)?;
    state.open311_jurisdiction(&p)?;
    let key = state.open311_key(&p, false).await?;
    let q = params::request_query(&p, state.now_ms())?;
    let records = state.open311_find(q).await?.iter().map(request_record).collect();
    state.open311_audit_read(key, format!("GET requests?{}", keys::redact_api_key(uri.query().unwrap_or("")))).await?;
    Ok(requests_answer(records))
}

async fn one_request(state: AppState, uri: Uri, id: String) -> R<Answer> {
    let p = query_params(&uri)?;
    state.open311_jurisdiction(&p)?;
    let key = state.open311_key(&p, false).await?;
    if !crate::model::is_public_id(&id) {
        return Err(Open311Error::UnknownRequest(id));
    }
    let records: Vec<Record> = state.open311_find(RequestQuery::Ids(vec![id.clone()])).await?.iter().map(request_record).collect();
    if records.is_empty() {
        return Err(Open311Error::UnknownRequest(id));
    }
    state.open311_audit_read(key, format!("GET requests/{id}")).await?;
    Ok(requests_answer(records))
}

async fn post_request(state: AppState, req: Request) -> R<Answer> {
    let in_query = Query::<Vec<(String, String)>>::try_from_uri(req.uri()).map_err(|e| Open311Error::BadForm(e.body_text()))?.0;
    let form = axum::extract::Form::<Vec<(String, String)>>::from_request(req, &())
        .await
        .map_err(|e| Open311Error::BadForm(format!("{} (send application/x-www-form-urlencoded)", e.body_text())))?;
    let p = Params::new(form.0.into_iter().chain(in_query));
    state.open311_jurisdiction(&p)?;
    let key = state.open311_key(&p, true).await?.ok_or(Open311Error::MissingApiKey)?;
    let new = params::new_request(&p)?;
    Ok(match state.open311_file(key, new).await? {
        Filed::Issue { id, due_ms } => {
            let notice = format!("已受理，将于 {} 前与您联系", w3c::format(due_ms));
            requests_answer(vec![vec![
                ("service_request_id", crate::model::public_id(id).into()),
                ("service_notice", notice.into()),
                ("account_id", Node::Null),
            ]])
        }
        // GeoReport v2 lets a request be answered with a token when it is not filed at once.
        Filed::Queued { token, reason_zh, due_ms } => {
            let notice = format!("已受理，地址待派单员确认（{reason_zh}），将于 {} 前与您联系", w3c::format(due_ms));
            requests_answer(vec![vec![("token", token.into()), ("service_notice", notice.into()), ("account_id", Node::Null)]])
        }
    })
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
    .layer(super::trace_layer())
}
