//! Access that can be taken back, over the real router and SQLite file: disable and enable,
//! password change and reset (and the password rule), role and scope changes picked up by the
//! next sync, token expiry renewed by sync (on a manual clock), and the login throttle per
//! client address that keeps one address from locking a supervisor out.

use super::kit::{self, fast_config, Site};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use gridwalk_clock::ManualClock;
use gridwalk_domain::*;
use gridwalk_proto::*;
use gridwalk_server::Config;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const T0: i64 = 1_760_000_000_000;
const DAY_MS: i64 = 24 * 3_600_000;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// A request as if it came from `from` (the connection info `serve` attaches), else from an
/// unknown address.
async fn call(app: &Router, method: Method, uri: &str, token: Option<&str>, body: Option<Value>, from: Option<&str>) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if let Some(addr) = from {
        req = req.extension(ConnectInfo(addr.parse::<SocketAddr>().unwrap()));
    }
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
    let resp = app.clone().oneshot(req.body(Body::from(bytes)).unwrap()).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

async fn post(app: &Router, uri: &str, token: Option<&str>, body: Value) -> Reply {
    call(app, Method::POST, uri, token, Some(body), None).await
}

async fn pull(app: &Router, token: &str) -> Reply {
    call(app, Method::GET, "/api/v1/sync/pull?after=0", Some(token), None, None).await
}

async fn login_with(app: &Router, username: &str, password: &str, from: Option<&str>) -> Reply {
    let body = json!({"username": username, "password": password, "device_name": "tablet"});
    call(app, Method::POST, "/api/v1/auth/login", None, Some(body), from).await
}

fn token_of(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::OK, "the login succeeds: {}", r.body);
    r.body["token"].as_str().unwrap().to_owned()
}

struct Fixture {
    site: Site,
    app: Router,
    yard_in: Courtyard,
    yard_out: Courtyard,
    sub_out: String,
}

fn fixture_at(config: Config, clock: Option<Arc<ManualClock>>) -> Fixture {
    let reg = registry_gen::demo_registry();
    let sub_of = |c: &Courtyard| reg.communities.iter().find(|m| m.id == c.community).unwrap().subdistrict;
    let yard_in = reg.courtyards[0].clone();
    let yard_out = reg.courtyards.iter().find(|c| sub_of(c) != sub_of(&yard_in)).unwrap().clone();
    let sub_code = |c: &Courtyard| reg.subdistricts.iter().find(|s| s.id == sub_of(c)).unwrap().code.clone();
    let site = Site::demo(&[
        ("walker", Role::GridWorker, vec![ScopeUnit::Courtyard(yard_in.code.clone())]),
        ("faraway", Role::GridWorker, vec![ScopeUnit::Subdistrict(sub_code(&yard_out))]),
        ("boss", Role::Supervisor, vec![ScopeUnit::Subdistrict(sub_code(&yard_in))]),
        ("root", Role::Admin, vec![ScopeUnit::District]),
    ]);
    let (_, app) = match clock {
        Some(c) => site.serve_at(config, c),
        None => site.serve(config),
    };
    let sub_out = sub_code(&yard_out);
    Fixture { site, app, yard_in, yard_out, sub_out }
}

/// A report recorded just now (the server refuses times far from its clock).
fn issue_report(who: &LoginResponse, n: u64, yard: CourtyardId) -> Event {
    let at = kit::now_ms() - 60_000 + n as i64;
    let issue = IssueId::from_parts(at as u64, [n as u8; 10]);
    let body = EventBody::IssueReported(IssueReport {
        courtyard: yard,
        category: Category::StreetLight,
        source: IssueSource::Visit,
        description: "路灯不亮".into(),
        contact: None,
        location: None,
        received_at_ms: None,
        external_ref: None,
    });
    kit::event(who, at, n, Entity::Issue(issue), body)
}

async fn push(app: &Router, who: &LoginResponse, seq: u64, event: Event) -> PushOutcome {
    let req = PushRequest { device_id: who.device_id, events: vec![LoggedEvent { seq, event }] };
    let r = post(app, "/api/v1/sync/push", Some(&who.token), serde_json::to_value(&req).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "the push is answered: {}", r.body);
    serde_json::from_value::<PushResponse>(r.body).unwrap().results.remove(0).outcome
}

