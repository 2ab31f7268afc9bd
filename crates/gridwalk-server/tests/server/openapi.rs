//! The OpenAPI document: generated from the code and checked in as `openapi.json` (stale is a
//! failure; `GRIDWALK_BLESS=1` rewrites it), listing exactly the methods the router serves,
//! every `$ref` resolving, and its schemas accepting what serde actually writes.

use super::kit::{self, fast_config, Site};
use axum::http::{Method, StatusCode};
use gridwalk_domain::*;
use gridwalk_proto::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const BLESS: &str = "GRIDWALK_BLESS=1 cargo test -p gridwalk-server --test server openapi";

#[test]
fn openapi_json_is_generated_from_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let generated = format!("{}\n", gridwalk_server::http::openapi_json());
    if std::env::var_os("GRIDWALK_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    if checked_in != generated {
        let line = checked_in.lines().zip(generated.lines()).position(|(a, b)| a != b).unwrap_or(0) + 1;
        panic!("crates/gridwalk-server/openapi.json is not the document the code generates (first difference at line {line}); refresh it with `{BLESS}` and commit it");
    }
}

fn document() -> Value {
    serde_json::from_str(gridwalk_server::http::openapi_json()).unwrap()
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes_and_every_route_answers() {
    let site = Site::demo(&[]);
    let (_, app) = site.serve(fast_config());
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Gridwalk district server");
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routes: BTreeSet<(String, String)> = gridwalk_server::routes().into_iter().map(|(m, p)| (m.to_owned(), p)).collect();
    assert_eq!(documented, routes, "routes() are the document's operations");
    let served = kit::send(&app, Method::GET, "/api/v1/openapi.json", None, None, vec![]).await;
    assert_eq!(serde_json::from_slice::<Value>(&served.bytes).unwrap(), doc, "the generated document is what is served");
    let paths: BTreeSet<&String> = routes.iter().map(|(_, p)| p).collect();
    for path in paths {
        let uri = path
            .replace("{id}", &IssueId::from_parts(1, [1; 10]).to_string())
            .replace("{sha256}", &"a".repeat(64))
            .replace("{service_code}", "leak");
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let r = kit::send(&app, method.clone(), &uri, None, None, vec![]).await;
            let body: Value = serde_json::from_slice(&r.bytes).unwrap_or(Value::Null);
            if routes.contains(&(method.to_string(), path.clone())) {
                // An Open311 route answers an unknown request id with its own 404 (`unknown_request`,
                // in the spec's error array or in XML), not the catch-all's `not_found`.
                let open311_answer =
                    path.starts_with("/open311/") && body.get("code").is_none() && !String::from_utf8_lossy(&r.bytes).contains("not_found");
                assert!(
                    (r.status != StatusCode::NOT_FOUND || open311_answer) && r.status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is documented, so it is routed (got {})",
                    r.status
                );
            } else {
                assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is not documented, so it is not served");
            }
        }
    }
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    doc.pointer(r.strip_prefix('#')?)
}

#[test]
fn every_ref_resolves_and_no_body_is_an_untyped_object() {
    let doc = document();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        assert!(resolve(&doc, r).is_some(), "{r} is defined in the document");
    }
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/open311/") || path == "/api/v1/openapi.json" {
            continue; // Open311's records are built as trees, not Rust types; the document is a document.
        }
        for (method, op) in ops.as_object().unwrap() {
            let mut bodies: Vec<&Value> = op["responses"].as_object().unwrap().values().collect();
            bodies.extend(op.get("requestBody"));
            for body in bodies {
                for (media, content) in body.get("content").and_then(Value::as_object).into_iter().flatten() {
                    if media == "application/json" {
                        assert!(content["schema"].get("$ref").is_some(), "{method} {path}: a JSON body names its wire type");
                    }
                }
            }
        }
    }
    let ids = &doc["components"]["schemas"]["IssueId"];
    assert_eq!((&ids["type"], &ids["format"]), (&json!("string"), &json!("uuid")), "id newtypes are UUID strings");
}

