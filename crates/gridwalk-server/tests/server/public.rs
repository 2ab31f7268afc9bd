//! What the public sees through Open311, and the edges of the public intake: the anonymous
//! listing and single view (JSON and XML) carry no phone or ID number, no exact fix, no internal
//! note and no internal id; paging is disjoint and complete; bad page parameters, non-http
//! media URLs and reused order numbers are refused; an api_key sent in a URL reaches neither
//! the database nor the log; a point far from the district is not filed at a courtyard.

use super::kit::{self, fast_config, Site};
use axum::http::{Method, StatusCode};
use axum::Router;
use gridwalk_domain::address::haversine_m;
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::app::admin;
use serde_json::Value;
use std::sync::{Arc, Mutex};

const YARD: &str = "惠新西街33号院";

struct Fixture {
    site: Site,
    app: Router,
    key: String,
    yard: Courtyard,
    /// A courtyard of another subdistrict than [`Fixture::yard`]'s.
    other_yard: Courtyard,
}

fn fixture() -> Fixture {
    let reg = registry_gen::demo_registry();
    let yard = reg.courtyards.iter().find(|c| c.name == YARD).unwrap().clone();
    let sub_of = |c: &Courtyard| reg.communities.iter().find(|m| m.id == c.community).unwrap().subdistrict;
    let other_yard = reg.courtyards.iter().find(|c| sub_of(c) != sub_of(&yard)).unwrap().clone();
    let code = |c: &Courtyard| reg.subdistricts.iter().find(|s| s.id == sub_of(c)).unwrap().code.clone();
    let site = Site::demo(&[
        ("root", Role::Admin, vec![ScopeUnit::District]),
        ("desk_a", Role::Supervisor, vec![ScopeUnit::Subdistrict(code(&yard))]),
        ("desk_b", Role::Supervisor, vec![ScopeUnit::Subdistrict(code(&other_yard))]),
    ]);
    let k = admin::add_api_key(site.dir.path(), "12345 平台").unwrap();
    let (_, app) = site.serve(fast_config());
    Fixture { site, app, key: k.key, yard, other_yard }
}

struct Reply {
    status: StatusCode,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn get(app: &Router, uri: &str) -> Reply {
    let r = kit::send(app, Method::GET, uri, None, None, Vec::new()).await;
    Reply { status: r.status, text: String::from_utf8(r.bytes).unwrap() }
}

async fn post_form(app: &Router, uri: &str, pairs: &[(&str, &str)]) -> Reply {
    let body = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
    let r = kit::send(app, Method::POST, uri, None, Some("application/x-www-form-urlencoded"), body.into_bytes()).await;
    Reply { status: r.status, text: String::from_utf8(r.bytes).unwrap() }
}

async fn post_json(app: &Router, uri: &str, token: &str, body: &impl serde::Serialize) -> (StatusCode, Value) {
    let r = kit::send(app, Method::POST, uri, Some(token), Some("application/json"), serde_json::to_vec(body).unwrap()).await;
    (r.status, serde_json::from_slice(&r.bytes).unwrap_or(Value::Null))
}

/// File an Open311 request at `(lat, long)`; returns its public id.
async fn file_at(f: &Fixture, lat: f64, lon: f64, description: &str, extra: &[(&str, &str)]) -> String {
    let (lat, lon) = (lat.to_string(), lon.to_string());
    let mut form =
        vec![("api_key", f.key.as_str()), ("service_code", "noise"), ("lat", &lat), ("long", &lon), ("description", description)];
    form.extend_from_slice(extra);
    let r = post_form(&f.app, "/open311/v2/requests.json", &form).await;
    assert_eq!(r.status, StatusCode::CREATED, "a good request is filed: {}", r.text);
    r.json()[0]["service_request_id"].as_str().expect("filed at a courtyard, with a service_request_id").to_owned()
}

fn internal_id(f: &Fixture, public_id: &str) -> IssueId {
    let id: String = f.site.text("SELECT id FROM issues WHERE public_id = ?1", &[public_id]);
    id.parse().unwrap()
}

/// Push `events` from `who`'s device (a fresh login: its log starts at 1), stamped from `base`.
async fn push(f: &Fixture, who: &LoginResponse, base: i64, events: Vec<(IssueId, EventBody)>) {
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, (issue, body))| LoggedEvent {
            seq: i as u64 + 1,
            event: kit::event(who, base + i as i64, i as u64 + 1, Entity::Issue(issue), body),
        })
        .collect();
    let (status, answer) = post_json(&f.app, "/api/v1/sync/push", &who.token, &PushRequest { device_id: who.device_id, events }).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    for r in answer["results"].as_array().unwrap() {
        assert_eq!(r["outcome"], "accepted", "the set-up events are taken: {answer}");
    }
}

