//! Sync over the emulated field link (`crate::link`): a real tablet and the real server with the
//! link between them, on each profile, against the same link carrying the same reports raw and
//! uncompressed to a server that only reads them. What compression and batching buy where the
//! tablets really are, and what the first acknowledgement waits for.

use super::sync::{bare_server, outbox_bodies};
use super::BenchResult;
use crate::link::{Call, Link, Profile, Recorded, EDGE_2G, GOOD_4G, WEAK_4G};
use crate::sync_kit::*;
use gridwalk_core::sync::{plan, sync, HttpTransport, SyncOptions};
use gridwalk_core::CourtyardQuery;
use gridwalk_domain::Role;
use gridwalk_proto::ScopeUnit;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Reports per profile: 10,000 where the raw baseline takes about a minute; on 2G the raw
/// 10,000 would take ten, so it carries 1,000.
const RUNS: [(Profile, usize); 3] = [(GOOD_4G, 10_000), (WEAK_4G, 10_000), (EDGE_2G, 1_000)];

/// The raw baseline: the outbox's push bodies POSTed as they are, one after the other on one
/// kept-alive connection, through a fresh link of the same profile to a server that only reads
/// them. Its seconds and the bytes it moved up.
fn raw_over_link(bodies: &[Vec<u8>], profile: Profile, bare: std::net::SocketAddr) -> (f64, u64) {
    let link = Link::start(bare, profile, 7).unwrap();
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(600)).build().unwrap();
    let url = format!("{}/raw", link.url());
    let start = Instant::now();
    for body in bodies {
        let status = client.post(&url).header("content-type", "application/json").body(body.clone()).send().unwrap().status();
        assert!(status.is_success(), "the bare server reads every raw body");
    }
    (start.elapsed().as_secs_f64(), link.stats.up.load(Ordering::Relaxed))
}

pub fn run(dir: &Path) -> Vec<BenchResult> {
    let bare_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let bare = bare_server(&bare_rt);
    let mut out = Vec::new();
    for (profile, n) in RUNS {
        let server_dir = dir.join(profile.name).join("server");
        server_data(&server_dir, &[("wang", Role::GridWorker, vec![ScopeUnit::Community("CY10-C01".into())])]);
        let server = InProcessServer::start(&server_dir);
        let mut t = enrolled_tablet(&dir.join(profile.name).join("t.db"), &server.url(), "wang", system_clock());
        // The first sync, straight to the server, learns that it reads zstd (as every sync
        // after a tablet's first does).
        sync_once(&mut t, &server.url());
        let yard = t.search_courtyards(&CourtyardQuery { limit: 1, ..Default::default() }).unwrap()[0].id;
        record_reports(&mut t, yard, n);
        let (bodies, _) = outbox_bodies(&t, plan::MAX_BATCH as usize);
        let raw_bytes: usize = bodies.iter().map(Vec::len).sum();
        // The first batch as the engine sends it (START_BATCH events, zstd level 3): what the
        // first acknowledgement's floor carries.
        let (first, _) = outbox_bodies(&t, plan::START_BATCH as usize);
        let first_wire = zstd::encode_all(first[0].as_slice(), 3).unwrap().len() as u64;

        let link = Link::start(server.addr, profile, 11).unwrap();
        let http = HttpTransport::new(&link.url()).unwrap();
        let recorded = Recorded::new(&http);
        let start = Instant::now();
        let report = sync(&mut t, &recorded, &SyncOptions::default(), &AtomicBool::new(false), &mut |_| {}).unwrap();
        let ours = start.elapsed().as_secs_f64();
        assert_eq!(report.pushed as usize, n, "{}: the benchmark sync pushed everything", profile.name);
        let (up, down) = (link.stats.up.load(Ordering::Relaxed), link.stats.down.load(Ordering::Relaxed));
        let calls = recorded.calls.lock().unwrap().clone();
        let pushes = calls.iter().filter(|c| matches!(c, Call::Push { ok: true, .. })).count();
        let failed = recorded.failures();
        let first_ack = calls
            .iter()
            .find_map(|c| match c {
                Call::Push { ok: true, at, took, .. } => Some((*at + *took).duration_since(start).as_secs_f64()),
                _ => None,
            })
            .expect("a push was answered");
        drop(link);

        let (raw_secs, raw_up) = raw_over_link(&bodies, profile, bare);
        let floor = (2 * profile.rtt() + profile.wire_time(first_wire)).as_secs_f64();
        let name = |what: &str| format!("sync.link_{}_{what}", profile.name);
        out.push(BenchResult {
            name: name(&format!("{n}")),
            value: ours,
            unit: "s".into(),
            baseline: raw_secs,
            ratio: ours / raw_secs,
            goal: if profile.name == WEAK_4G.name { "<= 0.3".into() } else { "report".into() },
            note: format!(
                "{n} reports synced over the emulated {} link ({} kbit/s, RTT {} ms, {}‰ loss): {pushes} pushes, {failed} failed calls, \
                 {up} bytes up and {down} down; baseline: the same {raw_bytes} bytes POSTed raw and uncompressed through the same \
                 link to a server that only reads them ({raw_up} bytes up); ratio = ours / raw",
                profile.name,
                profile.rate_bps / 1000,
                profile.rtt().as_millis(),
                profile.loss_per_mille
            ),
        });
        out.push(BenchResult {
            name: name("first_ack_ms"),
            value: first_ack * 1000.0,
            unit: "ms".into(),
            baseline: floor * 1000.0,
            ratio: first_ack / floor,
            goal: "<= 1".into(),
            note: format!(
                "sync start (new connection) to the first push answered; baseline: 2 round trips (TCP handshake, request and \
                 answer) plus the first batch's wire time ({} events, {first_wire} bytes zstd)",
                plan::START_BATCH
            ),
        });
        if profile.name == WEAK_4G.name {
            out.push(BenchResult {
                name: "sync.link_bytes_per_report".into(),
                value: up as f64 / n as f64,
                unit: "B".into(),
                baseline: raw_up as f64 / n as f64,
                ratio: up as f64 / raw_up as f64,
                goal: "report".into(),
                note: format!(
                    "bytes up the link per report in the weak-4G sync (zstd bodies, HTTP headers, pulls), against the raw \
                     uncompressed POSTs of the same reports; down: {:.1} B per report (answers, zstd)",
                    down as f64 / n as f64
                ),
            });
        }
    }
    out
}