/// A small JSON Schema check, enough for what utoipa writes: `$ref`, `type`, `enum`,
/// `properties`/`required`/`additionalProperties`, `items`, `oneOf`, `allOf`, `format: uuid`.
fn check(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return check(doc, resolve(doc, r).ok_or(format!("{at}: unresolved {r}"))?, v, at);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => false,
        });
        if !ok {
            return Err(format!("{at}: {v} is not of type {types:?}"));
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(v) {
            return Err(format!("{at}: {v} is not one of {values:?}"));
        }
    }
    if schema.get("format") == Some(&json!("uuid")) {
        if let Some(s) = v.as_str() {
            uuid::Uuid::parse_str(s).map_err(|e| format!("{at}: {s} is not a uuid: {e}"))?;
        }
    }
    if schema.get("minimum") == Some(&json!(0)) && v.as_f64().is_some_and(|n| n < 0.0) {
        return Err(format!("{at}: {v} is below 0"));
    }
    if let (Some(items), Some(a)) = (schema.get("items"), v.as_array()) {
        for (i, item) in a.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{i}]"))?;
        }
    }
    if let Some(o) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !o.contains_key(name) {
                return Err(format!("{at}: required {name} is missing from {v}"));
            }
        }
        for (k, field) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(doc, s, field, &format!("{at}.{k}"))?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => return Err(format!("{at}: {k} is not a property")),
                    Some(s @ Value::Object(_)) => check(doc, s, field, &format!("{at}.{k}"))?,
                    _ => {}
                },
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            // Under allOf each part sees the whole object: a part's closedness is not checked.
            let mut open = s.clone();
            if let Some(o) = open.as_object_mut() {
                o.remove("additionalProperties");
            }
            check(doc, &open, v, at)?;
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let passing: Vec<usize> = one.iter().enumerate().filter(|(_, s)| check(doc, s, v, at).is_ok()).map(|(i, _)| i).collect();
        if passing.len() != 1 {
            let why: Vec<String> = one.iter().filter_map(|s| check(doc, s, v, at).err()).collect();
            return Err(format!("{at}: {v} matches {} of oneOf (want 1): {why:?}", passing.len()));
        }
    }
    Ok(())
}

fn assert_fits(doc: &Value, name: &str, value: &impl serde::Serialize) {
    let v = serde_json::to_value(value).unwrap();
    let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
    if let Err(e) = check(doc, &schema, &v, name) {
        panic!("the {name} schema accepts serde's JSON: {e}");
    }
}

fn id<T>(make: fn(u64, [u8; 10]) -> T, n: u8) -> T {
    make(1_760_000_000_000 + u64::from(n), [n; 10])
}

fn every_body() -> Vec<EventBody> {
    let yard = id(CourtyardId::from_parts, 1);
    let issue = id(IssueId::from_parts, 2);
    let point = Some(Location { lat: 39.9, lon: 116.5, accuracy_m: 8.0 });
    vec![
        EventBody::VisitRecorded(Visit {
            courtyard: yard,
            mode: VisitMode::InDepth,
            started_at_ms: 1,
            ended_at_ms: 2,
            location: point,
            notes: "走访".into(),
            residents_met: 3,
            linked_issues: vec![issue],
        }),
        EventBody::IssueReported(IssueReport {
            courtyard: yard,
            category: Category::Leak,
            source: IssueSource::Hotline,
            description: "漏水".into(),
            contact: Some(ResidentContact { name: None, phone: "13812345678".into() }),
            location: None,
            received_at_ms: Some(5),
            external_ref: Some("12345-1".into()),
        }),
        EventBody::IssueResponded { note: "n".into() },
        EventBody::NoteAdded { text: "t".into() },
        EventBody::PhotoAttached { sha256: "a".repeat(64), bytes: 10, mime: "image/jpeg".into() },
        EventBody::IssueResolved { note: "n".into(), photo_sha256: None },
        EventBody::CallbackRecorded { satisfaction: Satisfaction::BasicallySatisfied, note: "n".into() },
        EventBody::IssueReopened { reason: "r".into() },
        EventBody::ProgressAdded { note: "n".into(), public: true },
        EventBody::Whistled { level: WhistleLevel::Community, target: "城管科".into(), note: "n".into() },
        EventBody::ReportedIn { target: "城管科".into(), note: "n".into() },
        EventBody::IssueClosed { note: "n".into() },
        EventBody::Recurred { new_issue: issue },
        EventBody::RecurrenceFlagged { earlier_issue: issue },
        EventBody::Pledged { kind: PledgeKind::Chronic, note: "n".into() },
        EventBody::Assigned { to: Assignee::Worker(id(WorkerId::from_parts, 7)), reason: "派至责任网格员".into() },
        EventBody::Assigned { to: Assignee::Community(id(CommunityId::from_parts, 6)), reason: String::new() },
        EventBody::Accepted { note: String::new() },
        EventBody::Returned { reason: ReturnReason::NotMyArea, note: "n".into() },
        EventBody::Transferred { to: Assignee::Dispatcher, note: "n".into() },
        EventBody::Urged { note: "n".into() },
        EventBody::ExtensionRequested { until_ms: 99, reason: "r".into() },
        EventBody::ExtensionDecided { approved: false, note: "n".into() },
        EventBody::Reviewed { approved: true, note: String::new() },
        EventBody::ClosedAsDuplicate { of: id(IssueId::from_parts, 3), note: String::new() },
        EventBody::DuplicateLinked { duplicate: id(IssueId::from_parts, 4) },
        EventBody::Cancelled { reason: "误报".into() },
    ]
}