#[tokio::test]
async fn the_public_sees_no_phone_no_id_no_fix_no_internal_note_and_no_internal_id() {
    let f = fixture();
    // A fix 60 m off the courtyard, with more digits than any courtyard point.
    let (lat, lon) = (f.yard.point.lat + 0.000_543_21, f.yard.point.lon - 0.000_123_45);
    let description = "噪声扰民，请回电13812345678或010-65001234，身份证11010519491231002X";
    let id = file_at(&f, lat, lon, description, &[("phone", "13900001111"), ("first_name", "芳"), ("last_name", "王")]).await;
    let issue = internal_id(&f, &id);
    // A worker's own report with an exact fix and a resident's phone, then notes of both kinds.
    let root = kit::login(&f.app, "root").await;
    let walked = IssueId::from_parts(kit::now_ms() as u64, [7; 10]);
    let fix = Location { lat: f.yard.point.lat + 0.000_777_77, lon: f.yard.point.lon + 0.000_666_66, accuracy_m: 5.0 };
    let report = IssueReport {
        courtyard: f.yard.id,
        category: Category::Leak,
        source: IssueSource::Visit,
        description: "3号楼2单元漏水，住户电话 186 1234 5678".into(),
        contact: Some(ResidentContact { name: Some("李先生".into()), phone: "18600002222".into() }),
        location: Some(fix),
        received_at_ms: None,
        external_ref: None,
    };
    // Reported a minute ago (the listing ends at now), followed up after the Open311 filing.
    push(&f, &root, kit::now_ms() - 60_000, vec![(walked, EventBody::IssueReported(report))]).await;
    let root = kit::login(&f.app, "root").await;
    push(
        &f,
        &root,
        kit::now_ms() + 5_000,
        vec![
            (issue, EventBody::NoteAdded { text: "内部备注：住户说可打15100003333".into() }),
            (issue, EventBody::IssueResponded { note: "已致电居民 13800006666".into() }),
            (issue, EventBody::ProgressAdded { note: "已联系物业，维修电话 137-0000-4444，2026-12-01 上门".into(), public: true }),
            (issue, EventBody::ProgressAdded { note: "内部进展：业主不好沟通".into(), public: false }),
            (walked, EventBody::NoteAdded { text: "内部：另一位邻居 13500005555".into() }),
        ],
    )
    .await;
    let walked_public = gridwalk_server::model::public_id(walked);

    let secrets = [
        "13812345678",
        "65001234",
        "11010519491231002X",
        "13900001111",
        "王芳",
        "15100003333",
        "137-0000-4444",
        "1861234",
        "186 1234",
        "18600002222",
        "李先生",
        "13500005555",
        "13800006666",
        "已致电",
        "内部",
    ];
    let mut needles: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
    // The internal ids and every exact fix.
    needles.extend([issue.to_string(), walked.to_string(), lat.to_string(), lon.to_string(), fix.lat.to_string(), fix.lon.to_string()]);
    for uri in [
        "/open311/v2/requests.json".to_owned(),
        "/open311/v2/requests.xml".to_owned(),
        format!("/open311/v2/requests/{id}.json"),
        format!("/open311/v2/requests/{id}.xml"),
        format!("/open311/v2/requests/{walked_public}.json"),
        format!("/open311/v2/requests/{walked_public}.xml"),
        format!("/open311/v2/requests.json?service_request_id={id},{walked_public}&api_key={}", f.key),
    ] {
        let r = get(&f.app, &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
        for s in &needles {
            assert!(
                !r.text.contains(s),
                "{uri}: no phone, ID number, name, internal note, internal id or exact fix is public, found {s:?} in {}",
                r.text
            );
        }
        assert!(r.text.contains("［已隐去］"), "{uri}: hidden numbers are marked: {}", r.text);
    }
    let list = get(&f.app, "/open311/v2/requests.json").await.json();
    assert_eq!(list.as_array().unwrap().len(), 2, "both issues are listed");
    let ours = list.as_array().unwrap().iter().find(|r| r["service_request_id"] == id.as_str()).unwrap();
    assert_eq!(ours["description"], "噪声扰民，请回电［已隐去］或［已隐去］，身份证［已隐去］", "the description is scrubbed");
    assert_eq!(
        ours["status_notes"], "已联系物业，维修电话 ［已隐去］，2026-12-01 上门",
        "status_notes is the latest public progress note, scrubbed; dates survive"
    );
    let reg = registry_gen::demo_registry();
    let placed = reg.courtyards.iter().find(|c| ours["address_id"] == c.code.as_str()).expect("the courtyard is named by its code");
    assert_eq!(ours["address"], placed.name.as_str(), "the address is the courtyard's name");
    let (shown_lat, shown_lon) = (ours["lat"].as_f64().unwrap(), ours["long"].as_f64().unwrap());
    assert!(
        (shown_lat - placed.point.lat).abs() < 1e-9 && (shown_lon - placed.point.lon).abs() < 1e-9,
        "the location shown is the courtyard's registry point, never the fix: {ours}"
    );
    let walked_row = list.as_array().unwrap().iter().find(|r| r["service_request_id"] == walked_public.as_str()).unwrap();
    assert_eq!(walked_row["status_notes"], Value::Null, "an issue without public progress has no status_notes, whatever its notes");
    assert_eq!(walked_row["description"], "3号楼2单元漏水，住户电话 ［已隐去］", "building and unit numbers survive, the phone does not");
    let internal_lookup = get(&f.app, &format!("/open311/v2/requests/{issue}.json")).await;
    assert_eq!(internal_lookup.status, StatusCode::NOT_FOUND, "the internal issue id opens nothing on the public API");
}

#[tokio::test]
async fn pages_are_disjoint_cover_everything_and_bad_page_params_are_refused() {
    let f = fixture();
    let mut filed = Vec::new();
    for i in 0..7 {
        filed.push(file_at(&f, f.yard.point.lat, f.yard.point.lon, &format!("第{i}件"), &[]).await);
    }
    filed.sort();
    for ext in ["json", "xml"] {
        let mut seen: Vec<String> = Vec::new();
        let mut sizes = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let uri = match &after {
                None => format!("/open311/v2/requests.{ext}?page_size=3"),
                Some(a) => format!("/open311/v2/requests.{ext}?page_size=3&page_after={a}"),
            };
            let r = get(&f.app, &uri).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
            let page: Vec<String> = if ext == "json" {
                r.json().as_array().unwrap().iter().map(|x| x["service_request_id"].as_str().unwrap().to_owned()).collect()
            } else {
                r.text.split("<service_request_id>").skip(1).map(|s| s.split("</service_request_id>").next().unwrap().to_owned()).collect()
            };
            sizes.push(page.len());
            if page.is_empty() {
                break;
            }
            for id in &page {
                assert!(!seen.contains(id), "{ext}: pages are disjoint, {id} came twice");
            }
            after = page.last().cloned();
            seen.extend(page);
            assert!(sizes.len() < 10, "{ext}: paging ends");
        }
        assert_eq!(sizes, vec![3, 3, 1, 0], "{ext}: page_size bounds every page; the last page is short, then empty");
        seen.sort();
        assert_eq!(seen, filed, "{ext}: the pages together are every request");
        let r = get(&f.app, &format!("/open311/v2/requests.{ext}")).await;
        assert_eq!(r.text.matches("service_request_id").count() / if ext == "xml" { 2 } else { 1 }, 7, "the default page holds all 7");
    }
    let unknown = gridwalk_server::model::public_id(IssueId::from_parts(1, [9; 10]));
    for ext in ["json", "xml"] {
        for q in ["page_size=0", "page_size=201", "page_size=abc", "page_size=-1", "page_after=nope", &format!("page_after={unknown}")] {
            let r = get(&f.app, &format!("/open311/v2/requests.{ext}?{q}")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: bad page parameters are a 400: {}", r.text);
            assert!(r.text.contains("bad_page"), "{q}: the Open311 error names bad_page: {}", r.text);
            if ext == "xml" {
                assert!(r.text.contains("<errors><error><code>400</code>"), "{q}: XML errors are the spec's shape: {}", r.text);
            }
        }
        let r = get(&f.app, &format!("/open311/v2/requests.{ext}?start_date=0001-01-01T00:00:00Z")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "a date before 1970 is refused before any arithmetic: {}", r.text);
    }
}

#[tokio::test]
async fn only_http_media_urls_are_taken_or_shown() {
    let f = fixture();
    let (lat, lon) = (f.yard.point.lat.to_string(), f.yard.point.lon.to_string());
    for bad in ["javascript:alert(document.cookie)", "JAVASCRIPT:alert(1)", "data:text/html,<script>alert(1)</script>", "ftp://x.org/a.jpg"]
    {
        let form = [("api_key", f.key.as_str()), ("service_code", "noise"), ("lat", &lat), ("long", &lon), ("media_url", bad)];
        let r = post_form(&f.app, "/open311/v2/requests.json", &form).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: refused");
        assert!(r.text.contains("bad_media_url"), "{bad}: the error names bad_media_url: {}", r.text);
    }
    assert_eq!(f.site.count("SELECT count(*) FROM issues"), 0, "a refused request files nothing");
    // A tablet's report that imitates an Open311 request's trailer with a script URL.
    let root = kit::login(&f.app, "root").await;
    let planted = IssueId::from_parts(kit::now_ms() as u64, [3; 10]);
    let report = IssueReport {
        courtyard: f.yard.id,
        category: Category::Other,
        source: IssueSource::Visit,
        description: "看图\n\n[Open311]\nmedia_url: javascript:alert(1)".into(),
        contact: None,
        location: None,
        received_at_ms: None,
        external_ref: Some("open311-planted".into()),
    };
    push(&f, &root, kit::now_ms() - 60_000, vec![(planted, EventBody::IssueReported(report))]).await;
    let good = file_at(&f, f.yard.point.lat, f.yard.point.lon, "有图", &[("media_url", "https://example.org/p/1.jpg")]).await;
    let list = get(&f.app, "/open311/v2/requests.json").await;
    assert!(!list.text.to_lowercase().contains("javascript"), "a non-http media URL is never rendered: {}", list.text);
    let rows = list.json();
    let row = |id: &str| rows.as_array().unwrap().iter().find(|r| r["service_request_id"] == id).unwrap().clone();
    assert_eq!(row(&gridwalk_server::model::public_id(planted))["media_url"], Value::Null, "the planted URL shows as no media");
    assert_eq!(row(&good)["media_url"], "https://example.org/p/1.jpg", "an https URL is shown");
}

/// A log sink the test can read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_key_in_the_url_reaches_neither_the_database_nor_the_log() {
    let f = fixture();
    let log = Captured::default();
    let sink = log.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_ansi(false).with_writer(move || sink.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let key = f.key.clone();
    let (lat, lon) = (f.yard.point.lat.to_string(), f.yard.point.lon.to_string());
    let r = post_form(
        &f.app,
        &format!("/open311/v2/requests.json?api_key={key}"),
        &[("service_code", "noise"), ("lat", &lat), ("long", &lon), ("description", "夜间施工")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "a key in the query string files a request: {}", r.text);
    let r = get(&f.app, &format!("/open311/v2/requests.json?status=open&api_key={key}&page_size=5")).await;
    assert_eq!(r.status, StatusCode::OK, "a key in the query string reads: {}", r.text);
    let r = get(&f.app, &format!("/open311/v2/requests.xml?API%5FKEY={key}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    drop(_guard);

    let audit: Vec<String> = f.site.texts("SELECT actor || ' ' || action || ' ' || detail FROM audit", &[]).into_iter().flatten().collect();
    assert!(
        audit.iter().any(|a| a.contains("open311_read") && a.contains("api_key=[redacted]")),
        "the read is audited, key redacted: {audit:?}"
    );
    assert!(audit.iter().all(|a| !a.contains(&key)), "no audit line holds the key: {audit:?}");
    for entry in std::fs::read_dir(f.site.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "{}: the key is nowhere in the data directory", path.display());
        }
    }
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("uri=/open311/v2/requests.json?api_key=[redacted]"), "the trace logs the URI with the key redacted: {text}");
    assert!(text.contains("page_size=5"), "the rest of the query is logged: {text}");
    assert!(!text.contains(&key), "the key is not in the log");
}

fn order(order_no: &str, place: IntakePlace, description: &str) -> HotlineIntake {
    HotlineIntake {
        order_no: order_no.into(),
        place,
        category: "leak".into(),
        description: description.into(),
        received_at_ms: kit::now_ms(),
        contact: Some(ResidentContact { name: None, phone: "13900001111".into() }),
    }
}

#[tokio::test]
async fn an_order_number_reused_for_another_order_is_refused_and_a_resend_is_answered() {
    let f = fixture();
    let (a, b) = (kit::login(&f.app, "desk_a").await, kit::login(&f.app, "desk_b").await);
    let first = order("BJ12345-0001", IntakePlace::CourtyardCode { code: f.yard.code.clone() }, "楼道漏水");
    let (status, filed) = post_json(&f.app, "/api/v1/hotline/intake", &a.token, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let issue = filed["issue_id"].as_str().unwrap().to_owned();

    let (status, again) = post_json(&f.app, "/api/v1/hotline/intake", &a.token, &first).await;
    assert_eq!(status, StatusCode::OK, "a resend of the same order is answered: {again}");
    assert_eq!((again["issue_id"].as_str(), again["created"].as_bool()), (Some(issue.as_str()), Some(false)), "with its issue");

    let foreign = order("BJ12345-0001", IntakePlace::CourtyardCode { code: f.other_yard.code.clone() }, "楼道漏水");
    let (status, refused) = post_json(&f.app, "/api/v1/hotline/intake", &b.token, &foreign).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("order_no_taken")), "another place's number is refused");
    assert!(!refused.to_string().contains(&issue), "the refusal names no foreign issue: {refused}");
    let mut changed = first.clone();
    changed.description = "另一件事".into();
    let (status, refused) = post_json(&f.app, "/api/v1/hotline/intake", &a.token, &changed).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("order_no_taken")), "the same number with other content");

    // The dispatcher's queue: an unplaceable order, then its number reused.
    let queued = order("BJ12345-0002", IntakePlace::Address { address: "某某路".into(), lat: None, lon: None }, "井盖缺失");
    let (status, q) = post_json(&f.app, "/api/v1/hotline/intake", &a.token, &queued).await;
    assert_eq!(status, StatusCode::ACCEPTED, "an unplaceable order waits for the dispatcher: {q}");
    let (status, q2) = post_json(&f.app, "/api/v1/hotline/intake", &a.token, &queued).await;
    assert_eq!((status, q2["created"].as_bool()), (StatusCode::ACCEPTED, Some(false)), "its resend is answered as queued: {q2}");
    let mut reused = queued.clone();
    reused.description = "别的诉求".into();
    let (status, refused) = post_json(&f.app, "/api/v1/hotline/intake", &b.token, &reused).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("order_no_taken")), "a queued number is taken too");
    let placed_elsewhere = order("BJ12345-0002", IntakePlace::CourtyardCode { code: f.yard.code.clone() }, "井盖缺失");
    let (status, refused) = post_json(&f.app, "/api/v1/hotline/intake", &a.token, &placed_elsewhere).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("order_no_taken")),
        "a queued number sent again with other content and a courtyard: {refused}"
    );
    assert_eq!(f.site.count("SELECT count(*) FROM unplaced_orders"), 1, "refusals queue nothing");
    assert_eq!(f.site.count("SELECT count(*) FROM hotline_orders"), 1, "refusals file nothing");
}