#[tokio::test]
async fn disable_refuses_every_device_at_once_and_the_login_and_enable_lets_the_same_devices_on() {
    let f = fixture_at(fast_config(), None);
    let root = kit::login(&f.app, "root").await;
    let (first, second) = (kit::login(&f.app, "walker").await, kit::login(&f.app, "walker").await);
    assert_eq!(pull(&f.app, &first.token).await.status, StatusCode::OK, "an enabled worker pulls");

    let boss = kit::login(&f.app, "boss").await;
    let r = post(&f.app, "/api/v1/workers/walker/disable", Some(&boss.token), json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "only an admin disables a worker");
    let r = post(&f.app, "/api/v1/workers/nobody/disable", Some(&root.token), json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "unknown_worker"), "an unknown username is unknown_worker");
    let r = post(&f.app, "/api/v1/workers/hotline/disable", Some(&root.token), json!({})).await;
    assert_eq!(r.code(), "unknown_worker", "the server's own hotline identity is not a worker to manage");

    let r = post(&f.app, "/api/v1/workers/walker/disable", Some(&root.token), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "an admin disables a worker: {}", r.body);
    assert_eq!(r.body["disabled"], json!(true), "the answer says the worker is disabled");
    for (name, device) in [("first", &first), ("second", &second)] {
        let r = pull(&f.app, &device.token).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "worker_disabled"), "the {name} device is refused at once");
    }
    let r = login_with(&f.app, "walker", kit::PASSWORD, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "worker_disabled"), "a disabled worker cannot log in");
    let r = login_with(&f.app, "walker", "not the password 1", None).await;
    assert_eq!(r.code(), "invalid_credentials", "only the holder of the right password learns the worker is disabled");

    let r = post(&f.app, "/api/v1/workers/walker/enable", Some(&root.token), json!({})).await;
    assert_eq!((r.status, r.body["disabled"].clone()), (StatusCode::OK, json!(false)), "an admin enables the worker again");
    assert_eq!(pull(&f.app, &first.token).await.status, StatusCode::OK, "enabled, the same device syncs again");
    assert_eq!(pull(&f.app, &second.token).await.status, StatusCode::OK, "and so does every other device of theirs");
    assert_eq!(login_with(&f.app, "walker", kit::PASSWORD, None).await.status, StatusCode::OK, "and the worker logs in");
    let audited = f.site.count("SELECT count(*) FROM audit WHERE actor = 'root' AND action IN ('worker_disabled', 'worker_enabled')");
    assert_eq!(audited, 2, "both admin actions are audited under the admin's name");
}

#[tokio::test]
async fn password_change_with_the_old_one_and_reset_by_an_admin_revoke_the_other_sessions() {
    let f = fixture_at(fast_config(), None);
    let root = kit::login(&f.app, "root").await;
    let (here, other) = (kit::login(&f.app, "walker").await, kit::login(&f.app, "walker").await);
    let change = |old: &str, new: &str| json!({"old_password": old, "new_password": new});

    let r = post(&f.app, "/api/v1/auth/password", Some(&here.token), change("a wrong password", "a new battery staple")).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "wrong_password"), "a change needs the current password");
    for weak in ["short", "alllowercaseletters", "walker-walker-2024", "Password1234"] {
        let r = post(&f.app, "/api/v1/auth/password", Some(&here.token), change(kit::PASSWORD, weak)).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "weak_password"), "{weak:?} fails the password rule");
    }
    assert_eq!(pull(&f.app, &other.token).await.status, StatusCode::OK, "a refused change changes nothing");

    let r = post(&f.app, "/api/v1/auth/password", Some(&here.token), change(kit::PASSWORD, "a new battery staple")).await;
    assert_eq!(r.status, StatusCode::OK, "a good change is taken: {}", r.body);
    assert_eq!(r.body["devices_revoked"], json!(1), "the worker's other device is revoked");
    assert_eq!(pull(&f.app, &here.token).await.status, StatusCode::OK, "the device that changed it keeps working");
    let r = pull(&f.app, &other.token).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "token_revoked"), "the other session ends");
    assert_eq!(login_with(&f.app, "walker", kit::PASSWORD, None).await.code(), "invalid_credentials", "the old password is gone");
    let newer = token_of(&login_with(&f.app, "walker", "a new battery staple", None).await);

    let r = post(&f.app, "/api/v1/workers/walker/password", Some(&root.token), json!({"password": "tooshort"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "weak_password"), "a reset follows the password rule too");
    let r = post(&f.app, "/api/v1/workers/walker/password", Some(&here.token), json!({"password": "reset by me 2024"})).await;
    assert_eq!(r.code(), "forbidden", "a worker cannot reset passwords");
    let r = post(&f.app, "/api/v1/workers/walker/password", Some(&root.token), json!({"password": "reset by root 2024"})).await;
    assert_eq!((r.status, r.body["devices_revoked"].clone()), (StatusCode::OK, json!(2)), "a reset revokes every device: {}", r.body);
    for token in [&here.token, &newer] {
        assert_eq!(pull(&f.app, token).await.code(), "token_revoked", "after a reset no old session works");
    }
    token_of(&login_with(&f.app, "walker", "reset by root 2024", None).await);
    let audited = f.site.count("SELECT count(*) FROM audit WHERE action IN ('password_changed', 'password_reset')");
    assert_eq!(audited, 2, "the change and the reset are audited");
}

