//! Open311's part of the OpenAPI document. The routes are closures over a [`Format`] and two of
//! them split `{name}.{ext}` themselves, so there is no handler per documented path to annotate:
//! each operation is described once here and added in both formats, `.json` and `.xml`.

use super::ext;
use super::render::Format;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, ContentBuilder, OpenApi, Ref, Required, ResponseBuilder};
use utoipa::Modify;

const JURISDICTION: (&str, &str) =
    ("jurisdiction_id", "must be ours (Config::open311_jurisdiction_id, default chaoyang.bj) or absent; another gives 404");
const API_KEY: (&str, &str) = ("api_key", "optional on reads; a wrong or revoked key gives 403; reads with a key are audited");

/// The fields of `POST requests` besides `attribute[CODE]`; the first two are required.
const POST_FIELDS: &[&str] = &[
    "api_key",
    "service_code",
    "jurisdiction_id",
    "lat",
    "long",
    "address_string",
    "address_id",
    "description",
    "media_url",
    "email",
    "first_name",
    "last_name",
    "phone",
    "device_id",
    "account_id",
];

/// What a 200 (or 201) answers in JSON; XML is always a document.
#[derive(Clone, Copy)]
enum Body {
    Array,
    Object,
}

/// One operation, in both formats.
struct Op {
    method: HttpMethod,
    /// The path without its `.json` / `.xml`.
    path: &'static str,
    operation_id: &'static str,
    /// Ends with ", JSON." or ", XML." per format.
    summary: &'static str,
    path_param: Option<(&'static str, Option<&'static str>)>,
    /// Query parameters (all optional), besides `jurisdiction_id` and `api_key`; `None` for the
    /// form-posting operation, which takes everything in its body.
    query: Option<&'static [(&'static str, &'static str)]>,
    status: u16,
    ok: &'static str,
    body: Body,
}

const OPS: &[Op] = &[
    Op {
        method: HttpMethod::Get,
        path: "/open311/v2/services",
        operation_id: "open311_services",
        summary: "Open311 GeoReport v2: every issue category as a service (zh-CN service_name, English description)",
        path_param: None,
        query: Some(&[]),
        status: 200,
        ok: "services",
        body: Body::Array,
    },
    Op {
        method: HttpMethod::Get,
        path: "/open311/v2/services/{service_code}",
        operation_id: "open311_service_definition",
        summary: "Open311 service definition (attributes) of a service that takes attributes; 404 otherwise",
        path_param: Some(("service_code", None)),
        query: Some(&[]),
        status: 200,
        ok: "service_definition",
        body: Body::Object,
    },
    Op {
        method: HttpMethod::Get,
        path: "/open311/v2/requests",
        operation_id: "open311_requests",
        summary: "Open311 requests (issues), newest first, at most 1000",
        path_param: None,
        query: Some(&[
            ("service_request_id", "comma list of issue ids; overrides every other filter"),
            ("service_code", "comma list of service codes"),
            ("start_date", "W3C datetime with timezone"),
            (
                "end_date",
                "W3C datetime with timezone; without dates the window is the last 90 days, and a range may span at most 90 days (400)",
            ),
            ("status", "open, closed, or both comma-separated"),
        ]),
        status: 200,
        ok: "service_requests",
        body: Body::Array,
    },
    Op {
        method: HttpMethod::Post,
        path: "/open311/v2/requests",
        operation_id: "open311_post_request",
        summary: "File an Open311 request: it becomes a 12345-hotline issue at the nearest (or named) courtyard, its 1-hour \
                  clock starting; answers service_request_id at once (no tokens)",
        path_param: None,
        query: None,
        status: 201,
        ok: "service_requests with service_request_id and service_notice",
        body: Body::Array,
    },
    Op {
        method: HttpMethod::Get,
        path: "/open311/v2/requests/{id}",
        operation_id: "open311_request",
        summary: "One Open311 request (the issue, one ticket to the end)",
        path_param: Some(("id", Some("service_request_id = issue id"))),
        query: Some(&[]),
        status: 200,
        ok: "service_requests with one request",
        body: Body::Array,
    },
];

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn parameter(name: &str, place: ParameterIn, description: Option<&str>) -> ParameterBuilder {
    let required = if matches!(place, ParameterIn::Path) { Required::True } else { Required::False };
    ParameterBuilder::new().name(name).parameter_in(place).required(required).description(description).schema(Some(string()))
}

