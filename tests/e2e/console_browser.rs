//! The district console in a real browser: headless Chromium (through chromedriver) against the
//! real server (in-process, on 127.0.0.1:0) over a real SQLite data dir with the demo registry,
//! serving the console built from `ui/console` and embedded at compile time.
//!
//! - a supervisor logs in through the login page and reads today's figures and the rates of a
//!   hand-computed fixture (orders filed through the hotline API, answered and resolved from a
//!   grid worker's tablet, reviewed and called back through the console API);
//! - tickets: the status filter shows exactly the expected rows; a ticket is transferred to the
//!   worker from the page, resolved from the worker's tablet, reviewed from the page and closes,
//!   each action stored once;
//! - both exports download and parse back (CSV with its BOM, .xlsx through calamine);
//! - a department user reports in (报到) on what a supervisor whistled to the department;
//! - a burst of orders at one courtyard heads the 预警 page as a rising hotspot, and the
//!   supervisor makes it a proactive task that goes to the courtyard's responsible worker, once;
//! - a screenshot of every page at 1920×1080 and 1366×768 under
//!   `<target>/screenshots/console/<page>-<w>x<h>.png`;
//! - bad input (a taken username, a registry CSV with bad lines) is shown in Chinese and stores
//!   nothing.

use gridwalk_core::Tablet;
use gridwalk_domain::registry_gen::{demo_registry, IMPORT_HEADER};
use gridwalk_domain::{Courtyard, IssueId, ResidentContact, Role};
use gridwalk_e2e::browser::{Chromedriver, ChromiumOptions, Session};
use gridwalk_e2e::server::{add_worker, load_demo, start_in_process, InProcessHandle, PASSWORD};
use gridwalk_e2e::sync_kit::{enrolled_tablet, sync_once, system_clock, Api};
use gridwalk_proto::{HotlineIntake, IntakePlace, ScopeUnit};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEPT: &str = "区城管委";
const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// A server with the demo registry and four workers: `boss` (district supervisor), `root`
/// (admin), `dept` (staff of 区城管委) and `wang` (grid worker of one courtyard).
struct Site {
    dir: tempfile::TempDir,
    url: String,
    yard: Courtyard,
    /// The supervisor's API (a bearer token of its own device).
    boss: Api,
    _server: InProcessHandle,
}

impl Site {
    /// `responsible`: make wang the courtyard's responsible grid worker (责任网格员), so that
    /// hotline orders there are dispatched to him.
    fn start(responsible: bool) -> Site {
        let dir = tempfile::tempdir().expect("data dir");
        load_demo(dir.path());
        let yard = demo_registry().courtyards[0].clone();
        add_worker(dir.path(), "boss", Role::Supervisor, vec![ScopeUnit::District]);
        add_worker(dir.path(), "root", Role::Admin, vec![ScopeUnit::District]);
        add_worker(dir.path(), "dept", Role::DepartmentStaff, vec![ScopeUnit::Department(DEPT.into())]);
        add_worker(dir.path(), "wang", Role::GridWorker, vec![ScopeUnit::Courtyard(yard.code.clone())]);
        if responsible {
            gridwalk_server::admin::set_responsible(dir.path(), &yard.code, "wang").expect("set the responsible worker");
        }
        let (url, server) = start_in_process(dir.path());
        let boss = Api::login(&url, "boss");
        Site { dir, url, yard, boss, _server: server }
    }

    /// A hotline order at the courtyard received at `received_at_ms`: its issue.
    fn order(&self, n: u32, received_at_ms: i64) -> IssueId {
        self.boss
            .hotline(&HotlineIntake {
                order_no: format!("12345-E2E-{n:03}"),
                place: IntakePlace::Courtyard { courtyard_id: self.yard.id },
                category: "noise".into(),
                description: format!("夜间施工噪声（第 {n} 单）"),
                received_at_ms,
                contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13812345678".into() }),
            })
            .issue_id
    }

    /// An action through the console API with the supervisor's bearer token; the answer's JSON.
    fn act(&self, issue: IssueId, body: Value) -> Value {
        let (status, answer) = post(
            &self.boss,
            &format!("/api/v1/console/tickets/{issue}/actions"),
            &json!({"request_id": uuid::Uuid::now_v7(), "body": body}),
        );
        assert_eq!(status, 200, "the supervisor's action {body} on {issue} is accepted: {answer}");
        assert_eq!(answer["outcome"], "accepted", "a new request is stored, not a duplicate: {answer}");
        answer
    }

