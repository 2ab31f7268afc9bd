//! Property-based fuzzing of the wire (issue #12): push bodies mutated from a valid one and
//! Open311 query strings built from its parameters and hostile values, against the real router
//! over a real SQLite file. Whatever comes in, the answer is a 2xx or a 4xx with its error
//! body, never a 5xx, and the server goes on serving.
//!
//! `GRIDWALK_FUZZ_CASES` sets the number of cases per target (default 48, CI's bounded run);
//! `cargo xtask fuzz` runs them longer.

use super::kit::{self, fast_config, Site};
use axum::http::{Method, StatusCode};
use gridwalk_domain::*;
use gridwalk_proto::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{json, Value};

fn cases() -> u32 {
    std::env::var("GRIDWALK_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

fn runner() -> TestRunner {
    TestRunner::new(RunnerConfig { cases: cases(), failure_persistence: None, ..RunnerConfig::default() })
}

/// Values a hostile client sends where a field goes.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
        Just(json!(-0.0)),
        "\\PC{0,40}".prop_map(Value::from),
        Just(json!("javascript:alert(1)")),
        Just(json!("'; DROP TABLE events; --")),
        Just(json!("\u{0}\u{7}\u{202e}")),
        Just(json!("路".repeat(3000))),
        Just(json!([])),
        Just(json!({})),
        Just(json!([[[[[[[[[[[[]]]]]]]]]]]])),
    ]
}

/// A path into a JSON value (object keys and array indices, as found).
fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                prefix.push(k.clone());
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                prefix.push(i.to_string());
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn set_at(v: &mut Value, path: &[String], to: Value) {
    let Some((first, rest)) = path.split_first() else {
        *v = to;
        return;
    };
    let next = match v {
        Value::Object(m) => m.get_mut(first),
        Value::Array(a) => first.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    };
    if let Some(next) = next {
        set_at(next, rest, to);
    }
}

fn error_shape(status: StatusCode, bytes: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(status.as_u16() < 500, "no input makes the server fail: {status} {}", String::from_utf8_lossy(bytes));
    if status.is_client_error() {
        let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        prop_assert!(v["code"].is_string() && v["message"].is_string(), "a refusal is {{code, message}}: {v}");
    }
    Ok(())
}

#[test]
fn push_bodies_never_fail_the_server() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let yard = registry_gen::demo_registry().courtyards[0].clone();
    let site = Site::demo(&[("walker", Role::GridWorker, vec![ScopeUnit::Courtyard(yard.code.clone())])]);
    // No rate limit: every case must reach the handler, not a 429.
    let (_, app) = site.serve(gridwalk_server::Config { rate_per_sec: 1e9, rate_burst: 1e9, ..fast_config() });
    let who = rt.block_on(kit::login(&app, "walker"));
    let answered = std::cell::Cell::new(0u32);
    let now = kit::now_ms();
    let issue = IssueId::from_parts(now as u64, [9; 10]);
    let report = EventBody::IssueReported(IssueReport {
        courtyard: yard.id,
        category: Category::StreetLight,
        source: IssueSource::Visit,
        description: "路灯不亮，电话13812345678".into(),
        contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
        location: Some(Location { lat: 39.92, lon: 116.46, accuracy_m: 8.0 }),
        received_at_ms: None,
        external_ref: None,
    });
    let events = vec![
        LoggedEvent { seq: 1, event: kit::event(&who, now, 1, Entity::Issue(issue), report) },
        LoggedEvent {
            seq: 2, event: kit::event(&who, now, 2, Entity::Issue(issue), EventBody::IssueResponded { note: "已联系".into() })
        },
    ];
    let valid = serde_json::to_value(PushRequest { device_id: who.device_id, events }).unwrap();
    let mut all = Vec::new();
    paths(&valid, &mut Vec::new(), &mut all);
    let strategy = (proptest::sample::select(all), hostile_value(), proptest::collection::vec(any::<u8>(), 0..64), 0u8..8);
    let mut runner = runner();
    runner
        .run(&strategy, |(path, value, noise, how)| {
            let body = match how {
                // Raw bytes now and then: not JSON at all.
                0 => noise,
                // A valid body cut short.
                1 => {
                    let b = serde_json::to_vec(&valid).unwrap();
                    b[..noise.len().min(b.len())].to_vec()
                }
                _ => {
                    let mut v = valid.clone();
                    set_at(&mut v, &path, value);
                    serde_json::to_vec(&v).unwrap()
                }
            };
            let r = rt.block_on(kit::send(&app, Method::POST, "/api/v1/sync/push", Some(&who.token), Some("application/json"), body));
            prop_assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "the fuzz reaches the handler");
            answered.set(answered.get() + u32::from(r.status == StatusCode::OK));
            error_shape(r.status, &r.bytes)
        })
        .unwrap_or_else(|e| panic!("the push fuzz found a failing body: {e}"));
    assert!(answered.get() > 0, "some mutated bodies are still pushes that the server settles event by event");
    let r = rt.block_on(kit::send(&app, Method::GET, "/healthz", None, None, Vec::new()));
    assert_eq!(r.status, StatusCode::OK, "the server still serves after the fuzz");
    let bad: i64 = site.count("SELECT count(*) FROM events WHERE json NOT LIKE '%\"kind\"%'");
    assert_eq!(bad, 0, "every stored event is a whole event");
}

#[test]
fn open311_parameters_never_fail_the_server() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let site = Site::demo(&[]);
    let (_, app) = site.serve(fast_config());
    let keys = proptest::sample::select(vec![
        "service_request_id",
        "service_code",
        "start_date",
        "end_date",
        "status",
        "jurisdiction_id",
        "page",
        "page_size",
        "lat",
        "long",
        "api_key",
        "bogus",
    ]);
    let values = prop_oneof![
        "\\PC{0,30}",
        any::<i64>().prop_map(|n| n.to_string()),
        Just("2026-13-45T99:99:99Z".to_owned()),
        Just("9999-12-31T23:59:59+14:00".to_owned()),
        Just("-1".to_owned()),
        Just("1e400".to_owned()),
        Just("NaN".to_owned()),
        Just("open,closed,open".to_owned()),
        Just("%ZZ".to_owned()),
    ];
    let paths = proptest::sample::select(vec![
        "/open311/v2/requests.json",
        "/open311/v2/requests.xml",
        "/open311/v2/services.json",
        "/open311/v2/services.xml",
        "/open311/v2/discovery.json",
    ]);
    let strategy = (paths, proptest::collection::vec((keys, values), 0..6));
    let mut runner = runner();
    runner
        .run(&strategy, |(path, params)| {
            let query: Vec<String> =
                params.iter().map(|(k, v)| format!("{k}={}", v.bytes().map(|b| format!("%{b:02X}")).collect::<String>())).collect();
            let uri = format!("{path}?{}", query.join("&"));
            let r = rt.block_on(kit::send(&app, Method::GET, &uri, None, None, Vec::new()));
            prop_assert!(r.status.as_u16() < 500, "no query makes Open311 fail: {uri} → {}", r.status);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("the Open311 fuzz found a failing query: {e}"));
}
