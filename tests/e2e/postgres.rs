//! Faults on the PostgreSQL engine, with real server processes: two `serve` processes share one
//! database and one data directory (as behind a load balancer); one is killed -9 mid-push and
//! the tablets finish on the other; PostgreSQL itself restarts in the middle of a tablet's
//! sync. Always on PostgreSQL, in every pass of the suite.

use crate::server_crash::{drive, make_event, verify, Tablet as PushingTablet};
use gridwalk_core::sync::{sync, HttpTransport};
use gridwalk_core::{CourtyardQuery, NewIssue};
use gridwalk_domain::{Category, IssueSource, Role};
use gridwalk_e2e::engine;
use gridwalk_e2e::proc::postgres::Cluster;
use gridwalk_e2e::server::{add_worker, device_tokens, load_demo, push, spawn_server_process, two_places};
use gridwalk_e2e::sync_kit::{enrolled_tablet, fast_retries, server_data, server_events_of, system_clock};
use gridwalk_proto::{LoggedEvent, PushRequest, ScopeUnit};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Push what the server has not acknowledged yet, in batches, until it holds the whole log.
async fn finish(http: &reqwest::Client, base: &str, t: &mut PushingTablet) {
    loop {
        let head =
            push(http, base, &t.token, &PushRequest { device_id: t.device, events: vec![] }).await.expect("the surviving server answers");
        // What the server says it holds is acknowledged, also what the killed process
        // committed but could not answer before it died.
        for seq in 1..=head.acked_seq.min(t.log.len() as u64) {
            t.acked.entry(seq).or_insert(t.log[seq as usize - 1].id);
        }
        let from = head.acked_seq + 1;
        if from > t.log.len() as u64 {
            return;
        }
        let to = (from + 63).min(t.log.len() as u64);
        let events = (from..=to).map(|seq| LoggedEvent { seq, event: t.log[seq as usize - 1].clone() }).collect();
        let resp =
            push(http, base, &t.token, &PushRequest { device_id: t.device, events }).await.expect("the surviving server takes the rest");
        t.take_acks(resp);
    }
}

#[test]
fn kill_9_of_one_of_two_server_processes_mid_push_loses_nothing_and_the_tablets_finish_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    gridwalk_server::admin::use_database(dir.path(), &engine::scratch_database()).unwrap();
    let ((yard, sub), _) = two_places();
    load_demo(dir.path());
    add_worker(dir.path(), "pair", Role::GridWorker, vec![ScopeUnit::Subdistrict(sub)]);
    let worker = gridwalk_server::admin::list_workers(dir.path()).unwrap().into_iter().find(|w| w.username == "pair").unwrap().id;
    let tablets: Vec<PushingTablet> = device_tokens(dir.path(), "pair", 4)
        .into_iter()
        .map(|(device, token)| PushingTablet { device, token, log: Vec::new(), acked: HashMap::new() })
        .collect();
    // Two processes on one database and one data directory.
    let mut first = spawn_server_process(dir.path());
    let second = spawn_server_process(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut tablets = rt.block_on(async {
        let tasks: Vec<_> =
            tablets.into_iter().map(|t| tokio::spawn(drive(http.clone(), first.base_url.clone(), t, worker, yard.id))).collect();
        tokio::time::sleep(Duration::from_millis(400)).await;
        // SIGKILL mid-push: its transactions die uncommitted, its acks are what it committed.
        first.kill();
        let mut back = Vec::new();
        for task in tasks {
            back.push(task.await.expect("device task"));
        }
        back
    });
    let acked_on_first: usize = tablets.iter().map(|t| t.acked.len()).sum();
    assert!(acked_on_first > 0, "the first process acknowledged events before it died (else nothing was tested)");
    // The tablets go on through the other process, with a few more records each.
    for t in &mut tablets {
        for _ in 0..16 {
            let seq = t.log.len() as u64 + 1;
            t.log.push(make_event(worker, t.device, seq, yard.id));
        }
    }
    rt.block_on(async {
        for t in &mut tablets {
            finish(&http, &second.base_url, t).await;
        }
    });
    for t in &tablets {
        assert_eq!(t.acked.len(), t.log.len(), "the surviving process acknowledged every record of {}", t.device);
    }
    // Every acked event is there once, and each device's events are exactly 1..=held.
    verify(dir.path(), &tablets, 0);
    drop(second);
}