    fn ticket(&self, issue: IssueId) -> Value {
        let (status, t) = self.boss.get_json(&format!("/api/v1/console/tickets/{issue}"));
        assert_eq!(status, 200, "the supervisor reads ticket {issue}: {t}");
        t
    }

    /// The grid worker's tablet, enrolled against the server and synced once.
    fn tablet(&self) -> Tablet {
        let mut t = enrolled_tablet(&self.dir.path().join("wang.db"), &self.url, "wang", system_clock());
        sync_once(&mut t, &self.url);
        t
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join(gridwalk_server::store::sqlite::DB_FILE)).expect("open the server's database")
    }

    fn count(&self, sql: &str, args: impl rusqlite::Params) -> i64 {
        self.db().query_row(sql, args, |r| r.get(0)).expect("count")
    }

    /// How many events of `kind` the server holds for `issue`.
    fn events_of(&self, issue: IssueId, kind: &str) -> i64 {
        self.count(
            "SELECT count(*) FROM events WHERE entity_id = ?1 AND json_extract(json, '$.body.kind') = ?2",
            rusqlite::params![issue.to_string(), kind],
        )
    }
}

/// POST JSON with an API's bearer token.
fn post(api: &Api, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}{path}", api.url))
        .bearer_auth(&api.token)
        .json(body)
        .send()
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("the clock is past 1970").as_millis() as i64
}

/// A browser for one test: its own chromedriver (stopped with it) and a 1366×768 Chromium.
fn browser() -> (Chromedriver, Session) {
    let driver = Chromedriver::start();
    let s = Session::chromium(&driver, ChromiumOptions::default());
    (driver, s)
}

