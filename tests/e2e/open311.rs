//! Open311 end to end: a GeoReport v2 POST from an outside client, against the real server on
//! 127.0.0.1:0, reaches the tablet of the worker whose scope holds the courtyard nearest the
//! point, through sync, and no other worker's tablet.

use gridwalk_core::CourtyardQuery;
use gridwalk_domain::*;
use gridwalk_e2e::sync_kit::*;
use gridwalk_proto::ScopeUnit;
use gridwalk_server::admin;

#[test]
fn an_open311_request_reaches_only_the_tablet_of_its_courtyards_worker() {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    // 惠新西街33号院 lies in community CY10-C01; CY15-C01 is 八里庄's 甘西社区.
    server_data(
        &server_dir,
        &[
            ("wang", Role::GridWorker, vec![ScopeUnit::Community("CY10-C01".into())]),
            ("li", Role::GridWorker, vec![ScopeUnit::Community("CY15-C01".into())]),
        ],
    );
    let key = admin::add_api_key(&server_dir, "12345 平台").unwrap();
    let server = InProcessServer::start(&server_dir);
    let mut wang = enrolled_tablet(&dir.path().join("wang.db"), &server.url(), "wang", system_clock());
    let mut li = enrolled_tablet(&dir.path().join("li.db"), &server.url(), "li", system_clock());
    sync_once(&mut wang, &server.url());
    sync_once(&mut li, &server.url());
    let yard = wang.search_courtyards(&CourtyardQuery { text: "惠新西街33号院".into(), ..Default::default() }).unwrap().remove(0);

    // Next to the courtyard, not on it: dispatch picks the nearest courtyard.
    let reg = registry_gen::demo_registry();
    let point = reg.courtyards.iter().find(|c| c.id == yard.id).unwrap().point;
    let (lat, long) = ((point.lat + 0.000005).to_string(), (point.lon + 0.000005).to_string());
    let http = reqwest::blocking::Client::new();
    let resp = http
        .post(format!("{}/open311/v2/requests.json", server.url()))
        .form(&[
            ("api_key", key.key.as_str()),
            ("service_code", "street_light"),
            ("lat", &lat),
            ("long", &long),
            ("description", "路灯不亮"),
            ("phone", "13812345678"),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "the Open311 request is filed");
    let body: serde_json::Value = resp.json().unwrap();
    let public = body[0]["service_request_id"].as_str().expect("a string id").to_owned();
    assert!(public.parse::<IssueId>().is_err(), "the public id is not the internal issue id");
    // The internal id, as only the server's own database knows it.
    let id = gridwalk_e2e::engine::Peek::open(&server_dir).text("SELECT id FROM issues WHERE public_id = ?1", &[public.clone().into()]);
    let id: IssueId = id.parse().unwrap();

    sync_once(&mut wang, &server.url());
    sync_once(&mut li, &server.url());
    let on_wang = wang.issue(id).expect("the courtyard's worker pulled the Open311 request as an issue");
    let report = on_wang.state.report.unwrap();
    assert_eq!(report.courtyard, yard.id, "dispatched to the courtyard nearest the point");
    assert_eq!(report.source, IssueSource::Hotline, "an Open311 request is a 12345 hotline issue");
    assert_eq!(report.description, "路灯不亮", "the description reaches the tablet as filed");
    assert_eq!(on_wang.state.response_due_ms, on_wang.state.received_at_ms.map(|r| r + RESPONSE_WINDOW_MS), "the 1-hour clock runs");
    assert!(li.issue(id).is_err(), "a worker of another community never receives it");

    // The resident follows it by the same public id.
    let follow: serde_json::Value =
        http.get(format!("{}/open311/v2/requests/{public}.json", server.url())).send().unwrap().error_for_status().unwrap().json().unwrap();
    assert_eq!(follow[0]["address"], "惠新西街33号院", "one ticket to the end: the resident sees where it went");
    assert_eq!(follow[0]["status"], "open");
}
