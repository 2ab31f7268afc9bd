//! Restore an older backup under live tablets. Three tablets push; a backup is taken with the
//! real `gridwalk-server backup` while the server runs; they push more (one with a photo); the
//! data directory is lost and the backup is restored with `gridwalk-server restore` into a new
//! one, served on the same address. The tablets sync again, recording while they do: every
//! event of every tablet log ends on the server exactly once (by event id and by (device, seq)),
//! the lost photo is uploaded again, and every pull completes (each tablet holds what its
//! neighbour recorded, before and after the restore).

use gridwalk_core::sync::{sync, HttpTransport};
use gridwalk_core::{CourtyardQuery, NewIssue, Tablet};
use gridwalk_domain::*;
use gridwalk_e2e::server::{run_server_cli, spawn_server_process, spawn_server_process_on};
use gridwalk_e2e::sync_kit::*;
use gridwalk_proto::ScopeUnit;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;

fn record(t: &mut Tablet, n: usize, photos: Vec<String>) {
    let yard = t.search_courtyards(&CourtyardQuery { limit: 1, ..Default::default() }).unwrap().remove(0).id;
    t.report_issue(NewIssue {
        courtyard: yard,
        category: Category::ALL[n % Category::ALL.len()],
        source: IssueSource::Visit,
        description: format!("恢复测试诉求 {n}"),
        contact: None,
        location: None,
        photos,
    })
    .unwrap();
}

fn logged_ids(t: &Tablet) -> BTreeSet<String> {
    let mut st = t.connection().prepare("SELECT event_id FROM device_log").unwrap();
    st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}

fn held_ids(t: &Tablet) -> BTreeSet<String> {
    let mut st = t.connection().prepare("SELECT event_id FROM events").unwrap();
    st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}