fn event(n: u8, entity: Entity, body: EventBody) -> Event {
    Event {
        id: id(EventId::from_parts, n),
        author: id(WorkerId::from_parts, 7),
        device: id(DeviceId::from_parts, 8),
        hlc: Hlc::new(1_760_000_000_000 + i64::from(n), u32::from(n)),
        wall_ms: 1_760_000_000_000,
        clock_offset_ms: -3,
        entity,
        body,
    }
}

#[test]
fn the_schemas_accept_what_serde_writes() {
    let doc = document();
    let issue = id(IssueId::from_parts, 2);
    let events: Vec<Event> = every_body().into_iter().enumerate().map(|(i, b)| event(i as u8 + 10, Entity::Issue(issue), b)).collect();
    let reg = registry_gen::demo_registry();
    let snapshot = RegistrySnapshot {
        subdistricts: reg.subdistricts.clone(),
        communities: reg.communities.clone(),
        management_grids: reg.management_grids.clone(),
        technical_grids: reg.technical_grids.clone(),
        responsible: vec![ResponsibleWorker {
            courtyard_id: reg.courtyards[0].id,
            worker_id: id(WorkerId::from_parts, 9),
            name: "王丽".into(),
        }],
        courtyards: reg.courtyards.clone(),
        version: 3,
    };
    let state = fold_issue(issue, events.clone());
    assert!(state.history.iter().any(|h| h.conflict.is_some()), "the sample history has conflicts to check too");
    let summary = IssueSummary {
        id: issue,
        courtyard_id: reg.courtyards[0].id,
        category: Category::Other,
        source: IssueSource::Online,
        status: IssueStatus::InProgress,
        description: "d".into(),
        contact_name: None,
        contact_phone_masked: Some("138****5678".into()),
        external_ref: None,
        received_at_ms: Some(1),
        response_due_ms: None,
        responded_at_ms: None,
        resolved_at_ms: None,
        closed_at_ms: None,
        reopen_count: 0,
        conflicts: 1,
    };
    let worker = WorkerInfo {
        id: id(WorkerId::from_parts, 7),
        username: "wang".into(),
        name: "王".into(),
        role: Role::Supervisor,
        scope: vec![
            ScopeUnit::District,
            ScopeUnit::Subdistrict("CY01".into()),
            ScopeUnit::Community("CY01-C01".into()),
            ScopeUnit::Courtyard("CY01-C01-Y01".into()),
            ScopeUnit::Department("区城管委".into()),
        ],
    };
    assert_fits(&doc, "ErrorBody", &ErrorBody { code: "c".into(), message: "m".into(), retry_after_s: Some(1) });
    assert_fits(&doc, "Health", &Health { status: "ok".into(), api_version: API_VERSION });
    assert_fits(
        &doc,
        "LoginRequest",
        &LoginRequest { username: "u".into(), password: "p".into(), device_name: "d".into(), device_id: None },
    );
    assert_fits(
        &doc,
        "LoginResponse",
        &LoginResponse { token: "t".into(), device_id: id(DeviceId::from_parts, 8), worker, server_time_ms: 1, notify_token: "n".into() },
    );
    let logged = events.iter().enumerate().map(|(i, e)| LoggedEvent { seq: i as u64 + 1, event: e.clone() }).collect();
    assert_fits(&doc, "PushRequest", &PushRequest { device_id: id(DeviceId::from_parts, 8), events: logged });
    let outcomes = [
        PushOutcome::Accepted,
        PushOutcome::Duplicate,
        PushOutcome::Rejected { code: "out_of_scope".into(), reason: "r".into() },
        PushOutcome::Conflict { reason: "r".into() },
        PushOutcome::Gap,
    ];
    let results =
        outcomes.into_iter().enumerate().map(|(i, outcome)| PushResult { seq: i as u64, event_id: events[i].id, outcome }).collect();
    assert_fits(&doc, "PushResponse", &PushResponse { results, acked_seq: 4, server_time_ms: 1, epoch: Some("e1".into()) });
    let pulled = events.iter().map(|e| PulledEvent { server_seq: 9, event: e.clone() }).collect();
    let pull = PullResponse {
        events: pulled,
        next_cursor: 9,
        has_more: false,
        registry: Some(snapshot.clone()),
        server_time_ms: 1,
        epoch: Some("e1".into()),
        held_seq: Some(3),
        max_seq: Some(9),
    };
    assert_fits(&doc, "PullResponse", &pull);
    assert_fits(&doc, "PullResponse", &PullResponse { registry: None, events: vec![], ..pull });
    assert_fits(&doc, "RegistrySnapshot", &snapshot);
    for place in [
        IntakePlace::Courtyard { courtyard_id: reg.courtyards[0].id },
        IntakePlace::CourtyardCode { code: "CY01-C01-Y01".into() },
        IntakePlace::Address { address: "惠新西街".into(), lat: Some(39.9), lon: Some(116.5) },
    ] {
        let contact = Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() });
        let order =
            HotlineIntake { order_no: "1".into(), place, category: "leak".into(), description: "d".into(), received_at_ms: 1, contact };
        assert_fits(&doc, "HotlineIntake", &order);
    }
    let intake = HotlineIntakeResponse {
        issue_id: issue,
        courtyard_id: reg.courtyards[0].id,
        subdistrict_id: reg.subdistricts[0].id,
        community_id: reg.communities[0].id,
        response_due_ms: 1,
        created: true,
        probable_duplicate_of: Some(issue),
        attached: false,
    };
    assert_fits(&doc, "HotlineIntakeResponse", &intake);
    foresight_answers_fit(&doc, &reg, issue);
    assert_fits(&doc, "BlobStatus", &BlobStatus { sha256: "a".repeat(64), held_bytes: 3, complete: false });
    assert_fits(&doc, "IssueList", &IssueList { issues: vec![summary.clone()], next_after: Some(issue) });
    assert_fits(&doc, "IssueList", &IssueList { issues: vec![], next_after: None });
    assert_fits(&doc, "IssueState", &state);
    let visit = id(VisitId::from_parts, 4);
    let visit_events = vec![
        event(40, Entity::Visit(visit), every_body().remove(0)),
        event(41, Entity::Visit(visit), EventBody::NoteAdded { text: "t".into() }),
    ];
    assert_fits(&doc, "VisitList", &VisitList { visits: vec![fold_visit(visit, visit_events)] });
    let alert = Alert {
        issue_id: issue,
        kind: "whistle_next".into(),
        level: "community".into(),
        at_ms: 1,
        detail: "d".into(),
        issue: Some(summary.clone()),
    };
    assert_fits(&doc, "AlertList", &AlertList { alerts: vec![alert.clone(), Alert { issue: None, ..alert }] });
    let ratio = rates::Ratio { numerator: 1, denominator: 2, rate: Some(0.5) };
    let row = rates::RateRow {
        group: "g".into(),
        period_start_ms: 0,
        period_end_ms: 1,
        received: 2,
        response: ratio,
        resolution: rates::Ratio::default(),
        satisfaction: ratio,
    };
    let labels = [("g".to_owned(), "组".to_owned())].into_iter().collect();
    let report =
        RatesReport { by: "worker".into(), period: rates::Period::Month, from_ms: 0, to_ms: 1, as_of_ms: 1, rows: vec![row], labels };
    assert_fits(&doc, "RatesReport", &report);
    let pledge = state.pledge.clone().expect("the sample issue is pledged");
    assert!(!state.whistles.is_empty(), "the sample issue is whistled");
    let progress = PledgeProgress { issue: summary, pledge, whistles: state.whistles.clone(), satisfaction: Some(Satisfaction::Satisfied) };
    assert_fits(&doc, "PledgeList", &PledgeList { pledges: vec![progress] });
    let notice = NoticeInfo {
        id: events[0].id,
        kind: "responded".into(),
        phone_masked: "138****5678".into(),
        text: "您反映的问题已有网格员响应".into(),
        state: "queued".into(),
        attempts: 2,
        next_attempt_ms: Some(1),
        last_error: Some("gateway answered HTTP 503".into()),
        created_ms: 1,
        sent_ms: None,
    };
    let sent = NoticeInfo { state: "sent".into(), next_attempt_ms: None, last_error: None, sent_ms: Some(2), ..notice.clone() };
    assert_fits(&doc, "NoticeList", &NoticeList { notices: vec![notice, sent] });
}

