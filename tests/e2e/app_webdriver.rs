//! The real tablet app, driven through WebDriver under Xvfb, against a real server: enrol, lose
//! the server, record a visit and an issue offline (both show as queued), get the server back
//! on the same port, sync from the Sync screen, and find both records on the server. Then 接诉即办
//! without the 同步 button: a hotline order dispatched to the worker shows on the tablet by
//! itself (banner, Today, countdown), is accepted and answered from the issue screen, and the
//! server has it; Today lists the worker's courtyards this week; reporting at the order's
//! courtyard shows it as already reported and one tap makes a "me too" that reaches the server;
//! locked, the tablet counts the next order without the PIN. Saves screenshots
//! at both tablet sizes under target/screenshots/.

use gridwalk_e2e::app_driver::{app_binary, start_tauri_driver, start_xvfb, Server, Session};
use serde_json::json;
use std::path::PathBuf;

const USER: &str = "wang.li";
const NAME: &str = "王丽";
const PASSWORD: &str = "xiaoguan-2024";
const PIN: &str = "246810";
const ISSUE_TEXT: &str = "惠新西街3号楼东侧路灯不亮，居民夜间出行不便";
const VISIT_NOTES: &str = "走访惠新西街：楼道堆物已清理，居民反映停车紧张";

const DESK: &str = "zhao.desk";
const DESK_PASSWORD: &str = "12345-desk-2024";
const YARD: &str = "惠新西街33号院";

fn screenshots() -> PathBuf {
    gridwalk_e2e::screenshots_dir()
}

fn shoot(s: &Session, name: &str) {
    // Let a "saved" toast finish first: the screenshots are of the screen itself.
    s.wait_until("toasts to close", "return [...document.querySelectorAll('.van-toast')].every(t => t.style.display === 'none')", 10);
    for (w, h) in [(800, 1280), (1280, 800)] {
        s.set_size(w, h);
        s.screenshot(&screenshots().join(format!("{name}-{w}x{h}.png")));
    }
}