fn form_body() -> utoipa::openapi::request_body::RequestBody {
    let mut form = ObjectBuilder::new().schema_type(Type::Object).required("api_key").required("service_code");
    for field in POST_FIELDS {
        form = form.property(*field, string());
    }
    let attributes = string().description(Some("attribute[CODE] (and attribute[CODE][] for multi-value lists)"));
    let form = form.additional_properties(Some(AdditionalProperties::from(attributes)));
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content("application/x-www-form-urlencoded", ContentBuilder::new().schema(Some(form)).build())
        .build()
}

fn xml_document() -> Content {
    ContentBuilder::new().schema(Some(string().description(Some("XML with a UTF-8 declaration")))).build()
}

fn json_body(body: Body) -> Content {
    let object = ObjectBuilder::new().schema_type(Type::Object);
    let schema: Schema = match body {
        Body::Array => ArrayBuilder::new().items(object).into(),
        Body::Object => object.into(),
    };
    ContentBuilder::new().schema(Some(schema)).build()
}

fn operation(op: &Op, format: Format) -> utoipa::openapi::path::Operation {
    let (name, content) = match format {
        Format::Json => ("JSON", ("application/json", json_body(op.body))),
        Format::Xml => ("XML", ("text/xml", xml_document())),
    };
    let mut b = OperationBuilder::new()
        .operation_id(Some(format!("{}_{}", op.operation_id, ext(format))))
        .summary(Some(format!("{}, {name}.", op.summary)));
    if let Some((param, description)) = op.path_param {
        b = b.parameter(parameter(param, ParameterIn::Path, description));
    }
    match op.query {
        Some(query) => {
            for (param, description) in query.iter().chain([&JURISDICTION, &API_KEY]) {
                b = b.parameter(parameter(param, ParameterIn::Query, Some(description)));
            }
        }
        None => b = b.request_body(Some(form_body())),
    }
    b = b.response(op.status.to_string(), ResponseBuilder::new().description(op.ok).content(content.0, content.1).build());
    for status in ["400", "403", "404"] {
        b = b.response(status, Ref::from_response_name("Open311Error"));
    }
    b.build()
}

/// Adds the `/open311/v2` operations in both formats, and their `Open311Error` response.
pub struct Open311Paths;

impl Modify for Open311Paths {
    fn modify(&self, doc: &mut OpenApi) {
        let mut paths: Vec<&str> = OPS.iter().map(|op| op.path).collect();
        paths.dedup();
        for path in paths {
            for format in [Format::Json, Format::Xml] {
                for op in OPS.iter().filter(|op| op.path == path) {
                    doc.paths.add_path_operation(format!("{path}.{}", ext(format)), vec![op.method.clone()], operation(op, format));
                }
            }
        }
        let error = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("code", ObjectBuilder::new().schema_type(Type::Integer))
            .property("description", string());
        let json = ContentBuilder::new().schema(Some(ArrayBuilder::new().items(error))).build();
        let response = ResponseBuilder::new()
            .description(
                "Open311 errors: an array of {code (the HTTP status), description ('stable_code: message')}; XML \
                 <errors><error>… in .xml paths.",
            )
            .content("application/json", json)
            .content("text/xml", ContentBuilder::new().schema(Some(string())).build())
            .build();
        doc.components.get_or_insert_with(Default::default).responses.insert("Open311Error".into(), response.into());
    }
}
