//! The district console's API: browser sessions (cookie, CSRF, expiry, logout), the
//! authorisation matrix over every console route and role, scope on every read (tickets,
//! photos, phones), actions as events stored once, the overview against the rates, bad input
//! that stores nothing, exports parsed back, and the devices' own reports.

use super::kit::{self, fast_config, Site, PASSWORD};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use gridwalk_clock::ManualClock;
use gridwalk_domain::console::{may_open, Menu};
use gridwalk_domain::*;
use gridwalk_proto::console::*;
use gridwalk_proto::*;
use gridwalk_server::app::admin;
use gridwalk_server::Config;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

const DEPT: &str = "区城管委";

/// A logged-in browser: its cookie and CSRF token.
#[derive(Clone)]
struct Browser {
    cookie: String,
    csrf: String,
    session: ConsoleSession,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

async fn raw(app: &Router, method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
    Answer { status, headers, bytes }
}

async fn console_login(app: &Router, username: &str) -> Browser {
    let body = serde_json::to_vec(&json!({"username": username, "password": PASSWORD})).unwrap();
    let a = raw(app, Method::POST, "/api/v1/console/login", &[("content-type", "application/json")], body).await;
    assert_eq!(a.status, StatusCode::OK, "{username} logs in to the console: {}", String::from_utf8_lossy(&a.bytes));
    let set = a.headers.get("set-cookie").expect("a login sets the session cookie").to_str().unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    let session: ConsoleSession = serde_json::from_slice(&a.bytes).unwrap();
    Browser { cookie, csrf: session.csrf_token.clone(), session }
}

impl Browser {
    async fn get(&self, app: &Router, uri: &str) -> Answer {
        raw(app, Method::GET, uri, &[("cookie", &self.cookie)], Vec::new()).await
    }
    async fn post(&self, app: &Router, uri: &str, body: &Value) -> Answer {
        let headers = [("cookie", self.cookie.as_str()), ("x-csrf-token", self.csrf.as_str()), ("content-type", "application/json")];
        raw(app, Method::POST, uri, &headers, serde_json::to_vec(body).unwrap()).await
    }
    async fn act(&self, app: &Router, issue: IssueId, request: uuid::Uuid, body: EventBody) -> Answer {
        self.post(app, &format!("/api/v1/console/tickets/{issue}/actions"), &json!({"request_id": request, "body": body})).await
    }
}

struct Fixture {
    site: Site,
    app: Router,
    yard: Courtyard,
    far: Courtyard,
    clock: Arc<ManualClock>,
}

/// One user per role on one courtyard (and the department), a district supervisor and admin,
/// and a supervisor of another courtyard; on a manual clock.
fn fixture_with(config: Config) -> Fixture {
    let reg = registry_gen::demo_registry();
    let (yard, far) = (reg.courtyards[0].clone(), reg.courtyards[4000].clone());
    let home = vec![ScopeUnit::Courtyard(yard.code.clone()), ScopeUnit::Department(DEPT.into())];
    let mut users: Vec<(&str, Role, Vec<ScopeUnit>)> = Role::ALL.iter().map(|r| (r.code(), *r, home.clone())).collect();
    users.push(("boss", Role::Supervisor, vec![ScopeUnit::District]));
    users.push(("root", Role::Admin, vec![ScopeUnit::District]));
    users.push(("elsewhere", Role::Supervisor, vec![ScopeUnit::Courtyard(far.code.clone())]));
    let site = Site::demo(&users);
    let clock = Arc::new(ManualClock::new(kit::now_ms()));
    let (_, app) = site.serve_at(config, clock.clone());
    Fixture { site, app, yard, far, clock }
}

fn fixture() -> Fixture {
    fixture_with(fast_config())
}

impl Fixture {
    /// A hotline order at `yard` with a resident's phone, filed by the desk: its issue.
    async fn order(&self, yard: &Courtyard, n: u32, minutes_ago: i64) -> IssueId {
        let root = kit::login(&self.app, "root").await;
        let o = HotlineIntake {
            order_no: format!("12345-C{n:04}"),
            place: IntakePlace::CourtyardCode { code: yard.code.clone() },
            category: "noise".into(),
            description: "夜间施工噪声".into(),
            received_at_ms: self.clock.now_ms() - minutes_ago * 60_000,
            contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
        };
        let r = kit::send(
            &self.app,
            Method::POST,
            "/api/v1/hotline/intake",
            Some(&root.token),
            Some("application/json"),
            serde_json::to_vec(&o).unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
        serde_json::from_slice::<HotlineIntakeResponse>(&r.bytes).unwrap().issue_id
    }

    fn events(&self) -> i64 {
        self.site.count("SELECT count(*) FROM events")
    }
}

use gridwalk_clock::Clock;

#[tokio::test]
async fn a_session_is_an_httponly_strict_cookie_that_expires_ends_and_needs_its_csrf_token_to_change_anything() {
    let f = fixture_with(Config { console_session_ttl: std::time::Duration::from_secs(600), ..fast_config() });
    let body = serde_json::to_vec(&json!({"username": "boss", "password": PASSWORD})).unwrap();
    let a = raw(&f.app, Method::POST, "/api/v1/console/login", &[("content-type", "application/json")], body).await;
    let set = a.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    for attr in ["gw_session=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=600"] {
        assert!(set.contains(attr), "the session cookie carries {attr}: {set}");
    }
    assert!(!set.contains("Secure"), "without TLS the cookie cannot be Secure (the browser would drop it): {set}");
    assert!(
        !String::from_utf8_lossy(&a.bytes).contains(set.split(';').next().unwrap().trim_start_matches("gw_session=")),
        "the token is in the cookie only, never in the body"
    );
    let b = console_login(&f.app, "boss").await;
    assert_eq!(
        b.session.menus,
        vec![Menu::Overview, Menu::Tickets, Menu::Intake, Menu::Map, Menu::Visits, Menu::Foresight, Menu::Devices],
        "a supervisor's menus come from the domain's table"
    );
    assert!(b.session.may_reveal_phone, "the desk may reveal phones");
    assert!(b.session.may_make_tasks, "the desk makes warnings into tasks");
    assert_eq!(b.get(&f.app, "/api/v1/console/session").await.status, StatusCode::OK, "the cookie opens the session");

    let issue = f.order(&f.yard, 1, 5).await;
    let before = f.events();
    let urge = json!({"request_id": uuid::Uuid::now_v7(), "body": EventBody::Urged { note: "请尽快".into() }});
    let uri = format!("/api/v1/console/tickets/{issue}/actions");
    let no_csrf =
        raw(&f.app, Method::POST, &uri, &[("cookie", &b.cookie), ("content-type", "application/json")], serde_json::to_vec(&urge).unwrap())
            .await;
    assert_eq!((no_csrf.status, no_csrf.code().as_str()), (StatusCode::FORBIDDEN, "csrf_missing"), "a cookie alone changes nothing");
    let other = console_login(&f.app, "root").await;
    let wrong = [("cookie", b.cookie.as_str()), ("x-csrf-token", other.csrf.as_str()), ("content-type", "application/json")];
    let wrong = raw(&f.app, Method::POST, &uri, &wrong, serde_json::to_vec(&urge).unwrap()).await;
    assert_eq!(
        (wrong.status, wrong.code().as_str()),
        (StatusCode::FORBIDDEN, "csrf_mismatch"),
        "another session's CSRF token does not pass"
    );
    assert_eq!(f.events(), before, "a refused call stores nothing");
    let ok = b.post(&f.app, &uri, &urge).await;
    assert_eq!(ok.status, StatusCode::OK, "with its CSRF token the call goes through: {}", String::from_utf8_lossy(&ok.bytes));

    // A tablet's token is no console session, even in the cookie.
    let tablet = kit::login(&f.app, "grid_worker").await;
    let fake =
        raw(&f.app, Method::GET, "/api/v1/console/session", &[("cookie", &format!("gw_session={}", tablet.token))], Vec::new()).await;
    assert_eq!(fake.status, StatusCode::UNAUTHORIZED, "a tablet token is not a console session");

    // Idle past the lifetime: refused; a used session slides.
    f.clock.advance(500_000);
    assert_eq!(b.get(&f.app, "/api/v1/console/session").await.status, StatusCode::OK, "a session used within its lifetime works");
    f.clock.advance(500_000);
    assert_eq!(b.get(&f.app, "/api/v1/console/session").await.status, StatusCode::OK, "each use slides the expiry");
    f.clock.advance(601_000);
    let expired = b.get(&f.app, "/api/v1/console/session").await;
    assert_eq!((expired.status, expired.code().as_str()), (StatusCode::UNAUTHORIZED, "token_expired"), "an idle session expires");

    let c = console_login(&f.app, "boss").await;
    let out = c.post(&f.app, "/api/v1/console/logout", &json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "logout ends the session");
    assert!(out.headers.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"), "logout clears the cookie");
    let after = c.get(&f.app, "/api/v1/console/tickets").await;
    assert_eq!((after.status, after.code().as_str()), (StatusCode::UNAUTHORIZED, "token_revoked"), "an ended session opens nothing");
    let audited = f.site.count("SELECT count(*) FROM audit WHERE action IN ('console_login', 'console_logout') AND actor = 'boss'");
    assert_eq!(audited, 4, "every console login and logout is audited");
}

#[tokio::test]
async fn a_secure_cookie_when_the_server_is_reached_over_tls() {
    let f = fixture_with(Config { console_secure_cookie: true, ..fast_config() });
    let body = serde_json::to_vec(&json!({"username": "boss", "password": PASSWORD})).unwrap();
    let a = raw(&f.app, Method::POST, "/api/v1/console/login", &[("content-type", "application/json")], body).await;
    assert!(a.headers.get("set-cookie").unwrap().to_str().unwrap().contains("Secure"), "over TLS the session cookie is Secure");
}

/// Every console read, with the page it belongs to.
fn console_reads() -> Vec<(&'static str, Menu)> {
    vec![
        ("/api/v1/console/overview", Menu::Overview),
        ("/api/v1/console/tickets", Menu::Tickets),
        ("/api/v1/console/places", Menu::Tickets),
        ("/api/v1/console/nearest?lat=39.99&lon=116.41", Menu::Intake),
        ("/api/v1/console/department", Menu::Department),
        ("/api/v1/console/map", Menu::Map),
        ("/api/v1/console/coverage", Menu::Visits),
        ("/api/v1/console/devices", Menu::Devices),
        ("/api/v1/console/workers", Menu::Admin),
        ("/api/v1/console/api-keys", Menu::Admin),
        ("/api/v1/console/departments", Menu::Admin),
        ("/api/v1/console/audit", Menu::Admin),
        ("/api/v1/console/export/tickets.csv", Menu::Tickets),
        ("/api/v1/console/export/rates.xlsx", Menu::Overview),
        ("/api/v1/console/export/devices.csv", Menu::Devices),
        ("/api/v1/console/export/coverage.csv", Menu::Visits),
        ("/api/v1/console/export/audit.xlsx", Menu::Admin),
    ]
}

#[tokio::test]
async fn every_console_route_answers_only_the_roles_whose_pages_hold_it() {
    let f = fixture();
    let issue = f.order(&f.yard, 1, 5).await;
    let reads = console_reads();
    // Every console route of the OpenAPI document is in this matrix (or in the write checks below).
    let writes = [
        "/api/v1/console/login",
        "/api/v1/console/session",
        "/api/v1/console/logout",
        "/api/v1/console/tickets/{id}",
        "/api/v1/console/tickets/{id}/actions",
        "/api/v1/console/tickets/{id}/reveal-phone",
        "/api/v1/console/devices/{id}/revoke",
        "/api/v1/console/api-keys/{id}/revoke",
        "/api/v1/console/registry/import",
        "/api/v1/console/photos/{sha256}",
        "/api/v1/console/export/{file}",
    ];
    for (_, path) in gridwalk_server::routes().into_iter().filter(|(_, p)| p.starts_with("/api/v1/console/")) {
        let covered = reads.iter().any(|(r, _)| r.split('?').next() == Some(path.as_str())) || writes.contains(&path.as_str());
        assert!(covered, "console route {path} is in the authorisation matrix");
    }
    let mut cells = 0;
    for role in Role::ALL {
        let b = console_login(&f.app, role.code()).await;
        assert_eq!(b.session.menus, gridwalk_domain::console::menus(*role).to_vec(), "{role:?}'s session lists its menus");
        let may_task = gridwalk_domain::console::may_make_tasks(*role);
        assert_eq!(b.session.may_make_tasks, may_task, "{role:?}'s session says whether the 预警 page offers tasks");
        // The page's offer and the server's answer agree: a task from the console's cookie.
        let task = json!({"request_id": uuid::Uuid::now_v7(), "courtyard_id": f.yard.id, "category": "noise", "description": "预警任务"});
        let made = b.post(&f.app, "/api/v1/foresight/tasks", &task).await;
        assert_eq!(made.status == StatusCode::OK, may_task, "{} making a task: {}", role.code(), String::from_utf8_lossy(&made.bytes));
        let warnings = b.get(&f.app, "/api/v1/foresight/warnings").await;
        assert_eq!(
            warnings.status == StatusCode::OK,
            may_open(*role, Menu::Foresight),
            "{} reading warnings: as the 预警 menu says",
            role.code()
        );
        for (uri, menu) in &reads {
            let a = b.get(&f.app, uri).await;
            let want = if may_open(*role, *menu) { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(
                a.status,
                want,
                "{} GET {uri} ({menu:?}): {}",
                role.code(),
                String::from_utf8_lossy(&a.bytes[..a.bytes.len().min(200)])
            );
            cells += 1;
        }
        let phone = b.post(&f.app, &format!("/api/v1/console/tickets/{issue}/reveal-phone"), &json!({})).await;
        let want = if gridwalk_domain::console::may_reveal_phone(*role) { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(phone.status, want, "{} revealing a phone", role.code());
        let add = b.post(&f.app, "/api/v1/console/api-keys", &json!({"name": format!("k-{}", role.code())})).await;
        assert_eq!(add.status == StatusCode::OK, *role == Role::Admin, "{} making an API key: only admins", role.code());
    }
    assert_eq!(cells, Role::ALL.len() * reads.len(), "every cell was tried");
    let revealed = f.site.count("SELECT count(*) FROM audit WHERE action = 'phone_revealed'");
    assert_eq!(revealed, 2, "each look at a phone is audited (supervisor and admin)");
}

#[tokio::test]
async fn out_of_scope_tickets_phones_and_photos_are_never_returned() {
    let f = fixture();
    let mine = f.order(&f.yard, 1, 5).await;
    let theirs = f.order(&f.far, 2, 5).await;
    let sup = console_login(&f.app, "supervisor").await;
    let page: TicketPage = serde_json::from_value(sup.get(&f.app, "/api/v1/console/tickets").await.json()).unwrap();
    let ids: Vec<IssueId> = page.tickets.iter().map(|t| t.issue.id).collect();
    assert!(ids.contains(&mine) && !ids.contains(&theirs), "the list holds the scope's tickets only: {ids:?}");
    assert_eq!(page.total, Some(1), "the count is the scope's");
    assert!(page.tickets.iter().all(|t| t.issue.contact_phone_masked.as_deref() == Some("138****5678")), "lists mask phones");
    for uri in [
        format!("/api/v1/console/tickets/{theirs}"),
        format!("/api/v1/console/photos/{}?issue={theirs}", "a".repeat(64)),
        format!("/api/v1/console/export/tickets.csv?courtyard={}", f.far.id),
    ] {
        let a = sup.get(&f.app, &uri).await;
        if uri.contains("export") {
            let text = String::from_utf8_lossy(&a.bytes).to_string();
            assert!(!text.contains(&theirs.to_string()), "an export holds no ticket out of scope");
        } else {
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{uri} is refused out of scope");
        }
    }
    let phone = sup.post(&f.app, &format!("/api/v1/console/tickets/{theirs}/reveal-phone"), &json!({})).await;
    assert_eq!(phone.status, StatusCode::FORBIDDEN, "no phone out of scope");
    let phone = sup.post(&f.app, &format!("/api/v1/console/tickets/{mine}/reveal-phone"), &json!({})).await;
    assert_eq!(phone.json()["phone"], "13812345678", "in scope, the desk sees the number");
    let ticket: Ticket = serde_json::from_value(sup.get(&f.app, &format!("/api/v1/console/tickets/{mine}")).await.json()).unwrap();
    assert_eq!(ticket.contact_phone_masked.as_deref(), Some("138****5678"), "the ticket page masks the phone until revealed");
    assert!(!serde_json::to_string(&ticket.row).unwrap().contains("13812345678"), "the row never carries the number");
    // Department staff see what was whistled to them, nothing else.
    let dept = console_login(&f.app, "department_staff").await;
    let inbox: DepartmentInbox = serde_json::from_value(dept.get(&f.app, "/api/v1/console/department").await.json()).unwrap();
    assert!(inbox.tickets.is_empty(), "nothing was whistled to the department yet");
}

/// A photo uploaded for an issue, readable by whoever may see the issue, refused to others.
#[tokio::test]
async fn a_photo_is_served_with_its_type_and_as_a_cached_thumbnail_to_those_who_may_see_its_issue() {
    let f = fixture();
    let issue = f.order(&f.yard, 1, 5).await;
    let mut png = Vec::new();
    let img = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&png));
    let w = kit::login(&f.app, "supervisor").await;
    let body = EventBody::PhotoAttached { sha256: sha.clone(), bytes: png.len() as u64, mime: "image/png".into() };
    let req = PushRequest {
        device_id: w.device_id,
        events: vec![LoggedEvent { seq: 1, event: kit::event(&w, f.clock.now_ms() + 1000, 1, Entity::Issue(issue), body) }],
    };
    let r =
        kit::send(&f.app, Method::POST, "/api/v1/sync/push", Some(&w.token), Some("application/json"), serde_json::to_vec(&req).unwrap())
            .await;
    assert!(
        String::from_utf8_lossy(&r.bytes).contains("\"accepted\""),
        "the photo's event is stored: {}",
        String::from_utf8_lossy(&r.bytes)
    );
    let r = kit::send(
        &f.app,
        Method::PUT,
        &format!("/api/v1/blobs/{sha}?offset=0&final=true"),
        Some(&w.token),
        Some("application/octet-stream"),
        png.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    let boss = console_login(&f.app, "boss").await;
    let full = boss.get(&f.app, &format!("/api/v1/console/photos/{sha}?issue={issue}")).await;
    assert_eq!(full.status, StatusCode::OK, "{}", String::from_utf8_lossy(&full.bytes[..full.bytes.len().min(300)]));
    assert_eq!(full.headers["content-type"], "image/png", "a photo is served with its own type");
    assert_eq!(full.bytes, png, "the bytes are the upload's");
    let thumb = boss.get(&f.app, &format!("/api/v1/console/photos/{sha}?issue={issue}&thumb=true")).await;
    assert_eq!(thumb.headers["content-type"], "image/jpeg", "a thumbnail is a JPEG");
    let t = image::load_from_memory(&thumb.bytes).unwrap();
    assert!(t.width() <= 320 && t.height() <= 320, "a thumbnail fits 320 px: {}×{}", t.width(), t.height());
    assert!(f.site.dir.path().join("thumbs").read_dir().unwrap().count() >= 1, "thumbnails are cached on the server");
    let other = console_login(&f.app, "elsewhere").await;
    let refused = other.get(&f.app, &format!("/api/v1/console/photos/{sha}?issue={issue}")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "a photo of an issue out of scope is refused");
    let wrong_issue = f.order(&f.yard, 2, 5).await;
    let unnamed = boss.get(&f.app, &format!("/api/v1/console/photos/{sha}?issue={wrong_issue}")).await;
    assert_eq!(unnamed.status, StatusCode::NOT_FOUND, "a photo is only served through the issue that names it");
}

#[tokio::test]
async fn a_supervisor_transfers_urges_and_reviews_from_the_console_and_a_resend_is_stored_once() {
    let f = fixture();
    let issue = f.order(&f.yard, 1, 5).await;
    let boss = console_login(&f.app, "boss").await;
    let t: Ticket = serde_json::from_value(boss.get(&f.app, &format!("/api/v1/console/tickets/{issue}")).await.json()).unwrap();
    let offered: Vec<EventKind> = t.offers.iter().map(|o| o.kind).collect();
    assert!(
        offered.contains(&EventKind::Transferred) && offered.contains(&EventKind::Urged),
        "the desk is offered transfer and urge: {offered:?}"
    );
    assert!(!offered.contains(&EventKind::Reviewed), "nothing to review before a resolution");
    let worker = t.workers.iter().find(|w| w.username == "grid_worker").expect("the courtyard's worker may take it").id;
    let before = f.events();
    let request = uuid::Uuid::now_v7();
    let transfer = EventBody::Transferred { to: Assignee::Worker(worker), note: "请网格员处理".into() };
    let a = boss.act(&f.app, issue, request, transfer.clone()).await;
    assert_eq!((a.status, a.json()["outcome"].as_str()), (StatusCode::OK, Some("accepted")), "{}", String::from_utf8_lossy(&a.bytes));
    let again = boss.act(&f.app, issue, request, transfer).await;
    assert_eq!(again.json()["outcome"], "duplicate", "a resend of the same request is a duplicate");
    assert_eq!(f.events(), before + 1, "and is stored once");
    let result: TicketActionResult = serde_json::from_value(a.json()).unwrap();
    assert_eq!(result.ticket.state.assignee, Some(Assignee::Worker(worker)), "the fold moved the ticket to the worker");
    assert_eq!(result.ticket.timeline.last().map(|i| i.actor.as_str()), Some("boss"), "the timeline names who did it");
    let review = boss.act(&f.app, issue, uuid::Uuid::now_v7(), EventBody::Reviewed { approved: true, note: String::new() }).await;
    assert_eq!((review.status, review.code().as_str()), (StatusCode::CONFLICT, "invalid_transition"), "no review of an unresolved ticket");
    assert_eq!(f.events(), before + 1, "a refused action stores nothing");
    let cadre = console_login(&f.app, "cadre").await;
    let urge = cadre.act(&f.app, issue, uuid::Uuid::now_v7(), EventBody::Urged { note: "x".into() }).await;
    assert_eq!((urge.status, urge.code().as_str()), (StatusCode::FORBIDDEN, "not_permitted"), "a cadre may not urge (the rules table)");
    // The worker resolves from the tablet; the desk reviews it from the console and it closes.
    let w = kit::login(&f.app, "grid_worker").await;
    let bodies = [EventBody::Accepted { note: String::new() }, EventBody::IssueResolved { note: "已修好".into(), photo_sha256: None }];
    let events = bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| LoggedEvent {
            seq: i as u64 + 1,
            event: kit::event(&w, f.clock.now_ms() + 1000 + i as i64, i as u64 + 1, Entity::Issue(issue), b),
        })
        .collect();
    let r = kit::send(
        &f.app,
        Method::POST,
        "/api/v1/sync/push",
        Some(&w.token),
        Some("application/json"),
        serde_json::to_vec(&PushRequest { device_id: w.device_id, events }).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let reviewed = boss.act(&f.app, issue, uuid::Uuid::now_v7(), EventBody::Reviewed { approved: true, note: "核实通过".into() }).await;
    let result: TicketActionResult = serde_json::from_value(reviewed.json()).unwrap();
    assert_eq!(result.ticket.state.status, IssueStatus::Closed, "a passed review closes the ticket");
    // Filters: the closed one is not among the open; by status it is.
    let closed: TicketPage = serde_json::from_value(boss.get(&f.app, "/api/v1/console/tickets?status=closed").await.json()).unwrap();
    assert_eq!(closed.tickets.iter().map(|t| t.issue.id).collect::<Vec<_>>(), vec![issue], "the status filter finds it");
    let reported: TicketPage = serde_json::from_value(boss.get(&f.app, "/api/v1/console/tickets?status=reported").await.json()).unwrap();
    assert!(reported.tickets.is_empty(), "and not among the unanswered");
    for source in ["hotline", "hotline_12345"] {
        let page: TicketPage =
            serde_json::from_value(boss.get(&f.app, &format!("/api/v1/console/tickets?source={source}")).await.json()).unwrap();
        assert_eq!(page.total, Some(1), "source={source}: a source by its wire name or its code finds the hotline order");
    }
}

#[tokio::test]
async fn keyset_pages_walk_every_ticket_once_newest_first() {
    let f = fixture();
    let mut issues = Vec::new();
    for n in 0..7 {
        issues.push(f.order(&f.yard, n, 50 - i64::from(n)).await);
    }
    let boss = console_login(&f.app, "boss").await;
    let (mut seen, mut after, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let uri = format!("/api/v1/console/tickets?limit=3{}", if after.is_empty() { String::new() } else { format!("&after={after}") });
        let page: TicketPage = serde_json::from_value(boss.get(&f.app, &uri).await.json()).unwrap();
        if pages == 0 {
            assert_eq!(page.total, Some(7), "the first page counts every match");
        } else {
            assert_eq!(page.total, None, "later pages do not count again");
        }
        seen.extend(page.tickets.iter().map(|t| t.issue.id));
        pages += 1;
        match page.next_after {
            Some(next) => after = next,
            None => break,
        }
    }
    issues.reverse();
    assert_eq!(seen, issues, "pages of 3 walk all 7 newest first, each once");
    assert_eq!(pages, 3, "7 tickets in pages of 3 are 3 pages");
    let overdue: TicketPage = serde_json::from_value(boss.get(&f.app, "/api/v1/console/tickets?overdue=true").await.json()).unwrap();
    assert_eq!(overdue.total, Some(0), "orders received under an hour ago are not overdue yet");
    f.clock.advance(3_600_000);
    let overdue: TicketPage = serde_json::from_value(boss.get(&f.app, "/api/v1/console/tickets?overdue=true").await.json()).unwrap();
    assert_eq!(overdue.total, Some(7), "an hour later, every unanswered order is overdue");
    assert!(overdue.tickets.iter().all(|t| t.overdue), "and each row says so");
}

#[tokio::test]
async fn the_overview_gives_hand_computed_figures_and_agrees_with_the_rates_endpoint() {
    let f = fixture();
    // Three orders this hour: one answered within the hour, one answered late is impossible
    // this early, so: one answered, two not yet due.
    admin::set_responsible(f.site.dir.path(), &f.yard.code, "grid_worker").unwrap();
    let answered = f.order(&f.yard, 1, 30).await;
    f.order(&f.yard, 2, 20).await;
    f.order(&f.yard, 3, 10).await;
    let w = kit::login(&f.app, "grid_worker").await;
    let respond = LoggedEvent {
        seq: 1,
        event: kit::event(&w, f.clock.now_ms() + 1000, 1, Entity::Issue(answered), EventBody::IssueResponded { note: "已联系".into() }),
    };
    let r = kit::send(
        &f.app,
        Method::POST,
        "/api/v1/sync/push",
        Some(&w.token),
        Some("application/json"),
        serde_json::to_vec(&PushRequest { device_id: w.device_id, events: vec![respond] }).unwrap(),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&r.bytes).contains("\"accepted\""),
        "the responsible worker's response is stored: {}",
        String::from_utf8_lossy(&r.bytes)
    );
    let boss = console_login(&f.app, "boss").await;
    let o: Overview = serde_json::from_value(boss.get(&f.app, "/api/v1/console/overview").await.json()).unwrap();
    // Unless the test runs across Beijing midnight, all three are today's.
    if gridwalk_server::app::console::overview::day_start(f.clock.now_ms()) <= f.clock.now_ms() - 30 * 60_000 {
        assert_eq!(o.today, TodayFigures { received: 3, responded_in_time: 1, overdue: 0, resolved: 0 }, "today: 3 in, 1 answered in time");
    }
    let week = o.this_week.expect("this week has issues");
    assert_eq!(week.received, 3, "three received this week");
    assert_eq!(
        (week.response.numerator, week.response.denominator),
        (1, 1),
        "the two unanswered are still inside their hour: not counted yet"
    );
    assert_eq!((week.resolution.numerator, week.resolution.denominator), (0, 3), "none resolved");
    let from = week.period_start_ms;
    let rates: RatesReport = serde_json::from_value(
        boss.get(&f.app, &format!("/api/v1/rates?by=district&period=week&from={from}&to={}", week.period_end_ms)).await.json(),
    )
    .unwrap();
    assert_eq!(rates.rows[0].response, week.response, "the overview's response rate is the rates endpoint's");
    assert_eq!(rates.rows[0].resolution, week.resolution, "and so is the resolution rate");
    assert_eq!(o.units.len(), 1, "one subdistrict has issues");
    assert!(o.definitions.iter().any(|d| d.code == "response" && d.zh.contains("1 小时")), "definitions come with the figures");
    // Drill down: the subdistrict's communities.
    let sub = registry_gen::demo_registry().communities.iter().find(|c| c.id == f.yard.community).map(|c| c.subdistrict).unwrap();
    let code = registry_gen::demo_registry().subdistricts.iter().find(|s| s.id == sub).unwrap().code.clone();
    let drill: Overview = serde_json::from_value(boss.get(&f.app, &format!("/api/v1/console/overview?unit={code}")).await.json()).unwrap();
    assert_eq!((drill.by.as_str(), drill.units.len()), ("community", 1), "a subdistrict drills down to its communities");
}

#[tokio::test]
async fn bad_input_gets_a_code_and_stores_nothing() {
    let f = fixture();
    let root = console_login(&f.app, "root").await;
    let workers = f.site.count("SELECT count(*) FROM workers");
    let unknown = root
        .post(&f.app, "/api/v1/console/workers", &json!({"username": "newbie", "name": "新人", "role": "grid_worker", "scope": [{"level": "community", "code": "NOPE"}], "password": "a long enough pass 1"}))
        .await;
    assert_eq!((unknown.status, unknown.code().as_str()), (StatusCode::BAD_REQUEST, "unknown_scope_unit"), "an unknown scope is refused");
    let taken = root
        .post(&f.app, "/api/v1/console/workers", &json!({"username": "boss", "name": "x", "role": "grid_worker", "scope": [{"level": "district"}], "password": "a long enough pass 1"}))
        .await;
    assert_eq!((taken.status, taken.code().as_str()), (StatusCode::CONFLICT, "username_taken"), "a taken username is refused");
    let role = root
        .post(
            &f.app,
            "/api/v1/console/workers",
            &json!({"username": "x2", "name": "x", "role": "king", "scope": [{"level": "district"}], "password": "a long enough pass 1"}),
        )
        .await;
    assert_eq!(role.code(), "unknown_role", "an unknown role is refused");
    assert_eq!(f.site.count("SELECT count(*) FROM workers"), workers, "no worker was stored");
    let ok = root
        .post(&f.app, "/api/v1/console/workers", &json!({"username": "newbie", "name": "新人", "role": "grid_worker", "scope": [{"level": "courtyard", "code": f.yard.code}], "password": "a long enough pass 1"}))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "a good worker is added: {}", String::from_utf8_lossy(&ok.bytes));
    assert_eq!(f.site.count("SELECT count(*) FROM audit WHERE action = 'worker_added' AND actor = 'root'"), 1, "audited as the admin");

    let version = f.site.count("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'registry_version'");
    let csv = format!(
        "{}\nS1,一街道,street,C1,一社区,G1,Y1,一号院,39.9,116.4,\nS1,一街道,castle,C1,一社区,G1,Y2,二号院,39.9,116.4,\nS1,一街道,street,C1,一社区,G1,Y3,三号院,abc,116.4,\n",
        registry_gen::IMPORT_HEADER
    );
    let headers = [("cookie", root.cookie.as_str()), ("x-csrf-token", root.csrf.as_str()), ("content-type", "text/csv")];
    let bad = raw(&f.app, Method::POST, "/api/v1/console/registry/import", &headers, csv.into_bytes()).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "a registry file with bad lines is refused: {}", String::from_utf8_lossy(&bad.bytes));
    let refused: ImportRefused = serde_json::from_slice(&bad.bytes).unwrap();
    assert_eq!(
        refused.lines.iter().map(|l| l.line).collect::<Vec<_>>(),
        vec![3, 4],
        "every bad line is listed with its number: {:?}",
        refused.lines
    );
    assert_eq!(
        f.site.count("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'registry_version'"),
        version,
        "the registry is unchanged"
    );