#[tokio::test]
async fn a_role_or_scope_change_holds_from_the_next_sync() {
    let f = fixture_at(fast_config(), None);
    let root = kit::login(&f.app, "root").await;
    let (walker, faraway) = (kit::login(&f.app, "walker").await, kit::login(&f.app, "faraway").await);
    assert_eq!(push(&f.app, &faraway, 1, issue_report(&faraway, 1, f.yard_out.id)).await, PushOutcome::Accepted, "seeded far away");
    let seen = |r: &Reply| r.body["events"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(seen(&pull(&f.app, &walker.token).await), 0, "before the change the far issue is outside walker's scope");

    let r = post(&f.app, "/api/v1/workers/walker/role", Some(&root.token), json!({"scope": ["community:NOPE"]})).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "unknown_scope_unit"), "scope codes must exist, as on worker add");
    let r = post(&f.app, "/api/v1/workers/walker/role", Some(&root.token), json!({"role": "mayor"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "unknown_role"), "a role must be one of the five");
    let r = post(&f.app, "/api/v1/workers/walker/role", Some(&root.token), json!({"scope": []})).await;
    assert_eq!(r.code(), "bad_scope", "an empty scope grants nothing and is refused");
    let r = post(&f.app, "/api/v1/workers/walker/role", Some(&root.token), json!({})).await;
    assert_eq!(r.code(), "nothing_to_change", "a change names a role, a scope or both");
    assert_eq!(seen(&pull(&f.app, &walker.token).await), 0, "refused changes changed nothing");

    let scope = format!("subdistrict:{}", f.sub_out);
    let r = post(&f.app, "/api/v1/workers/walker/role", Some(&root.token), json!({"role": "cadre", "scope": [scope]})).await;
    assert_eq!(r.status, StatusCode::OK, "an admin changes role and scope: {}", r.body);
    assert_eq!(r.body["worker"]["role"], json!("cadre"), "the answer carries the new role");
    assert_eq!(seen(&pull(&f.app, &walker.token).await), 1, "the next pull of the same device returns the new scope's events");
    let outcome = push(&f.app, &walker, 1, issue_report(&walker, 2, f.yard_in.id)).await;
    assert!(
        matches!(&outcome, PushOutcome::Rejected { code, .. } if code == "out_of_scope"),
        "a push to the old scope is out_of_scope: {outcome:?}"
    );
    assert_eq!(push(&f.app, &walker, 2, issue_report(&walker, 3, f.yard_out.id)).await, PushOutcome::Accepted, "the new scope is open");
    assert_eq!(f.site.count("SELECT count(*) FROM audit WHERE action = 'worker_role_changed'"), 1, "the change is audited once");
}

