//! Open311 GeoReport v2 conformance, over the real router with `oneshot`: every endpoint in JSON
//! and XML, every filter, every error with its status and shape, UTF-8 round trips of Chinese
//! text, the 90-day rule, keys and their audit. Every assertion message names the rule.

use super::kit::{self, fast_config, Site};
use axum::http::{Method, StatusCode};
use axum::Router;
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::app::admin;
use gridwalk_server::app::open311::w3c;
use serde_json::Value;

const YARD: &str = "惠新西街33号院";

struct Fixture {
    site: Site,
    app: Router,
    key: String,
    key_id: String,
    yard: Courtyard,
    subdistrict_name: String,
}

fn fixture() -> Fixture {
    let site = Site::demo(&[("root", Role::Admin, vec![ScopeUnit::District]), ("desk", Role::Supervisor, vec![ScopeUnit::District])]);
    let k = admin::add_api_key(site.dir.path(), "12345 平台").unwrap();
    let reg = registry_gen::demo_registry();
    let yard = reg.courtyards.iter().find(|c| c.name == YARD).unwrap().clone();
    let sub = reg.communities.iter().find(|c| c.id == yard.community).unwrap().subdistrict;
    let subdistrict_name = reg.subdistricts.iter().find(|s| s.id == sub).unwrap().name.clone();
    let (_, app) = site.serve(fast_config());
    Fixture { site, app, key: k.key, key_id: k.id, yard, subdistrict_name }
}