#[test]
fn the_check_refuses_what_the_schemas_do_not_allow() {
    let doc = document();
    let fits = |name: &str, v: Value| check(&doc, &json!({ "$ref": format!("#/components/schemas/{name}") }), &v, name).is_ok();
    assert!(fits("ErrorBody", json!({"code": "c", "message": "m"})));
    assert!(!fits("ErrorBody", json!({"code": "c"})), "a required field");
    assert!(!fits("ErrorBody", json!({"code": "c", "message": "m", "x": 1})), "deny_unknown_fields is additionalProperties: false");
    assert!(!fits("IssueId", json!("not a uuid")), "ids are uuids");
    assert!(!fits("Category", json!("street-light")), "vocabularies are closed");
    assert!(!fits("EventBody", json!({"kind": "note_added", "payload": {"note": "x"}})), "payloads are per kind");
    assert!(!fits("EventBody", json!({"kind": "nope", "payload": {}})), "kinds are closed");
    assert!(!fits("PushOutcome", json!({"outcome": "rejected"})), "a rejection has its code and reason");
    assert!(!fits("ScopeUnit", json!({"level": "community"})), "a community unit has its code");
}

/// 未诉先办's answers, made by the domain's own methods from a little real data.
fn foresight_answers_fit(doc: &Value, reg: &Registry, issue: IssueId) {
    use gridwalk_domain::foresight::{coverage, hotspot, trend, warning, Duty, Unit, WEEK_MS};
    use gridwalk_server::app::foresight::*;
    let (yard, community, subdistrict) = (reg.courtyards[0].id, reg.communities[0].id, reg.subdistricts[0].id);
    let worker = id(WorkerId::from_parts, 3);
    let week = gridwalk_domain::foresight::week_start(1_764_000_000_000);
    let duty = Duty { courtyard: yard, community, subdistrict, worker: Some(worker) };
    let tally = coverage::VisitTally {
        courtyard: yard,
        worker,
        mode: VisitMode::ALL[0],
        week_start_ms: week,
        far: false,
        visits: 2,
        last_ms: week + 5,
    };
    let weeks = vec![WeekLabel { start_ms: week, label: gridwalk_domain::foresight::week_label(week) }];
    for level in [coverage::Level::Worker, coverage::Level::Community] {
        let c = coverage::compute(&[duty], &[tally], level, &[week], week + WEEK_MS - 1, 14);
        assert_fits(
            doc,
            "CoverageAnswer",
            &CoverageAnswer { level, weeks: weeks.clone(), stale_days: 14, far_visit_m: 300.0, coverage: c },
        );
    }
    let cell = hotspot::CellCounts { unit: Unit::Courtyard(yard), category: Category::Leak, baseline: [0; 8], current: 5 };
    let hot = hotspot::hotspots(&[cell], 3, 3.0);
    assert_eq!(hot.len(), 1, "five reports over an empty baseline are a hotspot");
    assert_fits(
        doc,
        "HotspotAnswer",
        &HotspotAnswer { window_days: 7, window_start_ms: week, min_count: 3, z: 3.0, hotspots: hot.clone() },
    );
    let counts = [(week, 4u64)].into_iter().collect();
    let series = trend::Series { unit: Unit::District, category: Category::Heating, points: trend::series(&counts, &[week], 3, 3.0) };
    assert_fits(doc, "TrendAnswer", &TrendAnswer { weeks, series: vec![series] });
    let yards = [warning::QuietYard { courtyard: yard, last_visit_ms: None, reports: 2 }];
    let inputs = warning::Inputs {
        hotspots: &hot,
        recurrences: &[(yard, 3)],
        rates: &[],
        yards: &yards,
        now_ms: week,
        stale_days: 14,
        lookback_days: 28,
        hotspot_z: 3.0,
    };
    let warnings = warning::rank(&inputs);
    assert_eq!(warnings.len(), 3, "a hotspot, repeated recurrences and an unvisited courtyard with reports");
    assert_fits(doc, "WarningAnswer", &WarningAnswer { as_of_ms: week, warnings });
    assert_fits(doc, "TaskMade", &TaskMade { issue_id: issue, assigned_to: Some(worker), created: true });
    assert_fits(doc, "TaskMade", &TaskMade { issue_id: issue, assigned_to: None, created: false });
}