#[tokio::test]
async fn a_token_expires_unless_its_use_renews_it_and_renewal_is_written_at_most_hourly() {
    let clock = Arc::new(ManualClock::new(T0));
    let config = Config { token_ttl: Duration::from_secs(10 * 24 * 3600), ..fast_config() };
    let f = fixture_at(config, Some(clock.clone()));
    let walker = kit::login(&f.app, "walker").await;
    let expiry = || f.site.count(&format!("SELECT expires_ms FROM devices WHERE id = '{}'", walker.device_id));
    assert_eq!(expiry(), T0 + 10 * DAY_MS, "a login's token expires one lifetime after it");

    clock.advance(10 * 60_000);
    assert_eq!(pull(&f.app, &walker.token).await.status, StatusCode::OK, "a sync within the lifetime works");
    assert_eq!(expiry(), T0 + 10 * DAY_MS, "a sync within the hour of the last renewal writes nothing");

    clock.set(T0 + 9 * DAY_MS);
    assert_eq!(pull(&f.app, &walker.token).await.status, StatusCode::OK, "day 9: still valid");
    assert_eq!(expiry(), T0 + 19 * DAY_MS, "the sync renewed the token: one lifetime from now");
    let wait = call(&f.app, Method::GET, "/api/v1/sync/wait?after=0&timeout_s=0", Some(&walker.token), None, None).await;
    assert_eq!(wait.status, StatusCode::OK, "a long-poll is a sync too");

    clock.set(T0 + 18 * DAY_MS);
    assert_eq!(pull(&f.app, &walker.token).await.status, StatusCode::OK, "day 18 works only because day 9 renewed it");
    assert_eq!(expiry(), T0 + 28 * DAY_MS, "renewed again");
    clock.set(T0 + 20 * DAY_MS);
    let list = call(&f.app, Method::GET, "/api/v1/issues", Some(&walker.token), None, None).await;
    assert_eq!(list.status, StatusCode::OK, "a supervisor's read takes the live token");
    assert_eq!(expiry(), T0 + 30 * DAY_MS, "and any use of the session token renews it, not only a sync");
    clock.set(T0 + 29 * DAY_MS);
    let count = call(&f.app, Method::GET, "/api/v1/notify/count?after=0&timeout_s=0", Some(&walker.notify_token), None, None).await;
    assert_eq!(count.status, StatusCode::OK, "the notify-only token works while the session lives");
    assert_eq!(expiry(), T0 + 30 * DAY_MS, "but renews nothing: a lost, locked tablet must not keep its session alive");
    clock.set(T0 + 30 * DAY_MS);
    assert_eq!(expiry(), T0 + 30 * DAY_MS, "(nothing renewed it since day 20)");

    let r = pull(&f.app, &walker.token).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "token_expired"), "a token not renewed for a lifetime expired");
    let r = call(&f.app, Method::GET, "/api/v1/notify/count?after=0&timeout_s=0", Some(&walker.notify_token), None, None).await;
    assert_eq!(r.code(), "token_expired", "the notify-only token ends with the device's session");
    assert_eq!(expiry(), T0 + 30 * DAY_MS, "an expired token renews nothing");
    // The tablet logs in again as the same device: it keeps its id (and so its sequence and
    // everything it queued) and its notify-only token.
    let body = json!({"username": "walker", "password": kit::PASSWORD, "device_name": "tablet", "device_id": walker.device_id});
    let r = post(&f.app, "/api/v1/auth/login", None, body).await;
    assert_eq!(r.status, StatusCode::OK, "an expired device logs in again as itself: {:?}", r.body);
    let again: LoginResponse = serde_json::from_value(r.body.clone()).unwrap();
    assert_eq!(again.device_id, walker.device_id, "a login again keeps the device");
    assert_eq!(again.notify_token, "", "and its notify-only token (empty: keep yours)");
    assert_eq!(pull(&f.app, &again.token).await.status, StatusCode::OK, "logging in again gives a working token");
    assert_eq!(pull(&f.app, &walker.token).await.code(), "invalid_token", "the expired token is replaced, not revived");
    assert_eq!(expiry(), T0 + 40 * DAY_MS, "the new token gets a whole lifetime");
    assert_eq!(f.site.count(&format!("SELECT count(*) FROM devices WHERE worker_id = '{}'", walker.worker.id)), 1, "no second device");

    // Only as one's own device that is not revoked.
    let boss = kit::login(&f.app, "boss").await;
    let as_boss = json!({"username": "walker", "password": kit::PASSWORD, "device_name": "t", "device_id": boss.device_id});
    let r = post(&f.app, "/api/v1/auth/login", None, as_boss).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "token_revoked"), "another worker's device cannot be taken by a login");
    assert_eq!(pull(&f.app, &boss.token).await.status, StatusCode::OK, "and that device keeps its own token");
}