#[test]
fn enrol_record_offline_then_sync_through_the_real_app() {
    let server_dir = tempfile::tempdir().unwrap();
    let app_dir = tempfile::tempdir().unwrap();
    let mut server = Server::setup(server_dir.path(), USER, NAME, PASSWORD);
    let display = start_xvfb();
    let data_dir = app_dir.path().to_str().unwrap().to_owned();
    let driver = start_tauri_driver(&display, &[("GRIDWALK_DATA_DIR", &data_dir)]);
    let s = Session::tauri(&driver, &app_binary());

    // Enrol: a fresh tablet opens on the enrolment screen, in Chinese.
    s.wait("[data-testid=enrol-screen]", 60);
    assert!(s.text("[data-testid=enrol-screen]").contains("登记本机"), "the default language is zh-CN");
    s.type_into("[data-testid=enrol-server]", &server.url);
    s.type_into("[data-testid=enrol-username]", USER);
    s.type_into("[data-testid=enrol-password]", PASSWORD);
    s.type_into("[data-testid=enrol-pin]", PIN);
    s.type_into("[data-testid=enrol-pin2]", PIN);
    s.screenshot(&screenshots().join("enrol-1280x800.png"));
    s.click("[data-testid=enrol-submit]");
    // Enrolment unlocks and runs the first sync, which brings the worker's courtyards.
    s.wait("[data-testid=sync-result][data-status=ok]", 90);
    assert!(app_dir.path().join("tablet.db").exists(), "the store lives in GRIDWALK_DATA_DIR");
    // The secret is in the platform keystore when the app found one (not on disk then), else
    // in device.secret; `secret-store` says which, and the Settings screen shows it.
    let vault = std::fs::read_to_string(app_dir.path().join("secret-store")).expect("the app wrote down where its secret is");
    match vault.as_str() {
        "file" => assert!(app_dir.path().join("device.secret").exists(), "without a keystore the per-device secret is a file"),
        "keystore" => assert!(!app_dir.path().join("device.secret").exists(), "with a keystore the secret is not on disk"),
        other => panic!("secret-store says {other:?}"),
    }
    assert!(app_dir.path().join("store.kdf").exists(), "the store's KDF cost is kept next to it");

    // A wrong PIN is refused; the right one opens the store again.
    s.route("/settings");
    s.wait("[data-testid=secret-store]", 20);
    assert_eq!(s.attr("[data-testid=secret-store]", "data-store").as_deref(), Some(vault.as_str()), "Settings shows where the secret is");
    s.click("[data-testid=lock-now]");
    s.wait("[data-testid=unlock-screen]", 20);
    s.type_into("[data-testid=unlock-pin]", "111111");
    s.click("[data-testid=unlock-submit]");
    assert!(s.text("[data-testid=unlock-error]").contains("解锁密码错误"), "a wrong PIN says so");
    s.type_into("[data-testid=unlock-pin]", PIN);
    s.click("[data-testid=unlock-submit]");
    s.wait("[data-testid=today-ready]", 30);

    // The network goes away.
    server.stop();

    // Record a visit from Today.
    s.click("[data-testid=today-visit]");
    s.wait("[data-testid=visit-screen]", 20);
    s.click("[data-testid=courtyard-option]");
    s.wait("[data-testid=courtyard-chosen]", 10);
    s.click("[data-testid=visit-mode-in_depth]");
    s.type_into("[data-testid=visit-notes]", VISIT_NOTES);
    s.exec("document.querySelector('[data-testid=visit-residents] input').select()", json!([]));
    s.type_into("[data-testid=visit-residents]", "3");
    s.type_into("[data-testid=visit-lat]", "39.982");
    s.type_into("[data-testid=visit-lon]", "116.412");
    s.click("[data-testid=visit-submit]");
    s.wait("[data-testid=courtyard-screen] [data-testid=visit-row] [data-testid=sync-state][data-state=queued]", 20);

    // Report an issue from Today: 上报诉求 → courtyard → category → (type) → 上报 = 4 taps.
    s.route("/today");
    s.wait("[data-testid=today-ready]", 20);
    s.click("[data-testid=today-report]");
    s.click("[data-testid=courtyard-option]");
    s.click("[data-testid=category-street_light]");
    s.type_into("[data-testid=issue-description]", ISSUE_TEXT);
    s.type_into("[data-testid=issue-contact-name]", "王阿姨");
    s.type_into("[data-testid=issue-contact-phone]", "13812345678");
    shoot(&s, "report");
    s.click("[data-testid=issue-submit]");
    s.wait("[data-testid=issue-screen] [data-testid=sync-state][data-state=queued]", 20);
    assert!(s.text("[data-testid=issue-text]").contains(ISSUE_TEXT));
    let contact = s.text("[data-testid=issue-contact]");
    assert!(contact.contains("138****5678") && !contact.contains("13812345678"), "the contact is masked afterwards: {contact}");
    shoot(&s, "issue");

    // Today shows the new issue under its 1-hour clock and the unsynced count.
    s.route("/today");
    s.wait("[data-testid=today-ready]", 20);
    assert_eq!(s.attr("[data-testid=today-unsynced]", "data-count").as_deref(), Some("2"), "a visit and an issue await sync");
    s.wait("[data-testid=issue-card] [data-testid=countdown]", 10);
    shoot(&s, "today");

    // The Sync screen lists the queue. A sync with the server down retries, shows it, and can
    // be stopped; nothing leaves the queue.
    s.click("[data-testid=tab-sync]");
    s.wait("[data-testid=sync-queue-count][data-count='2']", 20);
    // The count comes from the shared sync state, the list from a load after the screen
    // mounts: wait for the list rather than race it.
    s.wait_until("both queued records listed", "return document.querySelectorAll('[data-testid=queue-item]').length === 2", 20);
    s.click("[data-testid=sync-start]");
    s.wait_until("the retry notice", "return document.body.innerText.includes('正在重试')", 20);
    s.click("[data-testid=sync-cancel]");
    s.wait("[data-testid=sync-result][data-status=failed]", 20);
    assert!(s.text("[data-testid=sync-result]").contains("已停止"), "a stopped sync says so");
    s.wait("[data-testid=sync-queue-count][data-count='2']", 10);
    shoot(&s, "sync-queued");

    // The server comes back on the same port; sync from the Sync screen.
    server.restart();
    s.click("[data-testid=sync-start]");
    s.wait("[data-testid=sync-result][data-status=ok]", 120);
    s.wait("[data-testid=sync-queue-count][data-count='0']", 20);
    shoot(&s, "sync-done");

    // Both records are on the server.
    let issues = server.get_as(USER, PASSWORD, "/api/v1/issues").to_string();
    assert!(issues.contains(ISSUE_TEXT), "the issue reached the server: {issues:.400}");
    assert!(!issues.contains("13812345678"), "the server's list masks the phone too");
    let visits = server.get_as(USER, PASSWORD, "/api/v1/visits").to_string();
    assert!(visits.contains(VISIT_NOTES), "the visit reached the server: {visits:.400}");

    // And the app shows them synced.
    s.click("[data-testid=tab-today]");
    s.wait("[data-testid=today-unsynced][data-count='0']", 20);
    s.click("[data-testid=tab-courtyards]");
    s.type_into("[data-testid=courtyards-search]", "惠新");
    s.wait("[data-testid=courtyard-row]", 20);
    shoot(&s, "courtyards");
    s.quit();
}

