//! The OpenAPI document, generated from the code: the `/api/v1` handlers carry their
//! `#[utoipa::path]`, the wire types their `ToSchema` (gridwalk-proto and gridwalk-domain, under
//! their `openapi` feature), and Open311's routes are added by [`super::open311::doc`]. The
//! checked-in `crates/gridwalk-server/openapi.json` is this document; a test fails when it is
//! stale (`GRIDWALK_BLESS=1 cargo test -p gridwalk-server --test server openapi` rewrites it).

use super::open311::doc::Open311Paths;
use super::{access, blobs, console, dashboard, foresight, records, sync};
use gridwalk_proto::ErrorBody;
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gridwalk district server",
        version = "1",
        description = "Sync, enrolment, hotline intake and photo upload for Gridwalk tablets. Every error is {code, message}; \
                       every response carries x-gridwalk-server-time (ms since epoch). Request bodies may come with \
                       Content-Encoding zstd or gzip (body limits apply to the decoded bytes); any other coding is \
                       refused with 415 unsupported_encoding before the body is read. Answers are compressed (zstd or \
                       gzip) only for a client that sends Accept-Encoding, and every answer carries Accept-Encoding: \
                       zstd, gzip to say what the server reads. Wire types are defined in the gridwalk-proto crate."
    ),
    paths(
        super::healthz,
        super::openapi_document,
        sync::login,
        access::own_password,
        access::disable,
        access::enable,
        access::reset_password,
        access::role,
        sync::push,
        sync::pull,
        sync::wait,
        sync::notify_count,
        sync::registry,
        records::issues,
        records::issue,
        records::issue_notices,
        records::visits,
        records::hotline,
        records::hotline_callback,
        records::dispatch_queue,
        records::place_order,
        blobs::blob_status,
        blobs::blob_put,
        dashboard::alerts,
        dashboard::rates,
        records::pledges,
        console::login,
        console::session,
        console::logout,
        console::overview,
        console::tickets,
        console::ticket,
        console::action,
        console::reveal_phone,
        console::places,
        console::nearest,
        console::department,
        console::map,
        console::coverage,
        console::devices,
        console::revoke_device,
        console::workers,
        console::add_worker,
        console::api_keys,
        console::add_api_key,
        console::revoke_api_key,
        console::import_registry,
        console::departments,
        console::audit,
        console::photo,
        console::export,
        foresight::coverage,
        foresight::hotspots,
        foresight::trends,
        foresight::warnings,
        foresight::task,
    ),
    components(schemas(ErrorBody), responses(ErrorResponse)),
    modifiers(&BearerAuth, &Open311Paths, &NoModuleTags)
)]
struct ApiDoc;

/// The whole document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as served and checked in: pretty JSON, built once.
pub fn openapi_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| openapi().to_pretty_json().expect("the OpenAPI document serializes"));
    &JSON
}

/// Every documented operation as (method, path template), in the document's order.
pub fn routes() -> Vec<(&'static str, String)> {
    openapi()
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("OPTIONS", &item.options),
                ("HEAD", &item.head),
                ("PATCH", &item.patch),
                ("TRACE", &item.trace),
            ]
            .into_iter()
            .filter(|(_, op)| op.is_some())
            .map(|(method, _)| (method, path.clone()))
        })
        .collect()
}

/// The `{code, message}` error of every `/api/v1` route: `#/components/responses/Error`.
pub struct ErrorResponse;

impl<'r> utoipa::ToResponse<'r> for ErrorResponse {
    fn response() -> (&'r str, RefOr<Response>) {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build();
        ("Error", ResponseBuilder::new().description("error").content("application/json", content).build().into())
    }
}

/// The `bearer` scheme the `/api/v1` operations name in their `security`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("per-device token from /api/v1/auth/login"));
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme.build()));
        let notify = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("the notify-only token from /api/v1/auth/login: answers /api/v1/notify/count and nothing else"));
        components.add_security_scheme("notify", SecurityScheme::Http(notify.build()));
        let session = utoipa::openapi::security::ApiKeyValue::with_description(
            "gw_session",
            "the console's session cookie from /api/v1/console/login (HttpOnly, SameSite=Strict); state-changing calls also send X-CSRF-Token",
        );
        components.add_security_scheme("session", SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(session)));
    }
}

/// utoipa tags each operation with its handler's module (`sync`, `records`, `super`, …), an
/// accident of the code's layout rather than part of the API: dropped.
struct NoModuleTags;

impl Modify for NoModuleTags {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten() {
                op.tags = None;
            }
        }
    }
}