#[tokio::test]
async fn a_point_far_from_every_courtyard_is_not_filed_at_the_nearest() {
    let f = fixture();
    let reg = registry_gen::demo_registry();
    let (lo, hi) = CHAOYANG_BOUNDS;
    // Inside the district's box but more than 600 m from every courtyard.
    let empty = (0..40)
        .flat_map(|i| (0..40).map(move |j| (lo.lat + (hi.lat - lo.lat) * i as f64 / 39.0, lo.lon + (hi.lon - lo.lon) * j as f64 / 39.0)))
        .find(|&(la, lo)| reg.courtyards.iter().all(|y| haversine_m(y.point, GeoPoint { lat: la, lon: lo }) > 600.0))
        .expect("the demo registry leaves empty spots");
    for (lat, lon, reason, rule) in [
        (31.2304, 121.4737, "不属于朝阳区", "a point in Shanghai"),
        (-33.86, 151.21, "不属于朝阳区", "a point in Sydney"),
        (empty.0, empty.1, "地址未匹配到楼院", "a point inside the district far from any courtyard"),
    ] {
        let form = [
            ("api_key", f.key.as_str()),
            ("service_code", "noise"),
            ("lat", &lat.to_string()),
            ("long", &lon.to_string()),
            ("description", "噪声"),
        ];
        let r = post_form(&f.app, "/open311/v2/requests.json", &form).await;
        assert_eq!(r.status, StatusCode::CREATED, "{rule}: taken in: {}", r.text);
        let v = r.json();
        assert_eq!(v[0]["service_request_id"], Value::Null, "{rule}: not filed at the nearest courtyard: {v}");
        assert!(v[0]["token"].as_str().is_some(), "{rule}: it waits for the dispatcher under a token: {v}");
        assert!(v[0]["service_notice"].as_str().unwrap().contains(reason), "{rule}: the notice says why ({reason}): {v}");
    }
    assert_eq!(f.site.count("SELECT count(*) FROM issues"), 0, "no far point became an issue");
    assert_eq!(f.site.count("SELECT count(*) FROM unplaced_orders"), 3, "every far point waits on the dispatcher's desk");
}

#[tokio::test]
async fn views_written_before_public_ids_get_them_on_the_next_open() {
    let f = fixture();
    let id = file_at(&f, f.yard.point.lat, f.yard.point.lon, "路灯不亮", &[]).await;
    let Fixture { site, app, .. } = f;
    drop(app);
    // What a data directory of the previous build holds: no public ids, views of shape 2.
    if site.is_postgres() {
        site.exec("UPDATE issues SET public_id = NULL, view_json = (view_json::jsonb - 'public_note')::text", &[]);
    } else {
        site.exec("UPDATE issues SET public_id = NULL, view_json = json_remove(view_json, '$.public_note')", &[]);
    }
    site.exec("UPDATE meta SET value = '2' WHERE key = 'views_version'", &[]);
    assert_eq!(site.count("SELECT count(*) FROM issues WHERE public_id IS NULL"), 1, "the old shape is set up");
    let (_, app) = site.serve(fast_config());
    assert_eq!(site.count("SELECT count(*) FROM issues WHERE public_id IS NULL"), 0, "the rebuild on open writes every public id");
    let r = get(&app, &format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(r.status, StatusCode::OK, "a request keeps its public id across the upgrade: {}", r.text);
}