/// Enrol the app on the enrolment screen and wait for its first sync.
fn enrol(s: &Session, server: &Server) {
    s.wait("[data-testid=enrol-screen]", 60);
    s.type_into("[data-testid=enrol-server]", &server.url);
    s.type_into("[data-testid=enrol-username]", USER);
    s.type_into("[data-testid=enrol-password]", PASSWORD);
    s.type_into("[data-testid=enrol-pin]", PIN);
    s.type_into("[data-testid=enrol-pin2]", PIN);
    s.click("[data-testid=enrol-submit]");
    s.wait("[data-testid=sync-result][data-status=ok]", 90);
}

/// A 12345 order at `yard`, filed on the server by the hotline desk; returns the issue id.
fn file_order(server: &Server, yard: &gridwalk_domain::Courtyard, order_no: &str, description: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let order = gridwalk_proto::HotlineIntake {
        order_no: order_no.into(),
        place: gridwalk_proto::IntakePlace::Courtyard { courtyard_id: yard.id },
        category: "noise".into(),
        description: description.into(),
        received_at_ms: now,
        contact: None,
    };
    let answer = server.post_as(DESK, DESK_PASSWORD, "/api/v1/hotline/intake", &serde_json::to_value(&order).unwrap());
    answer["issue_id"].as_str().unwrap_or_else(|| panic!("no issue id: {answer}")).to_owned()
}

fn raised(app_dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(app_dir.join("notifications.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line per notification"))
        .collect()
}