struct Reply {
    status: StatusCode,
    content_type: String,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    /// The text of every `<tag>` element, unescaped, read with quick-xml (which also checks that
    /// the answer is well-formed: every end tag matches its start tag).
    fn xml_all(&self, tag: &str) -> Vec<String> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(&self.text);
        let mut out = Vec::new();
        // The depth of the `<tag>` being read, and its text so far.
        let mut inside: Option<(usize, String)> = None;
        let mut depth = 0;
        loop {
            let event = reader.read_event().unwrap_or_else(|e| panic!("not well-formed XML ({e}): {}", self.text));
            match event {
                Event::Start(e) => {
                    depth += 1;
                    if inside.is_none() && e.name().as_ref() == tag {
                        inside = Some((depth, String::new()));
                    }
                }
                Event::Empty(e) if inside.is_none() && e.name().as_ref() == tag => out.push(String::new()),
                Event::End(_) => {
                    if inside.as_ref().is_some_and(|(d, _)| *d == depth) {
                        out.extend(inside.take().map(|(_, text)| text));
                    }
                    depth -= 1;
                }
                Event::Text(t) => {
                    if let Some((_, text)) = inside.as_mut() {
                        text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some((_, text)) = inside.as_mut() {
                        match r.resolve_char_ref().unwrap_or_else(|e| panic!("bad character reference ({e}): {}", self.text)) {
                            Some(c) => text.push(c),
                            None => text.push_str(
                                quick_xml::escape::resolve_predefined_entity(&r)
                                    .unwrap_or_else(|| panic!("unknown entity &{};: {}", &*r, self.text)),
                            ),
                        }
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        out
    }
    fn xml(&self, tag: &str) -> String {
        self.xml_all(tag).into_iter().next().unwrap_or_else(|| panic!("no <{tag}> in {}", self.text))
    }
}

/// Percent-encode every byte but unreserved ASCII (so Chinese goes over the wire as UTF-8).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn send(app: &Router, method: Method, uri: &str, form: Option<&[(&str, &str)]>) -> Reply {
    let (content_type, body) = match form {
        Some(pairs) => (
            Some("application/x-www-form-urlencoded"),
            pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&").into_bytes(),
        ),
        None => (None, Vec::new()),
    };
    let r = kit::send(app, method, uri, None, content_type, body).await;
    let content_type = r.headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    Reply { status: r.status, content_type, text: String::from_utf8(r.bytes).expect("every answer is UTF-8") }
}

async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Method::GET, uri, None).await
}

async fn post(app: &Router, ext: &str, form: &[(&str, &str)]) -> Reply {
    send(app, Method::POST, &format!("/open311/v2/requests.{ext}"), Some(form)).await
}

fn assert_shape(r: &Reply, ext: &str) {
    if ext == "json" {
        assert_eq!(r.content_type, "application/json; charset=utf-8", "JSON answers say JSON and UTF-8");
    } else {
        assert_eq!(r.content_type, "text/xml; charset=utf-8", "XML answers say text/xml and UTF-8");
        assert!(r.text.starts_with(r#"<?xml version="1.0" encoding="utf-8"?>"#), "XML starts with the UTF-8 declaration");
    }
}

/// An error answer: the HTTP status, and the spec's array of one {code = status, description}
/// whose description starts with the stable code.
fn assert_error(r: &Reply, ext: &str, status: u16, code: &str, rule: &str) {
    assert_eq!(r.status.as_u16(), status, "{rule}: HTTP {status} ({})", r.text);
    assert_shape(r, ext);
    let (c, d) = if ext == "json" {
        let v = r.json();
        let arr = v.as_array().unwrap_or_else(|| panic!("{rule}: errors are an array: {v}"));
        assert_eq!(arr.len(), 1, "{rule}: one error");
        assert_eq!(arr[0].as_object().unwrap().len(), 2, "{rule}: an error is exactly {{code, description}}");
        (arr[0]["code"].as_i64().unwrap().to_string(), arr[0]["description"].as_str().unwrap().to_owned())
    } else {
        assert!(r.text.contains("<errors><error>"), "{rule}: XML errors are <errors><error>…");
        (r.xml("code"), r.xml("description"))
    };
    assert_eq!(c, status.to_string(), "{rule}: the error's code is the HTTP status");
    assert!(d.starts_with(&format!("{code}:")), "{rule}: the description starts with `{code}:`, got {d:?}");
}

fn near(y: &Courtyard) -> (String, String) {
    ((y.point.lat + 0.000005).to_string(), (y.point.lon - 0.000005).to_string())
}

/// File a request next to 惠新西街33号院; returns its id.
async fn file(f: &Fixture, service: &str, description: &str, extra: &[(&str, &str)]) -> String {
    let (lat, long) = near(&f.yard);
    let mut form: Vec<(&str, &str)> =
        vec![("api_key", &f.key), ("service_code", service), ("lat", &lat), ("long", &long), ("description", description)];
    form.extend_from_slice(extra);
    let r = post(&f.app, "json", &form).await;
    assert_eq!(r.status, StatusCode::CREATED, "a good request is created: {}", r.text);
    r.json()[0]["service_request_id"].as_str().expect("service_request_id is a string").to_owned()
}

/// The internal id of the issue a public id names (read from the database).
fn internal_id(f: &Fixture, public_id: &str) -> IssueId {
    let id: String = f.site.text("SELECT id FROM issues WHERE public_id = ?1", &[public_id]);
    id.parse().unwrap()
}

fn audit_count(f: &Fixture, actor: &str, action: &str) -> i64 {
    f.site.texts("SELECT detail FROM audit WHERE actor = ?1 AND action = ?2", &[actor, action]).len() as i64
}

#[tokio::test]
async fn services_list_every_category_in_both_formats() {
    let f = fixture();
    let r = get(&f.app, "/open311/v2/services.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_shape(&r, "json");
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), Category::ALL.len(), "every category is a service");
    for (s, c) in list.iter().zip(Category::ALL) {
        assert_eq!(s["service_code"], c.code(), "service_code is the category code, a string");
        assert_eq!(s["service_name"], c.label_zh(), "service_name is the zh-CN label");
        assert_eq!(s["description"], c.label_en(), "description is the English label");
        assert_eq!(s["type"], "realtime", "services are realtime");
        assert!(s["keywords"].as_str().is_some_and(|k| !k.is_empty()) && s["group"].as_str().is_some_and(|g| !g.is_empty()));
        let takes = matches!(
            c,
            Category::StreetLight | Category::Leak | Category::Sanitation | Category::Lift | Category::Noise | Category::Parking
        );
        assert_eq!(s["metadata"], takes, "{}: metadata is true only for services with attributes", c.code());
    }
    let x = get(&f.app, "/open311/v2/services.xml").await;
    assert_eq!(x.status, StatusCode::OK);
    assert_shape(&x, "xml");
    let codes: Vec<String> = Category::ALL.iter().map(|c| c.code().to_owned()).collect();
    assert_eq!(x.xml_all("service_code"), codes, "XML lists the same services");
    assert_eq!(x.xml_all("service_name")[2], "跑冒滴漏", "Chinese comes through XML as UTF-8");
    assert_eq!(x.xml_all("metadata")[2], "true");
    assert!(x.text.contains("<services><service>"), "the spec's element names");
    let r = get(&f.app, &format!("/open311/v2/services.json?jurisdiction_id=chaoyang.bj&api_key={}", f.key)).await;
    assert_eq!(r.status, StatusCode::OK, "our jurisdiction and a good key are fine on a read");
    assert_eq!(audit_count(&f, &format!("open311:{}", f.key_id), "open311_read"), 1, "a read with a key is audited with the key");
    get(&f.app, "/open311/v2/services.json").await;
    assert_eq!(audit_count(&f, &format!("open311:{}", f.key_id), "open311_read"), 1, "a read without a key has no key to audit");
}

#[tokio::test]
async fn service_definitions_for_services_with_attributes_only() {
    let f = fixture();
    let r = get(&f.app, "/open311/v2/services/leak.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_shape(&r, "json");
    let d = r.json();
    assert_eq!(d["service_code"], "leak");
    let a = &d["attributes"][0];
    assert_eq!(
        (a["code"].as_str(), a["datatype"].as_str(), a["required"].as_bool()),
        (Some("leak_kind"), Some("singlevaluelist"), Some(true)),
        "leak asks for the kind of leak"
    );
    assert_eq!(a["variable"], true);
    assert_eq!(a["order"], 1);
    let keys: Vec<&str> = a["values"].as_array().unwrap().iter().map(|v| v["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["water", "gas", "heating"], "leak_kind lists water, gas, heating");
    let x = get(&f.app, "/open311/v2/services/street_light.xml").await;
    assert_eq!(x.status, StatusCode::OK);
    assert_shape(&x, "xml");
    assert!(x.text.contains("<service_definition><service_code>street_light</service_code><attributes><attribute>"));
    assert_eq!((x.xml("code"), x.xml("datatype"), x.xml("required")), ("pole_number".into(), "string".into(), "false".into()));
    for ext in ["json", "xml"] {
        let r = get(&f.app, &format!("/open311/v2/services/other.{ext}")).await;
        assert_error(&r, ext, 404, "no_definition", "a service without attributes has no definition");
        let r = get(&f.app, &format!("/open311/v2/services/nope.{ext}")).await;
        assert_error(&r, ext, 404, "unknown_service", "an unknown service is 404");
        let r = get(&f.app, &format!("/open311/v2/services/leak.{ext}?jurisdiction_id=haidian.bj")).await;
        assert_error(&r, ext, 404, "unknown_jurisdiction", "another jurisdiction is 404");
        let r = get(&f.app, &format!("/open311/v2/services.{ext}?jurisdiction_id=haidian.bj")).await;
        assert_error(&r, ext, 404, "unknown_jurisdiction", "another jurisdiction is 404 on the list too");
    }
    assert_error(&get(&f.app, "/open311/v2/services/leak.html").await, "json", 404, "unknown_format", "only .json and .xml");
}

#[tokio::test]
async fn a_posted_request_is_followed_to_the_end_with_chinese_intact() {
    let f = fixture();
    let description = "路灯不亮，已经三天了 & 楼道很黑 <请尽快>\n二楼也不亮";
    let before = kit::now_ms();
    let (lat, long) = near(&f.yard);
    let r = post(
        &f.app,
        "xml",
        &[
            ("api_key", &f.key),
            ("jurisdiction_id", "chaoyang.bj"),
            ("service_code", "street_light"),
            ("lat", &lat),
            ("long", &long),
            ("description", description),
            ("media_url", "https://example.org/p/1.jpg?a=1&b=2"),
            ("attribute[pole_number]", "A-12"),
            ("first_name", "芳"),
            ("last_name", "王"),
            ("phone", "13812345678"),
            ("email", "wang@example.org"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "filed: {}", r.text);
    assert_shape(&r, "xml");
    let id = r.xml("service_request_id");
    assert!(id.parse::<IssueId>().is_err(), "service_request_id is a public id, not the internal issue id");
    let issue = internal_id(&f, &id);
    assert!(r.xml("service_notice").contains("+08:00"), "the notice names the response deadline");
    assert_eq!(audit_count(&f, &format!("open311:{}", f.key_id), "hotline_intake"), 1, "the filing is audited with its key");

    let j = get(&f.app, &format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(j.status, StatusCode::OK);
    assert_shape(&j, "json");
    let v = j.json();
    let req = &v.as_array().unwrap()[0];
    assert_eq!(req["service_request_id"], id.as_str(), "one ticket to the end: the same id");
    assert_eq!(req["description"], description, "Chinese (and markup) comes back identical in JSON");
    assert_eq!(req["media_url"], "https://example.org/p/1.jpg?a=1&b=2");
    assert_eq!(req["status"], "open");
    assert_eq!((req["service_code"].as_str(), req["service_name"].as_str()), (Some("street_light"), Some("路灯不亮")));
    assert_eq!(req["address"], YARD, "dispatched to the courtyard nearest the point");
    assert_eq!(req["address_id"], f.yard.code.as_str());
    assert_eq!(req["agency_responsible"], f.subdistrict_name.as_str(), "the courtyard's subdistrict answers for it");
    assert_eq!(req["lat"].as_f64(), Some(f.yard.point.lat), "lat/long are the courtyard's point, not the caller's fix");
    let requested = w3c::parse(req["requested_datetime"].as_str().unwrap(), "t").unwrap();
    let expected = w3c::parse(req["expected_datetime"].as_str().unwrap(), "t").unwrap();
    assert!(requested / 1000 >= before / 1000, "the clock starts at filing");
    assert_eq!(expected, requested + 3_600_000, "expected_datetime is the 1-hour response deadline");
    for k in ["requested_datetime", "updated_datetime", "expected_datetime"] {
        assert!(req[k].as_str().unwrap().ends_with("+08:00"), "{k} is W3C with a timezone");
    }

    let x = get(&f.app, &format!("/open311/v2/requests/{id}.xml")).await;
    assert_eq!(x.status, StatusCode::OK);
    assert_shape(&x, "xml");
    assert_eq!(x.xml("description"), description, "Chinese comes back identical in XML");
    assert_eq!(x.xml("address"), YARD);
    assert_eq!(x.xml("status"), "open");
    assert_eq!(x.xml("media_url"), "https://example.org/p/1.jpg?a=1&b=2");

    // The report the tablets receive: hotline source, the contact, extras in the description's trailer.
    let json: String = f.site.text("SELECT json FROM events WHERE entity_id = ?1 ORDER BY server_seq LIMIT 1", &[&issue.to_string()]);
    let event: Event = serde_json::from_str(&json).unwrap();
    let EventBody::IssueReported(report) = event.body else { panic!("an Open311 request is stored as a report: {json}") };
    assert_eq!(report.source, IssueSource::Hotline, "an Open311 request is a 12345 hotline issue");
    assert_eq!(report.contact, Some(ResidentContact { name: Some("王芳".into()), phone: "13812345678".into() }));
    assert!(report.description.ends_with("attribute[pole_number]: A-12"), "attributes ride in the description: {:?}", report.description);
}

#[tokio::test]
async fn requests_are_placed_by_address_string_or_address_id() {
    let f = fixture();
    for (field, value) in [("address_string", YARD.to_owned()), ("address_id", f.yard.code.clone())] {
        let r = post(&f.app, "json", &[("api_key", &f.key), ("service_code", "noise"), (field, &value), ("description", "夜里施工")]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{field} places a request: {}", r.text);
        let id = r.json()[0]["service_request_id"].as_str().unwrap().to_owned();
        let got = get(&f.app, &format!("/open311/v2/requests/{id}.json")).await.json();
        assert_eq!(got[0]["address"], YARD, "{field} matches the courtyard by name or code");
        assert_eq!(got[0]["lat"].as_f64(), Some(f.yard.point.lat), "without a point the courtyard's point is given");
        assert_eq!(got[0]["media_url"], Value::Null);
    }
    let r = post(
        &f.app,
        "json",
        &[("api_key", &f.key), ("service_code", "other"), ("address_string", "北京市海淀区中关村大街1号"), ("description", "井盖缺失")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "an address no courtyard matches is still taken in: {}", r.text);
    let answer = r.json();
    assert!(
        answer[0]["token"].as_str().is_some_and(|t| t.starts_with("open311-")),
        "it is answered with a token, as GeoReport v2 allows: {answer}"
    );
    assert_eq!(answer[0]["service_request_id"], Value::Null, "no issue is filed at a courtyard for it");
    assert!(answer[0]["service_notice"].as_str().unwrap().contains("派单员"), "the notice says it waits for the dispatcher");
    let r = post(&f.app, "json", &[("api_key", &f.key), ("service_code", "other"), ("address_id", YARD)]).await;
    assert_eq!(r.status, StatusCode::CREATED, "an empty description is allowed (the spec makes it optional)");
    let id = r.json()[0]["service_request_id"].as_str().unwrap().to_owned();
    assert_eq!(get(&f.app, &format!("/open311/v2/requests/{id}.json")).await.json()[0]["description"], "");
}

#[tokio::test]
async fn every_error_has_its_status_and_shape() {
    let f = fixture();
    let (lat, long) = near(&f.yard);
    let revoked = admin::add_api_key(f.site.dir.path(), "old").unwrap();
    admin::revoke_api_key(f.site.dir.path(), &revoked.id).unwrap();
    let form = |pairs: &[(&str, &str)]| -> Vec<(String, String)> { pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() };
    let k = f.key.as_str();
    let wrong = "0".repeat(64);
    let long_text = "长".repeat(2001);
    let (la, lo) = (lat.as_str(), long.as_str());
    let sl = ("service_code", "street_light");
    type Case<'a> = (Vec<(String, String)>, u16, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (form(&[sl, ("lat", la), ("long", lo)]), 403, "missing_api_key", "POST needs an api_key"),
        (form(&[sl, ("lat", la), ("long", lo), ("api_key", &wrong)]), 403, "invalid_api_key", "a wrong api_key is 403"),
        (form(&[sl, ("lat", la), ("long", lo), ("api_key", &revoked.key)]), 403, "invalid_api_key", "a revoked api_key is 403"),
        (form(&[sl, ("api_key", k)]), 400, "no_location", "some location is required"),
        (form(&[sl, ("api_key", k), ("lat", la)]), 400, "lat_long_pair", "lat without long"),
        (form(&[sl, ("api_key", k), ("long", lo)]), 400, "lat_long_pair", "long without lat"),
        (form(&[sl, ("api_key", k), ("lat", "95"), ("long", lo)]), 400, "lat_long_range", "lat out of range"),
        (form(&[sl, ("api_key", k), ("lat", la), ("long", "200")]), 400, "lat_long_range", "long out of range"),
        (form(&[("service_code", "teleport"), ("api_key", k), ("lat", la), ("long", lo)]), 404, "unknown_service", "unknown service_code"),
        (form(&[("api_key", k), ("lat", la), ("long", lo)]), 400, "missing_field", "service_code is required"),
        (
            form(&[sl, ("api_key", k), ("lat", la), ("long", lo), ("jurisdiction_id", "haidian.bj")]),
            404,
            "unknown_jurisdiction",
            "jurisdiction",
        ),
        (
            form(&[sl, ("api_key", k), ("lat", la), ("long", lo), ("attribute[colour]", "red")]),
            400,
            "unknown_attribute",
            "undefined attribute",
        ),
        (form(&[sl, ("api_key", k), ("lat", la), ("long", lo), ("media_url", "not a url")]), 400, "bad_media_url", "media_url is a URL"),
        (form(&[("service_code", "leak"), ("api_key", k), ("lat", la), ("long", lo)]), 400, "missing_attribute", "leak_kind is required"),
        (
            form(&[("service_code", "leak"), ("api_key", k), ("lat", la), ("long", lo), ("attribute[leak_kind]", "oil")]),
            400,
            "bad_attribute",
            "leak_kind is one of its list",
        ),
        (form(&[sl, ("api_key", k), ("lat", la), ("long", lo), ("description", &long_text)]), 400, "text_too_long", "2,000 characters"),
    ];
    for ext in ["json", "xml"] {
        for (pairs, status, code, rule) in &cases {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            assert_error(&post(&f.app, ext, &pairs).await, ext, *status, code, rule);
        }
        let r = send(&f.app, Method::POST, &format!("/open311/v2/requests.{ext}"), None).await;
        assert_error(&r, ext, 400, "bad_form", "the body must be form-encoded");
        let id = IssueId::from_parts(1, [1; 10]);
        let gets: Vec<(String, u16, &str, &str)> = vec![
            (format!("/open311/v2/requests/{id}.{ext}"), 404, "unknown_request", "an unknown request is 404"),
            (format!("/open311/v2/requests/not-an-id.{ext}"), 404, "unknown_request", "a non-id is an unknown request"),
            (format!("/open311/v2/nothing.{ext}"), 404, "not_found", "an unknown resource is 404"),
            (format!("/open311/v2/requests.{ext}?jurisdiction_id=haidian.bj"), 404, "unknown_jurisdiction", "jurisdiction on reads"),
            (format!("/open311/v2/requests.{ext}?api_key=wrong"), 403, "invalid_api_key", "a wrong key on a read is 403"),
            (format!("/open311/v2/requests.{ext}?status=pending"), 400, "bad_status", "status is open|closed"),
            (format!("/open311/v2/requests.{ext}?service_code=teleport"), 404, "unknown_service", "filter by an unknown service"),
            (format!("/open311/v2/requests.{ext}?start_date=2025-01-01"), 400, "bad_datetime", "dates are W3C with a zone"),
        ];
        for (uri, status, code, rule) in gets {
            assert_error(&get(&f.app, &uri).await, ext, status, code, rule);
        }
        let r = send(&f.app, Method::DELETE, &format!("/open311/v2/requests.{ext}"), None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "an unserved method is 405");
        assert_shape(&r, ext);
    }
    assert!(audit_count(&f, "open311:?", "open311_key_refused") >= 4, "refused keys are audited");
}

#[tokio::test]
async fn the_ninety_day_rule() {
    let f = fixture();
    let id = file(&f, "street_light", "路灯", &[]).await;
    let now = kit::now_ms();
    let day = 86_400_000;
    let q = |ext: &str, s: i64, e: i64| {
        format!("/open311/v2/requests.{ext}?start_date={}&end_date={}", enc(&w3c::format(s)), enc(&w3c::format(e)))
    };
    assert_eq!(get(&f.app, &q("json", now - 90 * day + 1000, now + 1000)).await.status, StatusCode::OK, "exactly 90 days is fine");
    for ext in ["json", "xml"] {
        assert_error(&get(&f.app, &q(ext, now - 91 * day, now)).await, ext, 400, "range_too_long", "a range over 90 days is a 400");
        assert_error(&get(&f.app, &q(ext, now, now - day)).await, ext, 400, "backwards_range", "end before start is a 400");
    }
    let default = get(&f.app, "/open311/v2/requests.json").await.json();
    assert_eq!(default.as_array().unwrap().len(), 1, "with no dates the last 90 days are listed");
    assert_eq!(default[0]["service_request_id"], id.as_str());
    let old = get(&f.app, &format!("/open311/v2/requests.json?end_date={}", enc(&w3c::format(now - day)))).await.json();
    assert!(old.as_array().unwrap().is_empty(), "an end date alone covers the 90 days before it, not after");
    let start_only = get(&f.app, &format!("/open311/v2/requests.json?start_date={}", enc(&w3c::format(now - day)))).await.json();
    assert_eq!(start_only.as_array().unwrap().len(), 1, "a start date alone covers the 90 days after it");
}

fn event(who: &LoginResponse, n: u64, issue: IssueId, body: EventBody) -> Event {
    kit::event(who, kit::now_ms() + 10_000 + n as i64, n, Entity::Issue(issue), body)
}

async fn call_json(app: &Router, uri: &str, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let r = kit::send(app, Method::POST, uri, token, Some("application/json"), body).await;
    (r.status, serde_json::from_slice(&r.bytes).unwrap_or(Value::Null))
}

async fn ids(app: &Router, uri: &str) -> Vec<String> {
    let r = get(app, uri).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
    let mut v: Vec<String> = r.json().as_array().unwrap().iter().map(|x| x["service_request_id"].as_str().unwrap().to_owned()).collect();
    v.sort();
    v
}

fn sorted(v: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_filter_and_the_state_of_the_ticket() {
    let f = fixture();
    let light = file(&f, "street_light", "路灯不亮", &[]).await;
    let noise = file(&f, "noise", "夜间施工噪声", &[]).await;
    let leak = file(&f, "leak", "燃气味", &[("attribute[leak_kind]", "gas")]).await;

    // A worker resolves the light, and whistles the leak to a department; the desk (not the
    // resolver: nobody grades their own work) closes the light.
    let login = serde_json::to_vec(&LoginRequest {
        username: "root".into(),
        password: kit::PASSWORD.into(),
        device_name: "t".into(),
        device_id: None,
    })
    .unwrap();
    let (status, who) = call_json(&f.app, "/api/v1/auth/login", None, login).await;
    assert_eq!(status, StatusCode::OK);
    let who: LoginResponse = serde_json::from_value(who).unwrap();
    let (li, le): (IssueId, IssueId) = (internal_id(&f, &light), internal_id(&f, &leak));
    let whistle =
        EventBody::Whistled { level: WhistleLevel::Subdistrict, target: "区燃气集团".into(), note: "请燃气公司处置".into() };
    let events = vec![
        LoggedEvent { seq: 1, event: event(&who, 1, li, EventBody::IssueResolved { note: "已更换灯泡".into(), photo_sha256: None }) },
        LoggedEvent { seq: 2, event: event(&who, 2, le, whistle) },
    ];
    let body = serde_json::to_vec(&PushRequest { device_id: who.device_id, events }).unwrap();
    let (status, pushed) = call_json(&f.app, "/api/v1/sync/push", Some(&who.token), body).await;
    assert_eq!(status, StatusCode::OK, "{pushed}");
    let desk = kit::login(&f.app, "desk").await;
    let close =
        vec![LoggedEvent { seq: 1, event: event(&desk, 3, li, EventBody::IssueClosed { note: "居民确认，已办结".into() }) }];
    let body = serde_json::to_vec(&PushRequest { device_id: desk.device_id, events: close }).unwrap();
    let (status, pushed) = call_json(&f.app, "/api/v1/sync/push", Some(&desk.token), body).await;
    assert_eq!(
        (status, pushed["results"][0]["outcome"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "the desk closes the resolved light: {pushed}"
    );

    let app = &f.app;
    assert_eq!(ids(app, "/open311/v2/requests.json").await, sorted(&[&light, &noise, &leak]), "no filter: all three");
    assert_eq!(ids(app, "/open311/v2/requests.json?status=closed").await, vec![light.clone()], "closed iff the fold says Closed");
    assert_eq!(ids(app, "/open311/v2/requests.json?status=open").await, sorted(&[&noise, &leak]), "everything not closed is open");
    assert_eq!(ids(app, "/open311/v2/requests.json?status=open,closed").await.len(), 3, "status is a comma list");
    assert_eq!(ids(app, "/open311/v2/requests.json?service_code=noise,leak").await, sorted(&[&noise, &leak]), "service_code is a list");
    assert!(ids(app, "/open311/v2/requests.json?service_code=noise&status=closed").await.is_empty(), "filters combine");
    let past = "start_date=2020-01-01T00:00:00%2B08:00&end_date=2020-02-01T00:00:00%2B08:00";
    assert!(ids(app, &format!("/open311/v2/requests.json?{past}")).await.is_empty(), "a window in the past finds nothing");
    let now = kit::now_ms();
    let window = format!("start_date={}&end_date={}", enc(&w3c::format(now - 3_600_000)), enc(&w3c::format(now + 60_000)));
    assert_eq!(ids(app, &format!("/open311/v2/requests.json?{window}")).await.len(), 3, "a window around now finds them");
    let over = format!("/open311/v2/requests.json?service_request_id={light},{leak}&{past}&status=open&service_code=noise");
    assert_eq!(ids(app, &over).await, sorted(&[&light, &leak]), "service_request_id overrides every other filter");

    let closed = get(app, &format!("/open311/v2/requests/{light}.json")).await.json();
    assert_eq!(closed[0]["status"], "closed");
    assert_eq!(closed[0]["status_notes"], Value::Null, "a closing note is internal: status_notes shows only public progress");
    let updated = w3c::parse(closed[0]["updated_datetime"].as_str().unwrap(), "t").unwrap();
    assert!(updated > w3c::parse(closed[0]["requested_datetime"].as_str().unwrap(), "t").unwrap(), "updated is the latest event's time");
    let whistled = get(app, &format!("/open311/v2/requests/{leak}.xml")).await;
    assert_eq!(whistled.xml("agency_responsible"), "区燃气集团", "a whistled request answers to the department it was whistled to");
    assert_eq!(whistled.xml("status_notes"), "", "a whistle's note is internal");
    assert_eq!(whistled.xml("description"), "燃气味", "the attribute trailer is not part of the description");
    let list = get(app, "/open311/v2/requests.xml?status=closed").await;
    assert_shape(&list, "xml");
    assert_eq!(list.xml_all("request").len(), 1);
    assert_eq!(list.xml("service_request_id"), light);
}
