//! 接诉即办 end to end: a hotline issue is dispatched, pulled by the courtyard worker's tablet,
//! responded to within the hour, whistled to a district department, reported in by the
//! department's own tablet, resolved, called back dissatisfied (reopened on every tablet),
//! resolved again and called back satisfied; the server's three rates are then as computed by
//! hand.

use gridwalk_core::Clock;
use gridwalk_core::{CourtyardQuery, SystemClock};
use gridwalk_domain::*;
use gridwalk_e2e::sync_kit::*;
use gridwalk_proto::{HotlineIntake, IntakePlace, RatesReport, ScopeUnit};

const DEPT: &str = "区城管委";
const DAY: i64 = 86_400_000;

#[test]
fn a_hotline_issue_goes_through_whistle_report_in_reopen_and_close_and_the_rates_match_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    server_data(
        &server_dir,
        &[
            ("wang", Role::GridWorker, vec![ScopeUnit::Community("CY10-C01".into())]),
            ("caller", Role::Supervisor, vec![ScopeUnit::Community("CY10-C01".into())]),
            ("dept", Role::DepartmentStaff, vec![ScopeUnit::Department(DEPT.into())]),
            ("boss", Role::Supervisor, vec![ScopeUnit::District]),
        ],
    );
    let server = InProcessServer::start(&server_dir);
    let url = server.url();
    let mut wang = enrolled_tablet(&dir.path().join("wang.db"), &url, "wang", system_clock());
    let mut caller = enrolled_tablet(&dir.path().join("caller.db"), &url, "caller", system_clock());
    sync_once(&mut wang, &url);
    sync_once(&mut caller, &url);
    let yard = wang.search_courtyards(&CourtyardQuery { text: "惠新西街33号院".into(), ..Default::default() }).unwrap().remove(0);
    // 惠新西街33号院's responsible grid worker (责任网格员) is wang: the order is assigned to him.
    gridwalk_server::admin::set_responsible(&server_dir, &yard.code, "wang").unwrap();

    // Dispatch.
    let boss = Api::login(&url, "boss");
    let received = SystemClock::default().now_ms();
    let order = boss.hotline(&HotlineIntake {
        order_no: "12345-WF-1".into(),
        place: IntakePlace::Courtyard { courtyard_id: yard.id },
        category: "illegal_building".into(),
        description: "楼顶私搭乱建".into(),
        received_at_ms: received,
        contact: None,
    });
    let issue = order.issue_id;

    // Pulled and responded to within the hour, then whistled to the department.
    sync_once(&mut wang, &url);
    let pulled = wang.issue(issue).expect("the courtyard's worker pulled the hotline issue").state;
    assert_eq!(
        (pulled.status, pulled.response_due_ms),
        (IssueStatus::Reported, Some(received + RESPONSE_WINDOW_MS)),
        "the 1-hour clock runs from dispatch"
    );
    wang.respond(issue, "已电话联系居民").unwrap();
    wang.whistle(issue, WhistleLevel::Subdistrict, DEPT, "需区城管委执法").unwrap();
    sync_once(&mut wang, &url);

    // The department's own tablet sees exactly that issue and reports in.
    let mut dept = enrolled_tablet(&dir.path().join("dept.db"), &url, "dept", system_clock());
    sync_once(&mut dept, &url);
    assert_eq!(dept.issue(issue).expect("the department pulled the issue whistled to it").state.status, IssueStatus::InProgress);
    dept.report_in(issue, DEPT, "区城管委已报到").unwrap();
    dept.add_progress(issue, "已下达限期拆除通知", true).unwrap();
    let report = sync_once(&mut dept, &url);
    assert_eq!(dept.sync_state().unwrap().queue_depth, 0, "the department's report-in and progress were accepted: {report:?}");

    // Resolved; the callback is dissatisfied, so the issue reopens on the worker's tablet.
    sync_once(&mut wang, &url);
    let state = wang.issue(issue).unwrap().state;
    assert!(state.whistles[0].reported_in_at_ms.is_some(), "the worker's tablet shows the department reported in");
    wang.resolve(issue, "违建已拆除", None).unwrap();
    sync_once(&mut wang, &url);
    sync_once(&mut caller, &url);
    caller.record_callback(issue, Satisfaction::Dissatisfied, "居民称仍有残留").unwrap();
    sync_once(&mut caller, &url);
    sync_once(&mut wang, &url);
    let state = wang.issue(issue).unwrap().state;
    assert_eq!((state.status, state.reopen_count), (IssueStatus::InProgress, 1), "a dissatisfied callback reopens the issue on the tablet");

    // Resolved again; satisfied; closed everywhere.
    wang.resolve(issue, "残留已清运", None).unwrap();
    sync_once(&mut wang, &url);
    sync_once(&mut caller, &url);
    caller.record_callback(issue, Satisfaction::Satisfied, "居民满意").unwrap();
    sync_once(&mut caller, &url);
    sync_once(&mut wang, &url);
    sync_once(&mut dept, &url);
    let on_server = boss.issue(issue);
    assert_eq!(
        (on_server.status, on_server.satisfaction),
        (IssueStatus::Closed, Some(Satisfaction::Satisfied)),
        "the satisfied callback closes it"
    );
    let json = |s: &IssueState| serde_json::to_value(s).unwrap();
    assert_eq!(json(&wang.issue(issue).unwrap().state), json(&on_server), "the worker's tablet folds to the server's state");
    assert_eq!(json(&dept.issue(issue).unwrap().state), json(&on_server), "the department's tablet folds to the server's state");
    assert!(on_server.conflicts().next().is_none(), "no event of the run conflicted");

    // The three rates by hand: one issue received; first response within the hour (1/1);
    // closed as of now (1/1); latest callback satisfied (1/1), the earlier dissatisfied one
    // superseded.
    let wang_id = wang.identity().unwrap().worker;
    for by in ["district", "worker", "category"] {
        let (status, body) = boss.get_json(&format!("/api/v1/rates?by={by}&period=week&from={}&to={}", received - DAY, received + DAY));
        assert_eq!(status, 200, "{body}");
        let r: RatesReport = serde_json::from_value(body).unwrap();
        assert_eq!(r.rows.len(), 1, "by={by}: one group, one week");
        let row = &r.rows[0];
        let got = [
            (row.response.numerator, row.response.denominator),
            (row.resolution.numerator, row.resolution.denominator),
            (row.satisfaction.numerator, row.satisfaction.denominator),
        ];
        assert_eq!(got, [(1, 1), (1, 1), (1, 1)], "by={by}: response, resolution and satisfaction are each 1 of 1");
        let want_group = match by {
            "district" => "district".to_owned(),
            "worker" => wang_id.to_string(),
            _ => "illegal_building".to_owned(),
        };
        assert_eq!(row.group, want_group, "by={by}: the issue counts for its group (worker = who first responded)");
        assert!(row.period_start_ms <= received && received < row.period_end_ms, "the row's week holds the receipt time");
    }
    // Department staff use the API alone for reading too: they list only their issue.
    let dept_api = Api::login(&url, "dept");
    let (status, body) = dept_api.get_json("/api/v1/issues");
    assert_eq!(status, 200);
    let ids: Vec<String> = body["issues"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, vec![issue.to_string()], "department staff list only what was whistled to them");
    let (status, _) = dept_api.get_json("/api/v1/rates?by=district&period=week&from=0&to=1");
    assert_eq!(status, 403, "the rates are for supervisors and admins");
}