#[test]
fn postgres_restarting_mid_sync_is_503_while_away_and_the_tablet_finishes_with_nothing_lost() {
    let mut cluster = Cluster::start().expect("a private PostgreSQL cluster for this test");
    {
        let url = cluster.url();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.batch_execute("CREATE DATABASE gw").unwrap();
        })
        .join()
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    gridwalk_server::admin::use_database(&server_dir, &cluster.url_of("gw")).unwrap();
    server_data(&server_dir, &[("wang", Role::GridWorker, vec![ScopeUnit::Community("CY10-C01".into())])]);
    let server = spawn_server_process(&server_dir);
    let url = server.base_url.clone();
    let mut t = enrolled_tablet(&dir.path().join("t.db"), &url, "wang", system_clock());
    let transport = HttpTransport::new(&url).unwrap();
    sync(&mut t, &transport, &fast_retries(), &AtomicBool::new(false), &mut |_| {}).expect("the first sync takes the registry");
    let yard = t.search_courtyards(&CourtyardQuery { limit: 1, ..Default::default() }).unwrap().remove(0).id;
    for i in 0..3000 {
        t.report_issue(NewIssue {
            courtyard: yard,
            category: Category::ALL[i % Category::ALL.len()],
            source: IssueSource::Visit,
            description: format!("数据库重启测试 {i}"),
            contact: None,
            location: None,
            photos: vec![],
        })
        .unwrap();
    }
    let token = t.wait_ticket().expect("enrolled").token;
    let device = t.identity().unwrap().device;
    let syncing = std::thread::spawn(move || {
        let transport = HttpTransport::new(&url).unwrap();
        let report = sync(&mut t, &transport, &fast_retries(), &AtomicBool::new(false), &mut |_| {});
        (t, report)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!syncing.is_finished(), "the sync is still under way when PostgreSQL goes away (else this tests nothing)");
    cluster.stop();
    // While it is away: 503 with {code, message} and a Retry-After, never a 500.
    let probe = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/sync/pull?after=0&limit=10&registry_version=0", server.base_url))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(probe.status().as_u16(), 503, "a request while the database is away is answered 503");
    assert!(probe.headers().contains_key("retry-after"), "and says when to try again");
    let body: serde_json::Value = probe.json().unwrap();
    assert_eq!(body["code"], "database_unavailable", "the code says the database is away: {body}");
    assert!(body["message"].is_string() && body.as_object().unwrap().len() == 2, "the body is {{code, message}}: {body}");
    std::thread::sleep(Duration::from_millis(500));
    cluster.start_again().expect("PostgreSQL comes back on the same port");
    let started = Instant::now();
    let (mut t, report) = syncing.join().unwrap();
    let report = report.expect("the tablet's sync rides through the restart with its retries");
    assert!(report.retries > 0, "the tablet retried while the database was away");
    assert!(started.elapsed() < Duration::from_secs(60), "and finished soon after it came back");
    let logged: i64 = t.connection().query_row("SELECT count(*) FROM device_log", [], |r| r.get(0)).unwrap();
    assert_eq!(t.sync_state().unwrap().queue_depth, 0, "nothing is left queued on the tablet");
    let (rows, distinct, max) = server_events_of(&server_dir, device);
    assert_eq!((rows, distinct, max), (logged, logged, logged), "every record is on the server once, none lost or doubled");
    let again =
        sync(&mut t, &HttpTransport::new(&server.base_url).unwrap(), &fast_retries(), &AtomicBool::new(false), &mut |_| {}).unwrap();
    assert_eq!(again.pushed, 0, "a later sync has nothing left to send");
    drop(server);
}
