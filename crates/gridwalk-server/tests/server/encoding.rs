//! Compressed bodies over the real router: zstd pushes stored once, answers compressed only
//! for clients that ask, the encodings the server reads advertised on every answer, and bad
//! encodings (unknown, corrupt, a decompression bomb) refused with a code and nothing stored.

use super::kit::{self, fast_config, Site};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use gridwalk_domain::*;
use gridwalk_proto::*;
use serde_json::Value;
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    encoding: Option<String>,
    accepts: Option<String>,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        let plain = match self.encoding.as_deref() {
            Some("zstd") => zstd::decode_all(&self.bytes[..]).expect("a zstd answer decodes"),
            _ => self.bytes.clone(),
        };
        serde_json::from_slice(&plain).unwrap_or(Value::Null)
    }
}

async fn call(app: &Router, method: Method, uri: &str, token: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let header = |name| resp.headers().get(name).map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_owned());
    let (status, encoding, accepts) = (resp.status(), header("content-encoding"), header("accept-encoding"));
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
    Answer { status, encoding, accepts, bytes }
}

fn site() -> (Site, Router, Courtyard) {
    let yard = registry_gen::demo_registry().courtyards[0].clone();
    let site = Site::demo(&[("walker", Role::GridWorker, vec![ScopeUnit::Courtyard(yard.code.clone())])]);
    let (_, app) = site.serve(fast_config());
    (site, app, yard)
}

fn push_body(who: &LoginResponse, yard: CourtyardId, n: u64) -> Vec<u8> {
    let events = (1..=n)
        .map(|i| {
            let issue = IssueId::from_parts(1_760_000_000_000 + i, [i as u8; 10]);
            let body = EventBody::IssueReported(IssueReport {
                courtyard: yard,
                category: Category::StreetLight,
                source: IssueSource::Visit,
                description: format!("3号楼东侧路灯不亮，居民夜间出行不便。编号{i}"),
                contact: None,
                location: None,
                received_at_ms: None,
                external_ref: None,
            });
            LoggedEvent { seq: i, event: kit::event(who, kit::t0() + i as i64, i, Entity::Issue(issue), body) }
        })
        .collect();
    serde_json::to_vec(&PushRequest { device_id: who.device_id, events }).unwrap()
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn a_zstd_push_is_stored_once_and_every_answer_says_what_the_server_reads() {
    let (site, app, yard) = site();
    let who = kit::login(&app, "walker").await;
    let plain = push_body(&who, yard.id, 50);
    let packed = zstd::encode_all(&plain[..], 3).unwrap();
    assert!(packed.len() * 4 < plain.len(), "a batch of reports compresses at least fourfold ({} → {})", plain.len(), packed.len());
    for round in ["first", "resent"] {
        let a = call(&app, Method::POST, "/api/v1/sync/push", &who.token, &[JSON, ("content-encoding", "zstd")], packed.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "a zstd push is read ({round}): {}", String::from_utf8_lossy(&a.bytes));
        assert_eq!(a.accepts.as_deref(), Some("zstd, gzip"), "the answer says which request encodings the server reads");
        let resp: PushResponse = serde_json::from_value(a.json()).unwrap();
        assert_eq!(resp.acked_seq, 50, "the whole compressed batch is held ({round})");
    }
    assert_eq!(
        site.count(&format!("SELECT count(*) FROM events WHERE device_id = '{}'", who.device_id)),
        50,
        "a resent compressed batch is stored once"
    );
    // A gzip push of the next batch is read as well.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &push_body(&who, yard.id, 60)).unwrap();
    let a = call(&app, Method::POST, "/api/v1/sync/push", &who.token, &[JSON, ("content-encoding", "gzip")], gz.finish().unwrap()).await;
    assert_eq!(a.status, StatusCode::OK, "a gzip push is read");
    assert_eq!(
        site.count(&format!("SELECT count(*) FROM events WHERE device_id = '{}'", who.device_id)),
        60,
        "the gzip batch adds its ten new events"
    );
}

#[tokio::test]
async fn answers_are_compressed_only_for_a_client_that_asks() {
    let (_site, app, yard) = site();
    let who = kit::login(&app, "walker").await;
    // The same worker's second tablet: a pull shows it the first one's events.
    let other = kit::login(&app, "walker").await;
    let a = call(&app, Method::POST, "/api/v1/sync/push", &who.token, &[JSON], push_body(&who, yard.id, 200)).await;
    assert_eq!(a.status, StatusCode::OK, "an older tablet's plain push is read as before");
    let uri = "/api/v1/sync/pull?after=0&limit=1000&registry_version=0";
    let plain = call(&app, Method::GET, uri, &other.token, &[], vec![]).await;
    assert_eq!(plain.encoding, None, "a client that does not ask gets a plain answer (an older tablet, an Open311 client)");
    let packed = call(&app, Method::GET, uri, &other.token, &[("accept-encoding", "zstd, gzip")], vec![]).await;
    assert_eq!(packed.encoding.as_deref(), Some("zstd"), "a client that asks for zstd gets it");
    assert!(
        packed.bytes.len() * 3 < plain.bytes.len(),
        "the pull answer is smaller compressed ({} → {})",
        plain.bytes.len(),
        packed.bytes.len()
    );
    let (p, z) = (plain.json(), packed.json());
    assert_eq!(p["events"].as_array().map(Vec::len), Some(200), "the pull carries the 200 events");
    assert_eq!(p["events"], z["events"], "both answers carry the same events");
    let gz = call(&app, Method::GET, uri, &other.token, &[("accept-encoding", "gzip")], vec![]).await;
    assert_eq!(gz.encoding.as_deref(), Some("gzip"), "a client that asks only for gzip gets gzip");
}

#[tokio::test]
async fn bad_encodings_are_refused_with_a_code_and_store_nothing() {
    let (site, app, yard) = site();
    let who = kit::login(&app, "walker").await;
    let good = push_body(&who, yard.id, 5);
    // A bomb: a valid push padded past the 2 MiB body limit with whitespace JSON allows,
    // 64 KB compressed. Were the limit applied to the compressed bytes, it would be stored.
    let head = String::from_utf8(good.clone()).unwrap();
    let (open, close) = head.split_at(head.len() - 2);
    let bomb_plain = format!("{open}{}{close}", " ".repeat(8 * 1024 * 1024));
    let bomb = zstd::encode_all(bomb_plain.as_bytes(), 19).unwrap();
    assert!(bomb.len() < 64 * 1024, "the bomb is small on the wire ({} bytes)", bomb.len());
    let mut corrupt = zstd::encode_all(&good[..], 3).unwrap();
    let mid = corrupt.len() / 2;
    corrupt[mid..].iter_mut().for_each(|b| *b ^= 0x5A);
    let cases: [(&str, &str, Vec<u8>, StatusCode, &str); 4] = [
        ("brotli, which the server does not read", "br", good.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding"),
        ("two codings stacked", "zstd, gzip", good.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding"),
        ("a decompression bomb", "zstd", bomb, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
        ("corrupt zstd", "zstd", corrupt, StatusCode::BAD_REQUEST, "invalid_json"),
    ];
    for (what, coding, body, status, code) in cases {
        let a = call(&app, Method::POST, "/api/v1/sync/push", &who.token, &[JSON, ("content-encoding", coding)], body).await;
        let v = a.json();
        assert_eq!((a.status, v["code"].as_str()), (status, Some(code)), "{what} is refused as {code}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: the refusal says why");
    }
    assert_eq!(site.count("SELECT count(*) FROM events"), 0, "no refused body stored anything");
}