#[test]
fn a_dispatched_order_reaches_the_tablet_by_itself_and_a_locked_tablet_counts_the_next() {
    let server_dir = tempfile::tempdir().unwrap();
    let app_dir = tempfile::tempdir().unwrap();
    let server = Server::setup(server_dir.path(), USER, NAME, PASSWORD);
    server.add_worker(DESK, "赵调度", "supervisor", "district", DESK_PASSWORD);
    // The courtyard's responsible grid worker (责任网格员) is the tablet's worker: orders there are hers.
    let registry = gridwalk_domain::registry_gen::demo_registry();
    let yard = registry.courtyards.iter().find(|c| c.name == YARD).expect("the demo registry has the courtyard").clone();
    gridwalk_server::app::admin::set_responsible(server_dir.path(), &yard.code, USER).unwrap();
    let display = start_xvfb();
    let data_dir = app_dir.path().to_str().unwrap().to_owned();
    let driver = start_tauri_driver(&display, &[("GRIDWALK_DATA_DIR", &data_dir)]);
    let s = Session::tauri(&driver, &app_binary());
    enrol(&s, &server);
    assert!(app_dir.path().join("notify.json").exists(), "enrolment keeps the notify-only token outside the store");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(app_dir.path().join("notify.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "notify.json is readable by the app only");
    }
    s.route("/today");
    s.wait("[data-testid=today-ready]", 30);

    // The hotline files an order; nobody touches 同步.
    let issue = file_order(&server, &yard, "12345-APP-1", "夜间施工噪声扰民，居民无法休息");
    let banner = format!("[data-testid=new-order-banner][data-issue='{issue}']");
    s.wait(&format!("{banner} [data-testid=countdown]"), 90);
    s.wait(&format!("[data-testid=today-clock] [data-testid=issue-card][data-issue='{issue}'] [data-testid=countdown]"), 20);
    let notices = raised(app_dir.path());
    assert!(
        notices.iter().any(|n| n["reason"] == "new_orders" && n["body"] == "有 1 条新工单"),
        "the new order raised an OS notification, logged: {notices:?}"
    );
    shoot(&s, "new-order");

    // Tap the banner: the issue screen offers 签收 and 响应 (the core's offers).
    s.click(&banner);
    s.wait("[data-testid=issue-screen] [data-testid=issue-action-accepted]", 20);
    s.click("[data-testid=issue-action-accepted]");
    s.click("[data-testid=action-submit]");
    s.wait("[data-testid=issue-accepted]", 20);
    assert!(s.find("[data-testid=issue-action-accepted]").is_none(), "an accepted order is not offered 签收 again");
    s.click("[data-testid=issue-action-issue_responded]");
    s.type_into("[data-testid=action-note]", "已电话联系居民，今晚到现场");
    s.click("[data-testid=action-submit]");
    s.wait("[data-testid=issue-status][data-status=responded]", 20);
    // One size only: under Xvfb, WebKit stops painting this screen after a resize from portrait
    // to landscape (the screenshot then never returns), so it is taken at the current size.
    s.wait_until("toasts to close", "return [...document.querySelectorAll('.van-toast')].every(t => t.style.display === 'none')", 10);
    s.screenshot(&screenshots().join("order-responded-1280x800.png"));

    // The automatic sync pushes both within seconds: the server has the response.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let state = loop {
        let state = server.get_as(DESK, DESK_PASSWORD, &format!("/api/v1/issues/{issue}"));
        if !state["responded_at_ms"].is_null() && !state["accepted_at_ms"].is_null() {
            break state;
        }
        assert!(std::time::Instant::now() < deadline, "the response did not reach the server by itself: {state:.600}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(state["status"], "responded", "the server folds the tablet's 签收 and 响应");

    // 本周走访: Today lists the courtyard she answers for, never visited yet: overdue.
    s.route("/today");
    s.wait(&format!("[data-testid=my-week] [data-testid=my-week-item][data-courtyard='{}'][data-state=overdue]", yard.id), 30);

    // 一事一单: reporting noise at the same courtyard shows the open order before saving, offline
    // from the pulled issues; one tap adds "me too" to it instead of a second ticket.
    s.route(&format!("/report?courtyard={}", yard.id));
    s.wait("[data-testid=report-screen]", 20);
    s.click("[data-testid=category-noise]");
    s.wait(&format!("[data-testid=nearby-list] [data-testid=nearby-item][data-issue='{issue}']"), 20);
    s.type_into("[data-testid=issue-description]", "楼上住户也反映夜间施工噪声");
    s.wait_until("toasts to close", "return [...document.querySelectorAll('.van-toast')].every(t => t.style.display === 'none')", 10);
    s.screenshot(&screenshots().join("report-nearby-1280x800.png"));
    s.click(&format!("[data-testid=me-too-{issue}]"));
    s.wait("[data-testid=issue-screen] [data-testid=issue-me-too][data-count='1']", 20);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let state = server.get_as(DESK, DESK_PASSWORD, &format!("/api/v1/issues/{issue}"));
        if state["me_too"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the me-too did not reach the server by itself: {state:.600}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    // Locked: the store is closed; a new order is still counted, without the PIN.
    s.route("/settings");
    s.click("[data-testid=lock-now]");
    s.wait("[data-testid=unlock-screen]", 20);
    file_order(&server, &yard, "12345-APP-2", "楼道堆放杂物堵塞消防通道");
    s.wait("[data-testid=lock-news][data-count='1']", 90);
    assert!(s.text("[data-testid=lock-news]").contains("有 1 条新工单"), "the lock screen shows the count");
    let notices = raised(app_dir.path());
    let locked: Vec<_> = notices.iter().filter(|n| n["reason"] == "locked_count").collect();
    assert_eq!(locked.len(), 1, "one OS notification for the locked count: {notices:?}");
    assert_eq!(locked[0]["body"], "有 1 条新工单", "content-free: a count, nothing about the order");
    shoot(&s, "locked-news");
    s.quit();
}
