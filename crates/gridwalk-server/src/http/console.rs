//! The district console: its pages (embedded, served at `/`) and its API under
//! `/api/v1/console/…`. One-line handlers into [`crate::app::console`]; the session cookie,
//! CSRF and TLS detection are the extractors' ([`super::extract`]).

use super::extract::{Auth, Client, JsonBody, OverTls, QueryOf, Segment, SessionCookie};
use super::openapi::ErrorResponse;
use crate::app::console::manage::AuditFilter;
use crate::app::console::overview::{CoverageQuery, MapQuery, OverviewQuery};
use crate::app::console::tickets::TicketFilter;
use crate::app::console::SESSION_COOKIE;
use crate::app::AppState;
use crate::error::Error;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cookie::{Cookie, SameSite};
use gridwalk_domain::{DeviceId, IssueId};
use gridwalk_proto::console::*;
use gridwalk_proto::WorkerInfo;
use serde::Deserialize;
use utoipa::IntoParams;

/// The console's built pages (see build.rs).
#[derive(rust_embed::RustEmbed)]
#[folder = "$OUT_DIR/console"]
struct Pages;

/// The content security policy of the console's pages: only this origin's scripts, no
/// frames. Element Plus sets inline styles, hence `'unsafe-inline'` for styles alone.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
                   frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// A page or asset of the console; an unknown path outside the API is the app itself (its
/// router shows the page).
pub async fn page(req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    let (file, name) = match Pages::get(path) {
        Some(f) if !path.is_empty() => (f, path.to_owned()),
        _ => match Pages::get("index.html") {
            Some(f) => (f, "index.html".to_owned()),
            None => return Error::NotFound("the console".into()).into_response(),
        },
    };
    let mime = file.metadata.mimetype().to_owned();
    // Hashed asset names change with their content: cached for a year; the page itself never.
    let cache = if name.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut resp = Response::new(Body::from(file.data.into_owned()));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_str(&mime).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    resp
}

fn session_cookie(token: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let c = Cookie::build((SESSION_COOKIE, token.to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age_s))
        .build();
    HeaderValue::from_str(&c.to_string()).unwrap_or(HeaderValue::from_static(""))
}

