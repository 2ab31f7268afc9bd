//! kill -9 the server process while devices push: every event that was acknowledged
//! (accepted or duplicate) is stored exactly once after a restart, resends of unacknowledged
//! events are never doubled, and (on SQLite) the database passes `PRAGMA integrity_check`.

use gridwalk_domain::*;
use gridwalk_e2e::engine::Peek;
use gridwalk_e2e::server::{add_worker, device_tokens, load_demo, push, spawn_server_process, two_places};
use gridwalk_proto::*;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::time::Duration;

const TRIALS: usize = 32;
const DEVICES: usize = 4;
const BATCH: u64 = 8;

/// A simulated tablet: its whole log (so a resend carries the same content) and what the
/// server has acknowledged.
pub(crate) struct Tablet {
    pub(crate) device: DeviceId,
    pub(crate) token: String,
    pub(crate) log: Vec<Event>,
    pub(crate) acked: HashMap<u64, EventId>,
}

pub(crate) fn make_event(worker: WorkerId, device: DeviceId, seq: u64, yard: CourtyardId) -> Event {
    let report = IssueReport {
        courtyard: yard,
        category: Category::Sanitation,
        source: IssueSource::Visit,
        description: format!("垃圾堆放 #{seq}"),
        contact: None,
        location: None,
        received_at_ms: None,
        external_ref: None,
    };
    gridwalk_e2e::server::report_event(worker, device, seq, report)
}

/// Push until the server dies: resend from the server's ack, then new events.
pub(crate) async fn drive(http: reqwest::Client, base: String, mut t: Tablet, worker: WorkerId, yard: CourtyardId) -> Tablet {
    loop {
        let Ok(head) = push(&http, &base, &t.token, &PushRequest { device_id: t.device, events: vec![] }).await else { return t };
        let from = head.acked_seq + 1;
        while (t.log.len() as u64) < from + BATCH - 1 {
            let seq = t.log.len() as u64 + 1;
            t.log.push(make_event(worker, t.device, seq, yard));
        }
        let events: Vec<LoggedEvent> =
            (from..from + BATCH).map(|seq| LoggedEvent { seq, event: t.log[seq as usize - 1].clone() }).collect();
        let Ok(resp) = push(&http, &base, &t.token, &PushRequest { device_id: t.device, events }).await else { return t };
        t.take_acks(resp);
    }
}

impl Tablet {
    /// Keep what a push answer acknowledged; a resend of the same content is never refused.
    pub(crate) fn take_acks(&mut self, resp: PushResponse) {
        for r in resp.results {
            match r.outcome {
                PushOutcome::Accepted | PushOutcome::Duplicate => {
                    self.acked.insert(r.seq, r.event_id);
                }
                other => panic!("a resend of the same content is never {other:?} (seq {})", r.seq),
            }
        }
    }
}

#[test]
fn kill_9_during_ingest_loses_no_acknowledged_event_and_doubles_none() {
    let dir = tempfile::tempdir().unwrap();
    let ((yard, sub), _) = two_places();
    load_demo(dir.path());
    add_worker(dir.path(), "crash", Role::GridWorker, vec![ScopeUnit::Subdistrict(sub)]);
    let worker = gridwalk_server::admin::list_workers(dir.path()).unwrap().into_iter().find(|w| w.username == "crash").unwrap().id;
    let mut tablets: Vec<Tablet> = device_tokens(dir.path(), "crash", DEVICES)
        .into_iter()
        .map(|(device, token)| Tablet { device, token, log: Vec::new(), acked: HashMap::new() })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b696c6c);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    for trial in 0..TRIALS {
        let mut server = spawn_server_process(dir.path());
        let base = server.base_url.clone();
        let load_ms = rng.gen_range(20..80);
        tablets = rt.block_on(async {
            let tasks: Vec<_> = tablets.into_iter().map(|t| tokio::spawn(drive(http.clone(), base.clone(), t, worker, yard.id))).collect();
            tokio::time::sleep(Duration::from_millis(load_ms)).await;
            // SIGKILL: no shutdown hook runs, in-flight pushes die mid-transaction.
            server.kill();
            let mut back = Vec::new();
            for task in tasks {
                back.push(task.await.expect("device task"));
            }
            back
        });
        drop(server);
        verify(dir.path(), &tablets, trial);
    }
    let acked: usize = tablets.iter().map(|t| t.acked.len()).sum();
    assert!(acked > 0, "the trials acknowledged some events (else they tested nothing)");
}

/// Restart on the same data dir and check what the server holds.
pub(crate) fn verify(data: &std::path::Path, tablets: &[Tablet], trial: usize) {
    let restarted = spawn_server_process(data);
    let mut db = Peek::open(data);
    if let Peek::Sqlite(conn) = &db {
        // PostgreSQL's own crash safety is its WAL; the file engine's is checked here.
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "trial {trial}: the database is intact after kill -9");
    }
    for t in tablets {
        let row = db.ints(
            "SELECT (SELECT count(*) FROM events WHERE device_id = ?1), (SELECT held_seq FROM devices WHERE id = ?1),
                    (SELECT max(seq) FROM events WHERE device_id = ?1)",
            &[t.device.to_string().into()],
        );
        let (rows, held, max_seq) = (row[0].unwrap_or(0), row[1].unwrap_or(0), row[2]);
        assert_eq!(rows, held, "trial {trial}: a device's stored events are exactly 1..=held, no gaps and no doubles");
        assert_eq!(max_seq.unwrap_or(0), held, "trial {trial}: held_seq is the highest stored sequence");
        for (seq, id) in &t.acked {
            let n = db.ints(
                "SELECT count(*) FROM events WHERE event_id = ?1 AND device_id = ?2 AND seq = ?3",
                &[id.to_string().into(), t.device.to_string().into(), (*seq as i64).into()],
            )[0]
            .unwrap_or(0);
            assert_eq!(n, 1, "trial {trial}: acknowledged event seq {seq} of {} is stored exactly once", t.device);
        }
    }
    let row = db.ints("SELECT count(*), count(DISTINCT event_id) FROM events", &[]);
    let (all, distinct) = (row[0], row[1]);
    assert_eq!(all, distinct, "trial {trial}: no event is stored twice");
    drop(restarted);
}