#[tokio::test]
async fn one_address_hammering_a_supervisor_is_throttled_and_locks_only_itself() {
    let clock = Arc::new(ManualClock::new(T0));
    let config = Config { login_burst: 8, login_per_minute: 6.0, lockout_after: 5, lockout_user_after: 12, ..fast_config() };
    let f = fixture_at(config, Some(clock.clone()));
    let (attacker, office) = (Some("203.0.113.7:40000"), Some("198.51.100.20:50000"));
    for i in 1..=5 {
        let r = login_with(&f.app, "boss", "guess number one", attacker).await;
        assert_eq!(r.code(), "invalid_credentials", "guess {i} is a plain failure");
    }
    for _ in 6..=8 {
        let r = login_with(&f.app, "boss", kit::PASSWORD, attacker).await;
        assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "login_locked"), "5 failures lock boss for that address");
        let header: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert_eq!(header, 300, "a locked login is told when to try again (the 5-minute lock)");
        assert_eq!(r.body["retry_after_s"], json!(header), "the body says the same as the Retry-After header");
    }
    let r = login_with(&f.app, "boss", "guess number two", attacker).await;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "login_throttled"), "past its burst the address is throttled");
    assert_eq!(r.headers["retry-after"], "10", "6 tries a minute: the next one in 10 s");
    assert_eq!(r.body["retry_after_s"], json!(10), "and the body says so");

    token_of(&login_with(&f.app, "boss", kit::PASSWORD, office).await);
    token_of(&login_with(&f.app, "boss", kit::PASSWORD, None).await);

    // Many addresses: past the per-username threshold the username is locked everywhere, the
    // price of bounding a guesser who has addresses to spare.
    for n in 1..=3 {
        let from = format!("192.0.2.{n}:1000");
        for _ in 0..5 {
            login_with(&f.app, "boss", "guess from many", Some(&from)).await;
        }
    }
    let r = login_with(&f.app, "boss", kit::PASSWORD, office).await;
    assert_eq!(r.code(), "login_locked", "12 failures in a row from anywhere lock the username for every address");
    clock.advance(5 * 60_000 + 1);
    token_of(&login_with(&f.app, "boss", kit::PASSWORD, office).await);
    let failures = f.site.count("SELECT count(*) FROM audit WHERE action = 'login_failed' AND detail LIKE 'from 203.0.113.7:%'");
    assert_eq!(failures, 5, "failures are audited with the address they came from");
}

