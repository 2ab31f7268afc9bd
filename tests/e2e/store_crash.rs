//! kill -9 a tablet process at random moments while it records. Every record whose call
//! returned must survive, the device log must stay gapless, and the file must stay sound.

use gridwalk_core::{IssueFilter, SystemClock, Tablet};
use gridwalk_e2e::proc::OwnedChild;
use gridwalk_e2e::{seeded_store, TEST_KEY};
use rand::Rng;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const TRIALS: usize = 50;

#[test]
fn sigkill_while_recording_loses_no_returned_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tablet.db");
    drop(seeded_store(&db, 20));
    let sim = env!("CARGO_BIN_EXE_tablet-sim");
    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut rng = rand::thread_rng();
    for trial in 0..TRIALS {
        let mut child =
            OwnedChild::spawn(Command::new(sim).args(["record", db.to_str().unwrap(), "100000"]).stdout(Stdio::piped())).unwrap();
        let stdout = child.take_stdout().unwrap();
        let reader = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(rng.gen_range(30..250)));
        child.kill(); // SIGKILL the tablet
        for line in reader.join().unwrap() {
            if let Some(id) = line.strip_prefix("ok ") {
                acknowledged.insert(id.to_owned());
            }
        }
        let t = Tablet::open(&db, &TEST_KEY, Arc::new(SystemClock::default())).unwrap();
        let ok: String = t.connection().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "trial {trial}: the store is sound after SIGKILL");
        let (n, max): (i64, i64) =
            t.connection().query_row("SELECT count(*), COALESCE(max(seq), 0) FROM device_log", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!(n, max, "trial {trial}: the device log sequence stays gapless");
        let mut present = HashSet::new();
        let mut cursor = None;
        loop {
            let page = t.list_issues(&IssueFilter::default(), cursor.as_ref(), 200).unwrap();
            present.extend(page.items.iter().map(|r| r.id.to_string()));
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let lost: Vec<_> = acknowledged.difference(&present).collect();
        assert!(lost.is_empty(), "trial {trial}: every record whose call returned survives SIGKILL; lost {lost:?}");
        assert_eq!(present.len() as i64, n, "trial {trial}: one view row per logged report, nothing doubled");
    }
    assert!(acknowledged.len() > TRIALS, "the trials actually recorded something ({} records)", acknowledged.len());
}