#[utoipa::path(
    post,
    path = "/api/v1/console/login",
    summary = "Log in to the console with username and password: the same throttle, lockout and audit as a tablet \
               login. Sets the HttpOnly, SameSite=Strict session cookie gw_session (Secure over TLS) and returns the \
               session with its CSRF token, which every state-changing call sends as X-CSRF-Token.",
    request_body = ConsoleLogin,
    responses(
        (status = 200, description = "ConsoleSession", body = ConsoleSession),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 429, response = ErrorResponse),
    ),
)]
pub async fn login(
    State(s): State<AppState>,
    Client(addr): Client,
    OverTls(tls): OverTls,
    JsonBody(req): JsonBody<ConsoleLogin>,
) -> Result<Response, Error> {
    let (token, session) = s.console_login(addr, req).await?;
    let max_age = s.config().console_times_ms().0 / 1000;
    Ok(([(SET_COOKIE, session_cookie(&token, max_age, tls))], Json(session)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/session",
    summary = "The session of the cookie: who, which pages, the CSRF token; 401 when it expired or was ended.",
    security(("session" = [])),
    responses((status = 200, description = "ConsoleSession", body = ConsoleSession), (status = 401, response = ErrorResponse)),
)]
pub async fn session(State(s): State<AppState>, SessionCookie(token): SessionCookie) -> Result<Response, Error> {
    Ok(Json(s.console_session(&token).await?.1).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/console/logout",
    summary = "End the session: its device is revoked and the cookie cleared.",
    security(("session" = [])),
    responses((status = 204, description = "ended"), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn logout(State(s): State<AppState>, Auth(who): Auth, OverTls(tls): OverTls) -> Result<Response, Error> {
    s.console_logout(&who).await?;
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, session_cookie("", 0, tls))]).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/overview",
    summary = "总览: today's received, responded within 1 h, overdue and resolved; the three rates this week, last week \
               and over 12 ISO weeks; this week by subdistrict, or by community of one subdistrict (unit); definitions.",
    security(("session" = []), ("bearer" = [])),
    params(OverviewQuery),
    responses((status = 200, description = "Overview", body = Overview), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn overview(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<OverviewQuery>) -> Result<Response, Error> {
    Ok(Json(s.console_overview(&who, q).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/tickets",
    summary = "工单: tickets in scope, newest receipt first, filtered; keyset paging (next_after → after); total on the first page.",
    security(("session" = []), ("bearer" = [])),
    params(TicketFilter),
    responses((status = 200, description = "TicketPage", body = TicketPage), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 404, response = ErrorResponse)),
)]
pub async fn tickets(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<TicketFilter>) -> Result<Response, Error> {
    Ok(Json(s.console_tickets(&who, q).await?).into_response())
}

fn issue_id(seg: &str) -> Result<IssueId, Error> {
    seg.parse().map_err(|_| Error::InvalidId(format!("{seg:?} is not an issue id")))
}

#[utoipa::path(
    get,
    path = "/api/v1/console/tickets/{id}",
    summary = "The ticket page: the fold with its timeline, the phone masked, photos, the point, and the actions the caller may take now.",
    security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "issue id")),
    responses((status = 200, description = "Ticket", body = Ticket), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 404, response = ErrorResponse)),
)]
pub async fn ticket(State(s): State<AppState>, Auth(who): Auth, Segment(id): Segment) -> Result<Response, Error> {
    Ok(Json(s.console_ticket(&who, issue_id(&id)?).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/console/tickets/{id}/actions",
    summary = "Record an action on a ticket (dispatch/transfer, urge, review, callback, whistle, report in, progress, \
               duplicate, cancel …) as an event of the caller's console device, settled by the same rules as a tablet's \
               push. request_id makes a resend a duplicate; a refusal stores nothing.",
    security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "issue id")),
    request_body = TicketAction,
    responses((status = 200, description = "TicketActionResult", body = TicketActionResult), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 404, response = ErrorResponse), (status = 409, response = ErrorResponse), (status = 422, response = ErrorResponse), (status = 415, response = ErrorResponse)),
)]
pub async fn action(
    State(s): State<AppState>,
    Auth(who): Auth,
    Segment(id): Segment,
    JsonBody(a): JsonBody<TicketAction>,
) -> Result<Response, Error> {
    Ok(Json(s.console_action(&who, issue_id(&id)?, a).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/console/tickets/{id}/reveal-phone",
    summary = "The resident's full phone number (supervisor, admin); every look is audited.",
    security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "issue id")),
    responses((status = 200, description = "RevealedPhone", body = RevealedPhone), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 404, response = ErrorResponse)),
)]
pub async fn reveal_phone(State(s): State<AppState>, Auth(who): Auth, Segment(id): Segment) -> Result<Response, Error> {
    Ok(Json(s.console_reveal_phone(&who, issue_id(&id)?).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/places",
    summary = "The registry in scope for pickers: subdistricts, communities, courtyards with their points.",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "Places", body = Places), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn places(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.console_places(&who).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PointQuery {
    /// latitude (WGS-84)
    pub lat: f64,
    /// longitude (WGS-84)
    pub lon: f64,
}

#[utoipa::path(
    get,
    path = "/api/v1/console/nearest",
    summary = "The courtyard in scope nearest a point (the intake form shows it before saving).",
    security(("session" = []), ("bearer" = [])),
    params(PointQuery),
    responses((status = 200, description = "NearestCourtyard", body = NearestCourtyard), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 404, response = ErrorResponse)),
)]
pub async fn nearest(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<PointQuery>) -> Result<Response, Error> {
    Ok(Json(s.console_nearest(&who, q.lat, q.lon).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/department",
    summary = "部门: the tickets whistled to the caller's departments, with that whistle.",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "DepartmentInbox", body = DepartmentInbox), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn department(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.console_department(&who).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/map",
    summary = "地图: every courtyard in scope with its open and overdue issues and its hotspot level.",
    security(("session" = []), ("bearer" = [])),
    params(MapQuery),
    responses((status = 200, description = "MapView", body = MapView), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn map(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<MapQuery>) -> Result<Response, Error> {
    Ok(Json(s.console_map(&who, q).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/coverage",
    summary = "走访: visits per worker and community per ISO week against the courtyards they answer for; courtyards not visited in stale_days.",
    security(("session" = []), ("bearer" = [])),
    params(CoverageQuery),
    responses((status = 200, description = "Coverage", body = Coverage), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn coverage(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<CoverageQuery>) -> Result<Response, Error> {
    Ok(Json(s.console_coverage(&who, q).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/devices",
    summary = "设备: the devices of the workers in the caller's area with what each last reported with its pull.",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "DeviceList", body = DeviceList), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn devices(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.console_devices(&who).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/console/devices/{id}/revoke",
    summary = "Revoke a device of a worker in the caller's area (audited).",
    security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "device id")),
    responses((status = 200, description = "DeviceRevoked", body = DeviceRevoked), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 404, response = ErrorResponse)),
)]
pub async fn revoke_device(State(s): State<AppState>, Auth(who): Auth, Segment(id): Segment) -> Result<Response, Error> {
    let id: DeviceId = id.parse().map_err(|_| Error::InvalidId(format!("{id:?} is not a device id")))?;
    Ok(Json(s.console_revoke_device(&who, id).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/workers",
    summary = "管理: every worker with role, scope and whether disabled (admin).",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "WorkerRows", body = WorkerRows), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn workers(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.console_workers(&who).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/console/workers",
    summary = "Add a worker (admin): password rules, every scope code known (unknown_scope_unit), username free (username_taken).",
    security(("session" = []), ("bearer" = [])),
    request_body = NewWorkerRequest,
    responses((status = 200, description = "WorkerInfo", body = WorkerInfo), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 409, response = ErrorResponse), (status = 415, response = ErrorResponse)),
)]
pub async fn add_worker(State(s): State<AppState>, Auth(who): Auth, JsonBody(req): JsonBody<NewWorkerRequest>) -> Result<Response, Error> {
    Ok(Json(s.console_add_worker(&who, req).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/api-keys",
    summary = "Open311 API keys (admin); keys themselves are stored only hashed.",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "ApiKeyRows", body = ApiKeyRows), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn api_keys(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.console_api_keys(&who).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/console/api-keys",
    summary = "Make an Open311 API key (admin); the key is shown once.",
    security(("session" = []), ("bearer" = [])),
    request_body = NewApiKeyRequest,
    responses((status = 200, description = "NewApiKeyResponse", body = NewApiKeyResponse), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 415, response = ErrorResponse)),
)]
pub async fn add_api_key(State(s): State<AppState>, Auth(who): Auth, JsonBody(req): JsonBody<NewApiKeyRequest>) -> Result<Response, Error> {
    Ok(Json(s.console_add_api_key(&who, req).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/console/api-keys/{id}/revoke",
    summary = "Revoke an Open311 API key (admin).",
    security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "key id")),
    responses((status = 204, description = "revoked"), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 404, response = ErrorResponse)),
)]
pub async fn revoke_api_key(State(s): State<AppState>, Auth(who): Auth, Segment(id): Segment) -> Result<Response, Error> {
    s.console_revoke_api_key(&who, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/console/registry/import",
    summary = "Replace the registry from a CSV (admin; body text/csv). Every bad line is listed in the refusal and nothing changes.",
    security(("session" = []), ("bearer" = [])),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "RegistryImported", body = RegistryImported), (status = 400, description = "ImportRefused", body = ImportRefused), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 413, response = ErrorResponse), (status = 415, response = ErrorResponse)),
)]
pub async fn import_registry(State(s): State<AppState>, Auth(who): Auth, req: Request) -> Result<Response, Error> {
    let (parts, body) = req.into_parts();
    let is_csv = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/csv"));
    if !is_csv {
        return Err(Error::UnsupportedMediaType { expected: "text/csv" });
    }
    let limit = 16 * 1024 * 1024;
    let bytes = super::extract::read_body(body, &parts.headers, limit, || Error::BodyTooLarge { limit }).await?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| Error::InvalidUtf8)?;
    Ok(Json(s.console_import_registry(&who, text).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/departments",
    summary = "Departments and the routing of categories to them, from the district's file (admin; read-only).",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "Departments", body = Departments), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn departments(State(s): State<AppState>, Auth(who): Auth) -> Result<Response, Error> {
    Ok(Json(s.console_departments(&who).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/audit",
    summary = "The audit log, newest first, filtered by actor, action and time; keyset paging (next_before → before). Admin.",
    security(("session" = []), ("bearer" = [])),
    params(AuditFilter),
    responses((status = 200, description = "AuditPage", body = AuditPage), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse)),
)]
pub async fn audit(State(s): State<AppState>, Auth(who): Auth, QueryOf(q): QueryOf<AuditFilter>) -> Result<Response, Error> {
    Ok(Json(s.console_audit(&who, q).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PhotoQuery {
    /// the issue that names the photo (the caller must be able to see it)
    pub issue: String,
    /// a thumbnail (320 px JPEG, made once and cached) instead of the photo
    #[serde(default)]
    pub thumb: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/console/photos/{sha256}",
    summary = "A photo's bytes (its own content type) or its thumbnail, for whoever may see the issue that names it; anyone else gets 403/404.",
    security(("session" = []), ("bearer" = [])),
    params(("sha256" = String, Path, description = "the photo's sha256"), PhotoQuery),
    responses((status = 200, description = "the image", content_type = "image/jpeg"), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 404, response = ErrorResponse), (status = 415, response = ErrorResponse)),
)]
pub async fn photo(
    State(s): State<AppState>,
    Auth(who): Auth,
    Segment(sha): Segment,
    QueryOf(q): QueryOf<PhotoQuery>,
) -> Result<Response, Error> {
    let (bytes, kind) = s.console_photo(&who, sha, issue_id(&q.issue)?, q.thumb).await?;
    let private = HeaderValue::from_static("private, max-age=3600");
    Ok(([(CONTENT_TYPE, HeaderValue::from_static(kind)), (CACHE_CONTROL, private)], bytes).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/console/export/{file}",
    summary = "Export a list as CSV (UTF-8 with BOM) or .xlsx: file is tickets, rates, devices, coverage or audit with .csv or .xlsx, \
               and the query is that list's filters (shown in the file's header rows). Streamed; X-Total-Rows gives the row count.",
    security(("session" = []), ("bearer" = [])),
    params(("file" = String, Path, description = "e.g. tickets.csv, rates.xlsx"), TicketFilter),
    responses((status = 200, description = "the file", content_type = "text/csv"), (status = 400, response = ErrorResponse), (status = 401, response = ErrorResponse), (status = 403, response = ErrorResponse), (status = 404, response = ErrorResponse)),
)]
pub async fn export(State(s): State<AppState>, Auth(who): Auth, Segment(file): Segment, req: Request) -> Result<Response, Error> {
    use crate::app::console::export::{ExportList, ExportParams};
    use crate::app::export::Format;
    fn query<T: serde::de::DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, Error> {
        axum::extract::Query::<T>::try_from_uri(uri).map(|q| q.0).map_err(|e| Error::InvalidQuery(e.body_text()))
    }
    let unknown = || Error::NotFound(format!("no export {file:?}: use tickets, rates, devices, coverage or audit, .csv or .xlsx"));
    let (name, ext) = file.rsplit_once('.').ok_or_else(unknown)?;
    let (list, format) = (ExportList::from_name(name).ok_or_else(unknown)?, Format::from_ext(ext).ok_or_else(unknown)?);
    let uri = req.uri();
    let params = match list {
        ExportList::Tickets => ExportParams::Tickets(query(uri)?),
        ExportList::Rates => ExportParams::Rates(query(uri)?),
        ExportList::Devices => ExportParams::Devices,
        ExportList::Coverage => ExportParams::Coverage(query(uri)?),
        ExportList::Audit => ExportParams::Audit(query(uri)?),
    };
    let stream = s.console_export(&who, list, format, params).await?;
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(stream.body));
    let disposition = format!("attachment; filename=\"{}\"", stream.filename);
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    h.insert("content-disposition", HeaderValue::from_str(&disposition).map_err(|e| Error::Internal(e.to_string()))?);
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(n) = stream.rows {
        h.insert("x-total-rows", HeaderValue::from(n));
        h.insert("access-control-expose-headers", HeaderValue::from_static("x-total-rows, content-disposition"));
    }
    Ok(resp)
}