#[tokio::test]
async fn the_served_router_knows_the_client_address() {
    let site = Site::demo(&[("walker", Role::GridWorker, vec![ScopeUnit::District])]);
    let state = gridwalk_server::AppState::open(site.dir.path(), fast_config()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gridwalk_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let body = json!({"username": "walker", "password": "not it at all 1", "device_name": "t"});
    let r = reqwest::Client::new().post(format!("http://{addr}/api/v1/auth/login")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED, "a wrong password over TCP");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let from = site.count("SELECT count(*) FROM audit WHERE action = 'login_failed' AND detail LIKE 'from 127.0.0.1:%'");
    assert_eq!(from, 1, "serve attaches the peer address, so the throttle and lockout count by it");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client_and_from_anyone_else_it_is_ignored() {
    let proxy: std::net::IpAddr = "10.1.1.1".parse().unwrap();
    let config = Config { trusted_proxies: vec![proxy], ..fast_config() };
    let f = fixture_at(config, None);
    let login_via = |peer: &'static str, forwarded: &'static str| {
        let app = f.app.clone();
        async move {
            let body = json!({"username": "walker", "password": "not it at all 1", "device_name": "t"});
            let req = Request::builder()
                .method(Method::POST)
                .uri("/api/v1/auth/login")
                .header("content-type", "application/json")
                .header("x-forwarded-for", forwarded)
                .extension(ConnectInfo(peer.parse::<SocketAddr>().unwrap()))
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap();
            app.oneshot(req).await.unwrap().status()
        }
    };
    assert_eq!(login_via("10.1.1.1:5000", "6.6.6.6, 203.0.113.9").await, StatusCode::UNAUTHORIZED, "via the proxy");
    assert_eq!(login_via("198.51.100.1:5000", "203.0.113.50").await, StatusCode::UNAUTHORIZED, "straight in");
    let from =
        |addr: &str| f.site.count(&format!("SELECT count(*) FROM audit WHERE action = 'login_failed' AND detail LIKE 'from {addr}:%'"));
    assert_eq!(from("203.0.113.9"), 1, "from a trusted proxy the right-most forwarded address is the client");
    assert_eq!(from("6.6.6.6"), 0, "what the client itself put left of it is not believed");
    assert_eq!(from("198.51.100.1"), 1, "from anyone else the header is ignored: the peer is the client");
}

#[test]
fn the_district_file_sets_the_token_lifetime_and_the_trusted_proxies_within_bounds() {
    let c = Config::from_toml("[access]\ntoken_days = 7\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n").unwrap();
    assert_eq!(c.token_ttl, Duration::from_secs(7 * 24 * 3600), "token_days is the token lifetime");
    assert_eq!(c.trusted_proxies.len(), 2, "the proxies are taken");
    assert_eq!(Config::default().token_ttl, Duration::from_secs(30 * 24 * 3600), "the default lifetime is 30 days");
    let err = Config::from_toml("[access]\ntoken_days = 0\n").unwrap_err();
    assert_eq!(err.code(), "config_out_of_range", "a token lifetime outside 1..=365 days is refused: {err}");
    let err = Config::from_toml("[access]\n\ntrusted_proxies = [\"proxy.local\"]\n").unwrap_err();
    assert!(err.to_string().contains("line 3"), "a bad address is reported with its line: {err}");
}

/// Run the real CLI binary with `stdin` piped in; its exit status and stderr.
fn cli(args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridwalk-server"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn the_cli_takes_passwords_from_stdin_never_from_argv_and_disables_and_enables() {
    let site = Site::demo(&[("root", Role::Admin, vec![ScopeUnit::District])]);
    let data = site.dir.path().to_str().unwrap().to_owned();
    let add = ["worker", "add", "--data", &data, "--username", "li", "--name", "李", "--role", "cadre", "--scope", "district"];
    let with_argv: Vec<&str> = add.iter().copied().chain(["--password", "correct horse battery"]).collect();
    let (ok, err) = cli(&with_argv, "");
    assert!(!ok && err.contains("--password"), "a password on the command line is refused: {err}");
    let stdin_flag: Vec<&str> = add.iter().copied().chain(["--password-stdin"]).collect();
    let (ok, err) = cli(&stdin_flag, "short\n");
    assert!(!ok && err.contains("weak password"), "a weak password from stdin is refused: {err}");
    assert_eq!(site.count("SELECT count(*) FROM workers WHERE username = 'li'"), 0, "and nothing is added");
    let (ok, err) = cli(&stdin_flag, "correct horse battery\n");
    assert!(ok, "the password is read from stdin's first line: {err}");

    let (_, app) = site.serve(fast_config());
    let li = kit::login(&app, "li").await;
    assert!(cli(&["worker", "disable", "--data", &data, "--username", "li"], "").0, "the CLI disables");
    assert_eq!(pull(&app, &li.token).await.code(), "worker_disabled", "a CLI disable holds on the running server at once");
    assert!(cli(&["worker", "enable", "--data", &data, "--username", "li"], "").0, "the CLI enables");
    assert_eq!(pull(&app, &li.token).await.status, StatusCode::OK, "and the same device works again");
    let (ok, _) = cli(&["worker", "password", "--data", &data, "--username", "li", "--password-stdin"], "li has a new one 9\n");
    assert!(ok, "the CLI resets a password from stdin");
    assert_eq!(pull(&app, &li.token).await.code(), "token_revoked", "a CLI reset ends the worker's sessions");
    assert_eq!(site.count("SELECT count(*) FROM audit WHERE actor = 'cli' AND action = 'password_reset'"), 1, "audited as cli");
}