    for (uri, code) in [
        ("/api/v1/console/tickets?status=lost", "invalid_query"),
        ("/api/v1/console/tickets?from_ms=99999999999999999", "invalid_query"),
        ("/api/v1/console/tickets?after=garbage", "invalid_query"),
        ("/api/v1/console/tickets?assignee=nobody", "unknown_worker"),
        ("/api/v1/console/nearest?lat=200&lon=116", "invalid_query"),
        ("/api/v1/console/overview?unit=NOPE", "unknown_scope_unit"),
        ("/api/v1/console/export/tickets.pdf", "not_found"),
        ("/api/v1/console/map?category=unicorns", "invalid_query"),
        // The hotspot window is 1 to 90 days: empty, backwards and 91 days are refused.
        ("/api/v1/console/map?from_ms=1780000000000&to_ms=1780000000000", "invalid_query"),
        ("/api/v1/console/map?from_ms=1780000000000&to_ms=1779000000000", "invalid_query"),
        ("/api/v1/console/map?from_ms=1780000000000&to_ms=1787862400000", "invalid_query"),
        ("/api/v1/console/coverage?weeks=0", "invalid_query"),
        ("/api/v1/console/coverage?weeks=54", "invalid_query"),
        ("/api/v1/console/coverage?stale_days=366", "invalid_query"),
        ("/api/v1/console/coverage?stale_days=-1", "invalid_query"),
        ("/api/v1/console/coverage?weeks=99999999999999999999", "invalid_query"),
    ] {
        let a = root.get(&f.app, uri).await;
        assert_eq!(a.code(), code, "{uri} is refused with {code}: {}", String::from_utf8_lossy(&a.bytes));
        assert!(a.json()["message"].as_str().is_some_and(|m| !m.is_empty()), "{uri}: every refusal has a message");
    }
}

#[tokio::test]
async fn exports_are_csv_with_a_bom_and_xlsx_with_chinese_headers_and_the_filters_shown() {
    let f = fixture();
    for n in 0..5 {
        f.order(&f.yard, n, 10).await;
    }
    let boss = console_login(&f.app, "boss").await;
    let csv = boss.get(&f.app, "/api/v1/console/export/tickets.csv?status=reported").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-disposition"].to_str().unwrap().contains(".csv"), "the download has a file name");
    assert_eq!(csv.headers["x-total-rows"], "5", "the row count is told before the rows");
    assert!(csv.bytes.starts_with(b"\xEF\xBB\xBF"), "CSV starts with a UTF-8 BOM, so Excel reads the Chinese");
    let text = String::from_utf8(csv.bytes[3..].to_vec()).unwrap();
    assert!(text.contains("状态,已解决待审核") || text.contains("状态,待响应"), "the filters on screen are in the file: {text}");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let header = rows.iter().position(|r| r.get(0) == Some("工单编号")).expect("a Chinese header row");
    assert_eq!(rows.len() - header - 1, 5, "one row per ticket");
    assert!(rows[header + 1..].iter().all(|r| r.iter().any(|c| c == "138****5678")), "phones are masked in exports");
    let xlsx = boss.get(&f.app, "/api/v1/console/export/tickets.xlsx").await;
    assert_eq!(xlsx.status, StatusCode::OK);
    use calamine::Reader as _;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(xlsx.bytes)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let cells: Vec<String> = sheet.rows().map(|r| r.first().map(|c| c.to_string()).unwrap_or_default()).collect();
    let header = cells.iter().position(|c| c == "工单编号").expect("a Chinese header row in the sheet");
    assert_eq!(cells.len() - header - 1, 5, "one sheet row per ticket");
    let audit = f.site.count("SELECT count(*) FROM audit WHERE action = 'export' AND actor = 'boss'");
    assert_eq!(audit, 2, "every export is audited");
}

#[tokio::test]
async fn a_tablet_reports_its_sync_with_each_pull_and_the_devices_page_shows_it() {
    let f = fixture();
    let w = kit::login(&f.app, "grid_worker").await;
    let oldest = f.clock.now_ms() - 3_600_000;
    let uri = format!(
        "/api/v1/sync/pull?after=0&report_queue=4&report_oldest_ms={oldest}&report_rejected=1&report_offset_ms=-1500&report_version=0.1.0"
    );
    let r = kit::send(&f.app, Method::GET, &uri, Some(&w.token), None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK, "a pull with a report is a pull");
    let boss = console_login(&f.app, "boss").await;
    let list: DeviceList = serde_json::from_value(boss.get(&f.app, "/api/v1/console/devices").await.json()).unwrap();
    let d = list.devices.iter().find(|d| d.id == w.device_id).expect("the tablet is listed");
    assert_eq!(
        (d.queue_depth, d.oldest_unsent_ms, d.rejected_count, d.clock_offset_ms),
        (Some(4), Some(oldest), Some(1), Some(-1500)),
        "the report is shown"
    );
    assert_eq!((d.kind.as_str(), d.app_version.as_deref()), ("tablet", Some("0.1.0")), "with kind and version");
    assert!(list.devices.iter().any(|d| d.kind == "console" && d.username == "boss"), "console sessions are devices too");
    let wild = "/api/v1/sync/pull?after=0&report_queue=4&report_rejected=1&report_offset_ms=999999999999&report_version=0.1.0";
    let r = kit::send(&f.app, Method::GET, wild, Some(&w.token), None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK, "an out-of-bounds report never costs the tablet its pull");
    let list: DeviceList = serde_json::from_value(boss.get(&f.app, "/api/v1/console/devices").await.json()).unwrap();
    assert_eq!(list.devices.iter().find(|d| d.id == w.device_id).unwrap().clock_offset_ms, Some(-1500), "and is not kept");
    // A supervisor of another courtyard sees neither that tablet nor may revoke it.
    let other = console_login(&f.app, "elsewhere").await;
    let theirs: DeviceList = serde_json::from_value(other.get(&f.app, "/api/v1/console/devices").await.json()).unwrap();
    assert!(theirs.devices.iter().all(|d| d.id != w.device_id), "devices of other areas are not listed");
    let revoke = other.post(&f.app, &format!("/api/v1/console/devices/{}/revoke", w.device_id), &json!({})).await;
    assert_eq!(revoke.status, StatusCode::FORBIDDEN, "nor revoked");
    let revoke = boss.post(&f.app, &format!("/api/v1/console/devices/{}/revoke", w.device_id), &json!({})).await;
    assert_eq!(revoke.status, StatusCode::OK, "the district supervisor revokes it");
    let r = kit::send(&f.app, Method::GET, "/api/v1/sync/pull?after=0", Some(&w.token), None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a revoked tablet syncs no more");
}

#[tokio::test]
async fn the_console_pages_are_served_from_the_binary_with_a_strict_policy() {
    let f = fixture();
    for path in ["/", "/tickets", "/tickets/abc"] {
        let a = raw(&f.app, Method::GET, path, &[], Vec::new()).await;
        assert_eq!(a.status, StatusCode::OK, "{path} is the console app");
        assert!(a.headers["content-type"].to_str().unwrap().starts_with("text/html"), "{path} is HTML");
        assert!(a.headers["content-security-policy"].to_str().unwrap().contains("default-src 'self'"), "with a same-origin policy");
        assert!(String::from_utf8_lossy(&a.bytes).contains("网格走访"), "in Chinese");
    }
    let api = raw(&f.app, Method::GET, "/api/v1/nothing-here", &[], Vec::new()).await;
    assert_eq!((api.status, api.code().as_str()), (StatusCode::NOT_FOUND, "not_found"), "an unknown API path is still {{code, message}}");
}