/// Every event the server stores for these devices, by event id, with how many times.
fn server_ids(data: &Path, devices: &[DeviceId]) -> BTreeMap<String, i64> {
    let conn = rusqlite::Connection::open(data.join(gridwalk_server::store::sqlite::DB_FILE)).unwrap();
    let mut out = BTreeMap::new();
    for d in devices {
        let mut st = conn.prepare("SELECT event_id, count(*) FROM events WHERE device_id = ?1 GROUP BY event_id").unwrap();
        for row in st.query_map([d.to_string()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).unwrap() {
            let (id, n) = row.unwrap();
            out.insert(id, n);
        }
    }
    out
}

fn sync_all(t: &mut Tablet, url: &str) {
    let transport = HttpTransport::new(url).unwrap();
    sync(t, &transport, &fast_retries(), &AtomicBool::new(false), &mut |_| {}).expect("the sync completes");
}

#[test]
fn restoring_an_older_backup_under_live_tablets_heals_them_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let first_dir = dir.path().join("server");
    let community = |c: &str| vec![ScopeUnit::Community(c.into())];
    server_data(
        &first_dir,
        &[
            ("wang", Role::GridWorker, community("CY10-C01")),
            ("liu", Role::GridWorker, community("CY10-C01")),
            ("li", Role::GridWorker, community("CY15-C01")),
        ],
    );
    let server = spawn_server_process(&first_dir);
    let (url, addr) = (server.base_url.clone(), server.addr());
    let mut tablets: Vec<Tablet> = ["wang", "liu", "li"]
        .iter()
        .map(|u| {
            let mut t = enrolled_tablet(&dir.path().join(format!("{u}.db")), &url, u, system_clock());
            sync_all(&mut t, &url);
            t
        })
        .collect();
    let devices: Vec<DeviceId> = tablets.iter().map(|t| t.identity().unwrap().device).collect();
    for (k, t) in tablets.iter_mut().enumerate() {
        for n in 0..20 {
            record(t, k * 1000 + n, vec![]);
        }
        sync_all(t, &url);
    }

    let backup = dir.path().join("gw.backup");
    let run = run_server_cli(&["backup", "--data", first_dir.to_str().unwrap(), "--out", backup.to_str().unwrap()]);
    assert!(run.ok, "a backup is taken while the server runs: {run:?}");
    assert!(run.stdout.contains("backed up 60 events"), "the backup holds the 60 events pushed before it: {run:?}");

    // After the backup: more for every tablet, one with a photo, and a few left unsent.
    let mut photo = vec![0xFF, 0xD8, 0xFF, 0xE0];
    photo.extend((0..30_000u32).map(|b| b.wrapping_mul(17) as u8));
    let sha = tablets[0].store_photo(&photo).unwrap();
    record(&mut tablets[0], 500, vec![sha.clone()]);
    for (k, t) in tablets.iter_mut().enumerate() {
        for n in 20..35 {
            record(t, k * 1000 + n, vec![]);
        }
        sync_all(t, &url);
        for n in 35..38 {
            record(t, k * 1000 + n, vec![]);
        }
    }
    // Only the device whose event names a photo may ask about it.
    let api = Api::of_tablet(&url, &tablets[0]);
    assert_eq!(api.get_json(&format!("/api/v1/blobs/{sha}")).1["complete"].as_bool(), Some(true), "the photo reached the first server");
    let refused = run_server_cli(&["restore", "--data", first_dir.to_str().unwrap(), "--from", backup.to_str().unwrap()]);
    assert!(!refused.ok && refused.stderr.contains("in use"), "a restore is refused while the server holds the data dir: {refused:?}");

    // The disk is lost: the server stops, and the backup is restored into a new directory.
    drop(server);
    let second_dir = dir.path().join("server-restored");
    let run = run_server_cli(&["restore", "--data", second_dir.to_str().unwrap(), "--from", backup.to_str().unwrap()]);
    assert!(run.ok, "the backup restores into a new data directory: {run:?}");
    let server = spawn_server_process_on(&second_dir, &addr.to_string());
    let epoch = gridwalk_server::admin::epoch(&second_dir).unwrap().expect("the restored database has an epoch");
    assert_ne!(tablets[0].server_epoch().unwrap().as_deref(), Some(epoch.as_str()), "the tablets knew the old epoch");

    // Each tablet records and syncs, several rounds, all at once.
    let handles: Vec<_> = tablets
        .into_iter()
        .enumerate()
        .map(|(k, mut t)| {
            let url = url.clone();
            std::thread::spawn(move || {
                for round in 0..4 {
                    for n in 0..3 {
                        record(&mut t, k * 1000 + 100 + round * 10 + n, vec![]);
                    }
                    sync_all(&mut t, &url);
                }
                t
            })
        })
        .collect();
    let mut tablets: Vec<Tablet> = handles.into_iter().map(|h| h.join().expect("a tablet thread")).collect();
    // One more round each, so every tablet pulls what the others pushed last.
    for t in &mut tablets {
        sync_all(t, &url);
    }

    let on_server = server_ids(&second_dir, &devices);
    let mut union = BTreeSet::new();
    for t in &tablets {
        let logged = logged_ids(t);
        let device = t.identity().unwrap().device;
        let (rows, distinct, max) = server_events_of(&second_dir, device);
        assert_eq!(
            (rows, distinct, max),
            (logged.len() as i64, logged.len() as i64, logged.len() as i64),
            "every (device, seq) of a tablet's log is on the server once"
        );
        let state = t.sync_state().unwrap();
        assert_eq!(state.queue_depth, 0, "nothing is left queued on a tablet");
        assert_eq!(t.server_epoch().unwrap().as_deref(), Some(epoch.as_str()), "each tablet learned the new epoch");
        union.extend(logged);
    }
    let doubled: Vec<_> = on_server.iter().filter(|(_, n)| **n != 1).collect();
    assert!(doubled.is_empty(), "no event is stored twice: {doubled:?}");
    let on_server: BTreeSet<String> = on_server.into_keys().collect();
    assert_eq!(on_server, union, "the server holds exactly the union of the tablet logs, lost events included");
    assert!(union.len() >= 3 * (38 + 12), "the test moved the events it meant to ({})", union.len());

    // Pulls complete: wang and liu share a community and hold each other's every event; li
    // holds neither's.
    let (wang, liu, li) = (&tablets[0], &tablets[1], &tablets[2]);
    assert!(logged_ids(liu).is_subset(&held_ids(wang)), "wang pulled every event of liu's, the lost ones re-sent and the new ones");
    assert!(logged_ids(wang).is_subset(&held_ids(liu)), "liu pulled every event of wang's");
    assert!(logged_ids(wang).is_disjoint(&held_ids(li)), "li, in another community, pulled none of wang's");
    let server_max: i64 = rusqlite::Connection::open(second_dir.join(gridwalk_server::store::sqlite::DB_FILE))
        .unwrap()
        .query_row("SELECT COALESCE(max(server_seq), 0) FROM events", [], |r| r.get(0))
        .unwrap();
    for t in &tablets {
        let cursor = t.sync_state().unwrap().pull_cursor;
        assert!(cursor <= server_max as u64, "a pull cursor is never past the restored server's newest sequence ({cursor} > {server_max})");
    }
    let api = Api::of_tablet(&url, &tablets[0]);
    let (status, body) = api.get_json(&format!("/api/v1/blobs/{sha}"));
    assert_eq!((status, body["complete"].as_bool()), (200, Some(true)), "the photo the restore lost was uploaded again");
    drop(server);
}
