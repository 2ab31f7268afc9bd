//! The field network (`gridwalk_e2e::link`): a tablet syncing through an emulated link with
//! the bandwidth, delay, jitter and loss of good 4G, weak 4G and 2G, against the real server on
//! 127.0.0.1:0. Nothing here times anything (the link benchmarks in `cargo xtask bench` do);
//! these tests hold the promises: every report once, bodies compressed, and after a cut, only
//! what was in flight goes again.

use gridwalk_core::sync::{sync, HttpTransport, SyncOptions, Transport};
use gridwalk_core::{CoreError, CourtyardQuery, Tablet};
use gridwalk_domain::*;
use gridwalk_e2e::link::{Link, Recorded, EDGE_2G, PROFILES};
use gridwalk_e2e::sync_kit::*;
use gridwalk_proto::ScopeUnit;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Site {
    dir: tempfile::TempDir,
    server_dir: PathBuf,
    server: InProcessServer,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    server_data(&server_dir, &[("wang", Role::GridWorker, vec![ScopeUnit::Community("CY10-C01".into())])]);
    let server = InProcessServer::start(&server_dir);
    Site { dir, server_dir, server }
}

/// A stand-in for a camera's JPEG: the JPEG magic, then bytes that do not compress.
fn photo(i: u64, len: usize) -> Vec<u8> {
    let mut state = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend((0..len).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    }));
    jpeg
}

/// `n` reports in the tablet's first courtyard, every `photo_every`-th with a photo of
/// `photo_len` bytes; the photos' hashes.
fn record(t: &mut Tablet, n: usize, photo_every: usize, photo_len: usize) -> Vec<String> {
    let yard = t.search_courtyards(&CourtyardQuery { limit: 1, ..Default::default() }).unwrap()[0].id;
    let mut shas = Vec::new();
    for i in 0..n {
        let photos = if photo_every > 0 && i % photo_every == 0 {
            let sha = t.store_photo(&photo(i as u64 + 1, photo_len)).unwrap();
            shas.push(sha.clone());
            vec![sha]
        } else {
            vec![]
        };
        t.report_issue(lamp_report(yard, i, photos)).unwrap();
    }
    shas
}

/// Sync until the outbox and the photos are done, as the app's auto-sync would, starting again
/// after a sync gave up on a link that stayed down. How many syncs it took.
fn sync_until_done(t: &mut Tablet, transport: &dyn Transport, opts: &SyncOptions, within: Duration) -> usize {
    let started = Instant::now();
    for round in 1.. {
        assert!(started.elapsed() < within, "the sync finishes within {within:?}");
        match sync(t, transport, opts, &AtomicBool::new(false), &mut |_| {}) {
            Ok(_) if t.sync_state().unwrap().queue_depth == 0 && t.pending_photos().unwrap().is_empty() => return round,
            Ok(_) | Err(CoreError::Offline(_)) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => panic!("a sync over a bad link fails only as offline, never for good: {e:?}"),
        }
    }
    unreachable!()
}

fn assert_exactly_once(server_dir: &Path, t: &Tablet, rule: &str) {
    let device = t.identity().unwrap().device;
    let logged: i64 = t.connection().query_row("SELECT count(*) FROM device_log", [], |r| r.get(0)).unwrap();
    let (rows, distinct, max) = server_events_of(server_dir, device);
    assert_eq!((rows, distinct, max), (logged, logged, logged), "{rule}: every logged event is on the server exactly once");
}

fn retries() -> SyncOptions {
    SyncOptions { max_attempts: 30, backoff_base_ms: 200, backoff_cap_ms: 2_000, ..Default::default() }
}

#[test]
fn each_link_profile_carries_a_compressed_sync_with_every_report_once() {
    for profile in PROFILES {
        let site = site();
        let mut t = enrolled_tablet(&site.dir.path().join(format!("{}.db", profile.name)), &site.server.url(), "wang", system_clock());
        // The first sync (the registry, straight to the server) learns from the server's
        // answers that it reads zstd, and the store keeps that.
        sync_once(&mut t, &site.server.url());
        let link = Link::start(site.server.addr, profile, 11).unwrap();
        record(&mut t, 200, 0, 0);
        let raw = t.outbox_depth().unwrap().1;
        let up_before = link.stats.up.load(Ordering::Relaxed);
        // A new transport, as each of the app's syncs makes: it starts from what the store remembers.
        sync_until_done(&mut t, &HttpTransport::new(&link.url()).unwrap(), &retries(), Duration::from_secs(300));
        let up = link.stats.up.load(Ordering::Relaxed) - up_before;
        assert_exactly_once(&site.server_dir, &t, profile.name);
        assert!(
            up * 3 < raw,
            "{}: 200 reports go compressed from a new sync's first push: {up} bytes up against {raw} bytes of reports",
            profile.name
        );
        assert!(link.stats.connections.load(Ordering::Relaxed) > 0, "{}: the sync went through the link", profile.name);
    }
}

#[test]
fn on_2g_cut_every_20_s_1000_reports_and_50_photos_arrive_once_and_only_what_was_in_flight_goes_again() {
    let site = site();
    let mut t = enrolled_tablet(&site.dir.path().join("t.db"), &site.server.url(), "wang", system_clock());
    sync_once(&mut t, &site.server.url());
    let shas = record(&mut t, 1000, 20, 12 * 1024);
    assert_eq!(shas.len(), 50);
    let link = Link::start(site.server.addr, EDGE_2G, 23).unwrap();
    link.cut_every(Duration::from_secs(20), Duration::from_secs(2));
    let http = HttpTransport::new(&link.url()).unwrap();
    let recorded = Recorded::new(&http);
    let syncs = sync_until_done(&mut t, &recorded, &retries(), Duration::from_secs(600));
    let cuts = link.stats.cuts.load(Ordering::Relaxed);
    assert!(cuts >= 2, "the sync ran across cuts of the link (it saw {cuts})");
    assert!(recorded.failures() > 0, "a cut broke at least one call mid-flight");
    assert_exactly_once(&site.server_dir, &t, "1,000 reports over a 2G link cut every 20 s");
    let api = Api::of_tablet(&site.server.url(), &t);
    for sha in &shas {
        let (status, body) = api.get_json(&format!("/api/v1/blobs/{sha}"));
        assert_eq!((status, body["complete"].as_bool()), (200, Some(true)), "photo {sha} is whole on the server");
    }
    let (events, bytes) =
        recorded.resent().unwrap_or_else(|rule| panic!("after a cut, only the batch or chunk in flight goes again: {rule}"));
    eprintln!(
        "field_link: {cuts} cuts, {syncs} syncs, {} failed calls; re-sent {events} events and {bytes} photo bytes; {} bytes on the link",
        recorded.failures(),
        link.bytes()
    );
}
