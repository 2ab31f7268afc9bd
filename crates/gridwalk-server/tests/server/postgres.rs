//! What only the PostgreSQL engine must prove, on a scratch database of the test cluster (in
//! either pass of the suite): a change-feed cursor never skips a row that another writer
//! commits late; `(device, seq)` stays unique across two stores (two server processes); the
//! escalation lease has one holder at a time; a commit that stored events notifies the other
//! stores; an unreachable database is answered 503 `database_unavailable`.

use crate::kit::{self, ScratchDb};
use gridwalk_domain::{CommunityId, CourtyardId, DeviceId, Entity, Event, EventBody, EventId, Hlc, IssueId, SubdistrictId, WorkerId};
use gridwalk_server::model::Place;
use gridwalk_server::store::engine::Database;
use gridwalk_server::store::{NewEvent, Storage};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// One store on the scratch database, as one server process holds it.
fn store(db: &ScratchDb) -> Storage {
    Database::Postgres(db.url.clone()).open(4, Duration::from_secs(10)).expect("the scratch database opens and migrates")
}

fn place() -> Place {
    Place {
        courtyard: CourtyardId::from_parts(1, [1; 10]),
        community: CommunityId::from_parts(1, [2; 10]),
        subdistrict: SubdistrictId::from_parts(1, [3; 10]),
    }
}

/// Store event `n` of `device` (its own seq `n`) in the job's transaction; its global sequence.
fn insert(tx: &dyn gridwalk_server::store::Tx, device: DeviceId, n: u64) -> gridwalk_server::Result<u64> {
    let event = Event {
        id: EventId::from_parts(1_700_000_000_000 + n, device.0.as_bytes()[6..16].try_into().unwrap_or([0; 10])),
        author: WorkerId::from_parts(1, [9; 10]),
        device,
        hlc: Hlc::new(1_700_000_000_000 + n as i64, 0),
        wall_ms: 1_700_000_000_000 + n as i64,
        clock_offset_ms: 0,
        entity: Entity::Issue(IssueId::from_parts(1, [n as u8; 10])),
        body: EventBody::NoteAdded { text: format!("note {n}") },
    };
    let json = serde_json::to_string(&event).unwrap();
    let place = place();
    tx.insert_event(&NewEvent { event: &event, seq: n, hash: "h", json: &json, place: &place, received_ms: 0 })?;
    // Read back in the same transaction (the insert itself answers nothing).
    let stored = tx.entity_events_before(event.entity, u64::MAX)?;
    Ok(stored.iter().find(|p| p.event.id == event.id).map(|p| p.server_seq).expect("the event just stored is read back"))
}

fn device(n: u8) -> DeviceId {
    DeviceId::from_parts(1_700_000_000_000, [n; 10])
}

/// Every global sequence the change feed hands out after `after`, read as a puller would.
fn feed_after(s: &Storage, after: u64) -> Vec<u64> {
    s.read_blocking(|r| r.changes_after(after, 10_000)).unwrap().into_iter().map(|c| c.seq).collect()
}

#[test]
fn a_row_committed_after_a_higher_one_is_not_skipped_by_a_feed_cursor() {
    let db = ScratchDb::new();
    let (slow, fast, puller) = (store(&db), store(&db), store(&db));
    // The slow writer takes a lower sequence and holds its transaction open; the fast one
    // takes a higher sequence and commits while the slow one waits.
    let taken = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let (t, r) = (taken.clone(), release.clone());
    let slow_writer = std::thread::spawn(move || {
        slow.write_blocking(move |tx| {
            let seq = insert(tx, device(1), 1)?;
            t.wait();
            r.wait();
            Ok(seq)
        })
        .unwrap()
    });
    taken.wait();
    let high = fast.write_blocking(|tx| insert(tx, device(2), 1)).unwrap();

    // What a plain `max(server_seq)` cursor would do: the higher row is visible, the lower not yet.
    let visible: Vec<i64> =
        db.with(|c| c.query("SELECT server_seq FROM events ORDER BY server_seq", &[]).unwrap().iter().map(|r| r.get(0)).collect());
    assert_eq!(visible, vec![high as i64], "the race is real: the higher sequence is committed and visible first");
    let seen = feed_after(&puller, 0);
    assert!(seen.is_empty(), "the feed holds back every row above a sequence still in flight: {seen:?}");
    let cursor = puller.read_blocking(|r| r.max_server_seq()).unwrap();
    assert!(cursor < high, "the highest sequence a cursor may move to stays below the one in flight ({cursor} < {high})");

    release.wait();
    let low = slow_writer.join().unwrap();
    assert!(low < high, "the slow writer's sequence is the lower one ({low} < {high})");
    assert_eq!(feed_after(&puller, cursor), vec![low, high], "once the slow writer commits, the cursor gets both rows, in order");
}