fn sel(test: &str) -> String {
    format!(r#"[data-test="{test}"]"#)
}

/// Log in through the login page and wait for the page the session lands on.
fn login(s: &Session, url: &str, username: &str, landing: &str) {
    s.goto(&format!("{url}/login"));
    s.type_into(&sel("login-username"), username);
    s.type_into(&sel("login-password"), PASSWORD);
    s.click(&sel("login-submit"));
    s.wait(&sel(&format!("page-{landing}")), 30);
}

/// The trimmed text of the first element matching `css` now (None: no such element).
fn text_now(s: &Session, css: &str) -> Option<String> {
    s.exec("const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : null", json!([css])).as_str().map(str::to_owned)
}

/// Wait (15 s) until the element's text is `want`; on timeout fail with `rule` and what it says.
fn expect_text(s: &Session, css: &str, want: &str, rule: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = text_now(s, css);
        if got.as_deref() == Some(want) {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(got.as_deref(), Some(want), "{rule} ({css})");
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// The `data-id`s of every element matching `css`, in document order.
fn ids_now(s: &Session, css: &str) -> Vec<String> {
    let v = s.exec("return [...document.querySelectorAll(arguments[0])].map(e => e.dataset.id)", json!([css]));
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// Wait (15 s) until the rows matching `css` are exactly `want` (in order).
fn expect_ids(s: &Session, css: &str, want: &[String], rule: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = ids_now(s, css);
        if got == want {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(got, want, "{rule}");
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// Wait until no loading mask is shown (the page's data has arrived).
fn settle(s: &Session) {
    s.wait_until(
        "the page to finish loading",
        "return ![...document.querySelectorAll('.el-loading-mask')].some(e => e.getClientRects().length > 0 && getComputedStyle(e).display !== 'none')",
        30,
    );
}

/// An attribute of the first element matching `css` now.
fn attr_now(s: &Session, css: &str, name: &str) -> Option<String> {
    s.exec("const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null", json!([css, name]))
        .as_str()
        .map(str::to_owned)
}

fn wait_attr(s: &Session, css: &str, name: &str, want: &str, rule: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = attr_now(s, css, name);
        if got.as_deref() == Some(want) {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(got.as_deref(), Some(want), "{rule} ({css} @{name})");
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// When this week's orders of a fixture are received, `minutes` ago, but never before today's
/// Beijing midnight: early in the day the offsets shrink in proportion, so every order is
/// received today (and this ISO week) and still inside its first hour whenever the test runs.
fn today_minutes_ago(now: i64, minutes: i64) -> i64 {
    let since_midnight = now - gridwalk_server::app::console::overview::day_start(now);
    let back = minutes * MIN;
    // The largest offset used is 50 minutes: scale so it stays after midnight.
    if since_midnight > 55 * MIN {
        now - back
    } else {
        now - back * since_midnight / (55 * MIN)
    }
}

#[test]
fn a_supervisor_logs_in_and_the_overview_shows_the_hand_computed_figures() {
    let site = Site::start(true);
    let now = now_ms();
    // One order of last week, never answered.
    let last_week = site.order(1, now - 7 * DAY);
    // Six orders today, all inside their first hour (dispatched to wang, the responsible worker).
    let answered = site.order(2, today_minutes_ago(now, 50));
    let reviewed = site.order(3, today_minutes_ago(now, 45));
    let called_back = site.order(4, today_minutes_ago(now, 40));
    for (n, minutes) in [(5, 30), (6, 20), (7, 10)] {
        site.order(n, today_minutes_ago(now, minutes));
    }
    // wang's tablet: answers one, resolves two on the spot (resolving counts as the response).
    let mut wang = site.tablet();
    wang.respond(answered, "已电话联系居民").unwrap();
    for issue in [reviewed, called_back] {
        wang.accept(issue, "").unwrap();
        wang.resolve(issue, "已协调施工方停工", None).unwrap();
    }
    let report = sync_once(&mut wang, &site.url);
    assert_eq!(wang.sync_state().unwrap().queue_depth, 0, "the worker's answers are all accepted by the server: {report:?}");
    // The desk closes both resolved ones: one by review, one by a satisfied callback.
    site.act(reviewed, json!({"kind": "reviewed", "payload": {"approved": true, "note": "核实通过"}}));
    site.act(called_back, json!({"kind": "callback_recorded", "payload": {"satisfaction": "satisfied", "note": "居民满意"}}));
    assert_eq!(site.ticket(last_week)["row"]["overdue"], true, "last week's unanswered order is overdue");

    // By hand:
    // today: received 6 (orders 2–7); responded within the hour 3 (order 2 answered, 3 and 4
    //   resolved on the spot); overdue 1 (last week's order: open, unanswered, its hour long
    //   past, counted whatever day it came); resolved today 2 (orders 3 and 4).
    // this week: response 3 / 3 = 100.0% (orders 5–7 are unanswered but still inside their
    //   hour: not counted yet); resolution 2 closed / 6 received = 33.3%; satisfaction
    //   1 satisfied / 1 called back = 100.0%.
    // last week: response 0 / 1 = 0.0% (unanswered past its hour); resolution 0 / 1 = 0.0%;
    //   satisfaction no callback: 0 / 0 = "—".
    let (_driver, s) = browser();
    login(&s, &site.url, "boss", "overview");
    let figures = [
        ("today-received", "6", "today's received counts the six orders received today, not last week's"),
        ("today-responded", "3", "responded within the hour: one answered and two resolved on the spot"),
        ("today-overdue", "1", "overdue: the open, unanswered order past its deadline, whatever day it came"),
        ("today-resolved", "2", "resolved today: the reviewed one and the called-back one"),
        ("rate-response-this", "100.0%", "this week's response rate counts only answered or overdue orders: 3/3"),
        ("rate-resolution-this", "33.3%", "this week's resolution rate is closed over received, one decimal: 2/6"),
        ("rate-satisfaction-this", "100.0%", "this week's satisfaction rate is over the issues called back: 1/1"),
        ("rate-response-last", "0.0%", "last week's response rate: the one order never answered, 0/1"),
        ("rate-resolution-last", "0.0%", "last week's resolution rate: 0/1"),
        ("rate-satisfaction-last", "—", "a rate with nothing to measure (no callback last week) is shown as —, not 0%"),
    ];
    for (test, want, rule) in figures {
        expect_text(&s, &sel(test), want, rule);
    }
    wait_attr(&s, &sel("rate-response-trend"), "data-dir", "up", "the response rate went up from 0.0% to 100.0%");
    wait_attr(&s, &sel("rate-resolution-trend"), "data-dir", "up", "the resolution rate went up from 0.0% to 33.3%");
    assert!(s.find(&sel("rate-satisfaction-trend")).is_none(), "no arrow when last week has no satisfaction figure");
    let units = s.exec("return [...document.querySelectorAll('[data-test^=\"unit-row-\"]')].map(e => e.dataset.test)", json!([]));
    assert_eq!(units.as_array().map(Vec::len), Some(1), "this week's orders are all in one subdistrict: one unit row ({units})");
    s.quit();
}

#[test]
fn tickets_filter_by_status_and_a_ticket_is_transferred_resolved_reviewed_and_closed_each_action_once() {
    let site = Site::start(false);
    let now = now_ms();
    let first = site.order(1, now - 30 * MIN);
    let target = site.order(2, now - 20 * MIN);
    let answered = site.order(3, now - 10 * MIN);
    // The third goes to wang through the API and he answers it: it is no longer `reported`.
    let wang_id = site.ticket(answered)["workers"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["username"] == "wang"))
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .expect("wang, whose courtyard it is, is among whom the ticket may go to");
    site.act(answered, json!({"kind": "transferred", "payload": {"to": {"to": "worker", "id": wang_id}, "note": "请网格员处理"}}));
    let mut wang = site.tablet();
    wang.respond(answered, "已联系居民").unwrap();
    sync_once(&mut wang, &site.url);
    assert_eq!(site.ticket(answered)["row"]["status"], "responded", "wang's answer reached the server");

    let (_driver, s) = browser();
    login(&s, &site.url, "boss", "overview");
    s.click(&sel("menu-tickets"));
    s.wait(&sel("page-tickets"), 30);
    expect_ids(
        &s,
        &sel("ticket-row"),
        &[answered, target, first].map(|i| i.to_string()),
        "unfiltered, every ticket shows, newest receipt first",
    );
    s.select_option(&sel("filter-status"), r#".el-select-dropdown__item[data-test-option="reported"]"#);
    s.click(&sel("filter-apply"));
    expect_ids(
        &s,
        &sel("ticket-row"),
        &[target, first].map(|i| i.to_string()),
        "status 待响应 (reported) shows exactly the two unanswered orders",
    );
    assert!(s.current_url().contains("status=reported"), "the applied filter is in the URL: {}", s.current_url());
    s.select_option(&sel("filter-status"), r#".el-select-dropdown__item[data-test-option="responded"]"#);
    s.click(&sel("filter-apply"));
    expect_ids(&s, &sel("ticket-row"), &[answered.to_string()], "status responded shows exactly the answered order");

    // Transfer the second order to wang from its page.
    s.goto(&format!("{}/tickets?status=reported", site.url));
    expect_ids(&s, &sel("ticket-row"), &[target, first].map(|i| i.to_string()), "the filter in the URL is applied on load");
    s.click(&format!(r#"[data-test="ticket-link"][data-id="{target}"]"#));
    s.wait(&format!(r#"[data-test="page-ticket"][data-id="{target}"]"#), 30);
    wait_attr(&s, &sel("ticket-status"), "data-status", "reported", "a new order is 待响应");
    s.click(&sel("action-transferred"));
    s.wait_visible(&sel("action-dialog"), 15);
    s.select_option(&sel("action-transfer-worker"), r#".el-select-dropdown__item[data-test-option="wang"]"#);
    s.type_into(&sel("action-note"), "请王师傅尽快处理");
    s.click(&sel("action-submit"));
    s.wait_until(
        "the transfer in the timeline",
        "return !!document.querySelector('[data-test=\"timeline-item\"][data-kind=\"transferred\"]')",
        15,
    );
    let t = site.ticket(target);
    assert_eq!(t["state"]["assignee"], json!({"to": "worker", "id": wang_id}), "the transfer made wang the assignee: {}", t["state"]);
    let status = t["row"]["status"].as_str().unwrap().to_owned();
    wait_attr(&s, &sel("ticket-status"), "data-status", &status, "the page shows the status the server holds after the transfer");
    assert_eq!(site.events_of(target, "transferred"), 1, "one press of submit stores one transfer");

    // wang resolves it on his tablet; the page, reloaded, offers the review.
    sync_once(&mut wang, &site.url);
    wang.accept(target, "").unwrap();
    wang.resolve(target, "已协调施工方停工", None).unwrap();
    sync_once(&mut wang, &site.url);
    s.goto(&format!("{}/tickets/{target}", site.url));
    wait_attr(&s, &sel("ticket-status"), "data-status", "resolved", "the worker's resolution reached the page");
    s.click(&sel("action-reviewed"));
    s.wait_visible(&sel("action-dialog"), 15);
    s.click(&sel("action-approve"));
    s.type_into(&sel("action-note"), "核实通过");
    s.click(&sel("action-submit"));
    wait_attr(&s, &sel("ticket-status"), "data-status", "closed", "a passed review closes the ticket");
    s.wait_until(
        "the review in the timeline",
        "return !!document.querySelector('[data-test=\"timeline-item\"][data-kind=\"reviewed\"]')",
        15,
    );
    let kinds: Vec<String> = s
        .exec("return [...document.querySelectorAll('[data-test=\"timeline-item\"]')].map(e => e.dataset.kind)", json!([]))
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap_or_default().to_owned())
        .collect();
    for kind in ["transferred", "accepted", "issue_resolved", "reviewed"] {
        assert_eq!(kinds.iter().filter(|k| *k == kind).count(), 1, "the timeline shows {kind} once: {kinds:?}");
    }

    let t = site.ticket(target);
    assert_eq!(t["row"]["status"], "closed", "the server holds the ticket closed");
    let timeline: Vec<&str> = t["timeline"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap_or_default()).collect();
    for kind in ["transferred", "reviewed"] {
        assert_eq!(timeline.iter().filter(|k| **k == kind).count(), 1, "the API's timeline holds one {kind}: {timeline:?}");
        assert_eq!(site.events_of(target, kind), 1, "the database holds one {kind} event for the ticket");
    }
    let actor = t["timeline"].as_array().unwrap().iter().find(|i| i["kind"] == "reviewed").map(|i| i["actor"].clone());
    assert_eq!(actor, Some(json!("boss")), "the review is authored by the supervisor who pressed the button");
    s.quit();
}

#[test]
fn the_tickets_exports_download_as_csv_with_a_bom_and_as_xlsx_with_one_row_per_ticket() {
    let site = Site::start(false);
    let now = now_ms();
    for n in 0..3 {
        site.order(n, now - (30 - i64::from(n)) * MIN);
    }
    let (_driver, s) = browser();
    login(&s, &site.url, "boss", "overview");
    s.goto(&format!("{}/tickets", site.url));
    s.wait(&sel("page-tickets"), 30);
    s.wait_until("three ticket rows", "return document.querySelectorAll('[data-test=\"ticket-row\"]').length === 3", 15);
    let shown = ids_now(&s, &sel("ticket-row")).len();

    s.click(&sel("export-csv"));
    let csv_file = s.wait_for_download("csv", 30);
    wait_attr(&s, &sel("export-done"), "data-rows", &shown.to_string(), "the page tells the rows the server said it sent (X-Total-Rows)");
    let bytes = std::fs::read(&csv_file).expect("the CSV was saved");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "the CSV starts with a UTF-8 BOM, so Excel reads the Chinese");
    let text = String::from_utf8(bytes[3..].to_vec()).expect("the CSV is UTF-8");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a well-formed CSV record")).collect();
    let header = rows.iter().position(|r| r.get(0) == Some("工单编号")).expect("the CSV has a Chinese header row starting 工单编号");
    assert_eq!(rows.len() - header - 1, shown, "the CSV has one data row per ticket shown on the page");
    assert!(rows[header + 1..].iter().all(|r| r.iter().any(|c| c == "138****5678")), "phones are masked in the export");

    s.click(&sel("export-xlsx"));
    let xlsx_file = s.wait_for_download("xlsx", 30);
    use calamine::Reader as _;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&xlsx_file).expect("the .xlsx opens in calamine");
    let sheet = book.worksheet_range_at(0).expect("a first sheet").expect("the first sheet reads");
    let first_cells: Vec<String> = sheet.rows().map(|r| r.first().map(|c| c.to_string()).unwrap_or_default()).collect();
    let header = first_cells.iter().position(|c| c == "工单编号").expect("the sheet has a Chinese header row starting 工单编号");
    assert_eq!(first_cells.len() - header - 1, shown, "the sheet has one row per ticket shown on the page");
    assert_eq!(
        site.count("SELECT count(*) FROM audit WHERE action = 'export' AND actor = 'boss'", ()),
        2,
        "each export from the page is audited once"
    );
    s.quit();
}

#[test]
fn a_department_user_reports_in_on_what_was_whistled_to_the_department() {
    let site = Site::start(false);
    let now = now_ms();
    // Another order, not whistled: the department never sees it.
    site.order(1, now - 20 * MIN);
    let whistled = site.order(2, now - 10 * MIN);
    site.act(whistled, json!({"kind": "whistled", "payload": {"level": "subdistrict", "target": DEPT, "note": ""}}));
    let (_driver, s) = browser();
    login(&s, &site.url, "dept", "department");
    expect_ids(&s, &sel("dept-row"), &[whistled.to_string()], "the department inbox lists exactly the ticket whistled to 区城管委");
    s.click(&format!(r#"[data-test="dept-row"][data-id="{whistled}"] [data-test="dept-report-in"]"#));
    s.wait_visible(&sel("action-dialog"), 15);
    let target = s.exec("return document.querySelector('[data-test=\"action-target\"]')?.value ?? null", json!([]));
    assert_eq!(target, json!(DEPT), "报到 is prefilled with the whistle's target");
    s.type_into(&sel("action-note"), "区城管委已报到");
    s.click(&sel("action-submit"));
    s.wait_until(
        "the report-in button to go",
        "return !document.querySelector('[data-test=\"dept-row\"] [data-test=\"dept-report-in\"]')",
        15,
    );
    let t = site.ticket(whistled);
    let w = &t["state"]["whistles"][0];
    assert_eq!(w["target"], DEPT, "the whistle is to the department: {w}");
    assert!(w["reported_in_at_ms"].as_i64().is_some(), "the API shows the whistle reported in: {w}");
    assert_eq!(site.events_of(whistled, "reported_in"), 1, "one 报到 is stored once");
    s.quit();
}

#[test]
fn a_burst_of_orders_is_a_warning_that_a_supervisor_makes_a_task_for_the_courtyards_worker() {
    let site = Site::start(true);
    let now = now_ms();
    // Five noise orders in the last hour over an empty baseline: z = (5 − 0) / √1 = 5 ≥ 3.
    for n in 0..5 {
        site.order(n, now - (50 - 10 * i64::from(n)) * MIN);
    }
    let yard = site.yard.id.to_string();
    let (_driver, s) = browser();
    login(&s, &site.url, "boss", "overview");
    s.click(&sel("menu-foresight"));
    s.wait(&sel("page-foresight"), 30);
    let warning = format!(r#"[data-test="warning-row"][data-kind="rising_hotspot"][data-unit="{yard}"]"#);
    s.wait(&warning, 15);
    assert!(
        text_now(&s, &warning).is_some_and(|t| t.contains("本期 5 件")),
        "the warning gives its reason in Chinese with the count: {:?}",
        text_now(&s, &warning)
    );
    s.wait(&format!(r#"[data-test="hotspot-row"][data-id="{yard}.noise"]"#), 15);

    s.click(&format!(r#"[data-test="make-task"][data-unit="{yard}"][data-kind="rising_hotspot"]"#));
    s.wait_visible(&sel("task-dialog"), 15);
    // Element Plus puts the attribute on the textarea itself (or on its wrapper, in older versions).
    let described = s.exec(
        "const e = document.querySelector('[data-test=\"task-description\"]'); return e ? (e.value ?? e.querySelector('textarea')?.value ?? null) : null",
        json!([]),
    );
    assert!(
        described.as_str().is_some_and(|d| d.starts_with("【未诉先办】") && d.contains("本期 5 件")),
        "the task is prefilled with the warning's reason: {described}"
    );
    s.click(&sel("task-submit"));
    s.wait_visible(&sel("task-made"), 15);
    let issue = attr_now(&s, &sel("task-made"), "data-issue").expect("the made task names its issue");
    let issue: IssueId = issue.parse().expect("an issue id");
    let t = site.ticket(issue);
    assert_eq!(t["row"]["source"], "proactive", "the task is a proactive issue, not a complaint: {t}");
    assert_eq!(t["row"]["category"], "noise", "of the hotspot's category");
    assert_eq!(t["row"]["courtyard_id"], yard.as_str(), "at the hot courtyard");
    assert_eq!(t["row"]["assignee"], "wang", "sent to the courtyard's responsible worker: {t}");
    assert_eq!(site.events_of(issue, "issue_reported"), 1, "the task is stored once");
    s.click(&sel("task-open"));
    s.wait(&sel("page-ticket"), 30);
    s.quit();
}

/// `<target dir>/screenshots/console`: the target dir is CARGO_TARGET_DIR when set (relative to
/// the workspace, as cargo reads it), else the workspace's `target` (where app_webdriver's go).
fn console_screenshots() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => workspace.join(d),
        None => workspace.join("target"),
    };
    target.join("screenshots/console")
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR", "a PNG with its IHDR first");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

const SIZES: [(u32, u32); 2] = [(1920, 1080), (1366, 768)];

/// Screenshot the page on screen at both sizes; the files written.
fn shoot(s: &Session, name: &str) -> Vec<(PathBuf, u32, u32)> {
    let dir = console_screenshots();
    let mut out = Vec::new();
    for (w, h) in SIZES {
        s.set_size(w, h);
        settle(s);
        // Let charts and tables re-lay themselves out for the new size.
        std::thread::sleep(Duration::from_millis(300));
        let path = dir.join(format!("{name}-{w}x{h}.png"));
        let _ = std::fs::remove_file(&path);
        s.screenshot(&path);
        out.push((path, w, h));
    }
    out
}

#[test]
fn every_page_is_screenshotted_at_1920x1080_and_1366x768() {
    let site = Site::start(true);
    let now = now_ms();
    let mut issues = Vec::new();
    for n in 0..4 {
        issues.push(site.order(n, now - (40 - 10 * i64::from(n)) * MIN));
    }
    site.order(9, now - 7 * DAY);
    let mut wang = site.tablet();
    wang.respond(issues[0], "已电话联系居民").unwrap();
    sync_once(&mut wang, &site.url);
    site.act(issues[1], json!({"kind": "whistled", "payload": {"level": "subdistrict", "target": DEPT, "note": "需执法"}}));

    let (_driver, s) = browser();
    let mut shots = Vec::new();
    login(&s, &site.url, "root", "overview");
    let pages: Vec<(String, String, String)> = [
        ("overview", "/overview".to_owned(), "page-overview"),
        ("tickets", "/tickets".to_owned(), "page-tickets"),
        ("ticket", format!("/tickets/{}", issues[1]), "page-ticket"),
        ("intake", "/intake".to_owned(), "page-intake"),
        ("map", "/map".to_owned(), "page-map"),
        ("visits", "/visits".to_owned(), "page-visits"),
        ("foresight", "/foresight".to_owned(), "page-foresight"),
        ("devices", "/devices".to_owned(), "page-devices"),
    ]
    .into_iter()
    .map(|(n, p, t)| (n.to_owned(), p, t.to_owned()))
    .chain(
        ["workers", "devices", "api_keys", "registry", "departments", "audit"]
            .into_iter()
            .map(|tab| (format!("admin-{tab}"), format!("/admin?tab={tab}"), "page-admin".to_owned())),
    )
    .collect();
    for (name, path, root) in &pages {
        s.goto(&format!("{}{path}", site.url));
        s.wait(&sel(root), 30);
        if name == "tickets" {
            s.wait(&sel("ticket-row"), 15);
        }
        if name == "ticket" {
            s.wait(&sel("timeline-item"), 15);
        }
        if let Some(tab) = name.strip_prefix("admin-") {
            wait_attr(&s, &format!("#tab-{tab}"), "aria-selected", "true", "the admin page opens on the tab in its URL");
        }
        shots.extend(shoot(&s, name));
    }
    s.click(&sel("logout"));
    s.wait(&sel("page-login"), 30);
    login(&s, &site.url, "dept", "department");
    s.wait(&sel("dept-row"), 15);
    shots.extend(shoot(&s, "department"));
    s.quit();

    assert_eq!(shots.len(), 2 * 15, "fifteen pages (the admin's six tabs among them) at two sizes each");
    for (path, w, h) in shots {
        let png = std::fs::read(&path).unwrap_or_else(|e| panic!("the screenshot {} was written: {e}", path.display()));
        assert_eq!(png_size(&png), (w, h), "{} is a PNG of the {w}×{h} viewport", path.display());
    }
}

/// The console's Chinese text for an error code, read from the shared i18n table
/// (ui/src/i18n/zh-CN.ts, `errors`), the one the page uses.
fn zh_error(code: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/i18n/zh-CN.ts");
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let errors = &source[source.find("errors:").expect("zh-CN.ts has an errors table")..];
    let key = format!("{code}: '");
    let start = errors.find(&key).unwrap_or_else(|| panic!("zh-CN.ts has errors.{code}")) + key.len();
    errors[start..start + errors[start..].find('\'').expect("a closing quote")].to_owned()
}

#[test]
fn bad_input_in_the_admin_page_is_shown_in_chinese_and_stores_nothing() {
    let site = Site::start(false);
    let workers = site.count("SELECT count(*) FROM workers", ());
    let version_sql = "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'registry_version'";
    let version = site.count(version_sql, ());
    let courtyards = site.count("SELECT count(*) FROM courtyards", ());
    let (_driver, s) = browser();
    login(&s, &site.url, "root", "overview");
    s.click(&sel("menu-admin"));
    s.wait(&sel("page-admin"), 30);
    s.wait(r#"[data-test="worker-row"][data-id="boss"]"#, 15);

    // A worker whose username is taken.
    s.click(&sel("worker-add"));
    s.wait_visible(&sel("worker-username"), 15);
    s.type_into(&sel("worker-username"), "boss");
    s.type_into(&sel("worker-name"), "重名的人");
    s.select_option(&sel("scope-kind"), r#".el-select-dropdown__item[data-test-option="district"]"#);
    s.click(&sel("scope-add"));
    s.wait(r#"[data-test="scope-unit"]"#, 15);
    s.type_into(&sel("worker-password"), "a long enough pass 1");
    s.click(&sel("worker-submit"));
    let taken = zh_error("username_taken");
    let alert = r#"[data-test="form-error"][data-code="username_taken"]"#;
    s.wait_visible(alert, 15);
    assert!(
        text_now(&s, alert).is_some_and(|t| t.contains(&taken)),
        "a taken username is refused with the Chinese message {taken:?}, not the server's English: {:?}",
        text_now(&s, alert)
    );
    assert_eq!(site.count("SELECT count(*) FROM workers", ()), workers, "a refused worker is not stored");
    assert_eq!(
        site.count("SELECT count(*) FROM workers WHERE username = 'boss' AND name = 'boss'", ()),
        1,
        "the existing worker is untouched"
    );

    // A registry file with two bad lines (an unknown subdistrict kind; a latitude that is no number).
    s.goto(&format!("{}/admin?tab=registry", site.url));
    s.wait(&sel("import-text"), 30);
    let csv = format!(
        "{IMPORT_HEADER}\nS1,一街道,street,C1,一社区,G1,Y1,一号院,39.9,116.4,\nS1,一街道,castle,C1,一社区,G1,Y2,二号院,39.9,116.4,\nS1,一街道,street,C1,一社区,G1,Y3,三号院,abc,116.4,\n"
    );
    s.type_into(&sel("import-text"), &csv);
    s.click(&sel("import-submit"));
    s.wait(&sel("import-error-line"), 15);
    let lines = s.exec("return [...document.querySelectorAll('[data-test=\"import-error-line\"]')].map(e => e.dataset.line)", json!([]));
    assert_eq!(lines, json!(["3", "4"]), "one import-error-line per bad line, with its line number");
    // The server's code for a file with bad lines (the contract's sketch said bad_registry_csv).
    let bad = zh_error("registry_import_bad_row");
    let alert = r#"[data-test="form-error"][data-code="registry_import_bad_row"]"#;
    s.wait_visible(alert, 15);
    assert!(text_now(&s, alert).is_some_and(|t| t.contains(&bad)), "the refusal is in Chinese ({bad:?}): {:?}", text_now(&s, alert));
    assert_eq!(site.count(version_sql, ()), version, "a refused registry file leaves the registry version as it was");
    assert_eq!(site.count("SELECT count(*) FROM courtyards", ()), courtyards, "and stores no courtyard");
    s.quit();
}
