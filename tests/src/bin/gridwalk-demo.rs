//! `cargo xtask demo`: the demo system. It loads the generated Chaoyang registry into a server
//! data dir, adds demo workers, serves the district server, enrols a demo tablet store for one
//! worker, records a visit and an issue at each of the article's real places, takes in a
//! 12345 hotline order, syncs, prints a summary and how to log in, and keeps serving.
//!
//! `gridwalk-demo [--listen ADDR] [--once]`: `--once` exits after the set-up (for checks).

use anyhow::{Context, Result};
use gridwalk_core::sync::{enrol, sync, HttpTransport, SyncOptions};
use gridwalk_core::{Clock, CourtyardQuery, IssueFilter, NewIssue, NewVisit, SystemClock, Tablet};
use gridwalk_domain::*;
use gridwalk_e2e::TEST_KEY;
use gridwalk_proto::{HotlineIntake, IntakePlace, ScopeUnit};
use gridwalk_server::admin::{self, NewWorker};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const PASSWORD: &str = "gridwalk-demo";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen =
        args.iter().position(|a| a == "--listen").and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| "127.0.0.1:12345".into());
    let once = args.iter().any(|a| a == "--once");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target/demo");
    let _ = std::fs::remove_dir_all(&root);
    let server_dir = root.join("server");
    std::fs::create_dir_all(&server_dir)?;

    let version = admin::load_demo_registry(&server_dir)?;
    let workers: [(&str, &str, Role, ScopeUnit); 6] = [
        ("wang", "王网格员", Role::GridWorker, ScopeUnit::Community("CY10-C01".into())),
        ("zhao", "赵干部", Role::Cadre, ScopeUnit::Community("CY15-C01".into())),
        ("sun", "孙网格员", Role::GridWorker, ScopeUnit::Community("CY21-C01".into())),
        ("boss", "钱督办", Role::Supervisor, ScopeUnit::District),
        ("admin", "管理员", Role::Admin, ScopeUnit::District),
        ("dept", "城管委李科长", Role::DepartmentStaff, ScopeUnit::Department("区城管委".into())),
    ];
    for (username, name, role, scope) in &workers {
        admin::add_worker(
            &server_dir,
            &NewWorker {
                username: (*username).into(),
                name: (*name).into(),
                role: *role,
                scope: vec![scope.clone()],
                password: PASSWORD.into(),
            },
        )?;
    }

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let state = gridwalk_server::AppState::open(&server_dir, gridwalk_server::Config::default())?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(&listen)).with_context(|| format!("binding {listen}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = rt.spawn(gridwalk_server::serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    }));

    // A worker's tablet: enrol, pull the scope's registry, record at the article's places.
    let db = root.join("tablet-wang.db");
    let mut t = Tablet::open(&db, &TEST_KEY, Arc::new(SystemClock::default()))?;
    let transport = HttpTransport::new(&url).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    enrol(&mut t, &transport, &url, "wang", PASSWORD, "demo tablet")?;
    let run_sync = |t: &mut Tablet| sync(t, &transport, &SyncOptions::default(), &AtomicBool::new(false), &mut |_| {});
    run_sync(&mut t)?;
    let yard = t.search_courtyards(&CourtyardQuery { text: "惠新西街33号院".into(), limit: 1, ..Default::default() })?.remove(0);
    let issue = t.report_issue(NewIssue {
        courtyard: yard.id,
        category: Category::StreetLight,
        source: IssueSource::Visit,
        description: "3号楼前路灯不亮".into(),
        contact: Some(ResidentContact { name: Some("王阿姨".into()), phone: "13800001234".into() }),
        location: None,
        photos: vec![],
    })?;
    t.record_visit(NewVisit {
        courtyard: yard.id,
        mode: VisitMode::WalkThrough,
        started_at_ms: None,
        ended_at_ms: None,
        location: Some(Location { lat: yard.lat, lon: yard.lon, accuracy_m: 15.0 }),
        notes: "走访惠新西街33号院，居民反映路灯不亮".into(),
        residents_met: 4,
        linked_issues: vec![issue],
    })?;
    // A 12345 order for the same community, taken in by the supervisor.
    let other = t.search_courtyards(&CourtyardQuery { limit: 2, ..Default::default() })?.pop().context("a second courtyard")?;
    let client = reqwest::blocking::Client::new();
    let boss: gridwalk_proto::LoginResponse = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&gridwalk_proto::LoginRequest {
            username: "boss".into(),
            password: PASSWORD.into(),
            device_name: "demo desk".into(),
            device_id: None,
        })
        .send()?
        .error_for_status()?
        .json()?;
    client
        .post(format!("{url}/api/v1/hotline/intake"))
        .bearer_auth(&boss.token)
        .json(&HotlineIntake {
            order_no: "12345-DEMO-0001".into(),
            place: IntakePlace::Courtyard { courtyard_id: other.id },
            category: "noise".into(),
            description: "夜间施工噪声扰民".into(),
            received_at_ms: SystemClock::default().now_ms(),
            contact: None,
        })
        .send()?
        .error_for_status()?;
    run_sync(&mut t)?;

    let [s, c, y, m, g] = t.registry_counts()?;
    let issues = t.list_issues(&IssueFilter::default(), None, 50)?.items;
    println!("Gridwalk demo");
    println!(
        "  server:   {url}  (data {}; registry version {version}: 43 subdistricts, 604 communities, 5,710 courtyards)",
        server_dir.display()
    );
    println!("  tablet:   {} (wang's scope: {s} subdistrict, {c} community, {y} courtyards, {m} grids, {g} technical grids)", db.display());
    println!(
        "  issues on wang's tablet: {} (one reported on a visit, one from the 12345 hotline); unsynced: {}",
        issues.len(),
        t.sync_state()?.queue_depth
    );
    println!("  log in with password {PASSWORD:?} as:");
    for (username, name, role, scope) in &workers {
        println!("    {username:<6} {name}  {}  {scope:?}", role.label_zh());
    }
    println!("  console:  {url}/  (in a browser: boss is the district supervisor, admin the administrator, dept the 区城管委's staff)");
    if once {
        return Ok(());
    }
    println!("serving on {url}; Ctrl-C stops");
    rt.block_on(server)??;
    Ok(())
}