#[test]
fn pullers_racing_many_writers_on_two_stores_see_every_event_once_in_order() {
    let db = ScratchDb::new();
    let writers: Vec<Storage> = (0..2).map(|_| store(&db)).collect();
    let puller = store(&db);
    let done = Arc::new(AtomicBool::new(false));
    let stored = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for (w, s) in writers.iter().enumerate() {
        for thread in 0..4u8 {
            let (s, stored) = (s.clone(), stored.clone());
            let dev = device(10 * w as u8 + thread + 1);
            handles.push(std::thread::spawn(move || {
                for n in 1..=60u64 {
                    // Transactions of uneven length, so commits land out of sequence order.
                    let pause = Duration::from_micros((n * 7919 + u64::from(thread) * 104_729) % 3000);
                    s.write_blocking(move |tx| {
                        let seq = insert(tx, dev, n)?;
                        std::thread::sleep(pause);
                        Ok(seq)
                    })
                    .unwrap();
                    stored.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    let pulling = {
        let (puller, done) = (puller.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut cursor, mut seen) = (0u64, Vec::new());
            loop {
                let finished = done.load(Ordering::Acquire);
                let page = feed_after(&puller, cursor);
                if let Some(&last) = page.last() {
                    cursor = last;
                }
                seen.extend(page);
                if finished {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    for h in handles {
        h.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let seen = pulling.join().unwrap();
    let all: Vec<u64> = db.with(|c| {
        c.query("SELECT server_seq FROM events ORDER BY server_seq", &[]).unwrap().iter().map(|r| r.get::<_, i64>(0) as u64).collect()
    });
    assert_eq!(stored.load(Ordering::Relaxed), 480, "every write was acknowledged");
    assert_eq!(all.len(), 480, "every acknowledged event is stored once");
    assert_eq!(seen, all, "the puller saw every stored event exactly once, in sequence order, with no skip");
}

#[test]
fn one_device_pushed_through_two_stores_at_once_keeps_each_seq_once() {
    let db = ScratchDb::new();
    let (a, b) = (store(&db), store(&db));
    let dev = device(42);
    // Both "processes" settle the same push: each takes the device's lock, reads what is held
    // and stores only what is new. The second waits for the first and stores nothing twice.
    let go = Arc::new(Barrier::new(2));
    let push = |s: Storage, go: Arc<Barrier>| {
        std::thread::spawn(move || {
            go.wait();
            s.write_blocking(move |tx| {
                tx.lock_device(dev)?;
                let held = tx.held_seq(dev)?;
                let mut stored = 0;
                for n in held + 1..=20 {
                    insert(tx, dev, n)?;
                    stored += 1;
                }
                tx.set_held_seq(dev, 20)?;
                Ok(stored)
            })
        })
    };
    db.with(|c| {
        c.batch_execute(
            "INSERT INTO workers (id, username, name, role, scope_json, password_hash, created_ms) VALUES ('w', 'w', 'w', 'grid_worker', '[]', 'x', 0)",
        )
        .unwrap();
        c.execute("INSERT INTO devices (id, worker_id, name, created_ms) VALUES ($1, 'w', 't', 0)", &[&dev.to_string()]).unwrap();
    });
    let (x, y) = (push(a, go.clone()), push(b, go));
    let (x, y) = (x.join().unwrap().unwrap(), y.join().unwrap().unwrap());
    assert_eq!(x + y, 20, "the two stores stored the twenty events once between them ({x} + {y})");
    let rows: i64 = db.with(|c| c.query_one("SELECT count(*) FROM events WHERE device_id = $1", &[&dev.to_string()]).unwrap().get(0));
    assert_eq!(rows, 20, "(device, seq) is unique in the database, not in one process");
}

#[test]
fn a_lease_has_one_holder_until_it_lapses() {
    let db = ScratchDb::new();
    let (a, b) = (store(&db), store(&db));
    let take =
        |s: &Storage, who: &'static str, now: i64| s.write_blocking(move |tx| tx.take_lease("escalation", who, now, 30_000)).unwrap();
    assert!(take(&a, "a", 1_000), "the first process takes the free lease");
    assert!(!take(&b, "b", 2_000), "a second process is refused while the lease runs");
    assert!(take(&a, "a", 20_000), "the holder renews its lease");
    assert!(!take(&b, "b", 49_999), "the renewed lease runs thirty seconds from its renewal");
    assert!(take(&b, "b", 50_001), "a lease its holder stopped renewing passes to another process");
    assert!(!take(&a, "a", 50_002), "and the old holder does not take it back while it runs");
}

#[test]
fn a_commit_that_stored_events_wakes_the_other_stores() {
    let db = ScratchDb::new();
    let (writer, listener) = (store(&db), store(&db));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let tx = std::sync::Mutex::new(tx);
    listener
        .watch(Arc::new(move || {
            let _ = tx.lock().map(|t| t.send(()));
        }))
        .unwrap();
    // The listener wakes once when it is in place (for what it may have missed).
    rx.recv_timeout(Duration::from_secs(10)).expect("the listener is in place");
    writer.write_blocking(|tx| tx.set_meta("k", "v")).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err(), "a commit that stored no event notifies nobody");
    writer.write_blocking(|tx| insert(tx, device(7), 1)).unwrap();
    rx.recv_timeout(Duration::from_secs(5)).expect("a commit that stored an event reaches the other store's listener");
}

#[tokio::test]
async fn an_unreachable_database_is_answered_503_database_unavailable_and_nothing_is_stored() {
    // A data directory bound to a port where no PostgreSQL listens (one just freed).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    gridwalk_server::admin::use_database(dir.path(), &format!("postgres://postgres@127.0.0.1:{port}/none")).unwrap();
    let err = gridwalk_server::AppState::open(dir.path(), kit::fast_config()).err().expect("a server cannot start without its database");
    assert_eq!(err.code(), "database_unavailable", "the reason is the database, said plainly: {err}");
    assert_eq!(err.status(), 503, "a client is told to try again later");
    assert_eq!(err.retry_after_s(), Some(2), "and when");
}
