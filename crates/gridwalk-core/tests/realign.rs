//! The epoch rule on a real encrypted store: answers from a restored server move the tablet
//! back (acknowledged position, record states, pull cursor, photos) in the transaction that
//! applies them, and answers from the same server, or an older one, move nothing back.

use gridwalk_core::*;
use gridwalk_domain::registry_gen::demo_registry;
use gridwalk_domain::*;
use gridwalk_proto::{PullResponse, PushOutcome, PushResponse, PushResult, ScopeUnit, WorkerInfo};
use std::sync::Arc;

const T0: i64 = 1_764_000_000_000;

fn tablet(dir: &tempfile::TempDir) -> Tablet {
    let clock = Arc::new(ManualClock::new(T0));
    let mut t = Tablet::open(&dir.path().join("t.db"), &StoreKey([6; 32]), clock).unwrap();
    let me = WorkerId::from_parts(1, [1; 10]);
    t.set_identity(Identity { worker: me, device: DeviceId::from_parts(1, [2; 10]) }).unwrap();
    let scope = vec![ScopeUnit::District];
    t.set_worker(&WorkerInfo { id: me, username: "wang".into(), name: "王丽".into(), role: Role::GridWorker, scope }).unwrap();
    t.replace_registry(&demo_registry()).unwrap();
    t
}

fn pull(next_cursor: u64, epoch: Option<&str>, held_seq: Option<u64>, max_seq: Option<u64>) -> PullResponse {
    PullResponse {
        events: vec![],
        next_cursor,
        has_more: false,
        registry: None,
        server_time_ms: T0,
        epoch: epoch.map(str::to_owned),
        held_seq,
        max_seq,
    }
}

fn states(t: &Tablet) -> Vec<String> {
    let mut st = t.connection().prepare("SELECT sync_state FROM device_log ORDER BY seq").unwrap();
    st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn a_restored_servers_answers_move_the_tablet_back_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tablet(&dir);
    let yard = t.search_courtyards(&CourtyardQuery { limit: 1, ..Default::default() }).unwrap().remove(0).id;
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend_from_slice(b"a photo");
    let sha = t.store_photo(&jpeg).unwrap();
    for n in 0..5 {
        let photos = if n == 0 { vec![sha.clone()] } else { vec![] };
        let issue = NewIssue {
            courtyard: yard,
            category: Category::StreetLight,
            source: IssueSource::Visit,
            description: format!("路灯不亮 {n}"),
            contact: None,
            location: None,
            photos,
        };
        t.report_issue(issue).unwrap();
    }
    let logged = t.outbox(100).unwrap();
    let results = logged.iter().map(|l| PushResult { seq: l.seq, event_id: l.event.id, outcome: PushOutcome::Accepted }).collect();
    let top = logged.len() as u64;
    let ok = PushResponse { results, acked_seq: top, server_time_ms: T0, epoch: Some("a".into()) };
    let applied = t.apply_push_response(&ok, None).unwrap();
    assert_eq!((applied.count, applied.rewound), (top, false), "a normal answer moves the position up");
    assert_eq!(t.server_epoch().unwrap().as_deref(), Some("a"), "the first epoch heard is kept");
    t.apply_pull(&pull(40, Some("a"), Some(top), Some(40)), None).unwrap();
    t.connection().execute("UPDATE photos SET uploaded = 1", []).unwrap();
    assert_eq!(t.pull_cursor().unwrap(), 40, "the cursor follows the server");

    let same = t.apply_pull(&pull(40, Some("a"), Some(top), Some(40)), None).unwrap();
    assert!(!same.rewound, "the same epoch, in step, moves nothing back");
    let older_server = t.apply_pull(&pull(40, None, None, None), None).unwrap();
    assert!(!older_server.rewound && t.pull_cursor().unwrap() == 40, "an answer without the new fields moves nothing back");

    // The server was restored from a backup holding the first 2 of ours.
    let restored = PushResponse { results: vec![], acked_seq: 2, server_time_ms: T0, epoch: Some("b".into()) };
    let applied = t.apply_push_response(&restored, None).unwrap();
    assert!(applied.rewound, "a new epoch with less held moves the tablet back");
    assert_eq!(t.acked_seq().unwrap(), 2, "the acknowledged position drops to what the restored server holds");
    assert_eq!(t.outbox_depth().unwrap().0, top - 2, "the records it lost are in the outbox again");
    let want: Vec<String> = (1..=top).map(|s| if s <= 2 { "synced" } else { "queued" }.to_owned()).collect();
    assert_eq!(states(&t), want, "records past the server's held position are queued again, and say so");
    assert_eq!(t.pull_cursor().unwrap(), 0, "a new epoch sends the pull cursor back to 0");
    assert_eq!(t.server_epoch().unwrap().as_deref(), Some("b"), "the new epoch is kept");
    let unsent: i64 = t.connection().query_row("SELECT count(*) FROM photos WHERE uploaded = 0", [], |r| r.get(0)).unwrap();
    assert_eq!(unsent, 1, "photos are asked for again: the restored server may not hold them");

    let again = t.apply_pull(&pull(12, Some("b"), Some(2), Some(12)), None).unwrap();
    assert!(!again.rewound, "the new epoch, once kept, moves nothing back");
    assert_eq!((t.pull_cursor().unwrap(), t.acked_seq().unwrap()), (12, 2), "the cursor moves on from 0");

    let past = t.apply_pull(&pull(12, Some("b"), Some(2), Some(8)), None).unwrap();
    assert!(past.rewound && t.pull_cursor().unwrap() == 0, "a cursor past the server's newest sequence goes back to 0");
}
